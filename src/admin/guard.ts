/**
 * Failed authentications, counted per source address: past the limit within a minute, the source
 * is refused (429 with Retry-After) without its token being looked at, so guessing tokens costs a
 * minute per few guesses. Memory is bounded: stale sources are dropped, and at most MAX_SOURCES
 * are tracked (the oldest forgotten first).
 */
const WINDOW_MS = 60_000;
const MAX_SOURCES = 10_000;

export class FailedAuthGuard {
  /** Per source: the times of its failures within the window, oldest first. */
  private readonly failures = new Map<string, number[]>();

  constructor(readonly perMinute: number) {}

  /** Seconds the source must wait, or 0 when it may try. */
  waitFor(source: string, now: number): number {
    const times = this.recent(source, now);
    if (times.length < this.perMinute) return 0;
    return Math.max(1, Math.ceil(((times[0] as number) + WINDOW_MS - now) / 1000));
  }

  failed(source: string, now: number): void {
    const times = this.recent(source, now);
    times.push(now);
    this.failures.delete(source); // re-inserted last: the map's order is the sources' recency
    this.failures.set(source, times);
    if (this.failures.size > MAX_SOURCES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
  }

  private recent(source: string, now: number): number[] {
    const times = (this.failures.get(source) ?? []).filter((t) => t > now - WINDOW_MS);
    if (times.length === 0) this.failures.delete(source);
    return times;
  }
}
