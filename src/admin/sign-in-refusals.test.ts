/**
 * Console sign-in refused for reasons the person did not cause: an identity provider whose keys are
 * out of reach, or a partner that is not active. Such refusals do not count against the source's
 * failed-authentication limit (one IdP outage would lock out everyone behind a NAT), and a partner
 * that is not active is not offered for sign-in. The name a provider gives is taken only when it is
 * printable Unicode text, as on a gateway token.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, call, eventually, type Json } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const CLIENT = "clearance-console";
const AUD = "urn:clearance:gateway";
const AISI = "https://login.aisi.example";
const FVEY = "https://login.fvey.example";
let t: TestGateway;
let key: CryptoKey;
let other: CryptoKey;
/** A loopback server answering 503 to every key fetch: the provider's keys are out of reach. */
let down: Server;
let downIssuer: string;

const token = (issuer: string, claims: Record<string, unknown> = {}, signer?: CryptoKey) =>
  new SignJWT({ name: "Pat Partner", ...claims })
    .setProtectedHeader({ alg: "ES256", kid: "k1" })
    .setIssuer(issuer)
    .setSubject("pat")
    .setAudience(CLIENT)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(signer ?? key);

/** GET /admin/v1/me as the client `from` (the test gateway trusts loopback as its proxy). */
async function me(from: string, bearer: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.url}/admin/v1/me`, {
    headers: { authorization: `Bearer ${bearer}`, "x-forwarded-for": from },
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  other = (await generateKeyPair("ES256")).privateKey;
  const pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  down = createServer((_req, res) => res.writeHead(503).end());
  await new Promise<void>((resolve) => down.listen(0, "127.0.0.1", resolve));
  downIssuer = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
  t = await startTestGateway({ extra: "admin_security: { failed_auth_per_minute: 3 }" });
  const provider = (id: string, issuer: string, keys: object) => ({
    id,
    issuer,
    ...keys,
    audiences: [AUD],
    claims: { display_name: "name" },
    console: { client_id: CLIENT },
  });
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/uk-aisi/identity-providers",
    provider("aisi-login", AISI, { jwks: { keys: [pub] } }),
    201,
  );
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/g7-fvey/identity-providers",
    provider("fvey-login", FVEY, { jwks: { keys: [pub] } }),
    201,
  );
  await asAdmin(
    t,
    "POST",
    "/admin/v1/partners/eu-members/identity-providers",
    provider("eu-login", downIssuer, { jwks_uri: `${downIssuer}/jwks` }),
    201,
  );
  await eventually(
    () => call(t, null, "GET", "/admin/v1/sign-in/providers"),
    (r) => r.body.data.length === 3,
  );
});
afterAll(async () => {
  await t?.gateway.close();
  down?.close();
});

describe("console sign-in refusals that are not the person's doing", () => {
  it("an identity provider's keys out of reach do not count as failed authentications", async () => {
    const from = "203.0.113.10";
    const unavailable = await token(downIssuer);
    for (let i = 0; i < 5; i++) {
      const r = await me(from, unavailable);
      // Before the fix: the fourth was 429 too_many_failed_authentications, and so was every
      // sign-in from that address (a whole office behind one NAT) for a minute after each try.
      expect(r.status, `try ${i + 1}`).toBe(401);
      expect(r.body.error.code).toBe("identity-provider-unavailable");
    }
    expect((await me(from, await token(AISI))).status).toBe(200);
    // A token the caller got wrong still counts.
    for (let i = 0; i < 3; i++)
      expect((await me(from, await token(AISI, {}, other))).body.error.code).toBe("token-signature");
    expect((await me(from, await token(AISI))).status).toBe(429);
  });

  it("a partner that is not active: not offered for sign-in, and its people's refusals do not count", async () => {
    const listed = async () =>
      (await call(t, null, "GET", "/admin/v1/sign-in/providers")).body.data.map((p: { id: string }) => p.id);
    expect(await listed()).toContain("fvey-login");
    await asAdmin(
      t,
      "POST",
      "/admin/v1/partners",
      {
        kind: "organization",
        partner: {
          id: "nl-lab",
          name: "NL evaluation lab",
          country: "NL",
          assurance: "verified",
          grants: [{ models: ["mythos-5"], actions: ["infer"] }],
        },
        reason: "applied for access",
      },
      201,
    );
    await asAdmin(
      t,
      "POST",
      "/admin/v1/partners/nl-lab/identity-providers",
      {
        id: "nl-login",
        issuer: "https://login.nl-lab.example",
        jwks: { keys: [{ ...(await exportJWK((await generateKeyPair("ES256")).publicKey)), kid: "k1" }] },
        audiences: [AUD],
        console: { client_id: CLIENT },
      },
      201,
    );
    const from = "203.0.113.11";
    for (let i = 0; i < 5; i++) {
      const r = await me(from, await token("https://login.nl-lab.example"));
      expect(r.status, `try ${i + 1}`).toBe(401);
      expect(r.body.error.code).toBe("partner-not-active");
    }
    expect((await me(from, await token(AISI))).status).toBe(200);
    // Before the fix: listed, so the console offered a sign-in that failed after the IdP's login.
    expect(await listed()).not.toContain("nl-login");
    expect(await listed()).toEqual(expect.arrayContaining(["aisi-login", "fvey-login", "eu-login"]));
  });

  it("a name with a control character or a lone surrogate, or too long, is set aside", async () => {
    const from = "203.0.113.12";
    const name = async (n: unknown) => (await me(from, await token(AISI, { name: n }))).body.name;
    expect(await name("Pat\u0000Partner")).toBe("fed:aisi-login:pat");
    expect(await name("Pat \u001b[2J Partner")).toBe("fed:aisi-login:pat");
    expect(await name("Pat \ud800 Partner")).toBe("fed:aisi-login:pat");
    // Cut at 256 before, a pair across the cut left a lone surrogate.
    expect(await name("x".repeat(255) + "\u{1F600}")).toBe("fed:aisi-login:pat");
    expect(await name("Zoë Ångström")).toBe("Zoë Ångström");
  });
});
