/**
 * Opening the audit log for a gateway: the signing key (from the environment, or a file created on
 * first start), the log — this node's own, or the one shared through a PostgreSQL store — served
 * from <data_dir>/audit, and the drainer that logs admin changes from the store's outbox.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { SetupError } from "../errors/index.js";
import type { Store } from "../store/index.js";
import { AuditLog, type AuditTrail } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey, verifierKeyFromPrivateKey } from "./note.js";
import type { Pseudonymizer } from "./entry.js";
import { changeMark, findChange, OutboxDrainer, SharedOutboxDrainer, type Drainer } from "./outbox.js";
import { directorySource } from "./source.js";
import { SharedAuditLog } from "./shared.js";

export {
  decisionEntry,
  adminEntry,
  contentDigest,
  pseudonymizer,
  ADMIN_PERSONS,
  type Pseudonymizer,
} from "./entry.js";
export { AuditLog, AuditLogError, type AuditTrail } from "./log.js";
export { SharedAuditLog } from "./shared.js";
export { EntryTooLargeError, MAX_ENTRY } from "./wal.js";
export { handleAudit } from "./http.js";
export { OutboxDrainer, SharedOutboxDrainer, outboxEntry, type Drainer } from "./outbox.js";

export interface AuditOptions {
  readonly dataDir: string;
  readonly origin: string;
  readonly keyFile?: string;
  /** The signing key itself (e.g. from a secret); wins over keyFile. */
  readonly privateKey?: string;
  readonly checkpointMs: number;
  readonly node?: string;
  readonly store: Store;
  readonly onError: (err: unknown) => void;
  readonly log?: (line: string) => void;
  /**
   * Where the log pseudonymises principals (`audit.pseudonym_key_env`): the same pseudonymizer the
   * decision entries use, so that admin changes drained from the store's outbox name principals by
   * the same pseudonyms and carry no personal facts in the clear.
   */
  readonly pseudonymize?: Pseudonymizer;
}

export interface OpenAudit {
  readonly log: AuditTrail;
  readonly drainer: Drainer;
  /** The directory the log's tiles are served from. */
  readonly dir: string;
  readonly node: string;
  readonly verifierKey: string;
  /** "local": this node's own log (a WAL file); "shared": the database's, written by every node. */
  readonly kind: "local" | "shared";
}

/** Where a key file's verifier key is written: `<name>.vkey` beside `<name>.key`. */
export const verifierKeyFile = (keyFile: string): string => `${keyFile.replace(/\.key$/, "")}.vkey`;

/**
 * Writes a new key pair: the private key 0600, the verifier key beside it (public). Neither file is
 * overwritten (`exclusive`; without, an existing verifier key is replaced); if the verifier key
 * cannot be written, the private key is taken away again, so that the pair is made whole or not at
 * all (a key left alone would refuse the next attempt).
 */
export function writeKeyPair(keyFile: string, name: string, options: { exclusive?: boolean } = {}): string {
  const { privateKey, verifierKey } = generateKey(name);
  writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600, flag: "wx" });
  try {
    writeFileSync(verifierKeyFile(keyFile), `${verifierKey}\n`, { flag: options.exclusive ? "wx" : "w" });
  } catch (err) {
    rmSync(keyFile, { force: true });
    throw err;
  }
  return verifierKey;
}

/**
 * The store decides which log: PostgreSQL stores hold one log for every node (SharedAuditLog);
 * otherwise the node keeps its own under <data_dir> (AuditLog).
 */
export async function openAudit(o: AuditOptions): Promise<OpenAudit> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  checkDataDirMode(o.dataDir, o.log);
  const privateKey = o.privateKey ?? readOrCreateKey(o);
  const signer = parseSignerKey(privateKey);
  if (signer.name !== o.origin) {
    throw new SetupError(
      `the audit signing key is named ${signer.name}, but the log's origin is ${o.origin}`,
    );
  }
  const verifierKey = verifierKeyFromPrivateKey(privateKey);
  const verifier = parseVerifierKey(verifierKey);
  const dir = join(o.dataDir, "audit");
  const node = o.node ?? hostname();
  const shared = o.store.sharedAudit;
  if (shared !== undefined) {
    const log = await SharedAuditLog.open({
      dir,
      origin: o.origin,
      signer,
      verifier,
      verifierKey,
      node,
      checkpointMs: o.checkpointMs,
      db: shared,
      onError: o.onError,
    });
    const drainer = new SharedOutboxDrainer(shared, node, o.pseudonymize);
    return { log, drainer, dir, node, verifierKey, kind: "shared" };
  }
  const mark = changeMark();
  const log = await AuditLog.open({
    dir,
    walPath: join(o.dataDir, "audit.wal"),
    origin: o.origin,
    signer,
    verifier,
    checkpointMs: o.checkpointMs,
    onError: o.onError,
    // The last admin change logged, so that a change is logged once across restarts.
    mark,
  });
  const find = (change: number) => findChange(directorySource(dir), change);
  const drainer = new OutboxDrainer(o.store, log, node, mark.at(log.mark), o.pseudonymize, find);
  return { log, drainer, dir, node, verifierKey, kind: "local" };
}

/** The key file's key; on first start, a new key pair (said in the log, with the verifier key). */
function readOrCreateKey(o: AuditOptions): string {
  const keyFile = o.keyFile ?? join(o.dataDir, "audit.key");
  if (!existsSync(keyFile)) {
    const vkey = writeKeyPair(keyFile, o.origin);
    o.log?.(`clearance: created audit signing key ${keyFile}; verifier key: ${vkey}`);
  }
  checkSecretMode(keyFile, "the audit signing key", o.log);
  return readFileSync(keyFile, "utf8").trim();
}

/**
 * A secret's file (a private key, a token) must be ours alone, as ssh wants of its keys: a file of
 * this user's that others may read or write is refused (the owner can chmod it). One owned by another
 * user, such as root's mounted Kubernetes Secret (group-readable under fsGroup), cannot be; readable
 * by anyone, it is warned of. `what` names the secret ("the audit signing key"); `hint` follows
 * the chmod in the message.
 */
export function checkSecretMode(
  file: string,
  what: string,
  log?: (line: string) => void,
  hint = " (a mounted Secret: defaultMode 0400)",
): void {
  if (process.platform === "win32" || process.getuid === undefined) return; // no POSIX modes
  const { mode, uid } = statSync(file);
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  if (uid === process.getuid() && (mode & 0o077) !== 0) {
    throw new SetupError(
      `${what} ${file} is readable or writable by others (mode ${octal}): run chmod 600 ${file}${hint}`,
    );
  }
  if (uid !== process.getuid() && (mode & 0o006) !== 0) {
    log?.(
      `clearance: warning: ${what} ${file} is readable or writable by every user (mode ${octal}); ` +
        `make it 0400 or 0600${hint}`,
    );
  }
}

/**
 * The data directory holds the signing key, the write-ahead file and the store: only a new one was
 * made 0700, an existing one used whatever its mode. Others who may write to it could replace any of
 * them (remove the key, and the next start signs with a new one), so, as ssh does with the
 * directories above its keys, one of this user's is refused; one they may only read or list is warned
 * of (the files are 0600). Another user's (a mounted volume) cannot be chmod'ed: warned of when anyone
 * may write to it. The gateway checks it before it makes or opens anything there (the store, first),
 * and the demo before it reads or writes its admin token there.
 */
export function checkDataDirMode(dataDir: string, log?: (line: string) => void): void {
  if (process.platform === "win32" || process.getuid === undefined) return; // no POSIX modes
  const { mode, uid } = statSync(dataDir);
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  if (uid === process.getuid()) {
    if ((mode & 0o022) !== 0) {
      throw new SetupError(
        `the data directory ${dataDir} is writable by others (mode ${octal}): run chmod 700 ${dataDir} ` +
          `(they could replace the audit signing key, the write-ahead file or the store)`,
      );
    }
    if ((mode & 0o077) !== 0) {
      log?.(
        `clearance: warning: the data directory ${dataDir} is readable by others (mode ${octal}); run chmod 700 ${dataDir}`,
      );
    }
  } else if ((mode & 0o002) !== 0) {
    log?.(
      `clearance: warning: the data directory ${dataDir} is writable by every user (mode ${octal}); ` +
        `they could replace the audit signing key or the store: make it 0700, or 0770 for a volume's group`,
    );
  }
}
