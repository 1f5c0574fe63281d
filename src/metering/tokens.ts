/**
 * Token counts as the counters and the store keep them: non-negative safe integers. Redis' INCRBY
 * refuses anything else, and so does the store's check of a usage batch; one such value would stop
 * every later count behind it.
 */

/**
 * A count as it is kept: a fraction is rounded up (part of a token is charged as one); a value no
 * one could have used — negative, not finite, or past 2^53 — counts as none (0). Past 2^53 is an
 * upstream's error, not usage: charging it would exhaust a license for good (counters are never
 * lowered), and sums of it would leave the range the store and JavaScript count exactly.
 */
export function tokenCount(n: number): number {
  const whole = Math.ceil(n);
  return Number.isSafeInteger(whole) && whole >= 0 ? whole : 0;
}

/**
 * A figure the store summed from counts the Meter took: past 2^53 it is saturated, not read as none
 * as an upstream's count is — a sum that large is usage (a quota used up), and reading it as 0 would
 * hand the license its whole quota back when the counters are seeded from it (a restart).
 */
export function storedTokens(n: number): number {
  return n >= Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : tokenCount(n);
}

/** a + b, saturating at the largest safe integer (sums of many safe counts stay countable). */
export function addTokens(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}
