import { describe, expect, it } from "vitest";
import type { AlertRecord, AlertSeverity, AlertView } from "../../../src/store/alerts.js";
import { ApiError } from "../api.js";
import {
  ALERT_FILTER_DEFAULTS,
  alertsPage,
  filtersFromQuery,
  ignoredFilterNote,
  loadOpen,
  newestInsteadNote,
  OPEN_MOST_SEVERE,
  ORDER_CANNOT_FOLLOW,
  queryOfFilters,
  severityHereNote,
  type Ask,
} from "./alerts-data.js";

/** 250 open alerts, newest last; the oldest two critical, the rest low. */
const ALERTS: AlertView[] = Array.from({ length: 250 }, (_, i) => ({
  id: `alr_${String(i).padStart(9, "0")}`,
  detector: "volume-spike",
  severity: (i < 2 ? "critical" : "low") as AlertSeverity,
  subject: { kind: "principal", id: `p${i}` },
  summary: `seen #${i}`,
  evidence: { audit_indexes: [], details: {} },
  raised_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
  state: "open",
  history: [],
  response: null,
  delivery: {
    state: "none",
    attempts: 0,
    next_at: null,
    delivered_at: null,
    last_error: null,
    held: false,
    held_behind: null,
  },
}));

/**
 * What a node of the release before `severity` and `order=severity` answers a parameter it does not
 * take: its router's 400 (strict query: an unknown key; an order not among its own).
 */
const OLD_RELEASE = {
  severity: new ApiError(400, "invalid_request", 'invalid query: severity: unknown key "severity"', [
    {
      code: "unknown_key",
      path: "severity",
      message:
        'unknown key "severity" (expected one of: limit, cursor, state, detector, subject_kind, subject, order)',
    },
  ]),
  order: new ApiError(400, "invalid_request", "invalid query: order: Invalid option", [
    { code: "invalid_value", path: "order", message: 'Invalid option: expected one of "oldest"|"newest"' },
  ]),
};

/**
 * The admin API's alerts over ALERTS (list newest first or most severe first, count), as a node
 * answers: `old`, of the release before severity filters and order. Every path asked is kept.
 */
function server(old = false) {
  const asked: string[] = [];
  const rank = (s: AlertSeverity) => ["low", "medium", "high", "critical"].indexOf(s);
  const ask: Ask = async <T>(path: string) => {
    asked.push(path);
    const url = new URL(path, "http://x");
    const q = url.searchParams;
    if (old && q.has("severity")) throw OLD_RELEASE.severity;
    if (old && q.get("order") === "severity") throw OLD_RELEASE.order;
    let rows = ALERTS.filter((a) => !q.has("severity") || q.get("severity")!.split(",").includes(a.severity));
    if (url.pathname === "/alerts/count") return { count: rows.length } as T;
    rows = [...rows].reverse();
    if (q.get("order") === "severity") rows.sort((a, b) => rank(b.severity) - rank(a.severity));
    const cursor = q.get("cursor");
    if (cursor !== null) rows = rows.slice(rows.findIndex((a) => a.id === cursor) + 1);
    const limit = Number(q.get("limit"));
    const data = rows.slice(0, limit);
    return { data, next_cursor: rows.length > limit ? data.at(-1)!.id : null } as T;
  };
  return { ask, asked };
}

const filters = { state: "open", detector: "any", severity: "critical" };
const seen = (alerts: readonly AlertRecord[]) => alerts.map((a) => a.summary);

describe("the Alerts page's reads", () => {
  it("asks the API for the severity: the critical alerts older than the newest 100 are on the first page", async () => {
    const { ask, asked } = server();
    const read = await alertsPage(ask, filters, null);
    expect(seen(read.alerts)).toEqual(["seen #1", "seen #0"]);
    expect(read).toMatchObject({ next: null, severityHere: null });
    expect(asked).toEqual(["/alerts?state=open&severity=critical&order=newest&limit=100"]);
    // Any severity: none asked for.
    const any = await alertsPage(ask, { ...filters, severity: "any" }, null);
    expect(any.alerts).toHaveLength(100);
    expect(asked.at(-1)).toBe("/alerts?state=open&order=newest&limit=100");
  });

  it("from a node that does not take the severity: filtered here, page by page, saying among how many", async () => {
    const { ask, asked } = server(true);
    const first = await alertsPage(ask, filters, null);
    // The newest 100 read, none critical: none shown, and the page says it looked at 100 only.
    expect(first).toMatchObject({ alerts: [], severityHere: 100, next: ALERTS[150]!.id });
    expect(asked).toEqual([
      "/alerts?state=open&severity=critical&order=newest&limit=100",
      "/alerts?state=open&order=newest&limit=100",
    ]);
    const second = await alertsPage(ask, filters, first);
    const third = await alertsPage(ask, filters, second);
    expect(seen(third.alerts)).toEqual(["seen #1", "seen #0"]);
    expect(third).toMatchObject({ severityHere: 250, next: null });
    // Once refused, the later pages are asked without it (one request a page).
    expect(asked.slice(2)).toEqual([
      `/alerts?state=open&order=newest&limit=100&cursor=${ALERTS[150]!.id}`,
      `/alerts?state=open&order=newest&limit=100&cursor=${ALERTS[50]!.id}`,
    ]);
  });

  it("another 400 is the page's error, not taken for an earlier release", async () => {
    const refused = new ApiError(400, "invalid_request", "invalid query", [
      { code: "invalid_value", path: "state", message: "Invalid option" },
    ]);
    const ask: Ask = () => Promise.reject(refused);
    await expect(alertsPage(ask, filters, null)).rejects.toBe(refused);
    await expect(loadOpen(ask)).rejects.toBe(refused);
  });

  it("a 400 at severity or order other than an earlier release's is the page's error too", async () => {
    // A node of this release refusing the severity (its own check, invalid_format), and one
    // refusing order=severity otherwise than an earlier release's enum does: not a fallback.
    const severity = new ApiError(400, "invalid_request", "invalid query", [
      { code: "invalid_format", path: "severity", message: "expected one or several of low, …" },
    ]);
    const order = new ApiError(400, "invalid_request", "invalid query", [
      { code: "unknown_key", path: "order", message: 'unknown key "order"' },
    ]);
    const { ask: answers, asked } = server();
    const refusing =
      (err: ApiError): Ask =>
      async <T>(path: string) => {
        if (path.includes("severity")) throw err;
        return answers<T>(path);
      };
    await expect(alertsPage(refusing(severity), filters, null)).rejects.toBe(severity);
    await expect(loadOpen(refusing(order))).rejects.toBe(order);
    // Neither asked again without it.
    expect(asked.filter((p) => p.startsWith("/alerts?"))).toEqual([]);
  });

  it("a later page from a node of an earlier release: the note says how many were filtered here, not that they were the newest", async () => {
    const low = { ...filters, severity: "low" };
    const first = await alertsPage(server().ask, low, null);
    expect(first).toMatchObject({ severityHere: null, next: ALERTS[150]!.id });
    expect(severityHereNote(first)).toBeNull();
    const second = await alertsPage(server(true).ask, low, first);
    expect(second).toMatchObject({ severityHere: 100, next: ALERTS[50]!.id });
    expect(second.alerts).toHaveLength(200);
    expect(severityHereNote(second)).toBe(
      "The node that answered (an earlier release) does not filter by severity: this page filtered the 100 alerts read; older ones may have this severity too.",
    );
    const last = await alertsPage(server(true).ask, low, second);
    expect(last.alerts).toHaveLength(248);
    expect(severityHereNote(last)).toBe(
      "The node that answered (an earlier release) does not filter by severity: this page filtered the 150 alerts read.",
    );
  });
});

describe("the Alerts page, most severe first", () => {
  const severest = { state: "open", detector: "any", severity: "any", order: "severity" } as const;

  it("asked of the API (order=severity), a page at a time after its cursor", async () => {
    const { ask, asked } = server();
    const first = await alertsPage(ask, severest, null);
    // The two critical alerts (the oldest) first, then the low ones, the newest first.
    expect(seen(first.alerts.slice(0, 4))).toEqual(["seen #1", "seen #0", "seen #249", "seen #248"]);
    expect(first).toMatchObject({ next: ALERTS[152]!.id, severityHere: null, newestInstead: false });
    expect(newestInsteadNote(first)).toBeNull();
    const second = await alertsPage(ask, severest, first);
    expect(seen(second.alerts.slice(100, 102))).toEqual(["seen #151", "seen #150"]);
    expect(second.next).toBe(ALERTS[52]!.id);
    expect(asked).toEqual([
      "/alerts?state=open&order=severity&limit=100",
      `/alerts?state=open&order=severity&limit=100&cursor=${ALERTS[152]!.id}`,
    ]);
    // With a severity, both asked of the API.
    const high = await alertsPage(ask, { ...severest, severity: "critical" }, null);
    expect(seen(high.alerts)).toEqual(["seen #1", "seen #0"]);
    expect(asked.at(-1)).toBe("/alerts?state=open&severity=critical&order=severity&limit=100");
  });

  it("from a node that does not list most severe first: newest first, saying so, the later pages too", async () => {
    const { ask, asked } = server(true);
    const first = await alertsPage(ask, severest, null);
    expect(seen(first.alerts.slice(0, 2))).toEqual(["seen #249", "seen #248"]);
    expect(first).toMatchObject({ next: ALERTS[150]!.id, newestInstead: true, severityHere: null });
    expect(newestInsteadNote(first)).toBe(
      "The node that answered (an earlier release) does not list alerts most severe first: they are listed newest first.",
    );
    // The next page follows on from a list newest first, whichever node answers it.
    const second = await alertsPage(server().ask, severest, first);
    expect(seen(second.alerts.slice(100, 101))).toEqual(["seen #149"]);
    expect(second.newestInstead).toBe(true);
    expect(asked).toEqual([
      "/alerts?state=open&order=severity&limit=100",
      "/alerts?state=open&order=newest&limit=100",
    ]);
  });

  it("one 400 refusing both the severity and the order (a node of the release before either): asked once more without both", async () => {
    const both = new ApiError(400, "invalid_request", "invalid query", [
      ...OLD_RELEASE.severity.problems,
      ...OLD_RELEASE.order.problems,
    ]);
    const { ask: answers } = server();
    const asked: string[] = [];
    const ask: Ask = async <T>(path: string) => {
      asked.push(path);
      if (path.includes("severity")) throw both;
      return answers<T>(path);
    };
    const read = await alertsPage(ask, { ...severest, severity: "critical" }, null);
    expect(read).toMatchObject({ alerts: [], severityHere: 100, newestInstead: true });
    expect(asked).toEqual([
      "/alerts?state=open&severity=critical&order=severity&limit=100",
      "/alerts?state=open&order=newest&limit=100",
    ]);
    expect(severityHereNote(read, "severity")).toBe(
      "The node that answered (an earlier release) does not filter by severity: this page filtered the 100 alerts read; older ones may have this severity too.",
    );
  });

  it("a later page refused by a node of an earlier release: an error saying the next page cannot follow on, no page newest first after a cursor most severe first", async () => {
    const first = await alertsPage(server().ask, severest, null);
    const { ask, asked } = server(true);
    await expect(alertsPage(ask, severest, first)).rejects.toThrow(ORDER_CANNOT_FOLLOW);
    expect(asked).toEqual([`/alerts?state=open&order=severity&limit=100&cursor=${ALERTS[152]!.id}`]);
  });

  it("another 400 at order is the page's error", async () => {
    const order = new ApiError(400, "invalid_request", "invalid query", [
      { code: "unknown_key", path: "order", message: 'unknown key "order"' },
    ]);
    await expect(alertsPage(() => Promise.reject(order), severest, null)).rejects.toBe(order);
  });
});

describe("the Overview's open alerts", () => {
  it("the most severe listed by the API", async () => {
    const { ask, asked } = server();
    const open = await loadOpen(ask);
    expect(open.count).toBe(250);
    expect(open.amongNewest).toBeNull();
    expect(seen(open.severest)).toEqual(["seen #1", "seen #0", "seen #249", "seen #248", "seen #247"]);
    expect(asked.sort()).toEqual(["/alerts/count?state=open", "/alerts?state=open&order=severity&limit=5"]);
  });

  it("from a node that does not take order=severity: the most severe of the newest 100, saying so", async () => {
    const { ask, asked } = server(true);
    const open = await loadOpen(ask);
    expect(open.count).toBe(250);
    expect(open.amongNewest).toBe(100);
    expect(seen(open.severest)).toEqual(["seen #249", "seen #248", "seen #247", "seen #246", "seen #245"]);
    expect(asked.sort()).toEqual([
      "/alerts/count?state=open",
      "/alerts?state=open&order=newest&limit=100",
      "/alerts?state=open&order=severity&limit=5",
    ]);
  });
});

describe("the Alerts page's address", () => {
  const read = (search: string) => filtersFromQuery(new URLSearchParams(search));

  it("names no filter: the open alerts, newest first", () => {
    expect(read("")).toEqual({
      filters: { state: "open", detector: "any", severity: "any", order: "newest" },
      ignored: [],
    });
    expect(queryOfFilters(ALERT_FILTER_DEFAULTS)).toBe("");
  });

  it("keeps every filter and the order: read back as written", () => {
    const chosen = {
      state: "acknowledged",
      detector: "key-sharing",
      severity: "critical",
      order: "severity",
    } as const;
    const query = queryOfFilters(chosen);
    expect(query).toBe("?state=acknowledged&detector=key-sharing&severity=critical&order=severity");
    expect(read(query)).toEqual({ filters: chosen, ignored: [] });
    // Any state is written (its default is open), a default left out.
    expect(queryOfFilters({ ...ALERT_FILTER_DEFAULTS, state: "any" })).toBe("?state=any");
    expect(read("?state=any").filters.state).toBe("any");
    expect(queryOfFilters({ ...ALERT_FILTER_DEFAULTS, order: "severity" })).toBe("?order=severity");
  });

  it("the Overview's link: the open alerts most severe first, as its panel lists them", () => {
    expect(OPEN_MOST_SEVERE).toBe("/alerts?state=open&order=severity");
    const { filters, ignored } = read(new URL(OPEN_MOST_SEVERE, "http://console").search);
    expect(filters).toEqual({ ...ALERT_FILTER_DEFAULTS, state: "open", order: "severity" });
    expect(ignored).toEqual([]);
  });

  it("a value the page does not offer: left aside, the default shown, and said; an empty one is no filter", () => {
    const { filters, ignored } = read("?state=closed&detector=&severity=urgent&order=bogus");
    expect(filters).toEqual(ALERT_FILTER_DEFAULTS);
    expect(ignored).toEqual([
      { parameter: "state", value: "closed" },
      { parameter: "severity", value: "urgent" },
      { parameter: "order", value: "bogus" },
    ]);
    expect(ignored.map(ignoredFilterNote)).toEqual([
      'The page\'s address asks for state "closed", which this page does not offer: State is set to open.',
      'The page\'s address asks for severity "urgent", which this page does not offer: Severity is set to any.',
      'The page\'s address asks for order "bogus", which this page does not offer: Order is set to Newest first.',
    ]);
    // The others are kept; a value is quoted, a control or bidirectional character written out.
    const mixed = read("?order=severity&detector=%E2%80%AEx%1B");
    expect(mixed.filters).toEqual({ ...ALERT_FILTER_DEFAULTS, order: "severity" });
    expect(mixed.ignored.map(ignoredFilterNote)).toEqual([
      'The page\'s address asks for detector "\\u202ex\\u001b", which this page does not offer: Detector is set to any.',
    ]);
  });
});
