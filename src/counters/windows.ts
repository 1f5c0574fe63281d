/** One-minute rate-limit windows, the same for every driver. */
import type { RateLimit, RateOutcome } from "./index.js";

export const WINDOW_MS = 60_000;

/** A month's or quarter's counter is kept a day past its end: nodes' clocks differ, and step back. */
export const PERIOD_GRACE_MS = 24 * 3600_000;

/** The start of the one-minute window containing `now`. */
export const windowStart = (now: number): number => now - (now % WINDOW_MS);

/** The answer for an organization over one of its limits in the window containing `now`. */
export function overLimit(
  kind: "tokens" | "requests",
  limits: RateLimit,
  now: number,
): Extract<RateOutcome, { ok: false }> {
  return {
    ok: false,
    retryAfter: Math.max(1, Math.ceil((windowStart(now) + WINDOW_MS - now) / 1000)),
    limit:
      kind === "tokens"
        ? `${limits.tokensPerMinute} tokens per minute`
        : `${limits.requestsPerMinute} requests per minute`,
  };
}
