/**
 * The served footprint counts a model lookup (GET /v1/models/{id}, `"lookup":true` in its entry)
 * apart: a decision answered to a caller asking, not a request served — never in the rows' or the
 * locations' requests, nor in a license's or partner grant's use; in `lookups`, per row and in all
 * (JSON, CSV and HTML).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { footprintReport, type FootprintReport } from "./footprint.js";
import { renderFootprint } from "./format.js";
import { parsePeriod } from "./period.js";
import { memoryLog } from "../testing/log.js";

const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");
const NOW = new Date("2026-06-15T12:00:00Z");
const LICENSE = "license:BIS-2026-0001";

/** Erik's decision on mythos-5 under the license, from `location` (a lookup's marked as it is logged). */
const entry = (time: string, lookup: boolean, location = "DE") => ({
  action: "infer",
  decision: location === "IR" ? "deny" : "allow",
  grant: location === "IR" ? null : LICENSE,
  location,
  ...(lookup ? { lookup: true } : {}),
  model: "mythos-5",
  node: "n",
  organization: "bw-cyber",
  principal: "erik",
  purpose: "cyber-defense",
  reason: location === "IR" ? "embargoed-location" : "license",
  request_id: `r-${time}`,
  scheme: g7.digest,
  served_model: location === "IR" ? null : "mythos-5",
  time,
  type: "decision",
  v: 1,
});

describe("the served footprint and model lookups", () => {
  let dir: string;
  let store: Store;
  let r: FootprintReport;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "clearance-served-"));
    store = await openStore({ dataDir: dir });
    r = await footprintReport({
      store,
      source: memoryLog([
        entry("2026-06-01T10:00:00.000Z", false),
        entry("2026-06-01T10:01:00.000Z", true), // looked up, then…
        entry("2026-06-01T10:02:00.000Z", false), // …asked
        entry("2026-06-01T10:03:00.000Z", true, "IR"), // a lookup denied
      ]),
      scheme: g7,
      period: parsePeriod("2026-06-01", "2026-06-02", NOW),
      pseudonymKey: null,
      now: NOW,
    });
  });
  afterAll(() => store.close());

  it("counts a lookup apart from the requests served and from the license's use", () => {
    expect(r.served.decisions).toBe(4);
    expect(r.served.lookups).toBe(2);
    expect(r.served.rows).toEqual([
      expect.objectContaining({ location: "DE", decision: "allow", requests: 2, lookups: 1 }),
      expect.objectContaining({ location: "IR", decision: "deny", requests: 0, lookups: 1 }),
    ]);
    // The map's totals are requests: a location with lookups only is not on it.
    expect(r.served.locations).toEqual([{ location: "DE", requests: 2, allow: 2, fallback: 0, deny: 0 }]);
    expect(r.served.grants.find((g) => g.grant === LICENSE)?.requests).toBe(2);
  });

  it("states it in the JSON, the CSV and the HTML", () => {
    const json = JSON.parse(renderFootprint(r, "json")) as FootprintReport;
    expect(json.served.lookups).toBe(2);
    expect(json.served.rows.map((x) => [x.location, x.requests, x.lookups])).toEqual([
      ["DE", 2, 1],
      ["IR", 0, 1],
    ]);
    const csv = renderFootprint(r, "csv", "served");
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!).slice(-2)).toEqual(["requests", "lookups"]);
    expect(rows.map((x) => [x.location, x.requests, x.lookups])).toEqual([
      ["DE", "2", "1"],
      ["IR", "0", "1"],
    ]);
    const grants = parse(renderFootprint(r, "csv", "grants"), { columns: true }) as Record<string, string>[];
    expect(grants.find((g) => g.grant === LICENSE)?.requests).toBe("2");
    const html = renderFootprint(r, "html");
    expect(html).toContain("<th>lookups</th>");
    expect(html).toContain("of which 2 model lookups (counted apart");
  });
});

describe("what the served footprint did not count", () => {
  it("says how many entries it left out and why, adding up to the entries read", async () => {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-served-")) });
    try {
      const r = await footprintReport({
        store,
        source: memoryLog([
          { type: "admin", v: 1, time: "2026-06-01T09:00:00.000Z", action: "principal.put" },
          entry("2026-05-31T23:59:59.999Z", false), // before the period
          entry("2026-06-01T00:00:00.000Z", false),
          entry("2026-06-01T10:00:00.000Z", true),
          entry("2026-06-02T00:00:00.000Z", false), // at its end: after it
          entry("2026-06-03T00:00:00.000Z", false),
        ]),
        scheme: g7,
        period: parsePeriod("2026-06-01", "2026-06-01", NOW),
        pseudonymKey: null,
        now: NOW,
      });
      expect(r.served.decisions).toBe(2);
      expect(r.served.not_counted).toEqual({ before_period: 1, after_period: 2, not_decisions: 1 });
      const { before_period, after_period, not_decisions } = r.served.not_counted;
      expect(r.served.decisions + before_period + after_period + not_decisions).toBe(r.served.entries_read);
      expect(renderFootprint(r, "html")).toContain(
        "(6 log entries read; not counted: 1 decisions before the period, 2 at or after its end, " +
          "1 entries that are not decisions (administrative changes))",
      );
    } finally {
      await store.close();
    }
  });
});
