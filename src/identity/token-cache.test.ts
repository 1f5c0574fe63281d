/**
 * The verified-token cache never serves a token an uncached verification would refuse: an entry
 * ends at the earlier of `exp` and `iat + max_token_age_s` (and does not start before `nbf` / `iat`
 * less the skew), and it is bound to the keys that verified it, so a key the partner drops from its
 * key set stops its tokens at the next fetch. Within those bounds the cache still answers. Times are
 * the `now` argument of `authenticate`; the partner's keys are the test's own (inline, or served from
 * a loopback server it controls).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { keysFetched } from "../testing/key-sets.js";

const AUD = "urn:clearance:gateway";
const AGED = "https://aged.example"; // inline key set, max_token_age_s: 60, default 60 s skew
const DAY = 86_400;
let server: Server;
let base: string;
let gw: TestGateway;
const keys: Record<string, { priv: CryptoKey; pub: JWK }> = {};
/** The key ids the loopback key-set endpoint publishes (the partner rotates by changing it). */
let published = ["old", "new"];

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  keys[kid] = { priv: privateKey, pub: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}

beforeAll(async () => {
  await Promise.all(["inline", "old", "new"].map(keyPair));
  server = createServer((req, res) => {
    if (req.url !== "/rot/jwks") return void res.writeHead(404).end();
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ keys: published.map((k) => keys[k]!.pub) }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const common = `partner: g7-fvey, audiences: [${AUD}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested`;
  gw = await startTestGateway({
    extra: `identity:
  key_fetch_cooldown_ms: 1
  providers:
    - { id: aged, issuer: "${AGED}", jwks: { keys: [${JSON.stringify(keys.inline!.pub)}] }, max_token_age_s: 60, ${common} }
    - { id: rot, issuer: "${base}/rot", jwks_uri: "${base}/rot/jwks", ${common} }
`,
  });
  // The background fetch at start: wait until the partner's keys are in memory.
  await keysFetched(gw.gateway.identity.keySet("rot"), "rot");
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await new Promise((r) => {
    server.close(r);
    server.closeAllConnections();
  });
});

function sign(kid: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ aud: AUD, nationality: ["DE"], ...claims })
    .setProtectedHeader({ alg: "ES256", kid })
    .sign(keys[kid]!.priv);
}

/** A token of the inline provider for `sub`, issued at `iat` (s), valid until `exp` (s). */
const aged = (sub: string, iat: number, exp: number, more: Record<string, unknown> = {}) =>
  sign("inline", { iss: AGED, sub, iat, exp, ...more });

/** "accepted", or the refusal's code. */
const outcome = (token: string, now?: number) =>
  gw.gateway.identity.authenticate(token, now).then(
    () => "accepted",
    (err: unknown) => (err as { code: string }).code,
  );

describe("the verified-token cache", () => {
  it("refuses a cached token past iat + max_token_age_s with token-too-old, as it would uncached", async () => {
    const t0 = 1_900_000_000_000;
    const s = t0 / 1000;
    const cached = await aged("anna", s, s + 7 * DAY);
    const first = await gw.gateway.identity.authenticate(cached, t0);
    expect(await gw.gateway.identity.authenticate(cached, t0 + 30_000)).toBe(first); // from the cache
    const never = await aged("bruno", s, s + 7 * DAY);
    for (const later of [t0 + 3_600_000, t0 + 6 * DAY * 1000]) {
      expect(await outcome(never, later)).toBe("token-too-old");
      expect(await outcome(cached, later)).toBe("token-too-old");
    }
  });

  it("refuses a cached token before nbf less the skew (a clock stepped back), as it would uncached", async () => {
    const t0 = 1_900_000_000_000;
    const s = t0 / 1000;
    // nbf 30 s ahead: within the 60 s skew, accepted.
    const cached = await aged("carla", s, s + 600, { nbf: s + 30 });
    await gw.gateway.identity.authenticate(cached, t0);
    const never = await aged("dora", s, s + 600, { nbf: s + 30 });
    expect(await outcome(never, t0 - 60_000)).toBe("token-not-yet-valid");
    expect(await outcome(cached, t0 - 60_000)).toBe("token-not-yet-valid");
  });

  it("refuses a cached token whose signing key the partner dropped, once the key set is fetched again", async () => {
    published = ["old", "new"];
    const now = Math.floor(Date.now() / 1000);
    const cached = await sign("old", { iss: `${base}/rot`, sub: "erik", iat: now, exp: now + 600 });
    const first = await gw.gateway.identity.authenticate(cached);
    expect(await gw.gateway.identity.authenticate(cached)).toBe(first); // from the cache

    published = ["new"]; // rotated after a compromise: "old" is gone
    const set = gw.gateway.identity.keySet("rot")!;
    const fetching = set.refresh();
    expect(fetching).not.toBeNull();
    await fetching;
    expect(set.kids).toEqual(["new"]);

    const never = await sign("old", { iss: `${base}/rot`, sub: "feng", iat: now, exp: now + 600 });
    expect(await outcome(never)).toBe("unknown-signing-key");
    expect(await outcome(cached)).toBe("unknown-signing-key");
    // The key kept still verifies.
    expect(
      await outcome(await sign("new", { iss: `${base}/rot`, sub: "erik", iat: now, exp: now + 600 })),
    ).toBe("accepted");
  });

  it("still serves a token from the cache within its bounds, until the earlier of exp and iat + max age", async () => {
    const t0 = 1_900_000_000_000;
    const s = t0 / 1000;
    // Bounded by max_token_age_s (60 s): served from the cache up to it; just past it (within the
    // skew, so still accepted) verified afresh, not served from the entry.
    const long = await aged("gina", s, s + 7 * DAY);
    const first = await gw.gateway.identity.authenticate(long, t0);
    expect(await gw.gateway.identity.authenticate(long, t0 + 1_000)).toBe(first);
    expect(await gw.gateway.identity.authenticate(long, t0 + 59_999)).toBe(first);
    const past = await gw.gateway.identity.authenticate(long, t0 + 61_000);
    expect(past).not.toBe(first);
    expect(past.principal.id).toBe(first.principal.id);

    // Bounded by exp (30 s, before the max age).
    const short = await aged("hana", s, s + 30);
    const one = await gw.gateway.identity.authenticate(short, t0);
    expect(await gw.gateway.identity.authenticate(short, t0 + 29_999)).toBe(one);
    expect(await gw.gateway.identity.authenticate(short, t0 + 31_000)).not.toBe(one);

    // A fetch that keeps the key: verified again once against the keys fetched, then cached again.
    published = ["old", "new"];
    const now = Math.floor(Date.now() / 1000);
    const token = await sign("new", { iss: `${base}/rot`, sub: "ida", iat: now, exp: now + 600 });
    const before = await gw.gateway.identity.authenticate(token);
    expect(await gw.gateway.identity.authenticate(token)).toBe(before);
    await gw.gateway.identity.keySet("rot")!.refresh();
    const after = await gw.gateway.identity.authenticate(token);
    expect(after.principal.id).toBe(before.principal.id);
    expect(await gw.gateway.identity.authenticate(token)).toBe(after);
  });

  it("notes a person seen on a cached token: last_seen follows the uses, a minute apart", async () => {
    published = ["old", "new"];
    const t0 = Date.now();
    const now = Math.floor(t0 / 1000);
    const token = await sign("new", { iss: `${base}/rot`, sub: "jana", iat: now, exp: now + 600 });
    const first = await gw.gateway.identity.authenticate(token, t0);
    await gw.gateway.identity.flush();
    const later = t0 + 5 * 60_000;
    expect(await gw.gateway.identity.authenticate(token, later)).toBe(first); // from the cache
    await gw.gateway.identity.flush();
    // Before the fix: last_seen stayed at the first use for as long as the token was cached.
    expect(await gw.gateway.store.federated.get("fed:rot:jana")).toMatchObject({
      first_seen: new Date(t0).toISOString(),
      last_seen: new Date(later).toISOString(),
    });
  });

  it("an older token still cached does not replace a newer token's facts before they are written", async () => {
    published = ["old", "new"];
    const t0 = Date.now();
    const now = Math.floor(t0 / 1000);
    const older = await sign("new", { iss: `${base}/rot`, sub: "kai", iat: now - 600, exp: now + 600 });
    await gw.gateway.identity.authenticate(older, t0);
    await gw.gateway.identity.flush();
    const newer = await sign("new", {
      iss: `${base}/rot`,
      sub: "kai",
      nationality: ["DE", "FR"],
      iat: now - 10,
      exp: now + 600,
    });
    await gw.gateway.identity.authenticate(newer, t0 + 5 * 60_000);
    // The older token, from the cache a minute after its last note, before the newer is written.
    await gw.gateway.identity.authenticate(older, t0 + 5 * 60_000 + 1_000);
    await gw.gateway.identity.flush();
    const stored = await gw.gateway.store.federated.get("fed:rot:kai");
    expect(stored?.issued_at).toBe(now - 10);
    expect(stored?.principal.citizenships?.map((c) => c.country)).toEqual(["DE", "FR"]);
    expect(stored?.last_seen).toBe(new Date(t0 + 5 * 60_000 + 1_000).toISOString());
  });

  it("a write that fails puts the newer token's facts back, not an older token's noted meanwhile", async () => {
    published = ["old", "new"];
    const t0 = Date.now();
    const now = Math.floor(t0 / 1000);
    const older = await sign("new", { iss: `${base}/rot`, sub: "lena", iat: now - 600, exp: now + 600 });
    await gw.gateway.identity.authenticate(older, t0);
    await gw.gateway.identity.flush();
    const newer = await sign("new", {
      iss: `${base}/rot`,
      sub: "lena",
      nationality: ["DE", "FR"],
      iat: now - 10,
      exp: now + 600,
    });
    await gw.gateway.identity.authenticate(newer, t0 + 5 * 60_000);
    const federated = gw.gateway.store.federated;
    const record = federated.record.bind(federated);
    // The store out of reach while the newer record is on its way; the older token used meanwhile.
    federated.record = async () => {
      await gw.gateway.identity.authenticate(older, t0 + 5 * 60_000 + 1_000);
      throw new Error("the store is out of reach");
    };
    try {
      await gw.gateway.identity.flush();
    } finally {
      federated.record = record;
    }
    await gw.gateway.identity.flush();
    const stored = await gw.gateway.store.federated.get("fed:rot:lena");
    // Before: the older token's facts (DE alone) were written, the newer's never put back.
    expect(stored?.issued_at).toBe(now - 10);
    expect(stored?.principal.citizenships?.map((c) => c.country)).toEqual(["DE", "FR"]);
  });
});
