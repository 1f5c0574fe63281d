/**
 * A candidate that changes a license's `quota_period` is judged on the usage of its own period. The
 * what-if took quota usage once, counted over the active scheme's periods, and decided both schemes
 * with it: a license exhausted over its whole life (total) and made monthly in the candidate stayed
 * exhausted in the candidate, though nothing was used this month — the gain it gives was not shown.
 * (A real gateway's data directory, its store's usage, the command line.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource } from "../audit/source.js";
import { run } from "../cli/program.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { candidateScheme, whatIfReport, type WhatIfReport } from "./report.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
/** BIS-2026-0001 for any purpose (the population is decided without one), 1,000 tokens in all. */
const ACTIVE = G7.replace("    purposes: [cyber-defense]\n", "")
  .replace("valid_from: 2026-07-01", "valid_from: 2020-01-01")
  .replace("valid_until: 2027-07-01", "valid_until: 2099-01-01")
  .replace("quota_tokens: 50000000", "quota_tokens: 1000");
/** The same license, its 1,000 tokens a month. */
const CANDIDATE = ACTIVE.replace("name: g7-trusted-partners", "name: g7-monthly-quota").replace(
  "quota_tokens: 1000",
  "quota_tokens: 1000\n    quota_period: month",
);

let t: TestGateway;
const dir = mkdtempSync(join(tmpdir(), "clearance-whatif-quota-"));

beforeAll(async () => {
  expect(ACTIVE).not.toBe(G7);
  expect(CANDIDATE).toContain("quota_period: month");
  writeFileSync(join(dir, "active.yaml"), ACTIVE);
  writeFileSync(join(dir, "candidate.yaml"), CANDIDATE);
  t = await startTestGateway();
  // Erik used 5,000 tokens under the license last month: over its total, nothing this month.
  const now = new Date();
  const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10)).toISOString();
  await t.gateway.store.usage.add([
    {
      principalId: "erik",
      organizationId: "bw-cyber",
      licenseId: "BIS-2026-0001",
      model: "mythos-5",
      inputTokens: 4000,
      outputTokens: 1000,
      requests: 3,
      at: lastMonth,
    },
  ]);
}, 60_000);
afterAll(() => t.gateway.close());

describe("scheme what-if --active with a candidate that makes a quota monthly", () => {
  it("shows Erik gaining the licensed models: nothing used this month", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(
      [
        "scheme",
        "what-if",
        join(dir, "candidate.yaml"),
        "--active",
        join(dir, "active.yaml"),
        "--data-dir",
        t.dataDir,
        "--format",
        "json",
        "--examples",
        "50",
      ],
      { stdout: (s) => out.push(s), stderr: (s) => err.push(s), stdin: () => "" },
    );
    expect(err.join("")).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(out.join("")) as WhatIfReport;
    const erik = report.population.groups.filter((g) => g.examples.some((e) => e.startsWith("erik")));
    // Under the active scheme the license is spent (quota-exhausted); under the candidate it holds.
    expect(erik.filter((g) => g.direction === "gain").map((g) => [g.model, g.to.reason])).toEqual(
      expect.arrayContaining([
        ["fable-5", "license"],
        ["mythos-5", "license"],
      ]),
    );
    expect(erik.every((g) => g.direction === "gain")).toBe(true);
  });
});

/**
 * Both schemes' figures come from one read of the store's usage (it is synchronous on SQLite, and
 * the admin API's what-if runs in the gateway): each must still see its own period's tokens. On
 * 20 May 2031 the license used 600 tokens in March (last quarter), 300 in April (this quarter, not
 * this month) and 200 in May, besides Erik's 5,000 above: 6,100 in total, 500 this quarter, 200
 * this month, against 400 a period.
 */
describe("one usage read, each scheme's own period", () => {
  const NOW = new Date("2031-05-20T12:00:00Z");
  const under = (period: "total" | "month" | "quarter") =>
    candidateScheme(
      ACTIVE.replace("name: g7-trusted-partners", `name: g7-quota-${period}`).replace(
        "quota_tokens: 1000",
        `quota_tokens: 400\n    quota_period: ${period}`,
      ),
      `${period}.yaml`,
      null,
    );
  beforeAll(async () => {
    const used = (at: string, inputTokens: number) => ({
      principalId: "erik",
      organizationId: "bw-cyber",
      licenseId: "BIS-2026-0001",
      model: "fable-5",
      inputTokens,
      outputTokens: 0,
      requests: 1,
      at,
    });
    await t.gateway.store.usage.add([
      used("2031-03-15T10:00:00Z", 600),
      used("2031-04-10T10:00:00Z", 300),
      used("2031-05-05T10:00:00Z", 200),
    ]);
  });
  const erik = async (active: CompiledScheme, candidate: CompiledScheme) => {
    const report = await whatIfReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      active,
      candidate,
      pseudonymKey: null,
      now: NOW,
      examples: 50,
    });
    return report.population.groups
      .filter(
        (g) => g.model === "mythos-5" && g.action === "infer" && g.examples.some((e) => e.startsWith("erik")),
      )
      .map((g) => `${g.direction}: ${g.from.reason} -> ${g.to.reason}`);
  };

  it("total (6,100 used) made monthly (200 used): Erik gains", async () => {
    expect(await erik(under("total"), under("month"))).toEqual(["gain: license-quota-exhausted -> license"]);
  });
  it("monthly (200 used) made quarterly (500 used): Erik loses", async () => {
    expect(await erik(under("month"), under("quarter"))).toEqual([
      "loss: license -> license-quota-exhausted",
    ]);
  });
  it("quarterly (500 used) made monthly (200 used): Erik gains", async () => {
    expect(await erik(under("quarter"), under("month"))).toEqual([
      "gain: license-quota-exhausted -> license",
    ]);
  });
  it("monthly made monthly: nothing changes for Erik", async () => {
    expect(await erik(under("month"), under("month"))).toEqual([]);
  });
});
