/**
 * A partner's person at the admin API with its identity provider's ID token (console sign-in): the
 * token is verified by the gateway's federation against the provider's console client id; the
 * person gets the read-only role partner, scoped to its partner; a gateway token does not sign in,
 * a sign-in token does not call models, and a blocked person is refused.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { application, asAdmin, call, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const ISSUER = "https://login.aisi.example";
const CLIENT = "clearance-console";
const GATEWAY_AUD = "urn:clearance:gateway";
let t: TestGateway;
let key: CryptoKey;

const token = (aud: string, sub = "pat", issuer = ISSUER) =>
  new SignJWT({ name: "Pat Partner" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(issuer)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  t = await startTestGateway();
  await asAdmin(t, "POST", "/admin/v1/licenses", {
    ...application({ licensee: { organization: "uk-aisi" } }),
    justification: "uk-aisi evaluations",
  });
  const provider = (id: string, issuer: string, console?: object) => ({
    id,
    issuer,
    jwks: { keys: [pub] },
    audiences: [GATEWAY_AUD],
    claims: { display_name: "name" },
    ...(console ? { console } : {}),
  });
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/uk-aisi/identity-providers",
    provider("aisi-login", ISSUER, { client_id: CLIENT }),
    201,
  );
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/g7-fvey/identity-providers",
    provider("gov-login", "https://gov.example"),
    201,
  );
  await eventually(
    () => call(t, null, "GET", "/admin/v1/sign-in/providers"),
    (r) => r.body.data.length > 0,
  );
});
afterAll(() => t?.gateway.close());

describe("console sign-in with a partner's ID token", () => {
  it("lists the providers offering it, to anyone", async () => {
    const r = await call(t, null, "GET", "/admin/v1/sign-in/providers");
    expect(r.body.data).toEqual([
      {
        id: "aisi-login",
        name: "aisi-login",
        partner: "uk-aisi",
        issuer: ISSUER,
        client_id: CLIENT,
        allow_http_loopback: true, // the test gateway's identity.allow_http_loopback
      },
    ]);
  });

  it("signs the person in as partner, scoped to its partner and read-only", async () => {
    const id = await token(CLIENT);
    expect((await call(t, id, "GET", "/admin/v1/me")).body).toEqual({
      id: "fed:aisi-login:pat",
      name: "Pat Partner",
      roles: ["partner"],
      organization: "uk-aisi",
    });
    const licenses = (await call(t, id, "GET", "/admin/v1/licenses")).body.data;
    expect(licenses.map((l: { licensee: unknown }) => l.licensee)).toEqual([{ organization: "uk-aisi" }]);
    expect((await call(t, id, "GET", "/admin/v1/licenses/BIS-2026-0001")).status).toBe(404);
    expect((await call(t, id, "GET", "/admin/v1/partners/uk-aisi/identity-providers")).status).toBe(200);
    expect((await call(t, id, "GET", "/admin/v1/partners/g7-fvey/identity-providers")).status).toBe(404);
    expect((await call(t, id, "GET", "/admin/v1/partners")).status).toBe(403);
    expect((await call(t, id, "GET", "/admin/v1/alerts")).status).toBe(403);
    expect((await call(t, id, "POST", "/admin/v1/licenses", application())).status).toBe(403);
    // The decision API is for the provider's services: a partner's token is not an admin token there.
    expect((await call(t, id, "POST", "/v1/decisions", {})).status).toBe(401);
  });

  it("a sign-in token calls no model, and a gateway token does not sign in", async () => {
    const chat = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${await token(CLIENT)}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(chat.status).toBe(401);
    expect(((await chat.json()) as { error: { code: string } }).error.code).toBe("token-audience");
    const r = await call(t, await token(GATEWAY_AUD), "GET", "/admin/v1/me");
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("token-audience");
  });

  it("refuses a provider not registered for sign-in, and a blocked person", async () => {
    const other = await call(t, await token(CLIENT, "pat", "https://gov.example"), "GET", "/admin/v1/me");
    expect(other.status).toBe(401);
    expect(other.body.error.message).toMatch(/gov-login is not registered for console sign-in/);
    await asAdmin(t, "POST", "/admin/v1/federated-principals/fed:aisi-login:sam/block", { reason: "left" });
    const blocked = await eventually(
      async () => call(t, await token(CLIENT, "sam"), "GET", "/admin/v1/me"),
      (r) => r.status === 401,
    );
    expect(blocked.body.error.code).toBe("principal-blocked");
  });

  it("the console's client id may not be one of the gateway's audiences", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/uk-aisi/identity-providers/aisi-login", {
      console: { client_id: GATEWAY_AUD },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0]).toMatchObject({ path: "console.client_id" });
  });
});

describe("every partner's identity providers in one list", () => {
  const ids = (body: { data: { id: string }[] }) => body.data.map((p) => p.id);

  it("a reader gets every partner's, paged and filtered by partner; a partner's person its own only", async () => {
    // Before: only GET /admin/v1/partners/{id}/identity-providers, one request a partner.
    const all = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/identity-providers");
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual(["aisi-login", "gov-login"]);
    expect(all.body.data.map((p: { partner: string }) => p.partner)).toEqual(["uk-aisi", "g7-fvey"]);
    const first = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/identity-providers?limit=1");
    expect(ids(first.body)).toEqual(["aisi-login"]);
    expect(first.body.next_cursor).toBe("aisi-login");
    const second = await call(
      t,
      ADMIN_TOKEN,
      "GET",
      "/admin/v1/identity-providers?limit=1&cursor=aisi-login",
    );
    expect([ids(second.body), second.body.next_cursor]).toEqual([["gov-login"], null]);
    const filtered = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/identity-providers?partner=g7-fvey");
    expect(ids(filtered.body)).toEqual(["gov-login"]);

    const partner = await token(CLIENT);
    expect(ids((await call(t, partner, "GET", "/admin/v1/identity-providers")).body)).toEqual(["aisi-login"]);
    const other = await call(t, partner, "GET", "/admin/v1/identity-providers?partner=g7-fvey");
    expect([other.status, ids(other.body)]).toEqual([200, []]);
    const bad = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/identity-providers?limit=0");
    expect([bad.status, bad.body.error.problems[0].path]).toEqual([400, "limit"]);
  });
});
