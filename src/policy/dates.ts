/**
 * Calendar dates in the texts Clearance reads (licenses' periods, nationalities' `since`, report
 * periods). `Date.parse` is lenient: it reads 2026-02-30 as 2 March, so a period typed with an
 * impossible day would silently start or end on another one. Such a text is refused instead. And it
 * reads a date-time without a zone in the server's own zone, so the same license would start at
 * another instant on another server: a date-time must name its zone.
 */

/** The shape of a date or a date-time with its zone (scheme files publish it in their JSON Schema). */
export const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A date (YYYY-MM-DD: 00:00 UTC) or an ISO 8601 date-time with its zone, on a real day. */
export function isInstant(text: string): boolean {
  return INSTANT.test(text) && isCalendarDate(text) && !Number.isNaN(Date.parse(text));
}

/**
 * Milliseconds since the epoch of a date or date-time; one without a zone (stored before zones were
 * required) is read as UTC, never in the server's zone. NaN when it is not a date.
 */
export function instantOf(text: string): number {
  return Date.parse(/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text);
}

/** Whether a text that starts YYYY-MM-DD names a day the calendar has. */
export function isCalendarDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (m === null) return false;
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  const day = Number(m[3]);
  const at = new Date(0);
  at.setUTCFullYear(year, month, day);
  return at.getUTCFullYear() === year && at.getUTCMonth() === month && at.getUTCDate() === day;
}

/** YYYY, YYYY-MM or YYYY-MM-DD (a birth date as lists give them), each part one the calendar has. */
export function isPartialDate(text: string): boolean {
  if (/^\d{4}$/.test(text)) return true;
  const month = /^\d{4}-(\d{2})$/.exec(text);
  if (month !== null) return Number(month[1]) >= 1 && Number(month[1]) <= 12;
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && isCalendarDate(text);
}
