/**
 * The conflict-of-interest check of license approvals cannot be escaped: a license for a partner's
 * federated person benefits that partner (its provider vouches for the person), a licensee nobody
 * knows is refused rather than waved through (fail closed), and an identity's organization is an
 * organization id, compared without regard to case or surrounding white space.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenHash } from "../control/state.js";
import type { Identity } from "../control/types.js";
import { application, asAdmin, call, createIdentity, eventually, type Reply } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const ISSUER = "https://login.aisi.example";
const GATEWAY_AUD = "urn:clearance:gateway";
let t: TestGateway;
let key: CryptoKey;
const tok: Record<string, string> = {};

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  // Federated principals reach the store within maintain_ms of their first request.
  t = await startTestGateway({ extra: "identity: { maintain_ms: 50 }" });
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/uk-aisi/identity-providers",
    {
      id: "aisi-login",
      issuer: ISSUER,
      jwks: { keys: [pub] },
      audiences: [GATEWAY_AUD],
    },
    201,
  );
  tok.officer = await createIdentity(t, "officer@coi", ["compliance-officer"]);
  tok["aisi-approver"] = await createIdentity(t, "aisi-approver@coi", ["approver"], "uk-aisi");
  tok["approver-1"] = await createIdentity(t, "approver-1@coi", ["approver"]);
  tok["approver-2"] = await createIdentity(t, "approver-2@coi", ["approver"]);
});
afterAll(() => t.gateway.close());

const as = (who: string, method: string, path: string, body?: unknown) =>
  call(t, tok[who] ?? null, method, path, body);
const approve = (who: string, id: string) => as(who, "POST", `/admin/v1/licenses/${id}/approve`, {});
const expectError = (r: Reply, status: number, code: string) =>
  expect({ status: r.status, code: r.body?.error?.code }, JSON.stringify(r.body)).toEqual({ status, code });
/** An application (by the officer) for a licensee principal, in the UK. */
async function applyFor(id: string, principal: string): Promise<void> {
  const r = await as(
    "officer",
    "POST",
    "/admin/v1/licenses",
    application({ id, licensee: { principal }, nationalities: undefined, destinations: ["GB"] }),
  );
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}
/** A model request with a token from uk-aisi's provider: the gateway records its federated principal. */
async function signIn(subject: string): Promise<void> {
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(ISSUER)
    .setSubject(subject)
    .setAudience(GATEWAY_AUD)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json", "x-test-country": "GB" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await res.text();
  const recorded = await eventually(
    () => as("officer", "GET", `/admin/v1/federated-principals/fed:aisi-login:${subject}`),
    (r) => r.status === 200,
  );
  expect(recorded.body).toMatchObject({ partner: "uk-aisi", principal: { organization: "uk-aisi" } });
}

describe("a license for a federated principal benefits the partner that vouches for it", () => {
  it("uk-aisi's approver cannot approve a license for uk-aisi's federated person; others can", async () => {
    await signIn("pat");
    await applyFor("FED-PAT", "fed:aisi-login:pat");
    // Before the fix: 200 — the beneficiary was looked up among store principals only.
    expectError(await approve("aisi-approver", "FED-PAT"), 403, "conflict-of-interest");
    const denial = await as("aisi-approver", "POST", "/admin/v1/licenses/FED-PAT/deny", { reason: "ours" });
    expectError(denial, 403, "conflict-of-interest");
    expect((await approve("approver-1", "FED-PAT")).status).toBe(200);
    const second = await approve("approver-2", "FED-PAT");
    expect(second.status).toBe(200);
    expect(second.body.status).toBe("approved");
  });

  it("so does a license for a person of its provider who has not signed in yet", async () => {
    await applyFor("FED-SAM", "fed:aisi-login:sam");
    const r = await approve("aisi-approver", "FED-SAM");
    expectError(r, 403, "conflict-of-interest");
    expect(r.body.error.message).toContain("uk-aisi");
  });

  it("a licensee principal nobody knows cannot be approved (fail closed), naming license and principal", async () => {
    for (const [id, principal] of [
      ["FED-NOBODY", "fed:unknown-login:x"],
      ["GHOST-1", "ghost"],
    ] as const) {
      await applyFor(id, principal);
      // Before the fix: 200 — an unknown beneficiary skipped the check.
      const r = await approve("approver-1", id);
      expectError(r, 409, "beneficiary-unknown");
      expect(r.body.error.message).toContain(id);
      expect(r.body.error.message).toContain(principal);
      expect((await as("officer", "GET", `/admin/v1/licenses/${id}`)).body).toMatchObject({
        status: "pending",
        approvals: [],
      });
    }
    // A denial grants nothing: it stays possible.
    const denied = await as("approver-1", "POST", "/admin/v1/licenses/GHOST-1/deny", { reason: "who?" });
    expect(denied.status).toBe(200);
    expect(denied.body.status).toBe("denied");
  });
});

describe("an identity's organization is an organization id", () => {
  it("free text is refused at creation with 400 naming the field", async () => {
    for (const organization of ["bw-cyber ", " bw-cyber", "bw cyber", "", "-bw"]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
        id: "free-text",
        name: "Free Text",
        roles: ["approver"],
        organization,
      });
      expectError(r, 400, "invalid_request");
      expect(
        r.body.error.problems.map((p: { path: string }) => p.path),
        JSON.stringify(organization),
      ).toEqual(["organization"]);
    }
    expect(
      (await call(t, ADMIN_TOKEN, "GET", "/admin/v1/identities?limit=500")).body.data,
    ).not.toContainEqual(expect.objectContaining({ id: "free-text" }));
  });

  it("a variant in case, or recorded with white space before validation, still conflicts", async () => {
    const upper = await createIdentity(t, "upper@coi", ["approver"], "BW-Cyber");
    // An identity recorded before organizations were validated (as the store may still hold one).
    const legacy = "clra_legacy-identity-token-0123456789";
    const doc: Identity = {
      id: "legacy@coi",
      name: "legacy",
      roles: ["approver"],
      organization: "bw-cyber ",
      token_hash: tokenHash(legacy),
      created_at: new Date().toISOString(),
      revoked_at: null,
      expires_at: null,
    };
    await t.gateway.store.records.put("identity", doc.id, doc, 0, {
      actor: "test",
      action: "identity.create",
    });
    const r = await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "LIC-COI-CASE" }));
    expect(r.licensee).toEqual({ organization: "bw-cyber" });
    for (const token of [upper, legacy]) {
      const refused = await eventually(
        () => call(t, token, "POST", "/admin/v1/licenses/LIC-COI-CASE/approve", {}),
        (x) => x.status !== 401,
      );
      // Before the fix: 200 — "BW-Cyber" and "bw-cyber " were compared exactly with "bw-cyber".
      expectError(refused, 403, "conflict-of-interest");
    }
    expect((await as("officer", "GET", "/admin/v1/licenses/LIC-COI-CASE")).body.approvals).toEqual([]);
  });
});
