/**
 * How the console writes an instant: a calendar date as written; a date-time in UTC with its time,
 * so that every date in a column is on one clock (2030-12-31T23:00-05:00 is 2031-01-01 04:00 UTC,
 * not the day it was written with). Seconds only when not zero.
 */
import { instantOf } from "../../../src/policy/dates.js";

const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}$/;

export function instantText(text: string): string {
  if (CALENDAR_DATE.test(text)) return text;
  const t = instantOf(text);
  if (Number.isNaN(t)) return text;
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
