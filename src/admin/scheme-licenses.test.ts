/**
 * A scheme version activated through the admin API brings no license past the two-person rule: an
 * admin may activate schemes but not approve licenses, so a version that would create a license
 * the store lacks with any status but pending is refused (409 naming the licenses), and pending
 * ones arrive as applications filed by the identity that activated it — every audit entry names
 * that identity, never `scheme-file`. The operator's own scheme file at start-up stays authoritative.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ask, auditEntries, call, createIdentity, type Json } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const license = (id: string, status: string, licensee = "{ principal: feng }") => `
  - id: ${id}
    licensee: ${licensee}
    models: [mythos-5]
    actions: [infer, weights]
    destinations: [CN]
    valid_from: 2026-01-01
    valid_until: 2030-01-01
    status: ${status}
`;
/** The example with licenses appended to its `licenses:` list (the file's last section). */
const withLicenses = (...entries: string[]) => EXAMPLE + entries.join("");
/** A new organization partner, in the example's `organizations:` list. */
const NEW_PARTNER = `    - id: tokyo-lab
      name: Tokyo Lab
      country: JP
      status: active
      assurance: verified
      grants:
        - { models: [mythos-5], actions: [infer] }
`;

let t: TestGateway;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  tok.officer = await createIdentity(t, "officer@seed", ["compliance-officer"]);
  tok.admin = await createIdentity(t, "admin@seed", ["admin"]);
  tok["approver-1"] = await createIdentity(t, "approver-1@seed", ["approver"]);
  tok["approver-2"] = await createIdentity(t, "approver-2@seed", ["approver"]);
});
afterAll(() => t.gateway.close());

const as = (who: string, method: string, path: string, body?: unknown) =>
  call(t, tok[who] ?? null, method, path, body);
async function upload(yaml: string): Promise<number> {
  const r = await as("officer", "POST", "/admin/v1/schemes", { yaml });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.version as number;
}
const activate = (version: number) =>
  as("admin", "POST", `/admin/v1/schemes/${version}/activate`, { reason: "routine update" });
const activeVersion = async (): Promise<number> =>
  (await as("officer", "GET", "/admin/v1/schemes")).body.data.find((v: Json) => v.active).version;

describe("the operator's scheme file at start-up", () => {
  it("seeds its licenses as they stand, under scheme-file (the operator's authority)", async () => {
    const seeded = await as("officer", "GET", "/admin/v1/licenses/BIS-2026-0001");
    expect(seeded.body).toMatchObject({ status: "approved", applicant: "scheme-file", approvals: [] });
  });
});

describe("activating a scheme version through the admin API", () => {
  it("is refused, naming them, when it would create approved (or other non-pending) licenses", async () => {
    const before = await activeVersion();
    const version = await upload(withLicenses(license("SELF-1", "approved"), license("SELF-2", "revoked")));
    const r = await activate(version);
    // Before the fix: 200, and SELF-1 approved with no approver, applicant "scheme-file".
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe("licenses_need_workflow");
    expect(r.body.error.message).toContain("SELF-1 (approved)");
    expect(r.body.error.message).toContain("SELF-2 (revoked)");
    expect(r.body.error.message).toMatch(/license workflow/);
    const problems = r.body.error.problems as Json[];
    expect(problems.map((p) => p.path)).toEqual(["licenses[1].status", "licenses[2].status"]);
    expect(problems.map((p) => p.code)).toEqual(["license_needs_workflow", "license_needs_workflow"]);
    expect(problems[0].message).toContain("SELF-1");
    // Its what-if says the same rather than counting the licenses as gains.
    const preview = await as("officer", "POST", `/admin/v1/schemes/${version}/what-if`, { format: "json" });
    expect(preview.status, JSON.stringify(preview.body)).toBe(409);
    expect(preview.body.error.code).toBe("licenses_need_workflow");

    // Nothing changed: no license, the same version in force, feng still not licensed.
    for (const id of ["SELF-1", "SELF-2"])
      expect((await as("officer", "GET", `/admin/v1/licenses/${id}`)).status).toBe(404);
    expect(await activeVersion()).toBe(before);
    expect((await ask(t, "feng", "CN")).reason).not.toBe("license");
    const entries = (await auditEntries(t)).filter((e) => e.type === "admin");
    expect(entries.filter((e) => e.action === "scheme.activate" && e.details?.version === version)).toEqual(
      [],
    );
    expect(entries.filter((e) => e.object?.id === "SELF-1")).toEqual([]);
  });

  it("brings pending licenses as applications filed by the identity that activated it, never scheme-file", async () => {
    const yaml = withLicenses(license("PEND-1", "pending")).replace(
      "  organizations:\n",
      `  organizations:\n${NEW_PARTNER}`,
    );
    const version = await upload(yaml);
    const r = await activate(version);
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    const pending = (await as("officer", "GET", "/admin/v1/licenses/PEND-1")).body;
    expect(pending).toMatchObject({ status: "pending", applicant: "admin@seed", approvals: [] });
    expect(pending.history.map((e: Json) => [e.action, e.actor])).toEqual([["apply", "admin@seed"]]);
    const partner = (await as("officer", "GET", "/admin/v1/partners/tokyo-lab")).body;
    expect(partner.history.map((e: Json) => e.actor)).toEqual(["admin@seed"]);

    const entries = (await auditEntries(t)).filter((e) => e.type === "admin");
    const brought = entries.filter((e) => ["PEND-1", "tokyo-lab"].includes(e.object?.id));
    expect(brought.map((e) => [e.action, e.actor])).toEqual([
      ["partner.seed", "admin@seed"],
      ["license.apply", "admin@seed"],
    ]);
    expect(brought[1]?.details).toMatchObject({ status: "pending", version });
    // What the activation brought is attributed to its activator: no new scheme-file entries.
    const activation = entries.findIndex(
      (e) => e.action === "scheme.activate" && e.details?.version === version,
    );
    expect(activation).toBeGreaterThan(0);
    expect(entries.slice(activation).filter((e) => e.actor === "scheme-file")).toEqual([]);

    // The application goes through the two-person rule like any other.
    expect((await as("approver-1", "POST", "/admin/v1/licenses/PEND-1/approve", {})).body.status).toBe(
      "pending",
    );
    expect((await as("approver-2", "POST", "/admin/v1/licenses/PEND-1/approve", {})).body.status).toBe(
      "approved",
    );
  });

  it("a later version naming a license the store already has brings nothing new and activates", async () => {
    // PEND-1 is approved in the store now; a file saying "approved" for it changes nothing.
    const version = await upload(withLicenses(license("PEND-1", "approved")));
    expect((await activate(version)).status).toBe(200);
    const record = (await as("officer", "GET", "/admin/v1/licenses/PEND-1")).body;
    expect(record.approvals.map((a: Json) => a.identity)).toEqual(["approver-1@seed", "approver-2@seed"]);
  });
});
