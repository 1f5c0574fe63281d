/**
 * The served footprint over a real audit log written by the gateway: its counts equal a count made
 * independently, from the answers the gateway gave; the CLI writes the same as CSV, JSON and HTML;
 * an empty period or an unreadable log is a clear error and nothing is written.
 */
import { parse } from "csv-parse/sync";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource } from "../audit/source.js";
import { run } from "../cli/program.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { footprintReport, type FootprintReport } from "./footprint.js";
import { renderFootprint } from "./format.js";
import { ACCESS_COLOURS } from "./html.js";
import { parsePeriod } from "./period.js";

const NATIONALITY: Record<string, string> = {
  alice: "US",
  benoit: "FR",
  chloe: "GB",
  devi: "IN",
  erik: "DE",
  feng: "CA",
};
const ORGANIZATION: Record<string, string> = {
  alice: "frontier-lab",
  benoit: "inria",
  chloe: "uk-aisi",
  devi: "bangalore-ai",
  erik: "bw-cyber",
  feng: "none",
};
const PEOPLE = Object.keys(NATIONALITY);
const COUNTRIES = ["US", "FR", "GB", "DE", "IN", "IR", "CA"];
const MODELS = ["mythos-5", "fable-5", "mythos-4", "eu-mythos-5"];

interface Sent {
  key: string;
  decision: string;
  reason: string;
}

let t: TestGateway;
/** The independent count: from each answer's x-clearance-* headers, by the footprint's dimensions. */
const expected = new Map<string, number>();
const reasons = new Map<string, number>();
let total = 0;
let report: FootprintReport;

async function ask(who: string, country: string, model: string, purpose?: string): Promise<Sent> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(who)}`,
      "content-type": "application/json",
      "x-test-country": country,
      ...(purpose === undefined ? {} : { "x-clearance-purpose": purpose }),
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] }),
  });
  await res.arrayBuffer();
  const decision = res.headers.get("x-clearance-decision") ?? "";
  const reason = res.headers.get("x-clearance-reason") ?? "";
  const served = decision === "deny" ? "none" : (res.headers.get("x-clearance-served-model") ?? "");
  const key = [country, NATIONALITY[who], ORGANIZATION[who], model, served, "infer", decision, reason].join(
    "|",
  );
  return { key, decision, reason };
}

beforeAll(async () => {
  t = await startTestGateway({
    extra: "audit: { checkpoint_ms: 50, pseudonym_key_env: AUDIT_PSEUDONYM_KEY }",
    env: { AUDIT_PSEUDONYM_KEY: "test-pseudonym-key" },
  });
  // More than one entry bundle (256 entries), every principal, country and model.
  let i = 0;
  for (let round = 0; round < 2; round++) {
    for (const who of PEOPLE) {
      for (const country of COUNTRIES) {
        for (const model of MODELS) {
          const purpose = who === "erik" && i++ % 2 === 0 ? "cyber-defense" : undefined;
          const sent = await ask(who, country, model, purpose);
          expected.set(sent.key, (expected.get(sent.key) ?? 0) + 1);
          reasons.set(sent.reason, (reasons.get(sent.reason) ?? 0) + 1);
          total++;
        }
      }
    }
  }
  await t.gateway.audit.log.publish();
  const now = new Date();
  report = await footprintReport({
    store: t.gateway.store,
    source: directorySource(join(t.dataDir, "audit")),
    scheme: t.gateway.snapshot.current.control.scheme,
    period: parsePeriod(undefined, undefined, new Date(now.getTime() + 1000)),
    pseudonymKey: "test-pseudonym-key",
    now,
  });
}, 120_000);
afterAll(() => t.gateway.close());

const rowsOf = (r: FootprintReport) =>
  new Map(
    r.served.rows.map((x) => [
      [
        x.location,
        x.nationality,
        x.organization,
        x.model,
        x.served_model,
        x.action,
        x.decision,
        x.reason,
      ].join("|"),
      x.requests,
    ]),
  );

describe("the served footprint", () => {
  it("counts exactly what the gateway answered, principals recognised through their pseudonyms", () => {
    expect(total).toBeGreaterThan(256);
    expect(report.served.decisions).toBe(total);
    expect(report.served.unknown_principals).toBe(0);
    expect(rowsOf(report)).toEqual(expected);
    expect(report.served.entries_read).toBeGreaterThan(total); // admin entries are read, not counted
    const ir = report.served.locations.find((l) => l.location === "IR");
    expect(ir).toEqual({
      location: "IR",
      requests: total / COUNTRIES.length,
      allow: 0,
      fallback: 0,
      deny: total / COUNTRIES.length,
    });
  });

  it("counts the requests each license and partner grant served", () => {
    const byKind = (prefix: string) =>
      report.served.grants.filter((g) => g.grant.startsWith(prefix)).reduce((n, g) => n + g.requests, 0);
    expect(reasons.get("license")).toBeGreaterThan(0);
    const license = report.served.grants.find((g) => g.grant === "license:BIS-2026-0001");
    expect(license).toMatchObject({
      requests: reasons.get("license"),
      quota_tokens: 50_000_000,
      quota_period: "total",
    });
    expect(byKind("partner-country:")).toBeGreaterThanOrEqual(reasons.get("partner-country") ?? 0);
    expect(byKind("partner-organization:")).toBeGreaterThanOrEqual(reasons.get("partner-organization") ?? 0);
  });

  it("without the pseudonym key, principals stay unknown but are still counted", async () => {
    const r = await footprintReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      scheme: t.gateway.snapshot.current.control.scheme,
      period: report.served.period,
      pseudonymKey: null,
      now: new Date(),
    });
    expect(r.served.decisions).toBe(total);
    expect(r.served.unknown_principals).toBe(PEOPLE.length);
    expect(new Set(r.served.rows.map((x) => x.nationality))).toEqual(new Set(["unknown"]));
  });
});

describe("the HTML report", () => {
  let html = "";
  beforeAll(() => {
    html = renderFootprint(report, "html");
  }, 60_000); // the first page projects the world map: seconds on a busy machine
  const paths = (map: string) => {
    const svg = new RegExp(`<svg id="${map}"[^>]*>(.*?)</svg>`, "s").exec(html)?.[1] ?? "";
    return new Map(
      [...svg.matchAll(/<path d="[^"]+" fill="([^"]+)" data-country="([A-Z]*)">/g)].map((m) => [m[2], m[1]]),
    );
  };

  it("is one self-contained page: no script, style or image from elsewhere", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, "")).not.toMatch(/https?:\/\//);
    expect(html.match(/<script>/g)).toHaveLength(1);
  });

  it("draws the served map: countries with requests coloured, the others left blank", () => {
    const served = paths("served-map");
    expect(served.size).toBeGreaterThan(200);
    for (const c of COUNTRIES) expect(served.get(c), c).not.toBe("#f0f0f0");
    expect(served.get("BR")).toBe("#f0f0f0");
  });

  it("draws the policy map of the first controlled model for inference", () => {
    const policy = paths("policy-map");
    expect(html).toMatch(/<option value="mythos-5\|infer" selected>/);
    expect(policy.get("IR")).toBe(ACCESS_COLOURS.embargoed);
    expect(policy.get("US")).toBe(ACCESS_COLOURS["partner-nationals"]);
    expect(policy.get("IN")).toBe(ACCESS_COLOURS["home-persons"]);
  });

  it("has the served, grants and policy tables", () => {
    const rows = (cls: string) =>
      (new RegExp(`<table class="${cls}">.*?<tbody>(.*?)</tbody>`, "s").exec(html)?.[1] ?? "").split("<tr>")
        .length - 1;
    expect(rows("served")).toBe(report.served.rows.length);
    expect(rows("grants")).toBe(report.served.grants.length);
    expect(rows("policy")).toBeGreaterThan(5);
    expect(html).toContain("<td>license:BIS-2026-0001</td>");
  });
});

describe("clearance report footprint", () => {
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(["report", "footprint", "--data-dir", t.dataDir, ...args], {
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
      stdin: () => "",
    });
    return { code, stdout: out.join(""), stderr: err.join("") };
  };

  it("writes the served table as CSV, one row per group, with the same counts", async () => {
    const r = await cli("--format", "csv");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([
      "location",
      "nationality",
      "organization",
      "model",
      "served_model",
      "action",
      "decision",
      "reason",
      "requests",
      "lookups",
    ]);
    // No pseudonym key from a bare data dir: nationalities unknown; the other dimensions agree.
    const sum = rows.reduce((n, x) => n + Number(x.requests), 0);
    expect(sum).toBe(total);
  });

  it("writes JSON and the grants and policy tables", async () => {
    const json = JSON.parse((await cli("--format", "json")).stdout) as FootprintReport;
    expect(json.served.decisions).toBe(total);
    expect(json.policy.rows.length).toBeGreaterThan(1000);
    const grants = parse((await cli("--format", "csv", "--table", "grants")).stdout, { columns: true });
    expect(grants).toContainEqual(
      expect.objectContaining({ grant: "license:BIS-2026-0001", quota_tokens: "50000000" }),
    );
    const policy = parse((await cli("--format", "csv", "--table", "policy")).stdout, {
      columns: true,
    }) as Record<string, string>[];
    expect(
      policy.find((p) => p.country === "IR" && p.model === "mythos-4" && p.action === "infer")?.access,
    ).toBe("embargoed");
  });

  it("an empty period is an error, and no file is written", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "clearance-report-")), "r.json");
    const r = await cli("--from", "2020-01-01", "--to", "2020-01-31", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^--to: the audit log at .* has no decisions from 2020-01-01T00:00:00.000Z to 2020-02-01T00:00:00.000Z/,
    );
    expect(existsSync(out)).toBe(false);
    const backwards = await cli("--from", "2026-02-01", "--to", "2026-01-01");
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(
      /^--to: "2026-01-01" \(2026-01-02T00:00:00.000Z\) is not after from "2026-02-01"/,
    );
    expect((await cli("--from", "yesterday")).stderr).toMatch(/^--from: expected a date/);
  });

  it("an unreadable log is an error naming it, and no file is written", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "clearance-report-")), "r.html");
    const missing = join(tmpdir(), "no-such-audit-log");
    const r = await cli("--log", missing, "--format", "html", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^clearance: no audit log at ${missing}: it has no checkpoint.* \\(log_unreadable\\)\n$`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it("writes a report to a file with --out", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "clearance-report-")), "r.json");
    const r = await cli("--out", out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^wrote .*r\.json: \d+ decisions/);
    expect((JSON.parse(readFileSync(out, "utf8")) as FootprintReport).served.decisions).toBe(total);
  });
});

describe("a report's period", () => {
  it("takes dates as whole UTC days and date-times with their zone; one without a zone is refused", () => {
    const now = new Date("2026-12-06T12:00:00Z");
    expect(parsePeriod("2026-11-01", "2026-11-02", now)).toEqual({
      from: "2026-11-01T00:00:00.000Z",
      to: "2026-11-03T00:00:00.000Z",
    });
    expect(parsePeriod("2026-11-01T00:00:00+02:00", undefined, now).from).toBe("2026-10-31T22:00:00.000Z");
    // Read in the server's own zone, the same text would be another period on another server.
    expect(() => parsePeriod("2026-11-01T00:00", undefined, now)).toThrow(
      /from: expected a date \(YYYY-MM-DD\) or an ISO 8601 date-time with a time zone/,
    );
  });
});
