/**
 * A partner or license created or changed through another node (or the CLI) in the store this node
 * shares, then read or stepped on this node before it has reloaded. Before, the by-id routes looked
 * only in this node's snapshot: a record created elsewhere was a 404 until the next poll, and a step
 * was checked against the snapshot's status (a partner activated elsewhere could not be suspended
 * here: "it is applied"), then written against the snapshot's revision.
 *
 * The other node is a second store handle on the same SQLite file; this node's poll is stopped
 * meanwhile (see version-not-yet-loaded.test.ts): it reloads only after its own changes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PartnerDocument } from "../control/types.js";
import type { LicenseRecord } from "../licensing/types.js";
import { openStore, type Store } from "../store/index.js";
import { application, asAdmin, call, createIdentity, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let other: Store;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway();
  other = await openStore({ dataDir: t.dataDir });
  for (const a of ["a1", "a2"]) tok[a] = await createIdentity(t, `${a}@here`, ["approver"]);
  tok.applicant = await createIdentity(t, "applicant@elsewhere-org", ["applicant"], "elsewhere-org");
});
afterAll(async () => {
  await other?.close();
  await t?.gateway.close();
});

const ELSEWHERE = { actor: "officer@elsewhere" } as const;
const admin = (method: string, path: string, body?: unknown) => call(t, ADMIN_TOKEN, method, path, body);

/** Runs `change` through the other node; this node has not reloaded since. */
async function elsewhere(change: () => Promise<unknown>): Promise<void> {
  t.gateway.snapshot.stop();
  await t.gateway.snapshot.refresh();
  await change();
}

const held = () => t.gateway.snapshot.current.control;

const organizationPartner = (id: string) => ({
  kind: "organization",
  partner: {
    id,
    country: "IN",
    assurance: "verified",
    locations: ["IN"],
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
  },
  reason: "evaluation partnership",
});

/** Moves a partner to `to` through the other node, as its status route would. */
async function partnerElsewhere(id: string, to: "active" | "revoked"): Promise<void> {
  const r = await other.records.get<PartnerDocument>("partner", id);
  if (r === undefined) throw new Error(`no partner ${id}`);
  const from = r.document.partner.status;
  const doc = {
    ...r.document,
    partner: { ...r.document.partner, status: to },
    history: [
      ...r.document.history,
      { at: new Date().toISOString(), ...ELSEWHERE, from, to, reason: "elsewhere" },
    ],
  } as PartnerDocument;
  await other.records.put("partner", id, doc, r.revision, { ...ELSEWHERE, action: `partner.${to}` });
}

describe("a partner created or changed through another node, before this node has reloaded", () => {
  it("is read and activated here: 200, not 404", async () => {
    await elsewhere(async () => {
      const now = new Date().toISOString();
      const body = organizationPartner("lab-elsewhere");
      const doc = {
        kind: body.kind,
        partner: { ...body.partner, status: "applied" },
        history: [{ at: now, actor: ELSEWHERE.actor, from: null, to: "applied", reason: body.reason }],
      };
      await other.records.put("partner", "lab-elsewhere", doc, 0, {
        ...ELSEWHERE,
        action: "partner.register",
      });
    });
    expect(held().partners.map((p) => p.id)).not.toContain("lab-elsewhere");
    const read = await admin("GET", "/admin/v1/partners/lab-elsewhere");
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ id: "lab-elsewhere", partner: { status: "applied" } });

    const step = await admin("POST", "/admin/v1/partners/lab-elsewhere/status", {
      status: "active",
      reason: "vetted",
    });
    expect(step.status, JSON.stringify(step.body)).toBe(200);
    expect(step.body.partner.status).toBe("active");
    expect(step.body.history.map((h: Json) => h.to)).toEqual(["applied", "active"]);
    expect(held().partners.find((p) => p.id === "lab-elsewhere")?.document.partner.status).toBe("active");
  });

  it("is stepped from its stored status, not this node's: activated elsewhere, suspended here", async () => {
    await asAdmin(t, "POST", "/admin/v1/partners", organizationPartner("lab-ahead"));
    await elsewhere(() => partnerElsewhere("lab-ahead", "active"));
    expect(held().partners.find((p) => p.id === "lab-ahead")?.document.partner.status).toBe("applied");
    const step = await admin("POST", "/admin/v1/partners/lab-ahead/status", {
      status: "suspended",
      reason: "audit finding",
    });
    expect(step.status, JSON.stringify(step.body)).toBe(200);
    expect(step.body.history.map((h: Json) => h.to)).toEqual(["applied", "active", "suspended"]);
  });

  it("a partner revoked elsewhere is not activated here: refused naming its stored status", async () => {
    await asAdmin(t, "POST", "/admin/v1/partners", organizationPartner("lab-gone"));
    await elsewhere(() => partnerElsewhere("lab-gone", "revoked"));
    const step = await admin("POST", "/admin/v1/partners/lab-gone/status", { status: "active", reason: "x" });
    expect(step.status).toBe(409);
    expect(step.body.error).toMatchObject({
      code: "invalid_transition",
      message: "partner lab-gone is revoked; it can become nothing else",
    });
  });

  it("one the store lacks is still 404; one registered elsewhere is not registered again", async () => {
    expect((await admin("GET", "/admin/v1/partners/nobody")).status).toBe(404);
    const r = await admin("POST", "/admin/v1/partners/nobody/status", { status: "active", reason: "x" });
    expect(r.status).toBe(404);
    expect(r.body.error.message).toBe("no partner nobody");
    await elsewhere(async () => {
      const body = organizationPartner("lab-twice");
      const doc = {
        kind: body.kind,
        partner: { ...body.partner, status: "applied" },
        history: [{ at: new Date().toISOString(), ...ELSEWHERE, from: null, to: "applied", reason: "x" }],
      };
      await other.records.put("partner", "lab-twice", doc, 0, { ...ELSEWHERE, action: "partner.register" });
    });
    const again = await admin("POST", "/admin/v1/partners", organizationPartner("lab-twice"));
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe("partner lab-twice exists");
  });
});

describe("an identity provider for a partner registered through another node, before this node has reloaded", () => {
  it("is registered here: 201, not 404; for a partner the store lacks, still 404", async () => {
    await elsewhere(async () => {
      const body = organizationPartner("lab-idp");
      const doc = {
        kind: body.kind,
        partner: { ...body.partner, status: "applied" },
        history: [{ at: new Date().toISOString(), ...ELSEWHERE, from: null, to: "applied", reason: "x" }],
      };
      await other.records.put("partner", "lab-idp", doc, 0, { ...ELSEWHERE, action: "partner.register" });
    });
    expect(held().partners.map((p) => p.id)).not.toContain("lab-idp");
    const provider = { id: "lab-idp-sso", issuer: "https://sso.lab-idp.example", audiences: ["clearance"] };
    const added = await admin("POST", "/admin/v1/partners/lab-idp/identity-providers", provider);
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect((await other.records.get("identity-provider", "lab-idp-sso"))?.document).toMatchObject({
      partner: "lab-idp",
      issuer: provider.issuer,
    });
    const none = await admin("POST", "/admin/v1/partners/nobody/identity-providers", {
      ...provider,
      id: "nobody-sso",
      issuer: "https://sso.nobody.example",
    });
    expect(none.status).toBe(404);
    expect(none.body.error.message).toBe("no partner nobody");
  });
});

describe("a license applied for or changed through another node, before this node has reloaded", () => {
  it("is read, and approved by two approvers here; unseen by another organization's applicant", async () => {
    // The application as the store holds one, written under a new id by the other node.
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-TEMPLATE" }));
    const template = await other.records.get<LicenseRecord>("license", "L-TEMPLATE");
    await elsewhere(() =>
      other.records.put("license", "L-ELSEWHERE", { ...template!.document, id: "L-ELSEWHERE" }, 0, {
        ...ELSEWHERE,
        action: "license.apply",
      }),
    );
    expect(held().licenses.map((l) => l.id)).not.toContain("L-ELSEWHERE");
    const read = await admin("GET", "/admin/v1/licenses/L-ELSEWHERE");
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ id: "L-ELSEWHERE", status: "pending" });
    expect((await admin("GET", "/admin/v1/licenses/L-ELSEWHERE/usage")).status).toBe(200);
    // Visibility is decided on the stored record: another organization's applicant does not see it.
    expect((await call(t, tok.applicant!, "GET", "/admin/v1/licenses/L-ELSEWHERE")).status).toBe(404);

    const first = await call(t, tok.a1!, "POST", "/admin/v1/licenses/L-ELSEWHERE/approve", {});
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.status).toBe("pending");
    const second = await call(t, tok.a2!, "POST", "/admin/v1/licenses/L-ELSEWHERE/approve", {});
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.status).toBe("approved");
  });

  it("is stepped from its stored status: suspended elsewhere, reinstated here", async () => {
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-AHEAD" }));
    await call(t, tok.a1!, "POST", "/admin/v1/licenses/L-AHEAD/approve", {});
    await call(t, tok.a2!, "POST", "/admin/v1/licenses/L-AHEAD/approve", {});
    await elsewhere(async () => {
      const r = await other.records.get<LicenseRecord>("license", "L-AHEAD");
      const doc = { ...r!.document, status: "suspended" as const };
      await other.records.put("license", "L-AHEAD", doc, r!.revision, {
        ...ELSEWHERE,
        action: "license.suspend",
      });
    });
    expect(held().licenses.find((l) => l.id === "L-AHEAD")?.document.status).toBe("approved");
    const step = await admin("POST", "/admin/v1/licenses/L-AHEAD/reinstate", { reason: "cleared" });
    expect(step.status, JSON.stringify(step.body)).toBe(200);
    expect(step.body.status).toBe("approved");
  });

  it("one the store lacks is still 404", async () => {
    const r = await admin("POST", "/admin/v1/licenses/L-NONE/suspend", { reason: "x" });
    expect(r.status).toBe(404);
    expect(r.body.error.message).toBe("no license L-NONE");
    expect((await admin("GET", "/admin/v1/licenses/L-NONE")).status).toBe(404);
  });
});
