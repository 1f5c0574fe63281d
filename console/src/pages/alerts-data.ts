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

/** The Alerts page's orders: newest first, or most severe first (the newest first within a severity). */
export const ALERT_ORDERS = [
  { value: "newest", label: "Newest first" },
  { value: "severity", label: "Most severe first" },
] as const;

export type AlertOrder = (typeof ALERT_ORDERS)[number]["value"];

export interface AlertFilters {
  readonly state: string;
  readonly detector: string;
  readonly severity: string;
  /** Newest first when left out. */
  readonly order?: AlertOrder;
}

export interface AlertsRead {
  /** In the order listed (newest first, or most severe first): the alerts read so far that match the filters. */
  readonly alerts: AlertView[];
  /** Where the next page starts; null when every alert was read. */
  readonly next: string | null;
  /**
   * Null while the API filters by severity (or none is asked for). Else a node did not take the
   * severity (an earlier release): it was filtered here, among this many alerts read.
   */
  readonly severityHere: number | null;
  /**
   * Most severe first was asked and the node that answered the first page did not take it (an
   * earlier release): listed newest first, as it can, the later pages too (their cursor follows on
   * from a list newest first). False otherwise.
   */
  readonly newestInstead: boolean;
}

/** What a page is asked for: the severity filtered by the API or not, and in which order. */
interface Asked {
  readonly severity: boolean;
  readonly order: AlertOrder;
}

function alertsPath(f: AlertFilters, cursor: string | null, asked: Asked): string {
  const q = new URLSearchParams();
  if (f.state !== ANY) q.set("state", f.state);
  if (f.detector !== ANY) q.set("detector", f.detector);
  if (asked.severity && f.severity !== ANY) q.set("severity", f.severity);
  q.set("order", asked.order);
  q.set("limit", String(ALERTS_PAGE));
  if (cursor !== null) q.set("cursor", cursor);
  return `/alerts?${q}`;
}

/**
 * A later page most severe first, refused by a node of an earlier release: the cursor is the last
 * alert of a list most severe first, and a list newest first after it would skip and repeat alerts.
 */
export const ORDER_CANNOT_FOLLOW =
  "the node that answered (an earlier release) does not list alerts most severe first, so the next " +
  "page cannot follow on from those shown: try again (another node may answer), or choose Newest first";

/**
 * The next page of the Alerts page's list (the first when `from` is null), in the order asked
 * (newest first, or most severe first: the API's `order=severity`), filtered by the API, the
 * severity too. A node of an earlier release refuses what it does not take, and is asked again
 * without it:
 * - the severity: the page is filtered here; so are the later pages once one node did not take it
 *   (the cursor is an id either way, so the pages follow on). Filtered here, a page of 100 may show
 *   none of a severity while further alerts have it: `severityHere` says how many were read, and
 *   the page says so.
 * - most severe first, on the first page: listed newest first (`newestInstead`, and the page says
 *   so), the later pages too. On a later page (the earlier ones read most severe first from a node
 *   of this release) nothing can follow on: an error saying so (ORDER_CANNOT_FOLLOW), the alerts
 *   read kept.
 */
export async function alertsPage(ask: Ask, f: AlertFilters, from: AlertsRead | null): Promise<AlertsRead> {
  const cursor = from?.next ?? null;
  const before = from?.alerts ?? [];
  let here = from?.severityHere ?? null;
  const asked = f.order ?? "newest";
  let newestInstead = from?.newestInstead ?? false;
  for (;;) {
    const order = newestInstead ? "newest" : asked;
    const severity = f.severity !== ANY && here === null;
    let page: Page<AlertView>;
    try {
      page = await ask<Page<AlertView>>(alertsPath(f, cursor, { severity, order }));
    } catch (err) {
      // One 400 may refuse both (a node of the release before either takes neither).
      const severityRefused = severity && refusedParameter(err, "severity");
      const orderRefused = order === "severity" && refusedParameter(err, "order");
      if (!severityRefused && !orderRefused) throw err;
      if (orderRefused && from !== null) throw new Error(ORDER_CANNOT_FOLLOW);
      if (severityRefused) here = 0;
      if (orderRefused) newestInstead = true;
      continue;
    }
    if (here === null)
      return { alerts: [...before, ...page.data], next: page.next_cursor, severityHere: null, newestInstead };
    return {
      alerts: [...before, ...page.data.filter((a) => a.severity === f.severity)],
      next: page.next_cursor,
      severityHere: here + page.data.length,
      newestInstead,
    };
  }
}

/**
 * What the Alerts page says when the severity was filtered here (null when the API filtered it).
 * "The N alerts read", not "the N newest": when a node of this release answered the first page (the
 * API filtered it) and one of an earlier release a later one, the N filtered here are older ones.
 */
export function severityHereNote(read: AlertsRead, order: AlertOrder = "newest"): string | null {
  const n = read.severityHere;
  if (n === null) return null;
  // Most severe first, the alerts not yet read are the less severe and the older within one.
  const further = order === "severity" && !read.newestInstead ? "alerts not yet read" : "older ones";
  return (
    "The node that answered (an earlier release) does not filter by severity: this page filtered the " +
    `${n} alert${n === 1 ? "" : "s"} read${read.next === null ? "" : `; ${further} may have this severity too`}.`
  );
}

/** What the Alerts page says when most severe first was asked and the node listed newest first (else null). */
export function newestInsteadNote(read: AlertsRead): string | null {
  return read.newestInstead
    ? "The node that answered (an earlier release) does not list alerts most severe first: they are listed newest first."
    : null;
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
