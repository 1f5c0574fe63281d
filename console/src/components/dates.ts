/**
 * How the console writes an instant: a calendar date as written; a date-time in UTC with its time,
 * so that every date in a column is on one clock (2030-12-31T23:00-05:00 is 2031-01-01 04:00 UTC,
 * not the day it was written with). Seconds only when not zero.
 */
import { instantOf } from "../../../src/policy/dates.js";

const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The units a recorded time may be cut to (a table's "when": to the second, or the minute). */
const UNIT_MS = { second: 1000, minute: 60_000 } as const;

/**
 * `to`: cut to the second or the minute (when something was recorded: a table's column); without,
 * the instant as written (a license's start, to the millisecond if it has them). A text that is not
 * an instant is returned as it is (not cut: what is shown is what is stored), with no "UTC".
 */
export function instantText(text: string, to?: keyof typeof UNIT_MS): string {
  if (CALENDAR_DATE.test(text)) return text;
  const at = instantOf(text);
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
