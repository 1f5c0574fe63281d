/**
 * Opening the audit log for a gateway: the signing key (created on first start), the log under
 * <data_dir>/audit, and the drainer that logs admin changes from the store's outbox.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Store } from "../store/index.js";
import { AuditLog } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey, verifierKeyFromPrivateKey } from "./note.js";
import { OutboxDrainer } from "./outbox.js";

export { decisionEntry, adminEntry, pseudonymizer, type Pseudonymizer } from "./entry.js";
export { AuditLog, AuditLogError } from "./log.js";
export { handleAudit } from "./http.js";
export { OutboxDrainer } from "./outbox.js";

export interface AuditOptions {
  readonly dataDir: string;
  readonly origin: string;
  readonly keyFile?: string;
  readonly checkpointMs: number;
  readonly node?: string;
  readonly store: Store;
  readonly onError: (err: unknown) => void;
  readonly log?: (line: string) => void;
}

export interface OpenAudit {
  readonly log: AuditLog;
  readonly drainer: OutboxDrainer;
  readonly dir: string;
  readonly node: string;
  readonly verifierKey: string;
}

/** Writes a new key pair: the private key 0600, the verifier key beside it (public). */
export function writeKeyPair(keyFile: string, name: string): string {
  const { privateKey, verifierKey } = generateKey(name);
  writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600, flag: "wx" });
  writeFileSync(`${keyFile.replace(/\.key$/, "")}.vkey`, `${verifierKey}\n`);
  return verifierKey;
}

export async function openAudit(o: AuditOptions): Promise<OpenAudit> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const keyFile = o.keyFile ?? join(o.dataDir, "audit.key");
  if (!existsSync(keyFile)) {
    const vkey = writeKeyPair(keyFile, o.origin);
    o.log?.(`clearance: created audit signing key ${keyFile}; verifier key: ${vkey}`);
  }
  const privateKey = readFileSync(keyFile, "utf8").trim();
  const signer = parseSignerKey(privateKey);
  if (signer.name !== o.origin) {
    throw new Error(`audit key ${keyFile} is named ${signer.name}, but the log's origin is ${o.origin}`);
  }
  const verifierKey = verifierKeyFromPrivateKey(privateKey);
  const dir = join(o.dataDir, "audit");
  let lastChange = 0;
  const log = await AuditLog.open({
    dir,
    walPath: join(o.dataDir, "audit.wal"),
    origin: o.origin,
    signer,
    verifier: parseVerifierKey(verifierKey),
    checkpointMs: o.checkpointMs,
    onError: o.onError,
    onRecovered: (entries) => {
      lastChange = OutboxDrainer.lastChange(entries, lastChange);
    },
  });
  const node = o.node ?? hostname();
  const drainer = new OutboxDrainer(o.store, log, node, lastChange);
  return { log, drainer, dir, node, verifierKey };
}
