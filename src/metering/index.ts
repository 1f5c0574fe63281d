/**
 * Usage metering: tokens per principal, organization and license, persisted to the store in
 * batches off the hot path (reports read them there). This node's totals are also kept in memory: a
 * license's quota runs per month, per quarter, or for its whole life, and `byLicense` shows each
 * license the tokens used in its own current period. Decisions read the quota counters in
 * src/counters, which every node shares when they are in Redis.
 */
import type { Store, UsageDelta } from "../store/index.js";
import { periodKey, periodStart, type QuotaPeriod } from "./periods.js";

export { periodEnd, periodKey, periodStart, type QuotaPeriod } from "./periods.js";

/** Tokens per license id, in the current month, the current quarter and in total. */
export type UsageByPeriod = Record<QuotaPeriod, Map<string, number>>;
type Counters = UsageByPeriod;

export class Meter {
  /** Shaped as decide()'s `request.usage`, so it is passed as is, with no per-request copy. */
  byLicense: Record<string, { tokens: number }> = Object.create(null) as Record<string, { tokens: number }>;
  private counters: Counters = { month: new Map(), quarter: new Map(), total: new Map() };
  private keys = { month: "", quarter: "" };
  private periods = new Map<string, QuotaPeriod>();
  private pending: UsageDelta[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(): Promise<void> {
    const at = this.now();
    this.keys = { month: periodKey("month", at), quarter: periodKey("quarter", at) };
    this.counters = await storedUsage(this.store, at);
    this.rebuild();
  }

  /** Which period each license's quota runs over (from the policy in force). */
  setPeriods(periods: ReadonlyMap<string, QuotaPeriod>): void {
    this.periods = new Map(periods);
    this.rebuild();
  }

  start(flushMs: number): void {
    this.timer = setInterval(() => {
      this.roll();
      void this.flush();
    }, flushMs);
    this.timer.unref();
  }

  tokensInPeriod(licenseId: string, period: QuotaPeriod): number {
    this.roll();
    return this.counters[period].get(licenseId) ?? 0;
  }

  record(delta: UsageDelta): void {
    this.roll();
    if (delta.licenseId !== null) {
      const tokens = delta.inputTokens + delta.outputTokens;
      for (const period of ["month", "quarter", "total"] as const)
        add(this.counters[period], delta.licenseId, tokens);
      const entry = (this.byLicense[delta.licenseId] ??= { tokens: 0 });
      entry.tokens = this.counters[this.periods.get(delta.licenseId) ?? "total"].get(delta.licenseId) ?? 0;
    }
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

  /** A new month or quarter starts at zero. */
  private roll(): void {
    const at = this.now();
    const month = periodKey("month", at);
    const quarter = periodKey("quarter", at);
    if (month === this.keys.month && quarter === this.keys.quarter) return;
    if (month !== this.keys.month) this.counters.month = new Map();
    if (quarter !== this.keys.quarter) this.counters.quarter = new Map();
    this.keys = { month, quarter };
    this.rebuild();
  }

  private rebuild(): void {
    const view = Object.create(null) as Record<string, { tokens: number }>;
    const ids = new Set([...this.counters.total.keys(), ...this.periods.keys()]);
    for (const id of ids) view[id] = { tokens: this.counters[this.periods.get(id) ?? "total"].get(id) ?? 0 };
    this.byLicense = view;
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
