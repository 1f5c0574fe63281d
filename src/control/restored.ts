/**
 * A store older than the audit log kept beside it: restored from a backup (or replaced) after the
 * log recorded later changes — a key revoked, a license suspended. Serving from it would put back
 * in force what the log proves was undone. A count is no proof: a restored store numbers new
 * changes on from its backup, and as many as it lacks bring its latest number level with the log's.
 * So the store records how far it has caught up with the log (the last change drained into it, and
 * the digest of its entry, with the drain's delete), and that position must reach the log's last
 * change; a change still waiting in the outbox under that number must be the very change logged.
 * The reverse too: a log restored from an older backup (or replaced) lacks entries it had proven
 * (in checkpoints partners may hold) — the store's position is past it, and it is not gone on from.
 */
import { ClearanceError } from "../errors/index.js";
import type { DrainedThrough, OutboxRecord, Store } from "../store/index.js";

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

/**
 * Not gone on from: the audit log is behind the store — it lacks changes the store drained into it,
 * entries it had proven. A 503 where a request sees it.
 */
export class LogBehindStoreError extends ClearanceError {
  constructor(drained: DrainedThrough, logged: number) {
    super(
      "unavailable",
      "log_behind_store",
      `the store has drained admin changes into the audit log up to change ${drained.change}, but the audit ` +
        `log holds changes only up to ${logged}: the log was restored from an older backup (or replaced) and ` +
        `lacks entries it had proven (in checkpoints others may hold), so the node does not go on from it. ` +
        `Nothing was discarded. Restore the audit log (audit.wal and audit/ in the data directory) of the ` +
        `same date as the store, or, only on purpose, move it aside to start a new, empty log`,
    );
  }
}

/** The audit log's side (the embedded log's drainer, audit/outbox.ts). */
export interface LogMark {
  /** The highest change number the log holds (0: none yet). */
  readonly change: number;
  /** The digest of the log's entry for `change`, when known without reading the log back. */
  readonly digest: string | null;
  /** The log holds no entry, nor has it published any (a checkpoint of none at most): a new log. */
  readonly empty: boolean;
  /** The same, read back from the log if need be; null if the log holds no such entry. */
  loggedDigest(): Promise<string | null>;
  /** The digest a change's entry has in the log. */
  digestOf(r: OutboxRecord): string;
}

/**
 * Throws StoreBehindLogError unless the store has caught up with the log's last change, and
 * LogBehindStoreError if the log is behind where the store drained it to. One read of the store
 * while nothing is amiss (every poll runs it). `startUp`: a new, empty log (one moved aside on
 * purpose) is accepted, and the store's position set back to it; and a store no drain has recorded
 * a position in yet (one from before it was recorded) is given the log's, once its numbers reach
 * the log's and nothing at or below the log's number waits in its outbox.
 */
export async function checkCaughtUp(
  store: Store,
  mark: LogMark,
  startUp = false,
  warn: (line: string) => void = () => {},
): Promise<void> {
  if (startUp && mark.empty) {
    // A log restored from a backup taken before its first entry is told from no new log: nothing
    // it had proven is lost either. Said, since the store's record of the old log goes with it: a
    // log moved aside by mistake (or removed) looks the same as one moved aside on purpose.
    const { drained } = await store.outbox.position(0);
    if (drained !== null && drained.change !== 0) {
      warn(
        `clearance: warning: the audit log is new (empty), but the store had drained admin change ${drained.change} into a log before (entry digest ${drained.digest ?? "unknown"}): starting a new log. If the old log was not moved aside on purpose, stop and restore it`,
      );
      await store.outbox.remove({ change: 0, digest: null });
    }
    return;
  }
  const logged = mark.change;
  const { drained, last, record } = await store.outbox.position(logged);
  // Read after the position: a drain moves the log's mark before the store's, never after.
  if (drained !== null && drained.change > mark.change) throw new LogBehindStoreError(drained, mark.change);
  if (logged === 0) return; // the log holds no admin change, nor did it when the store last drained
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
  if (startUp && drained === null) {
    const [first] = await store.outbox.list(0, 1);
    if (first === undefined || first.id > logged)
      await store.outbox.remove({ change: logged, digest: mark.digest });
  }
}
