/**
 * Counters in this process's memory: exact for one node (the embedded default), and each node's own
 * view when the shared counters cannot be reached.
 */
import { periodEnd, periodKey, type QuotaPeriod } from "../metering/periods.js";
import { addTokens, tokenCount } from "../metering/tokens.js";
import type {
  Admission,
  AdmitRequest,
  Counters,
  LicenseCounter,
  LicenseUsage,
  MeteredTokens,
  RateLimit,
  SeedRow,
} from "./index.js";
import { overLimit, PERIOD_GRACE_MS, windowStart } from "./windows.js";

interface Window {
  start: number;
  requests: number;
  tokens: number;
}

const PERIODS: readonly QuotaPeriod[] = ["month", "quarter", "total"];

export class MemoryCounters implements Counters {
  readonly driver = "memory" as const;
  readonly unavailable = null;
  readonly evictionRisk = null;
  /**
   * An organization's two newest one-minute windows, newest first: a time from the previous minute
   * (a clock stepped back, a call that took its time) counts there without resetting the current one.
   */
  private readonly windows = new Map<string, Window[]>();
  /** Tokens by period key ("2026-07", "2026-Q3", "total"), then by license; with the period's end. */
  private readonly licenses = new Map<
    string,
    { readonly end: number; readonly counts: Map<string, number> }
  >();
  /** The latest time tokens were added at: periods are forgotten only once well past it. */
  private newest = -Infinity;

  admit(request: AdmitRequest): Promise<Admission> {
    return Promise.resolve({
      rate: request.organization === null ? null : this.take(request.organization, request.now),
      usage: this.read(request.licenses, request.now),
    });
  }

  release(organization: string, now: number): Promise<void> {
    const start = windowStart(now);
    const w = this.windows.get(organization)?.find((w) => w.start === start);
    if (w !== undefined && w.requests > 0) w.requests--;
    return Promise.resolve();
  }

  add(t: MeteredTokens): Promise<void> {
    const tokens = tokenCount(t.tokens);
    if (t.organization !== null) {
      const w = this.window(t.organization, t.now);
      w.tokens = addTokens(w.tokens, tokens);
    }
    if (t.license !== null) {
      const at = new Date(t.now);
      for (const period of PERIODS) {
        const counts = this.period(period, at);
        counts.set(t.license, addTokens(counts.get(t.license) ?? 0, tokens));
      }
      this.newest = Math.max(this.newest, t.now);
      this.forgetPastPeriods();
    }
    return Promise.resolve();
  }

  usage(licenses: readonly LicenseCounter[], now: number): Promise<LicenseUsage> {
    return Promise.resolve(this.read(licenses, now));
  }

  seed(rows: readonly SeedRow[], now: number): Promise<void> {
    const at = new Date(now);
    for (const row of rows) {
      for (const period of PERIODS) {
        const counts = this.period(period, at);
        counts.set(row.license, Math.max(counts.get(row.license) ?? 0, tokenCount(row[period])));
      }
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private take(org: { readonly id: string; readonly limits: RateLimit }, now: number) {
    const w = this.window(org.id, now);
    const { limits } = org;
    if (limits.tokensPerMinute !== null && w.tokens >= limits.tokensPerMinute) {
      return overLimit("tokens", limits, now);
    }
    if (limits.requestsPerMinute !== null && w.requests >= limits.requestsPerMinute) {
      return overLimit("requests", limits, now);
    }
    w.requests++;
    return { ok: true } as const;
  }

  private read(licenses: readonly LicenseCounter[], now: number): LicenseUsage {
    const usage = Object.create(null) as LicenseUsage;
    const at = new Date(now);
    for (const l of licenses) {
      usage[l.id] = { tokens: this.licenses.get(periodKey(l.period, at))?.counts.get(l.id) ?? 0 };
    }
    return usage;
  }

  private window(org: string, now: number): Window {
    const start = windowStart(now);
    let kept = this.windows.get(org);
    if (kept === undefined) this.windows.set(org, (kept = []));
    const found = kept.find((w) => w.start === start);
    if (found !== undefined) return found;
    // Older than both windows kept (a clock stepped back further than a minute): counted in the
    // older of them, so the limit still holds while the clock catches up — a window made for it
    // and not kept would be read empty every time, switching the limit off.
    if (kept.length === 2 && start < (kept[1] as Window).start) return kept[1] as Window;
    const w = { start, requests: 0, tokens: 0 };
    kept.unshift(w);
    kept.sort((a, b) => b.start - a.start);
    kept.length = Math.min(kept.length, 2);
    return w;
  }

  private period(period: QuotaPeriod, at: Date): Map<string, number> {
    const key = periodKey(period, at);
    let p = this.licenses.get(key);
    if (p === undefined) this.licenses.set(key, (p = { end: periodEnd(period, at), counts: new Map() }));
    return p.counts;
  }

  /**
   * A month or quarter is forgotten a day after it ended, as Redis lets it expire: a time from the
   * past (a clock stepped back) neither forgets the current period nor loses the previous one.
   */
  private forgetPastPeriods(): void {
    if (this.licenses.size <= PERIODS.length) return;
    for (const [key, p] of this.licenses)
      if (p.end + PERIOD_GRACE_MS <= this.newest) this.licenses.delete(key);
  }
}
