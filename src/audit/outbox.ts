/**
 * Moves admin changes from the store's outbox into the audit log. A change is committed with its
 * outbox record (one transaction, whichever process made it); this drains them in order, and
 * deletes them only once their entries are durable. A crash between the two would log a change
 * again, so the log remembers the highest change number it holds and skips those; so does a drain
 * the log failed part-way through (its first entries durable, the rest refused). Numbers below the
 * log's that a crash cannot explain (a store restored from a backup) stop the drain instead.
 */
import type { OutboxRecord, SharedAuditStore, Store } from "../store/index.js";
import { adminEntry, type Pseudonymizer } from "./entry.js";
import type { AuditTrail } from "./log.js";

/** The store's outbox numbers changes the audit log already holds: the store went back in time. */
class OutboxNumbersError extends Error {
  override name = "OutboxNumbersError";
  constructor(id: number, logged: number) {
    super(
      `the store's outbox holds admin change ${id}, but the audit log already holds changes up to ${logged} and not this one's batch: the store was restored from a backup or replaced, and numbers its changes anew. No change was logged or discarded; admin changes are not logged (and the admin API answers with an error) until this is resolved — restore the audit log of the same date as the store, or start a new log`,
    );
  }
}

/** Logs the admin changes waiting in the store's outbox. */
export interface Drainer {
  /** Resolves once every change committed before the call is durable in the log. */
  drain(): Promise<void>;
}

export class OutboxDrainer implements Drainer {
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly log: AuditTrail,
    private readonly node: string,
    /** The highest change number already in the log (from the entries read back at start-up). */
    private logged: number,
    /** The log's pseudonymizer, when principals are pseudonymised (as in decision entries). */
    private readonly pseudonymize?: Pseudonymizer,
  ) {}

  /** The highest change number among entries read back from the log. */
  static lastChange(entries: readonly Buffer[], seen: number): number {
    let max = seen;
    for (const e of entries) {
      if (e.indexOf('"type":"admin"') < 0) continue;
      const change = (JSON.parse(e.toString("utf8")) as { change?: unknown }).change;
      if (typeof change === "number" && change > max) max = change;
    }
    return max;
  }

  /** Logs every pending change; resolves when they are durable. Calls are serialised. */
  drain(): Promise<void> {
    const run = this.draining.then(async () => {
      for (;;) {
        const batch = await this.store.outbox.list(0, 500);
        if (batch.length === 0) return;
        const fresh = batch.filter((r) => r.id > this.logged);
        if (fresh.length < batch.length && !batch.some((r) => r.id === this.logged)) {
          // Records at or below the logged number are normally the last drain's, left by a crash
          // before the outbox was cleared — and that drain's last record is then still here. If it
          // is not, the store numbers its changes anew (restored from a backup, or replaced):
          // skipping them would drop real changes from the log unseen. Refuse; delete nothing.
          throw new OutboxNumbersError((batch[0] as OutboxRecord).id, this.logged);
        }
        const results = await Promise.allSettled(fresh.map((r) => this.log.append(this.entry(r))));
        const failed = results.findIndex((r) => r.status === "rejected");
        if (failed >= 0) {
          // The log failed part-way (a full disk): the entries before the failure are durable and
          // must not be logged again when the next drain retries the rest.
          if (failed > 0) this.logged = Math.max(this.logged, (fresh[failed - 1] as OutboxRecord).id);
          throw (results[failed] as PromiseRejectedResult).reason;
        }
        const last = (batch.at(-1) as OutboxRecord).id;
        this.logged = Math.max(this.logged, last);
        await this.store.outbox.remove(last);
      }
    });
    // A failed drain is the caller's to report; the next one starts afresh.
    this.draining = run.catch(() => undefined);
    return run;
  }

  private entry(r: OutboxRecord): Buffer {
    return outboxEntry(r, this.node, this.pseudonymize);
  }
}

/**
 * Where several nodes share the log through the database: each drain moves changes from the outbox
 * into the log in one database transaction, so a change is logged exactly once whichever node
 * drains it, and needs no bookkeeping here.
 */
export class SharedOutboxDrainer implements Drainer {
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: SharedAuditStore,
    private readonly node: string,
    /** The log's pseudonymizer, when principals are pseudonymised (as in decision entries). */
    private readonly pseudonymize?: Pseudonymizer,
  ) {}

  drain(): Promise<void> {
    const run = this.draining.then(async () => {
      const toEntry = (r: OutboxRecord) => outboxEntry(r, this.node, this.pseudonymize);
      while ((await this.db.drainOutbox(toEntry, 500)) > 0);
    });
    this.draining = run.catch(() => undefined);
    return run;
  }
}

/**
 * The audit entry of an admin change: the one place entries are made from outbox records, whichever
 * store drains them (the embedded store's OutboxDrainer, PostgreSQL's shared drain). With a
 * pseudonymizer, the people it names are taken out (see ADMIN_PERSONS in entry.ts).
 */
export function outboxEntry(r: OutboxRecord, node: string, pseudonymize?: Pseudonymizer): Buffer {
  return adminEntry(
    {
      time: new Date(r.time),
      node,
      change: r.id,
      actor: r.actor,
      action: r.action,
      object: r.object,
      details: r.details,
    },
    pseudonymize,
  );
}
