/**
 * Keys by OIDC discovery follow the partner's discovery document: when the partner moves its key
 * set to another URL, the next fetch reads it there, never again at the old URL (which may be
 * decommissioned, or taken over by someone else). The partner's documents and keys are the test's
 * own, served from a loopback server it controls; the key set's clock is the test's.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clockedKeySet } from "../testing/key-sets.js";
import { parseToken, verifyToken } from "./verify.js";

const AUD = "urn:clearance:gateway";
let server: Server;
let base: string;
const pairs: Record<string, { priv: CryptoKey; pub: JWK }> = {};
/** The discovery document's jwks_uri path, and the key each key-set path publishes (kid "k"). */
let jwksPath = "/idp/old-keys";
const published = new Map<string, string>();
/** The discovery document's answer when not 200 (its endpoint down), else null. */
let discoveryDown: number | null = null;

beforeAll(async () => {
  for (const name of ["partner-old", "partner-new", "squatter"]) {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    pairs[name] = { priv: privateKey, pub: { ...(await exportJWK(publicKey)), alg: "ES256", use: "sig" } };
  }
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    const json = (doc: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
    if (path === "/idp/.well-known/openid-configuration" && discoveryDown !== null)
      return void res.writeHead(discoveryDown).end();
    if (path === "/idp/.well-known/openid-configuration")
      return void json({ issuer: `${base}/idp`, jwks_uri: `${base}${jwksPath}` });
    const name = published.get(path);
    if (name === undefined) return void res.writeHead(404).end();
    json({ keys: [{ ...pairs[name]!.pub, kid: "k" }] });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => {
    server.close(r);
    server.closeAllConnections();
  });
});

function sign(pair: string): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ nationality: ["DE"] })
    .setProtectedHeader({ alg: "ES256", kid: "k" })
    .setIssuer(`${base}/idp`)
    .setAudience(AUD)
    .setSubject("anna")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(pairs[pair]!.priv);
}

describe("keys by discovery", () => {
  it("follow the jwks_uri the discovery document names now, not the one it named at the first fetch", async () => {
    let clock = 0;
    const { record, set } = clockedKeySet(
      { id: "moved", issuer: `${base}/idp`, audiences: [AUD], keys_max_age_s: 60 },
      { fetchTimeoutMs: 2_000, cooldownMs: 1_000 },
      () => clock,
    );
    const check = async (token: string) =>
      verifyToken(token, parseToken(token, 16_384), record, set, Date.now()).then(
        () => "verified",
        (err: { code?: string }) => err.code,
      );
    published.set("/idp/old-keys", "partner-old");
    await set.refresh();
    expect(await check(await sign("partner-old"))).toBe("verified");

    // The partner moves its keys; the old URL now answers with someone else's key.
    jwksPath = "/idp/new-keys";
    published.set("/idp/new-keys", "partner-new");
    published.set("/idp/old-keys", "squatter");
    clock += 61_000;
    set.maintain();
    await set.refresh();

    // Before the fix: the old URL was fetched again (its discovery never re-read while it answered),
    // so the squatter's token was verified and the partner's own new key refused.
    expect(await check(await sign("squatter"))).toBe("token-signature");
    expect(await check(await sign("partner-new"))).toBe("verified");
  });

  it("are fetched at the jwks_uri last discovered while the discovery document is down, within keys_max_stale_s", async () => {
    let clock = 0;
    const { record, set } = clockedKeySet(
      { id: "down", issuer: `${base}/idp`, audiences: [AUD], keys_max_age_s: 60, keys_max_stale_s: 300 },
      { fetchTimeoutMs: 2_000, cooldownMs: 1_000 },
      () => clock,
    );
    const check = async (token: string) =>
      verifyToken(token, parseToken(token, 16_384), record, set, Date.now()).then(
        () => "verified",
        (err: { code?: string }) => err.code,
      );
    jwksPath = "/idp/keys";
    published.set("/idp/keys", "partner-old");
    discoveryDown = null;
    try {
      await set.refresh();
      expect(await check(await sign("partner-old"))).toBe("verified");

      // The discovery endpoint goes down; the key set's own URL still answers, and the partner
      // rotates its key there.
      discoveryDown = 503;
      published.set("/idp/keys", "partner-new");
      clock += 61_000;
      await set.refresh();
      // Before the fix: the fetch failed on the discovery document, the rotated key was never
      // fetched and the partner's tokens were refused (then all of them, after keys_max_stale_s).
      expect(await check(await sign("partner-new"))).toBe("verified");
      expect(set.fetchedAt).toBe(61_000);
      expect(set.lastError).toMatch(/discovery document cannot be read .*answered 503.*last named/);

      // Past keys_max_stale_s since the document was last read: the URL it named is no longer
      // trusted on its own, the fetch fails, and the keys it gave (fetched at 61 s) are past the
      // bound too: it counts from the read that named their URL, not from their fetch.
      published.set("/idp/keys", "squatter");
      clock = 300_001;
      await set.refresh();
      expect(set.fetchedAt).toBe(61_000);
      expect(set.lastError).toMatch(/answered 503/);
      expect(set.lastError).not.toMatch(/last named/);
      expect(set.usable()).toBe(false);
      expect(await check(await sign("partner-new"))).toBe("identity-provider-unavailable");

      // The document back: read again, and its jwks_uri followed.
      discoveryDown = null;
      published.set("/idp/keys", "partner-new");
      clock += 1_000;
      await set.refresh();
      expect(set.fetchedAt).toBe(clock);
      expect(set.lastError).toBeNull();
    } finally {
      discoveryDown = null;
    }
  });

  it("fetched through the fallback, serve only until keys_max_stale_s after the document was last read", async () => {
    let clock = 0;
    const { record, set } = clockedKeySet(
      { id: "late", issuer: `${base}/idp`, audiences: [AUD], keys_max_age_s: 60, keys_max_stale_s: 300 },
      { fetchTimeoutMs: 2_000, cooldownMs: 1_000 },
      () => clock,
    );
    const check = async (token: string) =>
      verifyToken(token, parseToken(token, 16_384), record, set, Date.now()).then(
        () => "verified",
        (err: { code?: string }) => err.code,
      );
    jwksPath = "/idp/old-keys";
    published.set("/idp/old-keys", "partner-old");
    discoveryDown = null;
    try {
      await set.refresh();
      // The partner moves its key set and gives up the old URL, which someone else takes; the
      // discovery document is out of reach from now on, so the move is never read.
      jwksPath = "/idp/new-keys";
      published.set("/idp/new-keys", "partner-new");
      published.set("/idp/old-keys", "squatter");
      discoveryDown = 503;
      // The last moment the fallback is allowed: the old URL's keys are fetched.
      clock = 299_000;
      await set.refresh();
      expect(set.fetchedAt).toBe(299_000);
      expect(set.lastError).toMatch(/last named/);
      expect(set.usable()).toBe(true);

      // Past keys_max_stale_s since the document was last read. Before the fix the keys fetched at
      // 299 s counted from that fetch and served to 599 s: the squatter's token verified at 598 s.
      clock = 301_000;
      expect(set.usable()).toBe(false);
      expect(await check(await sign("squatter"))).toBe("identity-provider-unavailable");
      clock = 598_000;
      expect(set.usable()).toBe(false);
      expect(await check(await sign("squatter"))).toBe("identity-provider-unavailable");
      await set.refresh(); // the refusal's own refetch (failed: past the bound), over before going on

      // The document back: read again, its new jwks_uri followed, and the keys usable again.
      discoveryDown = null;
      clock = 600_000;
      await set.refresh();
      expect(set.usable()).toBe(true);
      expect(await check(await sign("partner-new"))).toBe("verified");
      expect(await check(await sign("squatter"))).toBe("token-signature");
    } finally {
      discoveryDown = null;
      jwksPath = "/idp/old-keys";
    }
  });
});
