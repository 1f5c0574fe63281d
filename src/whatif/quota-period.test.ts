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
import { run } from "../cli/program.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import type { WhatIfReport } from "./report.js";

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
