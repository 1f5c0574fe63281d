/**
 * What the Alerts page and the Overview's open-alerts panel read, apart from React: the filters and
 * orders asked of the API, and what they do when the node answering is of an earlier release (a
 * rolling upgrade: this console is newer than the node behind the load balancer) and refuses a
 * parameter it does not know with a 400 naming it. They then ask as before and do the rest here,
 * and say so: the operator sees which alerts were looked at, not a 400 nor a silently partial list.
 */
import { ALERT_DETECTORS, ALERT_SEVERITIES, ALERT_STATES } from "../../../src/alerts/schema.js";
import { quoted } from "../../../src/policy/text.js";
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

/** The Alerts page's filters, every one set (the order too). */
export type ChosenFilters = Required<AlertFilters>;

/** What the Alerts page shows when its address names no filter: the open alerts, newest first. */
export const ALERT_FILTER_DEFAULTS: ChosenFilters = {
  state: "open",
  detector: ANY,
  severity: ANY,
  order: "newest",
};

/**
 * Each filter the Alerts page keeps in its address (`?state=open&order=severity`), in the order
 * written there: the parameter, its field's label, and the values it offers (as labelled there).
 */
const FILTER_FIELDS = [
  { key: "state", label: "State", values: [ANY, ...ALERT_STATES].map((v) => ({ value: v, label: v })) },
  {
    key: "detector",
    label: "Detector",
    values: [ANY, ...ALERT_DETECTORS].map((v) => ({ value: v, label: v })),
  },
  {
    key: "severity",
    label: "Severity",
    values: [ANY, ...ALERT_SEVERITIES].map((v) => ({ value: v, label: v })),
  },
  { key: "order", label: "Order", values: ALERT_ORDERS },
] as const satisfies readonly {
  key: keyof ChosenFilters;
  label: string;
  values: readonly { value: string; label: string }[];
}[];

/** A value of the page's address that the page does not offer: left aside, the field's default shown. */
export interface IgnoredFilter {
  readonly parameter: keyof ChosenFilters;
  readonly value: string;
}

/**
 * The Alerts page's filters as its address keeps them (a link, a reload): each of state, detector,
 * severity and order named there, the default when it is not (or is empty). A value the page does
 * not offer (`?order=bogus`) is left aside, the default shown, and listed in `ignored` for the page
 * to say so: before, a bad state was asked of the API, whose 400 replaced the list, and the order
 * was not read at all (a link to the most severe first listed the newest first).
 */
export function filtersFromQuery(query: URLSearchParams): {
  filters: ChosenFilters;
  ignored: IgnoredFilter[];
} {
  const filters: Record<string, string> = { ...ALERT_FILTER_DEFAULTS };
  const ignored: IgnoredFilter[] = [];
  for (const field of FILTER_FIELDS) {
    const value = query.get(field.key);
    if (value === null || value === "") continue;
    if (field.values.some((v) => v.value === value)) filters[field.key] = value;
    else ignored.push({ parameter: field.key, value });
  }
  return { filters: filters as unknown as ChosenFilters, ignored };
}

/**
 * The address's query for the filters chosen (`?state=open&order=severity`; "" for the defaults):
 * each filter left at its default is left out, the others in a fixed order.
 */
export function queryOfFilters(f: ChosenFilters): string {
  const q = new URLSearchParams();
  for (const field of FILTER_FIELDS)
    if (f[field.key] !== ALERT_FILTER_DEFAULTS[field.key]) q.set(field.key, f[field.key]);
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}

/** The Alerts page listing the open alerts most severe first, as the Overview's panel shows them. */
export const OPEN_MOST_SEVERE = "/alerts?state=open&order=severity";

/** What the Alerts page says of a value of its address it left aside (filtersFromQuery). */
export function ignoredFilterNote({ parameter, value }: IgnoredFilter): string {
  const field = FILTER_FIELDS.find((f) => f.key === parameter) as (typeof FILTER_FIELDS)[number];
  const fallback = ALERT_FILTER_DEFAULTS[parameter];
  const label = field.values.find((v) => v.value === fallback)?.label ?? fallback;
  return (
    `The page's address asks for ${parameter} ${quoted(value)}, which this page does not offer: ` +
    `${field.label} is set to ${label}.`
  );
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
