/**
 * Times given by another node's clock: the sightings of the fleet's shared stream (feed.ts), and
 * the decisions of an audit log other nodes write too (a shared log on PostgreSQL), replayed at
 * start (warmup.ts). One rule for both: a time more than MAX_AHEAD_MS ahead of this node's clock
 * (the deciding node's clock is wrong) is taken as of this node's now — a sighting as of when Redis
 * received it, if earlier — counted, and reported naming the first. Taken as it came, a sighting a year ahead moved its subject's windows and cooldowns a
 * year ahead (silencing it, or keeping a key's country "within the window" for a year), dated its
 * alert a year ahead, and the periodic sweep it ran forgot every other subject's state.
 */

/** How far ahead of this node's clock a time may be (ms): clocks a fleet keeps in step differ by less. */
export const MAX_AHEAD_MS = 60_000;

/** Whether `t` (ms) is further ahead of `now` than a clock in step can be. */
const ahead = (t: number, now: number) => t > now + MAX_AHEAD_MS;

/**
 * `t` (ms) as this node takes it: `now` when more than MAX_AHEAD_MS ahead of it (its request was
 * decided by now, and this node's clock is the best word on when); else as it is.
 */
export function boundedTime(t: number, now: number): number {
  return ahead(t, now) ? now : t;
}

/** The times taken as of now (see boundedTime), counted, and told: how many since last told, and the first. */
export class AheadTimes {
  /** Taken as of now since start. */
  count = 0;
  private told = 0;
  /** The first taken as of now since last told: which node's clock to look at. */
  private first: { readonly what: string; readonly t: number } | null = null;

  /**
   * `t` (ms) as this node takes it (see boundedTime), counted when taken as of now.
   * @param what names what `t` dates, for the report ("request r1")
   * @param instead the time taken for one far ahead, when a better word than `now` is known (when
   *   Redis received a sighting); never later than `now`
   */
  bound(t: number, now: number, what: () => string, instead = now): number {
    if (!ahead(t, now)) return t;
    this.count++;
    this.first ??= { what: what(), t };
    return Math.min(now, instead);
  }

  /**
   * Those taken as of now since the last report, as one error naming the first; null when none.
   * @param where what read them ("alert sighting stream")
   * @param noun what one is, and several are (["sighting", "sightings"])
   * @param takenAs what they were taken as of (`bound`'s `instead`): "now" unless told
   */
  report(where: string, noun: readonly [string, string], takenAs = "now"): Error | null {
    const n = this.count - this.told;
    if (n === 0) return null;
    const first = this.first;
    this.told = this.count;
    this.first = null;
    return new Error(
      `${where}: ${n} ${n === 1 ? noun[0] : noun[1]} dated more than ${MAX_AHEAD_MS / 1000} s ahead of this node's clock, taken as of ${takenAs} (the deciding node's clock is wrong?); ` +
        `the first: ${first?.what ?? "?"} dated ${first === null ? "?" : new Date(first.t).toISOString()}`,
    );
  }
}
