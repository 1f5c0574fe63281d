/**
 * How the console writes an instant: a calendar date as written; a date-time in UTC with its time,
 * so that every date in a column is on one clock (2030-12-31T23:00-05:00 is 2031-01-01 04:00 UTC,
 * not the day it was written with). Seconds only when not zero.
 */
import { instantOf } from "../../../src/policy/dates.js";

export function instantText(text: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return text;
  const t = instantOf(text);
  if (Number.isNaN(t)) return text;
  return `${new Date(t)
    .toISOString()
    .replace("T", " ")
    .replace(/(\.000)?Z$/, "")
    .replace(/:00$/, "")} UTC`;
}
