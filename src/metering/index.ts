/**
 * Usage metering: tokens per principal, organization and license, persisted to the store in
 * batches off the hot path (reports read them there). Decisions read the quota counters in
 * src/counters instead, which every node shares when they are in Redis, and which are seeded from
 * what the store holds (storedUsage).
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { InvalidInputError } from "../errors/index.js";
import type { LicenseWindowTokens, Store, UsageDelta, UsageWindow } from "../store/index.js";
import { checkUsageDeltas } from "../store/input.js";
import { periodStart, type QuotaPeriod } from "./periods.js";
import { addTokens, storedTokens, tokenCount } from "./tokens.js";
import { quoted } from "../policy/text.js";

export { periodEnd, periodKey, periodStart, type QuotaPeriod } from "./periods.js";

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
  private day: { readonly start: number; readonly end: number; readonly key: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
    /**
     * Where usage the store has not taken by close() is kept (see keptUsageFile), for
     * writeKeptUsage() at the next start; without it, that usage is only reported as lost.
     */
    private readonly keepFile?: string,
    /**
     * Where what is said for information goes (usage kept in `keepFile`: nothing lost, so no error;
     * the refusal that led to it went to `onError`). Default: dropped.
     */
    private readonly notice: (line: string) => void = () => undefined,
  ) {}

  start(flushMs: number): void {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  /** Adds one request's usage at `now` (epoch milliseconds). */
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
  }

  /**
   * Writes what is pending; a failed batch is kept and added into the next one — except rows the
   * store would refuse as invalid, which would take every good row in the batch with them, for
   * ever: those are checked first, with the store's own check, and set aside, each in full in the
   * gateway's log (ids, model and counts, nothing secret), so the usage reports miss only them and
   * an operator can add them by hand.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      this.setAsideInvalid(batch);
      if (batch.size === 0) return;
      try {
        await this.store.usage.add([...batch.values()]);
      } catch (err) {
        for (const [key, row] of batch) {
          const later = this.pending.get(key);
          if (later !== undefined) {
            row.inputTokens = addTokens(row.inputTokens, later.inputTokens);
            row.outputTokens = addTokens(row.outputTokens, later.outputTokens);
            row.requests += later.requests;
          }
          this.pending.set(key, row);
        }
        this.onError(err);
      }
    });
    return this.flushing;
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
   * Flushes what is pending. What the store still refuses (it is down) is kept in `keepFile` for
   * the next start: dropped, it would be missing from the reports, and with memory counters (seeded
   * from the store) handed back to each license's quota when the gateway starts again.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.pending.size === 0 || this.keepFile === undefined) return;
    const rows = [...this.pending.values()];
    try {
      keepUsage(this.keepFile, rows);
      this.pending.clear();
      this.notice(keptUsageNotice(this.keepFile, rows.length));
    } catch (err) {
      this.onError(err);
    }
  }
}

/** The file in the data directory holding usage the store had not taken when the gateway stopped. */
export const KEPT_USAGE_FILE = "usage-unwritten.json";

/** Adds `rows` to the kept usage in `file` (written whole, then renamed over it: never half a file). */
function keepUsage(file: string, rows: readonly UsageDelta[]): void {
  const all = existsSync(file) ? [...readKept(file), ...rows] : rows;
  const part = `${file}.part`;
  writeFileSync(part, JSON.stringify(all), { mode: 0o600, flush: true });
  renameSync(part, file);
}

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
 * At start, before the counters are seeded from the store: writes the usage a previous run kept in
 * `file` (the store was down when it stopped) and removes the file; the number of rows written.
 * Throws when the file cannot be read or the store refuses it: the gateway does not start on a store
 * missing usage it knows of (each license's quota would be handed that much back). A stop between
 * the write and the removal writes the rows again at the next start (charged twice, never lost).
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

/** Said at close() when usage the store refused was kept for the next start (not lost). */
export const keptUsageNotice = (file: string, rows: number): string =>
  `usage the store did not take before the stop (${rows} row${rows === 1 ? "" : "s"}) is kept in ${file}, and written to the store at the next start`;

const DAY_MS = 86_400_000;

/** A usage row the store refused as invalid, set aside so that the rest of its batch is written. */
export class UsageSetAsideError extends Error {
  constructor(
    readonly row: UsageDelta,
    reasons: readonly string[],
  ) {
    super(`usage row set aside, the store refused it (${reasons.join("; ")}): ${quoted(row)}`);
    this.name = "UsageSetAsideError";
  }
}

/** A pending row: its sums grow until it is flushed. */
type Row = { -readonly [K in keyof UsageDelta]: UsageDelta[K] };

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
