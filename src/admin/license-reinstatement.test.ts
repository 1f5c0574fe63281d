/**
 * Reinstating a suspended license grants again, alone: it is refused to a member of an organization
 * the license benefits (as an approval is), and when who benefits cannot be told (fail closed).
 * Suspending and revoking only take access away: a member may still make them. A license whose
 * validity has ended, or one revoked, is not reinstated; a reinstatement is on the record with who
 * and why.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  application,
  auditEntries,
  call,
  createIdentity,
  daysFromNow,
  type Reply,
} from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
const tok: Record<string, string> = {};
const ROLES: Record<string, [string[], string?]> = {
  officer: [["compliance-officer"]],
  "approver-1": [["approver"]],
  "approver-2": [["approver"]],
  "bw-approver": [["approver"], "bw-cyber"],
  "bw-officer": [["compliance-officer"], "bw-cyber"],
  "bw-admin": [["admin"], "BW-Cyber"],
};
beforeAll(async () => {
  t = await startTestGateway();
  for (const [name, [roles, org]] of Object.entries(ROLES))
    tok[name] = await createIdentity(t, `${name}@ri`, roles, org);
});
afterAll(() => t.gateway.close());

const as = (who: string, method: string, path: string, body?: unknown) =>
  call(t, who === "admin" ? ADMIN_TOKEN : (tok[who] ?? null), method, path, body);
const lic = (id: string, action = "") => `/admin/v1/licenses/${id}${action === "" ? "" : `/${action}`}`;
const step = (who: string, id: string, action: string, reason = "reviewed") =>
  as(who, "POST", lic(id, action), { reason });
const expectError = (r: Reply, status: number, code: string) =>
  expect({ status: r.status, code: r.body?.error?.code }, JSON.stringify(r.body)).toEqual({ status, code });

/** Applied for by the officer, approved by the two neutral approvers, suspended by the officer. */
async function suspended(id: string, over: Record<string, unknown> = {}): Promise<void> {
  expect((await as("officer", "POST", "/admin/v1/licenses", application({ id, ...over }))).status).toBe(201);
  for (const a of ["approver-1", "approver-2"])
    expect((await as(a, "POST", lic(id, "approve"), {})).status).toBe(200);
  expect((await step("officer", id, "suspend", "end-use check pending")).body.status).toBe("suspended");
}

describe("reinstating a suspended license", () => {
  it("is refused to a member of the licensee organization, whatever its role; a neutral one may", async () => {
    await suspended("RI-ORG");
    for (const who of ["bw-approver", "bw-officer", "bw-admin"]) {
      // Before the fix: 200 — reinstatement made no conflict-of-interest check.
      const r = await step(who, "RI-ORG", "reinstate");
      expectError(r, 403, "conflict-of-interest");
      expect(r.body.error.message).toContain("bw-cyber");
      expect(r.body.error.message).toContain("reinstate");
    }
    expect((await as("officer", "GET", lic("RI-ORG"))).body.status).toBe("suspended");
    const reinstated = await step("approver-1", "RI-ORG", "reinstate", "end-use check passed");
    expect(reinstated.status).toBe(200);
    expect(reinstated.body.status).toBe("approved");
    // Who and why, in the license's history and in the audit log.
    expect(reinstated.body.history.at(-1)).toMatchObject({
      actor: "approver-1@ri",
      action: "reinstate",
      reason: "end-use check passed",
    });
    const logged = (await auditEntries(t)).filter((e) => e.action === "license.reinstate");
    expect(logged.at(-1)).toMatchObject({
      actor: "approver-1@ri",
      details: { status: "approved", reason: "end-use check passed" },
    });
  });

  it("is refused to a member of the licensee principal's organization", async () => {
    await suspended("RI-ERIK", { licensee: { principal: "erik" }, destinations: ["DE"] });
    expectError(await step("bw-approver", "RI-ERIK", "reinstate"), 403, "conflict-of-interest");
    expect((await step("approver-2", "RI-ERIK", "reinstate")).body.status).toBe("approved");
  });

  it("is refused when who benefits cannot be told: the licensee principal has been removed", async () => {
    const person = {
      id: "ri-gone",
      citizenships: [{ country: "DE" }],
      residence: "DE",
      assurance: "verified",
    };
    expect((await as("officer", "POST", "/admin/v1/principals", person)).status).toBe(201);
    await suspended("RI-GONE", { licensee: { principal: "ri-gone" }, destinations: ["DE"] });
    expect((await as("officer", "DELETE", "/admin/v1/principals/ri-gone")).status).toBe(200);
    // Before the fix: 200 — nothing was checked.
    const r = await step("approver-1", "RI-GONE", "reinstate");
    expectError(r, 409, "beneficiary-unknown");
    expect(r.body.error.message).toContain("ri-gone");
    expect((await as("officer", "GET", lic("RI-GONE"))).body.status).toBe("suspended");
  });

  it("is refused once the license's validity has ended, and after a revocation", async () => {
    await suspended("RI-ENDED", { valid_from: daysFromNow(-30), valid_until: daysFromNow(-1) });
    // Before the fix: 200 and "approved" — a license that can grant nothing, reinstated on the record.
    const ended = await step("approver-1", "RI-ENDED", "reinstate");
    expectError(ended, 409, "invalid-transition");
    expect(ended.body.error.message).toContain("ended");
    await suspended("RI-REVOKED");
    expect((await step("officer", "RI-REVOKED", "revoke", "mission over")).body.status).toBe("revoked");
    expectError(await step("approver-1", "RI-REVOKED", "reinstate"), 409, "invalid-transition");
  });
});

describe("suspending and revoking take access away", () => {
  it("a member of the licensee organization may make them (fail closed)", async () => {
    expect((await as("officer", "POST", "/admin/v1/licenses", application({ id: "RI-OWN" }))).status).toBe(
      201,
    );
    for (const a of ["approver-1", "approver-2"])
      expect((await as(a, "POST", lic("RI-OWN", "approve"), {})).status).toBe(200);
    expect((await step("bw-approver", "RI-OWN", "suspend", "our analysts left")).body.status).toBe(
      "suspended",
    );
    expect((await step("bw-officer", "RI-OWN", "revoke", "no longer needed")).body.status).toBe("revoked");
  });
});
