/**
 * A store older than the audit log kept beside it: restored from a backup (or replaced) after the
 * log recorded later changes — a key revoked, a license suspended. Serving from it would put back
 * in force what the log proves was undone. Every admin change has a number, given by the store and
 * logged with the change, so the store's latest number below the log's highest one is proof enough.
 */
import { ClearanceError } from "../errors/index.js";
import type { Store } from "../store/index.js";

/** Not served from: the store is behind its audit log. A 503 where a request sees it. */
export class StoreBehindLogError extends ClearanceError {
  constructor(latest: number, logged: number) {
    super(
      "unavailable",
      "store_behind_log",
      `the store's latest change is ${latest}, but the audit log holds changes up to ${logged}: the store was ` +
        `restored from an older backup (or replaced) and lacks changes the log proves were made, so it is not ` +
        `served from. Restore the store's newest backup (one holding change ${logged}), or, to start again ` +
        `from this store, move the audit log (audit.wal and audit/ in the data directory) aside to start a new log`,
    );
  }
}

/** Throws StoreBehindLogError when the store's latest change is below `logged`, the log's highest. */
export async function checkNotBehindLog(store: Store, logged: number): Promise<void> {
  if (logged === 0) return;
  const latest = await store.outbox.lastChange();
  if (latest < logged) throw new StoreBehindLogError(latest, logged);
}
