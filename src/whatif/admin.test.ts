/**
 * Reports and what-ifs over the admin API and its command-line client, and an activation that
 * requires a what-if: refused without the impact digest (saying the impact), recorded with it.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, asAdmin, auditEntries, call, createIdentity, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { SECURITY_HEADERS } from "../http/security-headers.js";
import type { WhatIfReport } from "./report.js";
import { remoteCli } from "../testing/remote-cli.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const CANDIDATE = G7.replace("name: g7-trusted-partners", "name: g7-embargo-in").replace(
  "embargoed: [EAR_E1, EAR_E2]",
  "embargoed: [EAR_E1, EAR_E2, IN]",
);

let t: TestGateway;
let version: string;
beforeAll(async () => {
  t = await startTestGateway({
    extra: "audit: { checkpoint_ms: 50 }\nwhatif: { require_for_activation: true, examples: 3 }",
  });
  expect((await ask(t, "benoit", "FR")).decision).toBe("allow");
  expect((await ask(t, "devi", "IN")).decision).toBe("fallback");
  expect((await ask(t, "devi", "IN")).decision).toBe("fallback");
  expect((await ask(t, "alice", "IR")).decision).toBe("deny");
  await t.gateway.audit.log.publish();
  version = String((await asAdmin(t, "POST", "/admin/v1/schemes", { yaml: CANDIDATE })).version);
}, 60_000);
afterAll(() => t.gateway.close());

const cli = (args: string[]) => remoteCli(t.url, args);

describe("GET /admin/v1/reports/footprint", () => {
  it("answers JSON, CSV and a self-contained HTML page", async () => {
    const json = await asAdmin(t, "GET", "/admin/v1/reports/footprint");
    expect(json.served.decisions).toBe(4);
    expect(json.served.locations.map((l: { location: string }) => l.location).sort()).toEqual([
      "FR",
      "IN",
      "IR",
    ]);
    const csv = await fetch(`${t.url}/admin/v1/reports/footprint?format=csv&table=locations`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(await csv.text()).toBe(
      "location,requests,allow,fallback,deny\nIN,2,0,2,0\nFR,1,1,0,0\nIR,1,0,0,1\n",
    );
    const html = await fetch(`${t.url}/admin/v1/reports/footprint?format=html`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
    // Its own inline style and script run; nothing loads, frames it, or is given a base or a form.
    expect(html.headers.get("content-security-policy")).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    for (const name of [
      "cache-control",
      "x-frame-options",
      "referrer-policy",
      "cross-origin-resource-policy",
    ])
      expect(html.headers.get(name), name).toBe(SECURITY_HEADERS[name]);
    expect(await html.text()).toMatch(/^<!doctype html>[\s\S]*<svg id="served-map"/);
  }, 60_000); // the first page projects the world map: seconds on a busy machine

  it("asked for progress, reports reading the log, then the same report; a CSV comes inside a line", async () => {
    const get = async (query: string) => {
      const res = await fetch(`${t.url}/admin/v1/reports/footprint${query}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: "application/x-ndjson" },
      });
      expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
      return (await res.text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Json);
    };
    const lines = await get("");
    expect(lines[0]).toMatchObject({ progress: { stage: "reading the audit log" } });
    expect(lines.at(-1)!.result.served.decisions).toBe(4);
    const csv = (await get("?format=csv&table=locations")).at(-1)!;
    expect(csv).toEqual({
      result: {
        content_type: "text/csv; charset=utf-8",
        text: "location,requests,allow,fallback,deny\nIN,2,0,2,0\nFR,1,1,0,0\nIR,1,0,0,1\n",
      },
    });
  });

  it("an empty period or a bad date is a 400 naming it; a viewer may read, an applicant may not", async () => {
    const empty = await call(
      t,
      ADMIN_TOKEN,
      "GET",
      "/admin/v1/reports/footprint?from=2020-01-01&to=2020-01-02",
    );
    expect(empty.status).toBe(400);
    expect(empty.body.error.code).toBe("empty_period");
    // The server's file system is none of the caller's business.
    expect(empty.body.error.message).toMatch(/^the audit log at this gateway has no decisions/);
    expect(empty.body.error.message).not.toContain(t.dataDir);
    const bad = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/reports/footprint?from=soon");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/from: expected a date/);
    // Date.parse would read it as 2 March.
    const impossible = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/reports/footprint?from=2026-02-30");
    expect(impossible.status).toBe(400);
    expect(impossible.body.error.problems[0]).toMatchObject({ code: "invalid_date", path: "from" });
    const viewer = await createIdentity(t, "vera", ["viewer"]);
    expect((await call(t, viewer, "GET", "/admin/v1/reports/footprint")).status).toBe(200);
    const applicant = await createIdentity(t, "app", ["applicant"], "bw-cyber");
    expect((await call(t, applicant, "GET", "/admin/v1/reports/footprint")).status).toBe(403);
  });

  it("a refusal names the parameter the caller gave, once; a parameter given twice is refused", async () => {
    const get = (query: string) => call(t, ADMIN_TOKEN, "GET", `/admin/v1/reports/footprint?${query}`);
    const blank = await get("to=");
    expect(blank.status).toBe(400);
    expect(blank.body.error.message).toBe(
      'to: expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got ""',
    );
    // `to` was not given: the `from` after now is at fault.
    const future = await get("from=9030-01-01");
    expect(future.status).toBe(400);
    expect(future.body.error.problems).toEqual([
      expect.objectContaining({ code: "empty_period", path: "from" }),
    ]);
    expect(future.body.error.message).toMatch(
      /^from: "9030-01-01" \(9030-01-01T00:00:00.000Z\) is not before now/,
    );
    const twice = await get("from=2026-01-01&from=2026-02-01");
    expect(twice.status).toBe(400);
    expect(twice.body.error.problems).toEqual([
      {
        code: "repeated_parameter",
        path: "from",
        message: 'given 2 times ("2026-01-01", "2026-02-01"): give it once',
      },
    ]);
    // The end of 9999-12-31 is an end like any other.
    const forever = await get("to=9999-12-31");
    expect(forever.status).toBe(200);
    expect(forever.body.served.period.to).toBe("+010000-01-01T00:00:00.000Z");
    // Without decisions in the period: the bound to move.
    const early = await get("from=2020-01-01&to=2020-01-02");
    expect(early.body.error.problems).toEqual([
      expect.objectContaining({ code: "empty_period", path: "to" }),
    ]);
  });

  it("is in the OpenAPI document, with the what-if", async () => {
    const doc = (await (await fetch(`${t.url}/admin/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/admin/v1/reports/footprint", "/admin/v1/schemes/{version}/what-if"]),
    );
  });
});

describe("what-if and activation over the admin API", () => {
  let report: WhatIfReport;

  it("POST /admin/v1/schemes/{version}/what-if: the population and the last day's decisions", async () => {
    report = await asAdmin(t, "POST", `/admin/v1/schemes/${version}/what-if`, { days: 1 });
    expect(report.candidate.name).toBe("g7-embargo-in");
    expect(report.history?.summary).toMatchObject({ compared: 4, lost: 2, gained: 0, fallback_to_deny: 2 });
    expect(report.population.summary.lost).toBeGreaterThan(0);
    // Examples are bounded by the config (whatif.examples: 3).
    expect(Math.max(...report.population.groups.map((g) => g.examples.length))).toBeLessThanOrEqual(3);
    const missing = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes/99/what-if", {});
    expect(missing.status).toBe(404);
  });

  it("a range of log indexes that holds no entries is a 400 naming the field", async () => {
    const path = `/admin/v1/schemes/${version}/what-if`;
    const reversed = await call(t, ADMIN_TOKEN, "POST", path, { from_index: "10", to_index: "5" });
    expect(reversed.status).toBe(400);
    expect(reversed.body.error.problems[0]).toMatchObject({ code: "empty_range", path: "from_index" });
    expect(reversed.body.error.message).toBe(
      "from_index: 10 is not before to_index (5): the range holds no entries",
    );
    const past = await call(t, ADMIN_TOKEN, "POST", path, { from_index: "100000" });
    expect(past.status).toBe(400);
    expect(past.body.error.problems[0]).toMatchObject({ code: "empty_range", path: "from_index" });
    expect(past.body.error.message).toMatch(/^from_index: 100000 is past the end of the audit log/);
    // The command line's client says the server's 400 as invalid input: exit 2, as `scheme what-if`
    // does, at the flag given.
    const remote = await cli(["schemes", "what-if", version, "--from-index", "10", "--to-index", "5"]);
    expect(remote.code).toBe(2);
    expect(remote.err).toContain("--from-index: 10 is not before to_index (5)");
  });

  it("asked for progress (NDJSON), names each stage as it goes, then gives the same what-if", async () => {
    const lines = async (path: string, body: unknown) => {
      const res = await fetch(`${t.url}${path}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          "content-type": "application/json",
          accept: "application/x-ndjson",
        },
        body: JSON.stringify(body),
      });
      return {
        status: res.status,
        type: res.headers.get("content-type"),
        lines: (await res.text())
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as Json),
      };
    };
    const r = await lines(`/admin/v1/schemes/${version}/what-if`, { days: 1 });
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^application\/x-ndjson/);
    const progress = r.lines.filter((l) => "progress" in l).map((l) => l.progress);
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) {
      expect(p.done).toBeLessThanOrEqual(p.total);
      expect(typeof p.stage).toBe("string");
    }
    expect(progress.map((p) => p.stage)).toContain("grouping and deciding the population");
    const last = r.lines.at(-1)!;
    expect(Object.keys(last)).toEqual(["result"]);
    // The same impact (only the moment it was judged at differs).
    expect(last.result.population.summary).toEqual(report.population.summary);
    expect(last.result.population.groups).toEqual(report.population.groups);
    expect(last.result.history.summary).toEqual(report.history?.summary);
    // Refused before any progress: its own status, as without progress.
    const missing = await lines("/admin/v1/schemes/99/what-if", {});
    expect(missing.status).toBe(404);
    expect(missing.lines[0]).toMatchObject({ error: { code: "not_found" } });
  });

  it("refuses to activate without the impact digest, saying the impact", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${version}/activate`, {
      reason: "embargo India",
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("what_if_required");
    const s = report.population.summary;
    expect(r.body.error.message).toContain(`${s.gained} gain access, ${s.lost} lose it`);
    expect(r.body.error.message).toContain(report.digest);
    const stale = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${version}/activate`, {
      reason: "embargo India",
      what_if: `sha256:${"0".repeat(64)}`,
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("what_if_changed");
    expect(t.gateway.snapshot.current.control.active.document.version).toBe(1);
  });

  it("the command line shows the what-if, and activates with its digest; the record names it", async () => {
    const shown = await cli(["schemes", "what-if", version]);
    expect(shown.err).toBe("");
    expect(shown.out).toContain(`digest: ${report.digest}`);
    const csv = await cli(["schemes", "what-if", version, "--days", "1", "--format", "csv"]);
    expect(csv.out).toMatch(/^part,direction,location/);
    expect(csv.out).toMatch(
      /\nhistory,loss,IN,IN,bangalore-ai,mythos-5,infer,fallback,no-authorization,mythos-4,deny,embargoed-location,,2,/,
    );
    const activated = await cli([
      "schemes",
      "activate",
      version,
      "--reason",
      "embargo India",
      "--what-if",
      report.digest,
    ]);
    expect(activated.err).toBe("");
    expect(activated.code).toBe(0);
    expect(activated.out).toContain(
      `impact ${report.digest}: ${report.population.summary.gained} gain access`,
    );
    expect(t.gateway.snapshot.current.control.active.document.version).toBe(Number(version));
    const entry = (await auditEntries(t)).find((e) => e.action === "scheme.activate" && e.actor === "admin");
    expect(entry?.details.what_if).toMatchObject({
      digest: report.digest,
      lost: report.population.summary.lost,
    });
    expect(entry?.details.reason).toMatch(
      new RegExp(`^embargo India \\[what-if ${report.digest}: \\d+ gain access`),
    );
    expect((await ask(t, "devi", "IN")).reason).toBe("embargoed-location");
  }, 60_000);

  it("clearance reports footprint renders the server's footprint here", async () => {
    const csv = await cli(["reports", "footprint", "--format", "csv", "--table", "locations"]);
    expect(csv.err).toBe("");
    expect(csv.out.split("\n")[0]).toBe("location,requests,allow,fallback,deny");
    const html = await cli(["reports", "footprint", "--format", "html"]);
    expect(html.out).toMatch(/^<!doctype html>/);
  }, 60_000);
});
