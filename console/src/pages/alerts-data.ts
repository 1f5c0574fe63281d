/**
 * What the Alerts page and the Overview's open-alerts panel read, apart from React: the filters and
 * orders asked of the API, and what they do when the node answering is of an earlier release (a
 * rolling upgrade: this console is newer than the node behind the load balancer) and refuses a
 * parameter it does not know with a 400 naming it. They then ask as before and do the rest here,
 * and say so: the operator sees which alerts were looked at, not a 400 nor a silently partial list.
 */
import { ALERT_SEVERITIES } from "../../../src/alerts/schema.js";
import type { AlertRecord, AlertView } from "../../../src/store/alerts.js";
import { ApiError, type Page } from "../api.js";

/** A GET of the admin API (`api("GET", path)`; a test's stand-in). */
export type Ask = <T>(path: string) => Promise<T>;

/** A filter left open. */
export const ANY = "any";

/** Alerts read per page of the Alerts page. */
export const ALERTS_PAGE = 100;

/** The open alerts the Overview's panel shows: the most severe. */
export const SUMMARY_SHOWN = 5;

/** The newest open alerts the panel reads, most severe picked here, from a node that cannot order them. */
export const NEWEST_READ = 100;

/**
 * The 400 a node of an earlier release answers a parameter it does not take: `severity` an unknown
 * key (its query is strict), `order=severity` a value not among its own orders (it had oldest and
 * newest). Only that refusal: another problem at the same parameter (a node of this release
 * refusing a severity) is the page's error, not taken for an earlier release.
 */
const REFUSED_BY_EARLIER = { severity: "unknown_key", order: "invalid_value" } as const;

/** A 400 at `parameter` with the code a node of an earlier release gives it (REFUSED_BY_EARLIER). */
export function refusedParameter(err: unknown, parameter: keyof typeof REFUSED_BY_EARLIER): boolean {
  return (
    err instanceof ApiError &&
    err.status === 400 &&
    err.problems.some((p) => p.path === parameter && p.code === REFUSED_BY_EARLIER[parameter])
  );
}

export interface AlertFilters {
  readonly state: string;
  readonly detector: string;
  readonly severity: string;
}

export interface AlertsRead {
  /** Newest first: the alerts read so far that match the filters. */
  readonly alerts: AlertView[];
  /** Where the next (older) page starts; null when every alert was read. */
  readonly next: string | null;
  /**
   * Null while the API filters by severity (or none is asked for). Else a node did not take the
   * severity (an earlier release): it was filtered here, among this many alerts read.
   */
  readonly severityHere: number | null;
}

function alertsPath(f: AlertFilters, cursor: string | null, severity: boolean): string {
  const q = new URLSearchParams();
  if (f.state !== ANY) q.set("state", f.state);
  if (f.detector !== ANY) q.set("detector", f.detector);
  if (severity && f.severity !== ANY) q.set("severity", f.severity);
  q.set("order", "newest");
  q.set("limit", String(ALERTS_PAGE));
  if (cursor !== null) q.set("cursor", cursor);
  return `/alerts?${q}`;
}

/**
 * The next page of the Alerts page's list (the first when `from` is null), newest first, filtered
 * by the API, the severity too. A node that does not take `severity` is asked without it and the
 * page filtered here; so are the later pages once one node did not take it (the cursor is an id
 * either way, so the pages follow on). Filtered here, a page of 100 may show none of a severity
 * while older alerts have it: `severityHere` says how many were read, and the page says so.
 */
export async function alertsPage(ask: Ask, f: AlertFilters, from: AlertsRead | null): Promise<AlertsRead> {
  const cursor = from?.next ?? null;
  const before = from?.alerts ?? [];
  let here = from?.severityHere ?? null;
  if (f.severity !== ANY && here === null) {
    try {
      const page = await ask<Page<AlertView>>(alertsPath(f, cursor, true));
      return { alerts: [...before, ...page.data], next: page.next_cursor, severityHere: null };
    } catch (err) {
      if (!refusedParameter(err, "severity")) throw err;
      here = 0;
    }
  }
  const page = await ask<Page<AlertView>>(alertsPath(f, cursor, false));
  if (here === null) return { alerts: [...before, ...page.data], next: page.next_cursor, severityHere: null };
  return {
    alerts: [...before, ...page.data.filter((a) => a.severity === f.severity)],
    next: page.next_cursor,
    severityHere: here + page.data.length,
  };
}

/**
 * What the Alerts page says when the severity was filtered here (null when the API filtered it).
 * "The N alerts read", not "the N newest": when a node of this release answered the first page (the
 * API filtered it) and one of an earlier release a later one, the N filtered here are older ones.
 */
export function severityHereNote(read: AlertsRead): string | null {
  const n = read.severityHere;
  if (n === null) return null;
  return (
    "The node that answered (an earlier release) does not filter by severity: this page filtered the " +
    `${n} alert${n === 1 ? "" : "s"} read${read.next === null ? "" : "; older ones may have this severity too"}.`
  );
}

const rank = (a: AlertRecord) => ALERT_SEVERITIES.indexOf(a.severity);

export interface OpenAlertsRead {
  readonly count: number;
  /** The most severe open alerts, the newest first within a severity. */
  readonly severest: AlertRecord[];
  /**
   * Null when the API listed them so (`order=severity`). Else the node did not take that order (an
   * earlier release): the most severe among this many newest open alerts, picked here.
   */
  readonly amongNewest: number | null;
}

/**
 * The Overview's panel: the open alerts counted by the API and the most severe listed by it
 * (`order=severity`). A node that does not take that order is asked for the newest open alerts,
 * and the most severe of those are picked here (a critical alert older than them is counted, not
 * shown: the panel says among how many it looked).
 */
export async function loadOpen(ask: Ask): Promise<OpenAlertsRead> {
  const severest = async (): Promise<Pick<OpenAlertsRead, "severest" | "amongNewest">> => {
    try {
      const page = await ask<Page<AlertRecord>>(`/alerts?state=open&order=severity&limit=${SUMMARY_SHOWN}`);
      return { severest: page.data, amongNewest: null };
    } catch (err) {
      if (!refusedParameter(err, "order")) throw err;
    }
    const page = await ask<Page<AlertRecord>>(`/alerts?state=open&order=newest&limit=${NEWEST_READ}`);
    // Stable: the newest first within a severity, as order=severity lists them.
    const sorted = [...page.data].sort((a, b) => rank(b) - rank(a));
    return { severest: sorted.slice(0, SUMMARY_SHOWN), amongNewest: page.data.length };
  };
  const [{ count }, listed] = await Promise.all([
    ask<{ count: number }>("/alerts/count?state=open"),
    severest(),
  ]);
  return { count, ...listed };
}
