/**
 * Counters in this process's memory: exact for one node (the embedded default), and each node's own
 * view when the shared counters cannot be reached.
 */
import { periodKey, type QuotaPeriod } from "../metering/periods.js";
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
import { overLimit, windowStart } from "./windows.js";

interface Window {
  start: number;
  requests: number;
  tokens: number;
}

const PERIODS: readonly QuotaPeriod[] = ["month", "quarter", "total"];

export class MemoryCounters implements Counters {
  readonly driver = "memory" as const;
  readonly unavailable = null;
  private readonly windows = new Map<string, Window>();
  /** Tokens by period key ("2026-07", "2026-Q3", "total"), then by license. */
  private readonly licenses = new Map<string, Map<string, number>>();

  admit(request: AdmitRequest): Promise<Admission> {
    return Promise.resolve({
      rate: request.organization === null ? null : this.take(request.organization, request.now),
      usage: this.read(request.licenses, request.now),
    });
  }

  release(organization: string, now: number): Promise<void> {
    const w = this.windows.get(organization);
    if (w !== undefined && w.start === windowStart(now) && w.requests > 0) w.requests--;
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
        const counts = this.period(periodKey(period, at));
        counts.set(t.license, addTokens(counts.get(t.license) ?? 0, tokens));
      }
      this.forgetPastPeriods(at);
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
        const counts = this.period(periodKey(period, at));
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
      usage[l.id] = { tokens: this.licenses.get(periodKey(l.period, at))?.get(l.id) ?? 0 };
    }
    return usage;
  }

  private window(org: string, now: number): Window {
    const start = windowStart(now);
    let w = this.windows.get(org);
    if (w === undefined || w.start !== start) {
      w = { start, requests: 0, tokens: 0 };
      this.windows.set(org, w);
    }
    return w;
  }

  private period(key: string): Map<string, number> {
    let counts = this.licenses.get(key);
    if (counts === undefined) this.licenses.set(key, (counts = new Map()));
    return counts;
  }

  /** A month or quarter that has ended is never read again. */
  private forgetPastPeriods(at: Date): void {
    if (this.licenses.size <= PERIODS.length) return;
    const current = new Set(PERIODS.map((p) => periodKey(p, at)));
    for (const key of this.licenses.keys()) if (!current.has(key)) this.licenses.delete(key);
  }
}
