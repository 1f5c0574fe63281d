/**
 * A store older than the audit log kept beside it: restored from a backup (or replaced) after the
 * log recorded later changes — a key revoked, a license suspended. Serving from it would put back
 * in force what the log proves was undone. A count is no proof: a restored store numbers new
 * changes on from its backup, and as many as it lacks bring its latest number level with the log's.
 * So the store records how far it has caught up with the log (the last change drained into it, and
 * the digest of its entry, with the drain's delete), and that position must reach the log's last
 * change; a change still waiting in the outbox under that number must be the very change logged.
 */
import { ClearanceError } from "../errors/index.js";
import type { OutboxRecord, Store } from "../store/index.js";

const WAY_OUT =
  `Restore the store's newest backup (one holding the audit log's latest change), or, to start again ` +
  `from this store, move the audit log (audit.wal and audit/ in the data directory) aside to start a new log`;

/** Not served from: the store is behind its audit log. A 503 where a request sees it. */
export class StoreBehindLogError extends ClearanceError {
  constructor(message: string) {
    super("unavailable", "store_behind_log", message);
  }

  /** The store has caught up with the log only as far as change `through`, short of `logged`. */
  static behind(through: number, logged: number): StoreBehindLogError {
    return new StoreBehindLogError(
      `the store holds the audit log's changes only up to ${through}, but the audit log holds changes up to ` +
        `${logged}: the store was restored from an older backup (or replaced) and lacks changes the log ` +
        `proves were made, so it is not served from. ${WAY_OUT}`,
    );
  }

  /** The store gave `logged`, the log's latest change number, to another change. */
  static diverged(logged: number): StoreBehindLogError {
    return new StoreBehindLogError(
      `the store's change ${logged} is not the change the audit log holds under ${logged}: the store was ` +
        `restored from an older backup (or replaced), lacks changes the log proves were made, and numbered a ` +
        `new change as one the log holds, so it is not served from and that change is not logged. Nothing ` +
        `was deleted: the store's change ${logged} stays in its outbox (make it again once the store is ` +
        `restored). ${WAY_OUT}`,
    );
  }
}

/** The audit log's side (the embedded log's drainer, audit/outbox.ts). */
export interface LogMark {
  /** The highest change number the log holds (0: none yet). */
  readonly change: number;
  /** The digest of the log's entry for `change`, when known without reading the log back. */
  readonly digest: string | null;
  /** The same, read back from the log if need be; null if the log holds no such entry. */
  loggedDigest(): Promise<string | null>;
  /** The digest a change's entry has in the log. */
  digestOf(r: OutboxRecord): string;
}

/**
 * Throws StoreBehindLogError unless the store has caught up with the log's last change. One read
 * of the store while nothing is amiss (every poll runs it). `adopt`: at start-up, a store no drain
 * has recorded a position in yet (one from before it was recorded) is given the log's, once its
 * numbers reach the log's and nothing at or below the log's number waits in its outbox.
 */
export async function checkCaughtUp(store: Store, mark: LogMark, adopt = false): Promise<void> {
  const logged = mark.change;
  if (logged === 0) return; // a new log (or one moved aside): nothing to be behind
  const { drained, last, record } = await store.outbox.position(logged);
  if (record !== undefined) {
    // Drained a moment ago (or before a crash) and not yet deleted: the same change, or another
    // the restored store numbered as the log's.
    const digest = await mark.loggedDigest();
    if (digest === null || mark.digestOf(record) !== digest) throw StoreBehindLogError.diverged(logged);
    return;
  }
  // A store from before positions were recorded: the latest number it gave, as before.
  const through = drained?.change ?? last;
  if (through < logged) throw StoreBehindLogError.behind(through, logged);
  if (drained?.change === logged && drained.digest !== null && mark.digest !== null) {
    if (drained.digest !== mark.digest) throw StoreBehindLogError.diverged(logged);
  }
  if (adopt && drained === null) {
    const [first] = await store.outbox.list(0, 1);
    if (first === undefined || first.id > logged)
      await store.outbox.remove({ change: logged, digest: mark.digest });
  }
}
