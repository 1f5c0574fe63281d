/**
 * A background task failing again and again (the usage journal's appends, the federated principals'
 * flushes): said once when it starts, then at most once every FAILING_REPORT_MS with a count, and
 * once when it ends, rather than once a failure (a store out of reach for an hour, flushed every
 * second, was 3,600 stack traces).
 */

/** While a task fails, how often the failure is said again (ms): the first is said at once. */
export const FAILING_REPORT_MS = 60_000;

/** A run of failures: since when, how many, and how many of them were a flush's cut (appends). */
export interface Run {
  readonly since: number;
  failures: number;
  atFlush: number;
}

/** "3 appends failed since 2026-03-01T10:00:00.000Z" (`whats`: the plural, when not `what` + s). */
export const failedSince = (run: Run, what: string, whats = `${what}s`): string =>
  `${run.failures} ${run.failures === 1 ? what : whats} failed since ${new Date(run.since).toISOString()}`;

/**
 * Failures of one kind (appends, directory syncs, flushes), said at most every FAILING_REPORT_MS
 * (item 695). A run's first is said at once; one within FAILING_REPORT_MS of the last said is only
 * counted, and said with the count once that time is up. The run ends only once its recovery is
 * said, under the same limit (when each was last said is kept across runs), so a disk failing on and
 * off is one run (two at most a minute), not one a failure.
 */
export class FailureRun {
  private run: Run | null = null;
  private failureSaidAt = -Infinity;
  private recoverySaidAt = -Infinity;

  constructor(private readonly now: () => number) {}

  /**
   * Counts a failure; the run to say it with, or null when it is only counted. A run's first failure
   * is always said: one within FAILING_REPORT_MS of the last run's, whose recovery was said, would be
   * said by nothing else if its own recovery came too soon to be said and no failure came after
   * (never an error, nor in the error metric). A new run follows a recovery said, at most one each
   * FAILING_REPORT_MS: so at most two failures are said in that time.
   */
  failed(atFlush = false): Run | null {
    const now = this.now();
    const first = this.run === null;
    const run = (this.run ??= { since: now, failures: 0, atFlush: 0 });
    run.failures += 1;
    if (atFlush) run.atFlush += 1;
    if (!first && now - this.failureSaidAt < FAILING_REPORT_MS) return null;
    this.failureSaidAt = now;
    return run;
  }

  /** A success: the run it ends, to say, or null (no run, or a recovery said too lately: the run goes on). */
  worked(): Run | null {
    const run = this.run;
    if (run === null) return null;
    const now = this.now();
    if (now - this.recoverySaidAt < FAILING_REPORT_MS) return null;
    this.recoverySaidAt = now;
    this.run = null;
    return run;
  }
}
