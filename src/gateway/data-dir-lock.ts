/**
 * One gateway per data directory, whatever the store. With the embedded SQLite store, two would both
 * drain the store's outbox into their own copy of the log, and the second soon fails with
 * `LogBehindError`. Nodes of one PostgreSQL store each rebuild their mirror of the shared log
 * (`<data_dir>/audit`) at start, deleting the other's under it (its tile writes then fail), and
 * would share the default signing key file. The gateway holds `<data_dir>/gateway.lock`, a small
 * SQLite file, with a write transaction begun and never ended: SQLite's lock on it is the operating
 * system's (fcntl), so it is let go when the holder ends however it ends (a crash, kill -9) — no
 * stale lock refuses a restart, as a pid file would. The CLI's verbs open the store, not this file,
 * and work while a gateway runs.
 *
 * The holder's pid, host and start time are committed in the file before the lock is taken for good,
 * so a gateway refused can name the one running (readers are not blocked by a begun write
 * transaction). A start that committed its row in the moment between and then lost is written over:
 * the holder reads its row back once it holds the lock, and writes it again if it is not its own.
 *
 * The same kind of lock keeps one gateway per usage journal directory, whatever the store
 * (`<data_dir>/usage-journal/<node>.lock`, see lockJournal).
 *
 * A start that took a lock and then failed may remove what taking it made (discard): the lock file,
 * and the directory made for it. A start that opened the file just before it went would lock a file
 * no longer at its name, guarding nothing: SQLite refuses its holder's row there
 * (SQLITE_READONLY_DBMOVED), and it takes the file at the name instead.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { existsSync, mkdirSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { ClearanceError, SetupError } from "../errors/index.js";
import { journalDir } from "../metering/journal.js";

export const LOCK_FILE = "gateway.lock";

export interface DataDirLock {
  /** Lets the data directory go (the gateway stopped, or did not start). */
  release(): void;
  /**
   * Lets it go and removes what taking it made (the lock file if it was not there, a directory made
   * for it if it is empty): a start refused after taking it leaves nothing it made.
   */
  discard(): void;
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
  /** This start's own, so that a start that lost the race tells its row from the holder's. */
  readonly token: string;
}

/** Locks held by this process: referenced here so that no garbage collection lets one go. */
const held = new Set<Database.Database>();

export interface DataDirLockOptions {
  /** The store is PostgreSQL's, shared with other nodes (each needing a data directory of its own). */
  readonly shared?: boolean;
  readonly now?: () => Date;
  /** Tests: runs once, between the lock file's open and its lock (another start's moment). */
  readonly beforeLock?: () => void;
}

/**
 * Takes the data directory for this gateway, or throws ClearanceError `data_dir_in_use` (a
 * refusal, exit 1) naming the directory and, when known, the gateway holding it. The directory must
 * exist and have been checked (checkDataDirMode) first.
 */
export function lockDataDir(
  dataDir: string,
  { shared = false, now = () => new Date(), beforeLock }: DataDirLockOptions = {},
): DataDirLock {
  const why = shared
    ? "each node of a PostgreSQL store needs a data directory of its own: its copy of the audit log (audit/, rebuilt at each start) and, by default, the audit signing key live there. " +
      "Stop that one first, or give this node its own data directory (data_dir or --data-dir)"
    : "only one gateway may serve an embedded (SQLite) store and its audit log. " +
      "Stop that one first, or, for several gateways on one store, use the postgres store driver (each node with its own data directory)";
  return holdLockFile(
    join(dataDir, LOCK_FILE),
    (who) =>
      new ClearanceError(
        "conflict",
        "data_dir_in_use",
        `another gateway${who} is running on the data directory ${dataDir}: ${why}`,
      ),
    { now, ...(beforeLock === undefined ? {} : { beforeLock }) },
  );
}

/**
 * Takes the node's usage journal directory (journalDir) for this gateway, with its lock
 * `<data_dir>/usage-journal/<node>.lock` next to it (the directory holds segments only), or throws
 * ClearanceError `journal_in_use` naming the directory and, when known, the gateway holding it.
 * Nodes sharing it would each write the others' segments at a start (usage counted twice). The
 * journal directory is in the data directory, so the data directory's lock, taken first (the broader
 * refusal, the same for `serve` and `demo`), refuses them already: this one is a second guard.
 */
export function lockJournal(dataDir: string, node: string, now: () => Date = () => new Date()): DataDirLock {
  const dir = journalDir(dataDir, node);
  const made = mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  return holdLockFile(
    `${dir}.lock`,
    (who) =>
      new ClearanceError(
        "conflict",
        "journal_in_use",
        `another gateway${who} is journaling its usage in ${dir}: two nodes on one usage journal would each write the other's usage to the store at a start. ` +
          "Stop that one first, or give each node of the store its own data directory",
      ),
    { now, ...(made === undefined ? {} : { madeDir: made }) },
  );
}

/**
 * Holds `file` (a SQLite file made 0600 if missing) for this process's life, or until released;
 * another holder is refused with `refused(who)`, `who` naming it (" (pid …, started …)") or "".
 * `madeDir`: the directory made for it (removed by discard when empty); `beforeLock`: see
 * DataDirLockOptions.
 */
function holdLockFile(
  file: string,
  refused: (who: string) => ClearanceError,
  { now, madeDir, beforeLock }: { now: () => Date; madeDir?: string; beforeLock?: () => void },
): DataDirLock {
  const self: Holder = {
    pid: process.pid,
    host: hostname(),
    started: now().toISOString(),
    token: randomBytes(12).toString("hex"),
  };
  // Each round lost needs a start that failed to remove the file in the moment between our open and
  // our lock: a few are plenty.
  for (let round = 0; round < 8; round++) {
    const made = makeFile(file);
    const db = take(file, refused, self, round === 0 ? beforeLock : undefined);
    if (db === null) continue; // removed while we took it: taken again, at the name
    held.add(db);
    const release = () => {
      if (!held.delete(db)) return;
      db.close(); // ends the transaction: the lock is let go
    };
    return {
      release,
      discard() {
        if (!held.has(db)) return;
        // Removed while held, so that no start takes the file let go: one that opened it before
        // cannot write its row there once it holds it (take), and takes the file at the name.
        try {
          if (made) unlinkSync(file);
        } catch {
          // Left: harmless, taken as it is at the next start.
        }
        release();
        if (made && madeDir !== undefined) removeEmpty(dirname(file), madeDir);
      },
    };
  }
  throw new SetupError(
    `${file} was removed again and again while this gateway took it: is another program removing it? Stop it, then start again`,
  );
}

/** Makes `file` (empty, 0600) unless it is there; whether this call made it. */
function makeFile(file: string): boolean {
  // Made ourselves so that it is born 0600, as the store is (SQLite would make it 0644).
  try {
    writeFileSync(file, "", { flag: "wx", mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return false;
  }
}

/** Removes `dir`, then its parents up to `top` (made for a lock), each only when empty. */
function removeEmpty(dir: string, top: string): void {
  for (let at = dir; ; at = dirname(at)) {
    try {
      rmdirSync(at);
    } catch {
      return; // not empty (or gone): kept
    }
    if (at === top || dirname(at) === at) return;
  }
}

/**
 * Opens `file` and takes its lock, the holder's row written; null when the file went before it was
 * opened, or before it was locked (a lock on a file no longer at its name guards nothing: SQLite
 * refuses to write to it, SQLITE_READONLY_DBMOVED, and the holder's row is always written). Throws
 * `refused(who)` when another connection holds it.
 */
function take(
  file: string,
  refused: (who: string) => ClearanceError,
  self: Holder,
  beforeLock?: () => void,
): Database.Database | null {
  let db: Database.Database;
  try {
    // No busy timeout: a lock held is refused at once, not waited for. Never made here (0644).
    db = new Database(file, { timeout: 0, fileMustExist: true });
  } catch (err) {
    if (!existsSync(file)) return null;
    throw err;
  }
  const refuse = () => refused(holderOf(db, self));
  try {
    beforeLock?.();
    if (!begin(db)) throw refuse();
    db.exec(
      "CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL, token TEXT NOT NULL)",
    );
    // Read inside the held transaction, a row that is ours stays ours. Another start may commit its
    // own between our commit and our next begin, then lose that begin to us (and go): its row would
    // name it to every gateway refused later, so ours is written again. Each round needs another
    // start in that moment; a few are plenty, after which only the name in a refusal could be off.
    for (let round = 0; round < 8 && readHolder(db)?.token !== self.token; round++) {
      db.exec("DELETE FROM holder");
      db.prepare("INSERT INTO holder (pid, host, started, token) VALUES (?, ?, ?, ?)").run(
        self.pid,
        self.host,
        self.started,
        self.token,
      );
      // Committing waits for a refused gateway reading the holder (a moment).
      db.pragma("busy_timeout = 5000");
      db.exec("COMMIT");
      db.pragma("busy_timeout = 0");
      // Between the commit and here another gateway may have begun: then it is the holder.
      if (!begin(db)) throw refuse();
    }
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    db.close();
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_READONLY_DBMOVED") return null;
    // Not SQLite's (written over, say): nobody can hold it, so it can go.
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
      throw new SetupError(
        `${file} is not the gateway's lock (${(err as Error).message}): remove it (it is made again at start)`,
      );
    throw err;
  }
  return db;
}

/** Begins the write transaction that is the lock; false when another connection holds it. */
function begin(db: Database.Database): boolean {
  try {
    db.exec("BEGIN IMMEDIATE");
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === "SQLITE_BUSY") return false;
    throw err;
  }
}

/** " (pid … on …, started …)" naming the holder, or "" when it is not known. */
function holderOf(db: Database.Database, self: Holder): string {
  const holder = readHolder(db);
  // Our own row, committed a moment ago by a start that then lost the race, names nobody.
  const known = holder !== null && holder.token !== self.token;
  return known ? ` (pid ${holder.pid} on ${holder.host}, started ${holder.started})` : "";
}

/** The holder's row, or null when there is none yet (a first holder still writing it) or it is unreadable. */
function readHolder(db: Database.Database): Holder | null {
  try {
    // The holder may be committing its row this moment.
    db.pragma("busy_timeout = 1000");
    const row = db.prepare("SELECT pid, host, started, token FROM holder").get() as
      Record<keyof Holder, unknown> | undefined;
    if (row === undefined) return null;
    const { pid, host, started, token } = row;
    if (typeof pid !== "number" || typeof host !== "string") return null;
    if (typeof started !== "string" || typeof token !== "string") return null;
    return { pid, host, started, token };
  } catch {
    return null;
  } finally {
    db.pragma("busy_timeout = 0"); // a lock held is refused at once
  }
}
