/**
 * The audit log read for reports: the entries are read by src/audit/read.ts (re-exported here, as
 * reports have always named them); a range of entry indexes a report is asked for is checked here.
 */
import { InvalidInputError } from "../errors/index.js";
import { publishedSize } from "../audit/read.js";
import type { LogSource } from "../audit/source.js";

export {
  checkedDecision,
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
