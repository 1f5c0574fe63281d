/**
 * A report's period: `--from` and `--to` as dates (whole UTC days, both included) or ISO 8601
 * date-times with their zone (`to` excluded). Entry times are ISO strings written by `Date.toISOString()`, so the
 * bounds are kept in that form and compared as strings (periodBounds).
 */
import { InvalidInputError } from "../errors/index.js";
import { isInstant } from "../policy/dates.js";
import { quoted } from "../policy/text.js";

export interface Period {
  /** Inclusive, ISO 8601 (toISOString form). */
  readonly from: string;
  /** Exclusive, ISO 8601 (toISOString form). */
  readonly to: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;
/** A fraction of a second with a non-zero digit past the millisecond. */
const SUB_MS = /\.\d{3}\d*[1-9]/;

/** A bound in milliseconds; `end`: a date as the end of the period means the whole of that day. */
function bound(text: string, field: string, end: boolean): number {
  // A date-time names its zone: read in the server's own, the period would move with the server.
  if (!isInstant(text)) {
    throw new InvalidInputError([
      {
        code: "invalid_date",
        path: [field],
        message: `expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got ${quoted(text)}`,
      },
    ]);
  }
  const t = Date.parse(DATE.test(text) ? `${text}T00:00:00Z` : text);
  if (end && DATE.test(text)) return t + DAY_MS;
  // Date.parse drops digits past the millisecond. Entry times are whole milliseconds: a bound between
  // two is the later one, so the entry just before it stays on its side (before `from`, before `to`).
  return SUB_MS.test(text) ? t + 1 : t;
}

/**
 * `from` defaults to the beginning of the log, `to` to `now`. Bounds are compared as instants: the
 * end of 9999-12-31 (or a date-time whose zone carries it past that year) is +010000-01-01 in
 * toISOString form, which is after every entry, not before as its text would sort.
 */
export function parsePeriod(from: string | undefined, to: string | undefined, now: Date): Period {
  const start = from === undefined ? 0 : bound(from, "from", false);
  const end = to === undefined ? now.getTime() : bound(to, "to", true);
  const period = { from: new Date(start).toISOString(), to: new Date(end).toISOString() };
  if (end <= start) {
    // Blamed on what the caller gave: a `from` alone is after now; a `to` alone, at or before 1970.
    const given = (text: string, iso: string) => (text === iso ? text : `${quoted(text)} (${iso})`);
    const problem =
      to === undefined
        ? {
            path: ["from"],
            message: `${given(from as string, period.from)} is not before now (${period.to}): the period would be empty`,
          }
        : from === undefined
          ? {
              path: ["to"],
              message: `${given(to, period.to)} is not after the start of the log's time (${period.from}): the period would be empty`,
            }
          : {
              path: ["to"],
              message:
                `${given(to, period.to)} is not after from ${given(from, period.from)}: ` +
                "the period would be empty" +
                (DATE.test(to) ? " (a date as the end includes that whole day)" : ""),
            };
    throw new InvalidInputError([{ code: "empty_period", ...problem }]);
  }
  return period;
}

/**
 * The period's bounds for comparing entry times as text. Entry times are toISOString()'s, with
 * four-digit years; a bound outside years 0000–9999 is written with a sign and six digits, which
 * does not sort as its instant does: it stands for before (a `-` year) or after (a `+` year) every
 * entry.
 */
export function periodBounds(period: Period): Period {
  return { from: comparableTime(period.from), to: comparableTime(period.to) };
}

/**
 * An ISO time to compare with entry times as text: itself with a four-digit year; with a signed
 * six-digit one (outside years 0000–9999), "" (before every entry) for a `-` year and "\uffff"
 * (after every entry) for a `+` year.
 */
export const comparableTime = (iso: string): string =>
  iso.startsWith("+") ? "\uffff" : iso.startsWith("-") ? "" : iso;

/** The last `days` days up to `now`. */
export function lastDays(days: number, now: Date): Period {
  return { from: new Date(now.getTime() - days * DAY_MS).toISOString(), to: now.toISOString() };
}

/** YYYY-MM-DD of an ISO bound (for the store's daily usage), within years 0000–9999. */
export const dayOf = (iso: string): string =>
  iso.startsWith("+") ? "9999-12-31" : iso.startsWith("-") ? "0000-01-01" : iso.slice(0, 10);
