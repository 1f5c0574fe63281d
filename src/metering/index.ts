/**
 * Usage metering: tokens per principal, organization and license, persisted to the store in
 * batches off the hot path (reports read them there). Decisions read the quota counters in
 * src/counters instead, which every node shares when they are in Redis, and which are seeded from
 * what the store holds (storedUsage).
 */
import type { Store, UsageDelta } from "../store/index.js";
import { periodStart, type QuotaPeriod } from "./periods.js";

export { periodEnd, periodKey, periodStart, type QuotaPeriod } from "./periods.js";

/** Tokens per license id, in the current month, the current quarter and in total. */
export type UsageByPeriod = Record<QuotaPeriod, Map<string, number>>;

export class Meter {
  private pending: UsageDelta[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(flushMs: number): void {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  record(delta: UsageDelta): void {
    this.pending.push(delta);
  }

  /** Writes what is pending; a failed batch is kept and retried with the next one. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.store.usage.add(aggregate(batch));
      } catch (err) {
        this.pending = batch.concat(this.pending);
        this.onError(err);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Each license's tokens in the store: in the month and the quarter containing `at`, and in total. */
export async function storedUsage(store: Store, at: Date): Promise<UsageByPeriod> {
  const counters: UsageByPeriod = { month: new Map(), quarter: new Map(), total: new Map() };
  counters.total = new Map(Object.entries((await store.usage.totals()).byLicense));
  const monthStart = periodStart("month", at);
  for (const { licenseId, day, tokens } of await store.usage.byLicenseDay(periodStart("quarter", at))) {
    add(counters.quarter, licenseId, tokens);
    if (day >= monthStart) add(counters.month, licenseId, tokens);
  }
  return counters;
}

/** One row per (day, principal, organization, license, model): the store keeps daily totals anyway. */
function aggregate(batch: readonly UsageDelta[]): UsageDelta[] {
  const rows = new Map<string, UsageDelta>();
  for (const d of batch) {
    const key = `${d.at.slice(0, 10)}\u0000${d.principalId}\u0000${d.organizationId}\u0000${d.licenseId}\u0000${d.model}`;
    const row = rows.get(key);
    rows.set(
      key,
      row === undefined
        ? d
        : {
            ...row,
            inputTokens: row.inputTokens + d.inputTokens,
            outputTokens: row.outputTokens + d.outputTokens,
            requests: row.requests + d.requests,
          },
    );
  }
  return [...rows.values()];
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}
