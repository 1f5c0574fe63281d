/**
 * GET /admin/v1/usage for a scoped caller (an applicant) reads its own organization's and its own
 * licenses' usage from the store, not every organization's, principal's and license's sums filtered
 * afterwards; and answers what the wide read filtered gave. Real gateway, real SQLite.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UsageDelta } from "../store/index.js";
import { application, asAdmin, call, createIdentity, type Json } from "../testing/admin.js";
import { countingStore, startTestGateway, type TestGateway } from "../testing/gateway.js";

const delta = (over: Partial<UsageDelta>): UsageDelta => ({
  principalId: "p-acme",
  organizationId: "acme",
  licenseId: "ACME-1",
  model: "mythos-5",
  inputTokens: 10,
  outputTokens: 5,
  requests: 1,
  at: "2026-11-02T03:04:05Z",
  ...over,
});

let t: TestGateway;
const counts = new Map<string, number>();
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway({
    wrapStore: (s) => countingStore(s, counts),
    seed: (s) =>
      s.usage.add([
        delta({}),
        delta({ at: "2026-11-03T00:00:00Z", inputTokens: 1 }),
        delta({ licenseId: "ACME-2", model: "fable-5" }),
        // acme's license used by another organization's principal: in the license's sum, not acme's.
        delta({ principalId: "erik", organizationId: "bw-cyber", inputTokens: 100 }),
        // an acme principal under bw-cyber's license: in acme's sum, the license not shown to acme.
        delta({ licenseId: "BIS-2026-0001", inputTokens: 1000 }),
        delta({ principalId: "erik", organizationId: "bw-cyber", licenseId: "BIS-2026-0001" }),
        delta({ principalId: "erik", organizationId: "bw-cyber", licenseId: null }),
        delta({ organizationId: null, licenseId: null, principalId: "anon" }),
      ]),
  });
  for (const id of ["ACME-1", "ACME-2"])
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id, licensee: { organization: "acme" } }));
  tok.applicant = await createIdentity(t, "applicant@usage", ["applicant"], "acme");
  tok.stranger = await createIdentity(t, "stranger@usage", ["applicant"], "nobody-org");
  tok.viewer = await createIdentity(t, "viewer@usage", ["viewer"]);
});
afterAll(() => t.gateway.close());

const usage = async (who: string) => {
  const r = await call(t, tok[who] ?? null, "GET", "/admin/v1/usage");
  expect(r.status, who).toBe(200);
  return r.body as Json;
};
const reads = async (fn: () => Promise<unknown>) => {
  counts.clear();
  await fn();
  return Object.fromEntries([...counts].filter(([k]) => k.startsWith("usage.")));
};

describe("GET /admin/v1/usage", () => {
  it("gives an applicant its organization's and licenses' sums from a read of those rows only", async () => {
    const all = await usage("viewer");
    expect(all.byOrganization).toEqual({ acme: 1041, "bw-cyber": 135 });
    let own: Json;
    // Before: usage.totals(), every organization's, principal's and license's sums, then filtered.
    expect(await reads(async () => (own = await usage("applicant")))).toEqual({ "usage.scopedTotals": 1 });
    // What the wide read, filtered, gave: acme's sum, and the sums of the licenses acme holds.
    expect(own).toStrictEqual({
      byOrganization: { acme: all.byOrganization.acme },
      byLicense: { "ACME-1": all.byLicense["ACME-1"], "ACME-2": all.byLicense["ACME-2"] },
    });
    expect(Object.keys(own)).toEqual(["byOrganization", "byLicense"]);
    expect(own.byLicense).toStrictEqual({ "ACME-1": 126, "ACME-2": 15 });
    expect(await usage("stranger")).toStrictEqual({ byOrganization: {}, byLicense: {} });
  });

  it("gives a viewer every sum, from one totals() read", async () => {
    let all: Json;
    expect(await reads(async () => (all = await usage("viewer")))).toEqual({ "usage.totals": 1 });
    expect(Object.keys(all)).toEqual(["byLicense", "byPrincipal", "byOrganization"]);
    expect(all.byPrincipal).toMatchObject({ "p-acme": 1041, erik: 135, anon: 15 });
  });
});
