/**
 * The audit log read for reports: the entries are read by src/audit/read.ts (re-exported here, as
 * reports have always named them); a range of entry indexes a report is asked for is checked here.
 */
import { InvalidInputError } from "../errors/index.js";
import { decisionOf, LogUnreadableError, publishedSize, type DecisionEntry } from "../audit/read.js";
import type { LogSource } from "../audit/source.js";

export {
  decisionOf,
  LogUnreadableError,
  publishedSize,
  readEntries,
  type DecisionEntry,
  type ReadOptions,
} from "../audit/read.js";

/** How a caller names a range's bounds in its errors: the admin API's fields, or the command line's flags. */
export interface RangeNames {
  readonly from: string;
  readonly to: string;
}

const RANGE_FIELDS: RangeNames = { from: "from_index", to: "to_index" };

const emptyRange = (name: string, message: string) =>
  new InvalidInputError([{ code: "empty_range", path: [name], message }]);

/**
 * Refuses a range of entry indexes that holds no entries — reversed, empty, or starting at or past
 * the checkpoint's size — naming the bound at fault: read, it would report that nothing changed. A
 * `to` past the end stands for the end (the log grows; readEntries stops at the checkpoint).
 */
export async function checkRange(
  source: LogSource,
  range: { readonly from?: bigint; readonly to?: bigint },
  names: RangeNames = RANGE_FIELDS,
): Promise<void> {
  const from = range.from ?? 0n;
  if (range.to !== undefined && from >= range.to) {
    throw range.from === undefined
      ? emptyRange(names.to, `${range.to} leaves no entries: the range starts at 0`)
      : emptyRange(names.from, `${from} is not before ${names.to} (${range.to}): the range holds no entries`);
  }
  const size = await publishedSize(source);
  if (size === 0n) {
    throw emptyRange(range.from === undefined ? names.to : names.from, "the audit log has no entries yet");
  }
  if (from >= size) {
    throw emptyRange(
      names.from,
      `${from} is past the end of the audit log: its checkpoint holds ${size} entries (0 to ${size - 1n})`,
    );
  }
}

/** Entry times as the gateway writes them (toISOString): the form period bounds compare with as text. */
const ENTRY_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const OUTCOMES: ReadonlySet<unknown> = new Set(["allow", "deny", "fallback"]);
const TEXTS = ["principal", "model", "action", "reason", "scheme"] as const;
const TEXTS_OR_NULL = ["location", "organization", "served_model", "grant"] as const;

/** What is wrong with a decision entry, as a report reads it; null when nothing is. */
function faultOf(e: Record<string, unknown>): string | null {
  const what = (field: string) =>
    `a decision entry whose ${field} is ${field in e ? JSON.stringify(e[field]) : "missing"}`;
  if (typeof e.time !== "string" || !ENTRY_TIME.test(e.time)) {
    return `${what("time")}, not a UTC time as the gateway writes it (YYYY-MM-DDTHH:MM:SS.sssZ)`;
  }
  if (!OUTCOMES.has(e.decision)) return `${what("decision")}, not allow, deny or fallback`;
  for (const f of TEXTS) if (typeof e[f] !== "string") return `${what(f)}, not a text`;
  for (const f of TEXTS_OR_NULL) {
    if (e[f] !== null && typeof e[f] !== "string") return `${what(f)}, not a text or null`;
  }
  if (e.lookup !== undefined && e.lookup !== true) return `${what("lookup")}, not true`;
  return null;
}

/**
 * Entry `index` of a log read for a report: its decision, or null for any other entry. An entry
 * that is not JSON, or a decision missing or garbling what a report counts by, makes the log
 * unreadable (naming the entry): counted, a decision without a time would fall inside every period.
 */
export function reportedDecision(text: string, index: number, log: string): DecisionEntry | null {
  let e: DecisionEntry | null;
  try {
    e = decisionOf(text);
  } catch (err) {
    throw damaged(index, log, `not JSON (${(err as Error).message})`);
  }
  const fault = e === null ? null : faultOf(e as unknown as Record<string, unknown>);
  if (fault !== null) throw damaged(index, log, fault);
  return e;
}

const damaged = (index: number, log: string, what: string) =>
  new LogUnreadableError(`entry ${index} of ${log} is damaged: ${what}`);
