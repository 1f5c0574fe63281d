/**
 * How the console writes an instant: a calendar date as written; a date-time in UTC with its time,
 * so that every date in a column is on one clock (2030-12-31T23:00-05:00 is 2031-01-01 04:00 UTC,
 * not the day it was written with). Seconds only when not zero.
 */
import { instantOf } from "../../../src/policy/dates.js";

const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The forms a stored instant takes: ISO 8601 (RFC 3339; without a zone, read as UTC) and RFC 1123
 * with its zone (HTTP's dates). Anything else is not read: `Date.parse` is lenient ("Dec 7" is an
 * instant in 2001; an RFC 1123 date without a zone is read in the browser's own time), and a
 * console that showed such a guess in UTC would say more than the store holds.
 */
const INSTANT =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?|(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC|[+-]\d{4}))$/;

/** The units a recorded time may be cut to (a table's "when": to the second, or the minute). */
const UNIT_MS = { second: 1000, minute: 60_000 } as const;

/**
 * `to`: cut to the second or the minute (when something was recorded: a table's column); without,
 * the instant as written (a license's start, to the millisecond if it has them). A text that is not
 * an instant is returned as it is (not cut: what is shown is what is stored), with no "UTC".
 */
export function instantText(text: string, to?: keyof typeof UNIT_MS): string {
  if (CALENDAR_DATE.test(text)) return text;
  const at = INSTANT.test(text) ? instantOf(text) : NaN;
  if (Number.isNaN(at)) return text;
  const t = to === undefined ? at : Math.floor(at / UNIT_MS[to]) * UNIT_MS[to];
  return `${new Date(t)
    .toISOString()
    .replace("T", " ")
    .replace(/(\.000)?Z$/, "")
    .replace(/:00$/, "")} UTC`;
}

/**
 * The end of a period that excludes it (a license's valid_until: `time < valid_until`), always with
 * its time. A calendar date is 00:00 UTC that day, so "2027-01-31" ends as 31 January begins: the
 * day itself is not covered, which the date alone would have a reader believe ("through 31 Jan").
 */
export function endText(text: string): string {
  return CALENDAR_DATE.test(text) ? `${text} 00:00 UTC` : instantText(text);
}

/** The hint under a field taking such an end as a calendar date. */
export const END_HINT = "Ends at 00:00 UTC on this day: the day itself is not covered.";
