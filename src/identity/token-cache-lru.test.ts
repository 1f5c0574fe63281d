/**
 * The verified-token cache keeps the tokens used most recently within its bound (identity
 * token_cache, 3 here): a token used often stays cached however many others pass through, where an
 * oldest-first cache dropped it every `token_cache` new tokens and checked its signature again. A
 * token served from the cache is the very caller object its verification made (`toBe`); one checked
 * afresh is a new one. The partner's key is the test's own, inline.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const AUD = "urn:clearance:gateway";
const ISS = "https://lru.example";
let gw: TestGateway;
let key: { priv: CryptoKey; pub: JWK };

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  key = { priv: privateKey, pub: { ...(await exportJWK(publicKey)), kid: "k", alg: "ES256", use: "sig" } };
  gw = await startTestGateway({
    extra: `identity:
  token_cache: 3
  providers:
    - { id: lru, issuer: "${ISS}", jwks: { keys: [${JSON.stringify(key.pub)}] }, partner: g7-fvey, audiences: [${AUD}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested }
`,
  });
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
});

function token(sub: string): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ aud: AUD, iss: ISS, sub, nationality: ["DE"], iat, exp: iat + 600 })
    .setProtectedHeader({ alg: "ES256", kid: "k" })
    .sign(key.priv);
}

describe("the verified-token cache", () => {
  it("keeps a token used often, whatever passes through, and holds no more than its bound", async () => {
    const auth = (t: string) => gw.gateway.identity.authenticate(t);
    const hot = await token("hot");
    const first = await auth(hot);
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => token(`other-${i}`)));
    const callers = [];
    for (const other of others) {
      callers.push(await auth(other));
      // Before the fix: dropped as the oldest entry at the third new token, then verified again.
      expect(await auth(hot)).toBe(first);
    }
    // The bound: the hot token and the two latest others are held; an earlier one is checked afresh.
    expect(await auth(others[7]!)).toBe(callers[7]);
    expect(await auth(others[6]!)).toBe(callers[6]);
    const again = await auth(others[5]!);
    expect(again).not.toBe(callers[5]);
    expect(again.principal.id).toBe(callers[5]!.principal.id);
    // That one took the place of the least recently used (the hot token, used before others 7 and 6).
    expect(await auth(hot)).not.toBe(first);
  });
});
