/**
 * What-if over history and from the command line, on a real audit log written by the gateway: a
 * candidate that embargoes India and applies every nationality changes exactly the logged
 * decisions it should; a candidate with errors is refused with line and column.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource } from "../audit/source.js";
import { run } from "../cli/program.js";
import { publishedSize } from "../report/log.js";
import { principalIndex } from "../report/principals.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { historyWhatIf } from "./history.js";
import type { WhatIfReport } from "./report.js";
import { candidateScheme } from "./report.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
export const CANDIDATE = G7.replace("name: g7-trusted-partners", "name: g7-embargo-in")
  .replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, IN]")
  .replace("nationality_rule: most-recent", "nationality_rule: all");

let t: TestGateway;
let dir: string;
let candidateFile: string;

async function ask(who: string, country: string, model = "mythos-5"): Promise<string> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(who)}`,
      "content-type": "application/json",
      "x-test-country": country,
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] }),
  });
  await res.arrayBuffer();
  return `${res.headers.get("x-clearance-decision")} ${res.headers.get("x-clearance-reason")}`;
}

beforeAll(async () => {
  t = await startTestGateway({ extra: "audit: { checkpoint_ms: 50 }" });
  expect(await ask("benoit", "FR")).toBe("allow partner-country");
  expect(await ask("benoit", "FR")).toBe("allow partner-country");
  expect(await ask("alice", "US")).toBe("allow home-person");
  expect(await ask("devi", "IN")).toBe("fallback no-authorization");
  expect(await ask("devi", "IN")).toBe("fallback no-authorization");
  expect(await ask("feng", "CA")).toBe("allow partner-country");
  await t.gateway.audit.log.publish();
  dir = mkdtempSync(join(tmpdir(), "clearance-whatif-"));
  candidateFile = join(dir, "candidate.yaml");
  writeFileSync(candidateFile, CANDIDATE);
}, 60_000);
afterAll(() => t.gateway.close());

const cli = async (...args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { stdout: (s) => out.push(s), stderr: (s) => err.push(s), stdin: () => "" });
  return { code, stdout: out.join(""), stderr: err.join("") };
};

describe("what-if over history", () => {
  it("re-decides the logged decisions: the Indian engineer's and the dual national's change, nobody else's", async () => {
    const state = t.gateway.snapshot.current.control;
    const r = await historyWhatIf({
      source: directorySource(join(t.dataDir, "audit")),
      active: state.scheme,
      candidate: candidateScheme(CANDIDATE, "candidate.yaml", state),
      principals: principalIndex(await t.gateway.store.principals.list(), null),
      examples: 10,
    });
    expect(r.decisions).toBe(6);
    expect(r.summary).toMatchObject({
      compared: 6,
      gained: 0,
      lost: 3,
      changed: 0,
      allow_to_fallback: 1,
      fallback_to_deny: 2,
    });
    const lost = r.groups.map((g) => [
      g.location,
      g.nationality,
      g.from.reason,
      g.to.decision,
      g.to.reason,
      g.count,
    ]);
    expect(lost).toEqual([
      ["IN", "IN", "no-authorization", "deny", "embargoed-location", 2],
      ["CA", "CA", "partner-country", "fallback", "no-authorization", 1],
    ]);
    expect(r.groups[0]!.examples.map((e) => e.replace(/^#\d+ /, ""))).toEqual(["devi", "devi"]);
    expect(r.notes.join("\n")).toMatch(/6 re-decided decisions have no purpose in the log/);
    expect(r.notes.join("\n")).toMatch(/0 of the re-decided decisions come out differently from the record/);
  });
});

describe("clearance scheme what-if", () => {
  it("prints the population's and the last day's impact as JSON", async () => {
    const r = await cli(
      "scheme",
      "what-if",
      candidateFile,
      "--data-dir",
      t.dataDir,
      "--days",
      "1",
      "--format",
      "json",
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as WhatIfReport;
    expect(report.candidate.name).toBe("g7-embargo-in");
    expect(report.history?.summary).toMatchObject({ compared: 6, lost: 3, gained: 0 });
    // devi lives in India: under the embargo she is denied every model, for every action (what
    // was denied already is denied for another reason: a change of basis, not a loss).
    const devi = report.population.groups.filter((g) => g.examples.includes("devi@IN"));
    expect(devi.every((g) => g.direction !== "gain" && g.to.reason === "embargoed-location")).toBe(true);
    expect(devi.filter((g) => g.direction === "loss").reduce((n, g) => n + g.count, 0)).toBe(5 * 4);
    expect(devi.reduce((n, g) => n + g.count, 0)).toBe(6 * 4);
    expect(report.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("a range of log indexes instead of days; text, CSV and HTML", async () => {
    const text = await cli(
      "scheme",
      "what-if",
      candidateFile,
      "--data-dir",
      t.dataDir,
      "--from-index",
      "0",
      "--to-index",
      "100000",
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/history: 6 decisions compared; 0 gain access, 3 lose it/);
    expect(text.stdout).toMatch(/digest: sha256:/);
    const csv = await cli("scheme", "what-if", candidateFile, "--data-dir", t.dataDir, "--format", "csv");
    expect(csv.stdout.split("\n")[0]).toBe(
      "part,direction,location,nationality,organization,model,action,from_decision,from_reason,from_served_model,to_decision,to_reason,to_served_model,count,examples",
    );
    const html = await cli("scheme", "what-if", candidateFile, "--data-dir", t.dataDir, "--format", "html");
    expect(html.stdout).toMatch(/^<!doctype html>/);
    expect(html.stdout).toContain('<svg id="population-map"');
    expect(html.stdout).toMatch(/data-country="IN"><title>India \(IN\): 0 gain, \d+ lose/);
  }, 60_000);

  it("refuses a range of log indexes that holds no entries, naming the flag (exit 2, nothing written)", async () => {
    const whatIf = (...range: string[]) =>
      cli("scheme", "what-if", candidateFile, "--data-dir", t.dataDir, ...range);
    const reversed = await whatIf("--from-index", "10", "--to-index", "5");
    expect(reversed).toMatchObject({ code: 2, stdout: "" });
    expect(reversed.stderr).toBe(
      "--from-index: 10 is not before --to-index (5): the range holds no entries\n",
    );
    expect((await whatIf("--from-index", "3", "--to-index", "3")).code).toBe(2);
    expect(await whatIf("--to-index", "0")).toMatchObject({
      code: 2,
      stderr: "--to-index: 0 leaves no entries: the range starts at 0\n",
    });
    const size = await publishedSize(directorySource(join(t.dataDir, "audit")));
    expect(size).toBeGreaterThan(6n);
    const past = await whatIf("--from-index", "100000");
    expect(past).toMatchObject({ code: 2, stdout: "" });
    expect(past.stderr).toBe(
      `--from-index: 100000 is past the end of the audit log: its checkpoint holds ${size} entries (0 to ${size - 1n})\n`,
    );
    // The first index past the end is past it too; the last entry alone is a range.
    expect((await whatIf("--from-index", String(size))).code).toBe(2);
    expect((await whatIf("--from-index", String(size - 1n), "--format", "json")).code).toBe(0);
  }, 60_000);

  it("a candidate that equals the policy in force changes nothing", async () => {
    const same = join(dir, "same.yaml");
    writeFileSync(same, G7);
    const r = JSON.parse(
      (await cli("scheme", "what-if", same, "--data-dir", t.dataDir, "--days", "1", "--format", "json"))
        .stdout,
    ) as WhatIfReport;
    expect(r.population.groups).toEqual([]);
    expect(r.history?.groups).toEqual([]);
  });

  it("--active compares two scheme files, the store giving only the people and the log", async () => {
    const active = join(dir, "active.yaml");
    writeFileSync(active, G7);
    const r = await cli(
      "scheme",
      "what-if",
      candidateFile,
      "--active",
      active,
      "--data-dir",
      t.dataDir,
      "--days",
      "1",
      "--format",
      "json",
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as WhatIfReport;
    expect(report.active.name).toBe("g7-trusted-partners");
    expect(report.history?.summary).toMatchObject({ compared: 6, lost: 3, gained: 0 });
  });

  it("refuses a candidate with errors, with line and column", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, G7.replace("home: [US]", "home: [UK]"));
    const r = await cli("scheme", "what-if", bad, "--data-dir", t.dataDir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      new RegExp(`^${bad}:11:8: home\\[0\\]: "UK" is not an ISO 3166-1 alpha-2 country code`),
    );
  });
});
