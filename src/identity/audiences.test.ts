/**
 * A token is either for the gateway (its `aud` names one of the provider's `audiences`) or for the
 * console's sign-in (its `aud` names the console's `client_id`), never both: a token naming both
 * neither calls a model nor signs in (`token-audience`), whichever door it is shown at. The partner's
 * keys are the test's own (inline); the tokens go through the gateway over HTTP.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const ISSUER = "https://login.de.example";
const AUD = "urn:clearance:gateway";
const AUD2 = "urn:clearance:gateway:eu";
const CLIENT = "clearance-console";
let gw: TestGateway;
let key: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  gw = await startTestGateway({
    extra: `identity:
  providers:
    - { partner: g7-fvey, id: de-login, issuer: "${ISSUER}", jwks: { keys: [${JSON.stringify(pub)}] }, audiences: [${AUD}, ${AUD2}], console: { client_id: ${CLIENT} }, claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested }
`,
  });
}, 30_000);
afterAll(() => gw?.gateway.close());

const token = (aud: string | string[], sub = "anna") =>
  new SignJWT({ nationality: ["DE"] })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(ISSUER)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(key);

/** A model call with the token: its status and error code. */
async function chat(jwt: string): Promise<{ status: number; code?: string; message?: string }> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

/** A console sign-in with the token (the admin API's "who am I"): its status and error code. */
async function signIn(jwt: string): Promise<{ status: number; code?: string; message?: string }> {
  const r = await call(gw, jwt, "GET", "/admin/v1/me");
  return { status: r.status, ...(r.body?.error ?? {}) };
}

describe("a token is for the gateway or for the console's sign-in, never both", () => {
  it("a gateway token calls models and does not sign in; a sign-in token signs in and calls no model", async () => {
    expect(await chat(await token(AUD))).toMatchObject({ status: 200 });
    expect(await chat(await token([AUD2, "urn:someone-else"]))).toMatchObject({ status: 200 });
    expect(await signIn(await token(AUD))).toMatchObject({ status: 401, code: "token-audience" });
    expect(await signIn(await token(CLIENT))).toMatchObject({ status: 200 });
    // An ID token may name other audiences besides the client (OIDC Core 2, azp).
    expect(await signIn(await token([CLIENT, "urn:someone-else"]))).toMatchObject({ status: 200 });
    expect(await chat(await token(CLIENT))).toMatchObject({ status: 401, code: "token-audience" });
  });

  it("a token naming a gateway audience and the console's client id does neither", async () => {
    // Before the fix: both 200 — each door checked only that its own audience was named.
    for (const aud of [
      [AUD, CLIENT],
      [CLIENT, AUD],
      [AUD2, CLIENT, "urn:someone-else"],
    ]) {
      const jwt = await token(aud, `both-${aud.join("-")}`);
      const model = await chat(jwt);
      expect(model, aud.join(" ")).toMatchObject({ status: 401, code: "token-audience" });
      expect(model.message).toContain(`the console's client id ${CLIENT}`);
      const console = await signIn(jwt);
      expect(console, aud.join(" ")).toMatchObject({ status: 401, code: "token-audience" });
      expect(console.message).toMatch(/the gateway's audience urn:clearance:gateway/);
    }
  });
});
