/**
 * A caller's scope on a route is decided by the roles it holds that grant that route: a role that
 * does not grant it widens nothing. An applicant of acme who is also a screening reviewer (a role
 * that may not read licenses or usage at all) still reads only acme's licenses and usage; an
 * applicant who is also a viewer reads everything, as a viewer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../control/types.js";
import { application, asAdmin, ask, call, createIdentity, type Json } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { ownOnly } from "./routes/roles.js";

let t: TestGateway;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  await asAdmin(
    t,
    "POST",
    "/admin/v1/licenses",
    application({ id: "ACME-1", licensee: { organization: "acme" } }),
  );
  await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "BW-1" }));
  tok.applicant = await createIdentity(t, "applicant@scope", ["applicant"], "acme");
  tok["applicant+reviewer"] = await createIdentity(t, "app-rev@scope", ["applicant", "reviewer"], "acme");
  tok["applicant+viewer"] = await createIdentity(t, "app-view@scope", ["applicant", "viewer"], "acme");
  // Some usage of bw-cyber's license BIS-2026-0001, which acme must not see.
  expect((await ask(t, "erik", "DE", { model: "fable-5", purpose: "cyber-defense" })).reason).toBe("license");
  await t.gateway.meter.flush();
});
afterAll(() => t.gateway.close());

const as = (who: string, method: string, path: string) => call(t, tok[who] ?? null, method, path);
const listed = async (who: string): Promise<string[]> => {
  const r = await as(who, "GET", "/admin/v1/licenses?limit=500");
  expect(r.status).toBe(200);
  return r.body.data.map((l: Json) => l.id);
};

describe("a role that does not grant a route does not widen the caller's scope on it", () => {
  it("applicant(acme) + reviewer lists, reads and meters acme's licenses only", async () => {
    for (const who of ["applicant", "applicant+reviewer"]) {
      // Before the fix: applicant+reviewer listed every organization's licenses.
      expect(await listed(who), who).toEqual(["ACME-1"]);
      for (const path of [
        "/admin/v1/licenses/BW-1",
        "/admin/v1/licenses/BIS-2026-0001",
        "/admin/v1/licenses/BIS-2026-0001/usage",
      ]) {
        const r = await as(who, "GET", path);
        expect({ who, path, status: r.status, code: r.body.error?.code }).toEqual({
          who,
          path,
          status: 404,
          code: "not_found",
        });
      }
      expect((await as(who, "GET", "/admin/v1/licenses/ACME-1")).status).toBe(200);
      const filtered = await as(who, "GET", "/admin/v1/licenses?organization=bw-cyber");
      expect(filtered.body.data, who).toEqual([]);
    }
  });

  it("applicant(acme) + reviewer sees acme's usage only", async () => {
    for (const who of ["applicant", "applicant+reviewer"]) {
      const r = await as(who, "GET", "/admin/v1/usage");
      expect(r.status).toBe(200);
      // Before the fix: applicant+reviewer got every organization's, principal's and license's totals.
      expect(r.body, who).toEqual({ byOrganization: {}, byLicense: {} });
    }
  });

  it("a role that grants the route unscoped still does: applicant(acme) + viewer reads everything", async () => {
    const all = await listed("applicant+viewer");
    expect(all).toEqual(expect.arrayContaining(["ACME-1", "BW-1", "BIS-2026-0001"]));
    expect((await as("applicant+viewer", "GET", "/admin/v1/licenses/BW-1")).status).toBe(200);
    const usage = await as("applicant+viewer", "GET", "/admin/v1/usage");
    expect(Object.keys(usage.body.byOrganization)).toContain("bw-cyber");
    expect(usage.body.byPrincipal).toBeDefined();
  });
});

describe("ownOnly", () => {
  const caller = (...roles: Role[]) => ({ id: "x", roles: new Set(roles), organization: "acme" });
  const READ: readonly Role[] = ["viewer", "applicant", "compliance-officer", "approver", "admin", "partner"];
  it("is decided by the caller's roles that the route allows", () => {
    expect(ownOnly(caller("applicant"), READ)).toBe(true);
    expect(ownOnly(caller("applicant", "reviewer"), READ)).toBe(true);
    expect(ownOnly(caller("partner", "reviewer"), READ)).toBe(true);
    expect(ownOnly(caller("applicant", "viewer"), READ)).toBe(false);
    expect(ownOnly(caller("applicant", "approver"), ["approver"])).toBe(false);
    expect(ownOnly(caller("applicant", "approver"), ["applicant", "compliance-officer", "admin"])).toBe(true);
  });
});
