/**
 * Moves admin changes from the store's outbox into the audit log. A change is committed with its
 * outbox record (one transaction, whichever process made it); this drains them in order, and
 * deletes them only once their entries are durable, recording in the same transaction how far the
 * store has caught up with the log (the change and its entry's digest: control/restored.ts). A
 * crash between the two would log a change again, so the log remembers the highest change number
 * it holds and skips those; so does a drain the log failed part-way through (its first entries
 * durable, the rest refused). A change under a number the log holds is skipped only when it is the
 * change logged (the same digest): a store restored from a backup numbers new changes anew, and one
 * that is not stops the drain instead. So does a store that has drained further than the log holds
 * (the log restored from an older backup): what it logged now would pass over the entries lost.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";
import type { DrainedThrough, OutboxRecord, SharedAuditStore, Store } from "../store/index.js";
import { adminEntry, type Pseudonymizer } from "./entry.js";
import type { AuditTrail } from "./log.js";
import { publishedSize, readEntries } from "./read.js";
import type { LogSource } from "./source.js";

/** The store's outbox numbers changes the audit log already holds: the store went back in time. */
class OutboxNumbersError extends Error {
  override name = "OutboxNumbersError";
  constructor(id: number, logged: number, other: boolean) {
    super(
      (other
        ? `the store's outbox holds a change numbered ${logged} that is not the change the audit log holds under ${logged}: `
        : `the store's outbox holds admin change ${id}, but the audit log already holds changes up to ${logged} and not this one's batch: `) +
        `the store was restored from a backup or replaced, and numbers its changes anew. No change was logged or discarded; admin changes are not logged (and the admin API answers with an error) until this is resolved — restore the audit log of the same date as the store, or start a new log`,
    );
  }
}

/** The store has drained into the audit log further than the log holds: the log went back in time. */
class LogBehindError extends Error {
  override name = "LogBehindError";
  readonly code = "log_behind_store";
  constructor(drained: number, logged: number) {
    super(
      `the store has drained admin changes into the audit log up to change ${drained}, but the audit log ` +
        `holds changes only up to ${logged}: the log was restored from an older backup or replaced. No ` +
        `change was logged or discarded; admin changes are not logged (and the admin API answers with an ` +
        `error) until this is resolved — restore the audit log of the same date as the store, or start a new log`,
    );
  }
}

/**
 * The digest of an admin change's entry, whichever node logged it (the node's name left out): it
 * tells the change the log holds under a number from another change given that number.
 */
export function changeDigest(entry: Uint8Array): string {
  const e = JSON.parse(Buffer.from(entry).toString("utf8")) as Record<string, unknown>;
  return createHash("sha256")
    .update(canonicalJson({ ...e, node: "" }))
    .digest("hex");
}

/** The change number of an admin entry; null for any other entry. */
function changeOf(entry: Buffer | string): number | null {
  if (entry.indexOf('"type":"admin"') < 0) return null;
  const change = (JSON.parse(entry.toString()) as { change?: unknown }).change;
  return typeof change === "number" ? change : null;
}

/**
 * The log's mark (AuditLogOptions.mark): the highest change number it holds. The entry of that
 * change is kept when start-up reads it back (it is after the last restore point), for its digest.
 */
export function changeMark() {
  let last: { change: number; entry: Buffer } | null = null;
  return {
    initial: 0,
    fold(seen: number, entries: readonly Buffer[]): number {
      let max = seen;
      for (const entry of entries) {
        const change = changeOf(entry);
        if (change === null || change < max || change === 0) continue;
        max = change;
        last = { change, entry };
      }
      return max;
    },
    /** The log's last change, with its entry's digest where start-up read it back. */
    at(mark: number): DrainedThrough {
      return { change: mark, digest: last?.change === mark ? changeDigest(last.entry) : null };
    },
  };
}

/**
 * The log's admin entry for `change`, read back from the newest published entries towards the
 * oldest (wider each round); null if the log holds none. Slow on a long log: only for a change
 * still in the outbox whose entry start-up did not read back (see OutboxDrainer.loggedDigest).
 */
export async function findChange(source: LogSource, change: number): Promise<Buffer | null> {
  const needle = `"change":${change},`;
  let to = await publishedSize(source);
  for (let width = 4096n; to > 0n; width *= 2n) {
    const from = to > width ? to - width : 0n;
    let found: string | null = null;
    for await (const { entries } of readEntries(source, { from, to }))
      for (const e of entries) if (e.includes(needle) && changeOf(e) === change) found = e;
    if (found !== null) return Buffer.from(found);
    to = from;
  }
  return null;
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
    /** The highest change number already in the log, with its entry's digest where known. */
    private logged: DrainedThrough,
    /** The log's pseudonymizer, when principals are pseudonymised (as in decision entries). */
    private readonly pseudonymize?: Pseudonymizer,
    /** Reads the log's entry for a change back (findChange), when its digest is not known. */
    private readonly find?: (change: number) => Promise<Buffer | null>,
  ) {}

  /** The highest change number in the log (0: none yet). */
  get change(): number {
    return this.logged.change;
  }

  /** The digest of the log's entry for `change`, when known without reading the log back. */
  get digest(): string | null {
    return this.logged.digest;
  }

  /** The log holds no entry, nor has it published any: a new log (control/restored.ts). */
  get empty(): boolean {
    return this.log.size === 0n && (this.log.published?.size ?? 0n) === 0n;
  }

  /** The digest of the log's entry for `change`, read back if need be; null if the log holds none. */
  async loggedDigest(): Promise<string | null> {
    const { change, digest } = this.logged;
    if (digest !== null || this.find === undefined) return digest;
    const entry = await this.find(change);
    if (entry === null) return null;
    // A drain may have moved on meanwhile: its own digest stands.
    if (this.logged.change === change) this.logged = { change, digest: changeDigest(entry) };
    return changeDigest(entry);
  }

  /** The digest `r`'s entry has in the log. */
  digestOf(r: OutboxRecord): string {
    return changeDigest(this.entry(r));
  }

  /** Logs every pending change; resolves when they are durable. Calls are serialised. */
  drain(): Promise<void> {
    const run = this.draining.then(async () => {
      for (;;) {
        const batch = await this.store.outbox.list(0, 500);
        if (batch.length === 0) return;
        const fresh = batch.filter((r) => r.id > this.logged.change);
        if (fresh.length < batch.length) await this.checkLeftover(batch);
        if (fresh.length > 0) await this.checkNotBehind();
        const results = await Promise.allSettled(fresh.map((r) => this.log.append(this.entry(r))));
        const failed = results.findIndex((r) => r.status === "rejected");
        if (failed >= 0) {
          // The log failed part-way (a full disk): the entries before the failure are durable and
          // must not be logged again when the next drain retries the rest.
          if (failed > 0) this.logged = this.through(fresh[failed - 1] as OutboxRecord);
          throw (results[failed] as PromiseRejectedResult).reason;
        }
        if (fresh.length > 0) this.logged = this.through(fresh.at(-1) as OutboxRecord);
        await this.store.outbox.remove(this.logged);
      }
    });
    // A failed drain is the caller's to report; the next one starts afresh.
    this.draining = run.catch(() => undefined);
    return run;
  }

  /**
   * Records at or below the logged number are normally the last drain's, left by a crash before
   * the outbox was cleared — and that drain's last record is then still here, the very change the
   * log holds under its number. If it is not (absent, or another change), the store numbers its
   * changes anew (restored from a backup, or replaced): skipping them would drop real changes from
   * the log unseen. Refuse; delete nothing.
   */
  private async checkLeftover(batch: readonly OutboxRecord[]): Promise<void> {
    const last = batch.find((r) => r.id === this.logged.change);
    if (last === undefined)
      throw new OutboxNumbersError((batch[0] as OutboxRecord).id, this.logged.change, false);
    const digest = await this.loggedDigest();
    if (digest === null || this.digestOf(last) !== digest)
      throw new OutboxNumbersError(last.id, this.logged.change, true);
  }

  /**
   * The store has drained into the log further than the log holds (the log, or the store under a
   * running node, restored from another date): changes logged now would pass over the entries the
   * log lacks, and bring its number level with the store's. Refuse; delete nothing. Only the drainer
   * moves the store's position, after the log's: no drain in progress can make it seem ahead.
   */
  private async checkNotBehind(): Promise<void> {
    const { drained } = await this.store.outbox.position(this.logged.change);
    if (drained !== null && drained.change > this.logged.change)
      throw new LogBehindError(drained.change, this.logged.change);
  }

  private through(r: OutboxRecord): DrainedThrough {
    return { change: r.id, digest: this.digestOf(r) };
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
