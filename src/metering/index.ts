/**
 * Usage metering: tokens per principal, organization and license, persisted to the store in
 * batches off the hot path (reports read them there). Decisions read the quota counters in
 * src/counters instead, which every node shares when they are in Redis, and which are seeded from
 * what the store holds (storedUsage).
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { InvalidInputError } from "../errors/index.js";
import type { LicenseWindowTokens, Store, UsageDelta, UsageWindow } from "../store/index.js";
import { checkUsageDeltas } from "../store/input.js";
import { periodStart, type QuotaPeriod } from "./periods.js";
import { JOURNAL_MS, sumInto, UsageSetAsideError, type Row, type UsageJournal } from "./journal.js";
import { addTokens, storedTokens, tokenCount } from "./tokens.js";

export { periodEnd, periodKey, periodStart, type QuotaPeriod } from "./periods.js";
export {
  JOURNAL_DIR,
  JOURNAL_MS,
  journalDir,
  otherJournals,
  pruneJournal,
  replayJournal,
  UsageJournal,
  UsageSetAsideError,
} from "./journal.js";

/** Tokens per license id, in the current month, the current quarter and in total. */
export type UsageByPeriod = Record<QuotaPeriod, Map<string, number>>;

/** What one forwarded request used; when is given separately (epoch milliseconds). */
export type MeteredUsage = Omit<UsageDelta, "at" | "requests">;

export class Meter {
  /**
   * Usage since the last flush, already summed per (UTC day, principal, organization, license,
   * model) — the rows the store keeps — so that a request adds to a row instead of queuing a
   * record of its own.
   */
  private pending = new Map<string, Row>();
  /**
   * Batches the store refused, or may have taken (an error after the commit): their outcome unknown
   * until the store is asked whether it recorded their segments. Kept as the parts they were cut as,
   * each answered for on its own: a part's ids are recorded together (by its own write or by a resend
   * holding it), but a write still committing when a resend was refused may land later, taking its
   * part and not the others (a part taken for them all lost them).
   */
  private unwritten: Batch[] = [];
  /**
   * Batches cut while the store could not say what became of `unwritten` (it was down): never sent,
   * so not in the store; written with the next batch.
   */
  private unsent: Batch | null = null;
  private day: { readonly start: number; readonly end: number; readonly key: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Segments whose files are set aside (`.written`): their records dropped with the next batch, then the files. */
  private forget: string[] = [];

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
    /**
     * Where what is counted is appended between flushes (see journal.ts), replayed at the next start
     * (replayJournal) after a crash, or a stop the store refused; without it, usage the store has not
     * taken by a crash or by close() is lost.
     */
    private readonly journal?: UsageJournal,
    /**
     * Where what is said for information goes (usage kept in the journal at close(): nothing lost, so
     * no error; the refusal that led to it went to `onError`). Default: dropped.
     */
    private readonly notice: (line: string) => void = () => undefined,
  ) {}

  start(flushMs: number, journalMs = JOURNAL_MS): void {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), flushMs); // said by onError, if it can be
    this.timer.unref();
    this.journal?.start(journalMs);
  }

  /** Adds one request's usage at `now` (epoch milliseconds). Memory only: the journal is appended by a timer. */
  record(usage: MeteredUsage, now: number): void {
    let day = this.day;
    if (day === null || now < day.start || now >= day.end) {
      const start = now - (now % DAY_MS);
      day = this.day = { start, end: start + DAY_MS, key: new Date(start).toISOString().slice(0, 10) };
    }
    // Whole counts only: the store refuses a batch holding anything else, and would keep refusing it.
    const inputTokens = tokenCount(usage.inputTokens);
    const outputTokens = tokenCount(usage.outputTokens);
    const key = `${day.key}\u0000${usage.principalId}\u0000${usage.organizationId}\u0000${usage.licenseId}\u0000${usage.model}`;
    const row = this.pending.get(key);
    if (row === undefined) {
      this.pending.set(
        key,
        Object.assign({}, usage, { inputTokens, outputTokens, requests: 1, at: new Date(now).toISOString() }),
      );
    } else {
      row.inputTokens = addTokens(row.inputTokens, inputTokens);
      row.outputTokens = addTokens(row.outputTokens, outputTokens);
      row.requests += 1;
    }
    this.journal?.note(
      key,
      Object.assign({}, usage, { inputTokens, outputTokens, requests: 1, at: new Date(now).toISOString() }),
    );
  }

  /**
   * Writes what is pending, recording the journal segments it covers in the same transaction (then
   * removing their files); a failed batch is kept and added into the next one — unless the store
   * recorded its segments after all (an error after the commit): then it is in the store already.
   * While the store cannot say (it is down), later batches are kept apart from it, never sent.
   * Rows the store would refuse as invalid, which would take every good row in the batch with them,
   * for ever, are checked first, with the store's own check, and set aside, each in full in the
   * gateway's log (ids, model and counts, nothing secret), so the usage reports miss only them and an
   * operator can add them by hand.
   */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce());
    // The caller hears of a flush that throws (its error handler failing); the next flush still runs.
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async flushOnce(): Promise<void> {
    // In one tick: the segments cut hold exactly the usage in `pending` (what they could journal).
    const cut = this.pending.size === 0 ? { segments: [], unjournaled: 0 } : this.cut();
    // A batch journaled in no segment (its cut's append failed, or no journal) is recorded under a
    // marker instead, so that whether the store took it can be asked as for one with segments.
    const markers =
      this.pending.size > 0 && cut.segments.length === 0 ? [this.journal?.marker() ?? randomUUID()] : [];
    const fresh = merge(this.unsent, {
      rows: this.pending,
      segments: cut.segments,
      markers,
      unjournaled: cut.unjournaled,
    });
    this.pending = new Map();
    this.unsent = null;
    let kept = this.unwritten;
    this.unwritten = [];
    if (kept.length > 0) {
      try {
        const written = new Set(await this.store.usage.journaled(kept.flatMap(recorded)));
        const taken = (part: Batch) => recorded(part).some((id) => written.has(id));
        for (const part of kept.filter(taken))
          this.forget.push(...(this.journal?.remove(part.segments) ?? part.segments), ...part.markers);
        kept = kept.filter((part) => !taken(part));
      } catch (err) {
        // What became of `kept` still unknown: it stays as it is, the fresh batch apart from it.
        this.unwritten = kept;
        this.unsent = fresh;
        this.onError(err);
        return;
      }
    }
    // Set aside part by part, so that a part kept again is not checked (and reported) again.
    for (const part of [...kept, fresh]) this.setAsideInvalid(part.rows);
    const all = kept.reduceRight((batch: Batch, part) => merge(part, batch), fresh);
    const written = recorded(all);
    if (all.rows.size === 0 && written.length === 0) return;
    // One fsync of the journal's directory a flush at most, and only when records are dropped.
    const forget = this.forget.length > 0 && this.journal?.syncRenames() !== false ? this.forget : [];
    try {
      await this.store.usage.add(
        [...all.rows.values()],
        written.length === 0 && forget.length === 0 ? undefined : { written, forget },
      );
      if (forget.length > 0) this.forget = [];
      this.journal?.discard(forget);
      this.forget.push(...(this.journal?.remove(all.segments) ?? all.segments), ...all.markers);
    } catch (err) {
      // Written in one transaction: every part's ids recorded, or none (unless a part's own earlier
      // write lands later: hence kept as parts).
      this.unwritten = [...kept, fresh].filter((part) => part.rows.size > 0 || recorded(part).length > 0);
      this.onError(err);
    }
  }

  /** Closes the journal's segment: those returned hold what `pending` holds, but for the rows counted as unjournaled. */
  private cut(): { segments: string[]; unjournaled: number } {
    const journal = this.journal;
    if (journal === undefined) return { segments: [], unjournaled: 0 };
    const before = journal.unjournaledRows;
    const segments = journal.cut();
    return { segments, unjournaled: journal.unjournaledRows - before };
  }

  /** Takes out of `batch` each row the store's check refuses, reporting it. Once a flush, off the request path. */
  private setAsideInvalid(batch: Map<string, Row>): void {
    for (const [key, row] of batch) {
      try {
        checkUsageDeltas([row]);
      } catch (err) {
        if (!(err instanceof InvalidInputError)) throw err;
        batch.delete(key);
        this.onError(
          new UsageSetAsideError(
            row,
            err.problems.map((p) => p.message),
          ),
        );
      }
    }
  }

  /**
   * Flushes what is pending. What the store still refuses (it is down) stays in the journal (its
   * segments fsynced, as a stop should leave them even through a power cut) for the next start: dropped, it would be missing from the reports, and with
   * memory counters (seeded from the store) handed back to each license's quota when the gateway
   * starts again.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    let late: { segments: string[]; unjournaled: number };
    try {
      await this.flush();
      if (this.pending.size > 0) await this.flush(); // counted while the last batch was written
      if (this.journal === undefined) return;
      // Counted after that (none but a request ending during the stop): in the journal, for the next start.
      late = this.cut();
    } finally {
      // Whatever the flushes did (one may throw): the journal's timer, left running, would append
      // segments after the gateway let the journal's lock go, which a next start could replay while
      // they are still appended to.
      this.journal?.close();
    }
    const untaken = [...this.unwritten, this.unsent, late];
    const segments = untaken.flatMap((b) => b?.segments ?? []);
    // Rows the journal could not append are only in memory: lost now, unless a batch the store took
    // held them. A kept batch's write may have committed though it reported an error: the store is
    // asked (its ids, a marker at least, were recorded with its rows); if it cannot answer, whether
    // those rows are lost cannot be told, and is said so. Unsent batches and the last cut never
    // reached the store.
    const { lost: keptLost, unknown, why } = await this.unjournaledTaken(this.unwritten);
    const lost = keptLost + (this.unsent?.unjournaled ?? 0) + late.unjournaled;
    if (lost > 0)
      // The journal's disk refused an append at a flush or at this stop, and the store did not take that usage.
      this.onError(
        new Error(
          `usage lost at this stop: ${plural(lost, "row")} of usage the journal could not append (its error was said) and the store did not take`,
        ),
      );
    if (unknown > 0)
      this.onError(
        new Error(
          `usage perhaps lost at this stop: ${plural(unknown, "row")} of usage the journal could not append (its error was said), in a batch whose write reported an error; whether the store took it cannot be told, the store could not be asked (${errorText(why)})`,
          { cause: why },
        ),
      );
    if (segments.length === 0) {
      // The last batches' records, needed no longer (their files are removed): not left behind.
      const forget = this.forget;
      if (forget.length > 0 && this.journal.syncRenames())
        await this.store.usage
          .add([], { written: [], forget })
          .then(() => this.journal?.discard(forget), this.onError);
      return;
    }
    try {
      this.journal.keep(segments);
      this.unwritten = [];
      this.unsent = null;
      this.pending.clear();
      // The rows the kept segments hold (what the next start writes), not those lost.
      this.notice(keptUsageNotice(this.journal.dir, this.journal.pendingRows, lost));
    } catch (err) {
      this.onError(err);
    }
  }

  /**
   * Of `parts` (batches whose write reported an error), the rows their cuts could not journal: those
   * in parts the store says it did not take (`lost`), and those it could not be asked about
   * (`unknown`, with the error).
   */
  private async unjournaledTaken(
    parts: readonly Batch[],
  ): Promise<{ lost: number; unknown: number; why?: unknown }> {
    const asked = parts.filter((part) => part.unjournaled > 0);
    if (asked.length === 0) return { lost: 0, unknown: 0 };
    let written: Set<string>;
    try {
      written = new Set(await this.store.usage.journaled(asked.flatMap(recorded)));
    } catch (err) {
      return { lost: 0, unknown: asked.reduce((n, part) => n + part.unjournaled, 0), why: err };
    }
    // A part's ids are recorded together, with its rows, or not at all.
    const lost = asked
      .filter((part) => !recorded(part).some((id) => written.has(id)))
      .reduce((n, part) => n + part.unjournaled, 0);
    return { lost, unknown: 0 };
  }

  /** Stops as a crash would: no flush, nothing more journaled (tests). */
  crash(): void {
    clearInterval(this.timer);
    this.journal?.crash();
  }
}

/**
 * Usage for one write to the store, with the journal segments holding it, recorded as written in the
 * same transaction, and the number of its rows a cut could not journal (in memory only).
 */
interface Batch {
  readonly rows: Map<string, Row>;
  readonly segments: string[];
  /**
   * Ids recorded as segments are, but with no file: a batch that no segment holds (its cut's append
   * failed) is recorded under one, so the store can be asked whether it took the batch.
   */
  readonly markers: string[];
  readonly unjournaled: number;
}

/** What the store records for `batch`, as written, in its transaction. */
const recorded = (batch: Batch): string[] => [...batch.segments, ...batch.markers];

/** `kept`'s rows with `batch`'s added into them (a copy; `batch` itself when there is no `kept`). */
function merge(kept: Batch | null, batch: Batch): Batch {
  if (kept === null) return batch;
  const rows = new Map<string, Row>();
  for (const [key, row] of kept.rows) sumInto(rows, key, row);
  for (const [key, row] of batch.rows) sumInto(rows, key, row);
  return {
    rows,
    segments: [...kept.segments, ...batch.segments],
    markers: [...kept.markers, ...batch.markers],
    unjournaled: kept.unjournaled + batch.unjournaled,
  };
}

/** The file in the data directory where an earlier release kept usage the store had not taken when it stopped. */
export const KEPT_USAGE_FILE = "usage-unwritten.json";

function readKept(file: string): UsageDelta[] {
  const rows = JSON.parse(readFileSync(file, "utf8")) as unknown;
  if (!Array.isArray(rows))
    throw new InvalidInputError([
      { code: "invalid_usage", path: [], message: "expected an array of usage rows" },
    ]);
  checkUsageDeltas(rows as UsageDelta[]);
  return rows as UsageDelta[];
}

/**
 * At start, before the counters are seeded from the store: writes the usage an earlier release kept
 * in `file` (the store was down when it stopped; this release keeps it in the journal) and removes the
 * file; the number of rows written. Throws when the file cannot be read or the store refuses it: the
 * gateway does not start on a store missing usage it knows of (each license's quota would be handed
 * that much back). A stop between the write and the removal writes the rows again at the next start
 * (charged twice, never lost).
 */
export async function writeKeptUsage(store: Store, file: string): Promise<number> {
  if (!existsSync(file)) return 0;
  let rows: UsageDelta[];
  try {
    rows = readKept(file);
  } catch (err) {
    const why =
      err instanceof InvalidInputError ? err.problems.map((p) => p.message).join("; ") : String(err);
    throw new Error(
      `the usage kept at the last stop, in ${file}, cannot be read (${why}): it was not written to the store; correct or remove the file`,
      { cause: err },
    );
  }
  try {
    if (rows.length > 0) await store.usage.add(rows);
  } catch (err) {
    throw new Error(
      `the usage kept at the last stop, in ${file}, could not be written to the store (${err instanceof Error ? err.message : String(err)}); the gateway does not start without it`,
      { cause: err },
    );
  }
  unlinkSync(file);
  return rows.length;
}

/**
 * Said at close() when usage the store refused was kept for the next start: the rows kept, and any
 * lost (the journal could not append them; said as an error too).
 */
export const keptUsageNotice = (file: string, rows: number, lost = 0): string =>
  `usage the store did not take before the stop (${plural(rows, "row")}${lost > 0 ? `; ${plural(lost, "row")} more the journal could not append, lost` : ""}) is kept in ${file}, and written to the store at the next start`;

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

const DAY_MS = 86_400_000;

/**
 * Each license's tokens in the store: in the month and the quarter containing `at`, and in total,
 * summed by the store per license in one read (no per-principal sums, no per-day rows: at 10,000
 * licenses x 90 days those held the event loop for seconds on SQLite). Sums past 2^53 are saturated:
 * the counters read any larger figure as none, which would give the license its quota back.
 */
export async function storedUsage(store: Store, at: Date): Promise<UsageByPeriod> {
  return usageByPeriod(await store.usage.byLicenseWindows(quotaWindows(at)));
}

/** The windows `usageByPeriod` reads, for the periods containing `at`: the quarter's, then the month's. */
export function quotaWindows(at: Date): UsageWindow[] {
  return [{ from: periodStart("quarter", at) }, { from: periodStart("month", at) }];
}

/** The store's sums over `quotaWindows` (any windows after those are left to the caller) as each period's counts. */
export function usageByPeriod(rows: readonly LicenseWindowTokens[]): UsageByPeriod {
  const counters: UsageByPeriod = { month: new Map(), quarter: new Map(), total: new Map() };
  for (const { licenseId, total, windows } of rows) {
    add(counters.total, licenseId, total);
    // A license with no tokens in a period has no entry there, as when the period's days were read.
    if (windows[0]! > 0) add(counters.quarter, licenseId, windows[0]!);
    if (windows[1]! > 0) add(counters.month, licenseId, windows[1]!);
  }
  return counters;
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, addTokens(map.get(key) ?? 0, storedTokens(n)));
}
