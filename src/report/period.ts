/**
 * A report's period: `--from` and `--to` as dates (whole UTC days, both included) or ISO 8601
 * date-times with their zone (`to` excluded). Entry times are ISO strings written by `Date.toISOString()`, so the
 * bounds are kept in that form and compared as strings.
 */
import { InvalidInputError } from "../errors/index.js";
import { isInstant } from "../policy/dates.js";

export interface Period {
  /** Inclusive, ISO 8601 (toISOString form). */
  readonly from: string;
  /** Exclusive, ISO 8601 (toISOString form). */
  readonly to: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

function bound(text: string, field: string, end: boolean): string {
  // A date-time names its zone: read in the server's own, the period would move with the server.
  if (!isInstant(text)) {
    throw new InvalidInputError([
      {
        code: "invalid_date",
        path: [field],
        message: `${field}: expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got ${JSON.stringify(text)}`,
      },
    ]);
  }
  const t = Date.parse(DATE.test(text) ? `${text}T00:00:00Z` : text);
  // A date as the end of the period means the whole of that day.
  return new Date(end && DATE.test(text) ? t + DAY_MS : t).toISOString();
}

/** `from` defaults to the beginning of the log, `to` to `now`. */
export function parsePeriod(from: string | undefined, to: string | undefined, now: Date): Period {
  const period = {
    from: from === undefined ? new Date(0).toISOString() : bound(from, "from", false),
    to: to === undefined ? now.toISOString() : bound(to, "to", true),
  };
  if (period.to <= period.from) {
    throw new InvalidInputError([
      {
        code: "empty_period",
        path: ["to"],
        message: `the period is empty: it ends (${period.to}) before or when it starts (${period.from})`,
      },
    ]);
  }
  return period;
}

/** The last `days` days up to `now`. */
export function lastDays(days: number, now: Date): Period {
  return { from: new Date(now.getTime() - days * DAY_MS).toISOString(), to: now.toISOString() };
}

/** YYYY-MM-DD of an ISO bound (for the store's daily usage). */
export const dayOf = (iso: string): string => iso.slice(0, 10);
