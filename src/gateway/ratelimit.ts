/**
 * Per-organization rate limits (requests and tokens per minute), in fixed one-minute windows, in
 * memory on this node. (Several nodes share counters through Redis — a later issue.)
 */
export interface Limits {
  readonly requestsPerMinute: number | null;
  readonly tokensPerMinute: number | null;
}

interface Window {
  start: number;
  requests: number;
  tokens: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  /** Counts a request; returns the seconds to wait when the organization is over a limit. */
  take(
    org: string,
    limits: Limits,
    now: number,
  ): { ok: true } | { ok: false; retryAfter: number; limit: string } {
    const w = this.window(org, now);
    const retryAfter = Math.max(1, Math.ceil((w.start + 60_000 - now) / 1000));
    if (limits.tokensPerMinute !== null && w.tokens >= limits.tokensPerMinute) {
      return { ok: false, retryAfter, limit: `${limits.tokensPerMinute} tokens per minute` };
    }
    if (limits.requestsPerMinute !== null && w.requests >= limits.requestsPerMinute) {
      return { ok: false, retryAfter, limit: `${limits.requestsPerMinute} requests per minute` };
    }
    w.requests++;
    return { ok: true };
  }

  addTokens(org: string, tokens: number, now: number): void {
    this.window(org, now).tokens += tokens;
  }

  private window(org: string, now: number): Window {
    const start = now - (now % 60_000);
    let w = this.windows.get(org);
    if (w === undefined || w.start !== start) {
      w = { start, requests: 0, tokens: 0 };
      this.windows.set(org, w);
    }
    return w;
  }
}
