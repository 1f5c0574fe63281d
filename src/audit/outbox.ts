/**
 * Moves admin changes from the store's outbox into the audit log. A change is committed with its
 * outbox record (one transaction, whichever process made it); this drains them in order, and
 * deletes them only once their entries are durable. A crash between the two would log a change
 * again, so the log remembers the highest change number it holds and skips those.
 */
import type { OutboxRecord, Store } from "../store/index.js";
import { adminEntry } from "./entry.js";
import type { AuditLog } from "./log.js";

export class OutboxDrainer {
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly log: AuditLog,
    private readonly node: string,
    /** The highest change number already in the log (from the entries read back at start-up). */
    private logged: number,
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
    this.draining = this.draining.then(async () => {
      for (;;) {
        const batch = await this.store.outbox.list(0, 500);
        if (batch.length === 0) return;
        const fresh = batch.filter((r) => r.id > this.logged);
        await Promise.all(fresh.map((r) => this.log.append(this.entry(r))));
        const last = (batch.at(-1) as OutboxRecord).id;
        this.logged = Math.max(this.logged, last);
        await this.store.outbox.remove(last);
      }
    });
    return this.draining;
  }

  private entry(r: OutboxRecord): Buffer {
    return adminEntry({
      time: new Date(r.time),
      node: this.node,
      change: r.id,
      actor: r.actor,
      action: r.action,
      object: r.object,
      details: r.details,
    });
  }
}
