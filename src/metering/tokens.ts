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

/** a + b, saturating at the largest safe integer (sums of many safe counts stay countable). */
export function addTokens(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}
