/**
 * A provider's key set as the partner changes it: a key replaced under the same kid is picked up on
 * the same terms as a new kid (one fetch per cooldown, shared; no wait within it); a change of the
 * provider's refetch intervals alone keeps the keys held; a fetched key set listing more keys than
 * an inline one may is refused as a failed fetch, the keys held kept. The partner's keys
 * are the test's own, served from a loopback server it controls; where the cooldown is the point,
 * the key set's clock is the test's.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { asAdmin } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { clockedKeySet, fetchSettled, keysFetched } from "../testing/key-sets.js";
import type { KeySet } from "./keys.js";
import type { ProviderRecord } from "./schema.js";
import { parseToken, verifyToken } from "./verify.js";

const AUD = "urn:clearance:gateway";
let server: Server;
let base: string;
let gw: TestGateway;
const pairs: Record<string, { priv: CryptoKey; pub: JWK }> = {};
/** What each path of the loopback server answers: the key pairs it publishes, each under kid "k". */
const published = new Map<string, string[]>();
const hits = new Map<string, number>();

async function keyPair(name: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  pairs[name] = { priv: privateKey, pub: { ...(await exportJWK(publicKey)), alg: "ES256", use: "sig" } };
}

beforeAll(async () => {
  await Promise.all(["a", "b", "forger"].map(keyPair));
  server = createServer((req, res) => {
    const path = req.url ?? "/";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const names = published.get(path);
    if (names === undefined) return void res.writeHead(404).end();
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ keys: names.map((n) => ({ ...pairs[n]!.pub, kid: "k" })) }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ids = ["reuse", "retime", "many"];
  for (const id of ids) published.set(`/${id}/jwks`, ["a"]);
  const provider = (id: string) =>
    `    - { partner: g7-fvey, id: ${id}, issuer: "${base}/${id}", jwks_uri: "${base}/${id}/jwks", audiences: [${AUD}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested }\n`;
  gw = await startTestGateway({
    extra: `identity:
  key_fetch_cooldown_ms: 1
  providers:
${ids.map(provider).join("")}`,
  });
  for (const id of ids) await keysFetched(gw.gateway.identity.keySet(id), id);
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await new Promise((r) => {
    server.close(r);
    server.closeAllConnections();
  });
});

/** A token of the provider at `path`, signed by `pair`, naming kid "k"; issued at `iat` (s). */
function sign(path: string, pair: string, iat = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ nationality: ["DE"] })
    .setProtectedHeader({ alg: "ES256", kid: "k" })
    .setIssuer(`${base}${path}`)
    .setAudience(AUD)
    .setSubject("anna")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(pairs[pair]!.priv);
}

async function chat(token: string): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, ...(body.error === undefined ? {} : { code: body.error.code }) };
}

describe("a key replaced under the same kid", () => {
  it("verifies the new key's tokens after one key-set fetch, at the gateway", async () => {
    expect(await chat(await sign("/reuse", "a"))).toEqual({ status: 200 });
    published.set("/reuse/jwks", ["b"]); // the partner rotates, keeping the kid
    const before = hits.get("/reuse/jwks") ?? 0;
    // Before the fix: 401 token-signature until the next scheduled fetch (keys_max_age_s).
    expect(await chat(await sign("/reuse", "b"))).toEqual({ status: 200 });
    expect((hits.get("/reuse/jwks") ?? 0) - before).toBe(1);
    expect(await chat(await sign("/reuse", "b"))).toEqual({ status: 200 });
    expect((hits.get("/reuse/jwks") ?? 0) - before).toBe(1);
    // The key replaced is gone from the set: its tokens no longer verify.
    expect(await chat(await sign("/reuse", "a"))).toEqual({ status: 401, code: "token-signature" });
  });

  it("costs at most one fetch per cooldown, as an unknown kid does; within it the token is refused at once", async () => {
    let clock = 1_900_000_000_000;
    published.set("/cool/jwks", ["a"]);
    const { record, set } = clockedKeySet(
      { id: "cool", issuer: `${base}/cool`, jwks_uri: `${base}/cool/jwks`, audiences: [AUD] },
      { fetchTimeoutMs: 2000, cooldownMs: 10_000 },
      () => clock,
    );
    await set.refresh();
    expect(set.fetches).toBe(1);
    const iat = Math.floor(clock / 1000);
    const check = async (token: string) =>
      verifyToken(token, parseToken(token, 8192), record, set, clock).then(
        (v) => `accepted ${v.keyId}`,
        (err: unknown) => (err as { code: string }).code,
      );

    // Forged under the known kid, within the cooldown of the first fetch: refused, nothing fetched.
    expect(await check(await sign("/cool", "forger", iat))).toBe("token-signature");
    expect(set.fetches).toBe(1);

    published.set("/cool/jwks", ["b"]);
    clock += 10_001; // past the cooldown
    const replaced = await sign("/cool", "b", iat);
    // 100 at once: one fetch, shared; each verified with the key fetched.
    const outcomes = await Promise.all(Array.from({ length: 100 }, () => check(replaced)));
    expect(new Set(outcomes)).toEqual(new Set(["accepted k"]));
    expect(set.fetches).toBe(2);

    // A storm of forgeries right after: refused at once, no further fetch within the cooldown…
    for (let i = 0; i < 50; i++)
      expect(await check(await sign("/cool", "forger", iat))).toBe("token-signature");
    expect(set.fetches).toBe(2);
    // …and one after it, which changes nothing: still refused.
    clock += 10_001;
    expect(await check(await sign("/cool", "forger", iat))).toBe("token-signature");
    expect(set.fetches).toBe(3);
    expect(await check(replaced)).toBe("accepted k");
  });
});

describe("two keys published under one kid (a rotation keeping the kid, both live)", () => {
  it("tries each: a token of either is verified; a forgery is refused as one", async () => {
    published.set("/twin/jwks", ["a", "b"]);
    const clock = 1_900_000_000_000;
    const { record, set } = clockedKeySet(
      { id: "twin", issuer: `${base}/twin`, jwks_uri: `${base}/twin/jwks`, audiences: [AUD] },
      { fetchTimeoutMs: 2000, cooldownMs: 10_000 },
      () => clock,
    );
    await set.refresh();
    expect(set.kids).toEqual(["k", "k"]);
    const check = async (pair: string) => {
      const token = await sign("/twin", pair, Math.floor(clock / 1000));
      return verifyToken(token, parseToken(token, 8192), record, set, clock).then(
        (v) => `accepted ${v.keyId}`,
        (err: unknown) => `${(err as { code: string }).code}: ${(err as Error).message}`,
      );
    };
    // Before the fix: both refused, "unknown-signing-key: the token names no kid and twin has
    // several keys", though each token names kid k and the provider publishes its key.
    expect(await check("a")).toBe("accepted k");
    expect(await check("b")).toBe("accepted k");
    expect(await check("forger")).toBe("token-signature: the token's signature does not verify");
  });
});

describe("a change of the provider's key intervals only", () => {
  it("keeps the keys held: the provider's tokens are served while its endpoint is down", async () => {
    const before = gw.gateway.identity.keySet("retime")!;
    expect(before.kids).toEqual(["k"]);
    expect(await chat(await sign("/retime", "a"))).toEqual({ status: 200 });
    published.delete("/retime/jwks"); // the partner's endpoint fails from now on (404)
    const update = (body: object) =>
      asAdmin(gw, "POST", "/admin/v1/partners/g7-fvey/identity-providers/retime", {
        ...body,
        reason: "refetch more often",
      });
    await update({ keys_max_age_s: 120, keys_max_stale_s: 7_200 });
    const after = gw.gateway.identity.keySet("retime")!;
    // Before the fix: a new, empty key set, whose first fetch fails: 401 identity-provider-unavailable
    // for as long as the endpoint is down, though the keys held were good for keys_max_stale_s.
    expect(await chat(await sign("/retime", "a"))).toEqual({ status: 200 });
    expect(after).toBe(before);
    expect(after.provider).toMatchObject({ keys_max_age_s: 120, keys_max_stale_s: 7_200 });
    expect(after.kids).toEqual(["k"]);

    // Where the keys come from changing is another key set, fetched afresh (here: failing, refused).
    await update({ jwks_uri: `${base}/retime/moved` });
    expect(gw.gateway.identity.keySet("retime")).not.toBe(before);
    expect(await chat(await sign("/retime", "a"))).toEqual({
      status: 401,
      code: "identity-provider-unavailable",
    });
  });
});

describe("a staleness bound shorter than the refetch age", () => {
  it("refetches the keys before they go stale: the provider's tokens are served while its endpoint answers", async () => {
    let clock = 1_900_000_000_000;
    published.set("/brief/jwks", ["a"]);
    // keys_max_stale_s under the default keys_max_age_s (3600): an operator bounding how long keys
    // serve while the endpoint fails, and leaving the refetch age alone.
    const { record, set } = clockedKeySet(
      {
        id: "brief",
        issuer: `${base}/brief`,
        jwks_uri: `${base}/brief/jwks`,
        audiences: [AUD],
        keys_max_stale_s: 600,
      },
      { fetchTimeoutMs: 2000, cooldownMs: 10_000 },
      () => clock,
    );
    set.maintain(); // the first fetch, as the gateway's upkeep starts it
    await fetchSettled(set);
    expect(set.fetchedAt, set.lastError ?? "").not.toBeNull();
    const check = async () => {
      const token = await sign("/brief", "a", Math.floor(clock / 1000));
      return verifyToken(token, parseToken(token, 8192), record, set, clock).then(
        (v) => `accepted ${v.keyId}`,
        (err: unknown) => (err as { code: string }).code,
      );
    };
    // The gateway's upkeep (identity.maintain_ms), every 10 s of the test's clock, for 20 minutes;
    // the endpoint answers throughout, and every request meanwhile is served.
    for (let s = 10; s <= 1_200; s += 10) {
      clock += 10_000;
      set.maintain();
      await fetchSettled(set); // a fetch started: done
      // Before the fix: refetched only after 3600 s, so from 600 s on the keys were past their
      // staleness bound and the tokens refused (identity-provider-unavailable, "could not be
      // refreshed for over 600 s" though no fetch had failed), until a refusal started a fetch.
      expect(await check(), `at ${s} s`).toBe("accepted k");
    }
    expect(set.lastError).toBeNull();
    expect(set.fetches).toBe(4); // at 0, 310, 620 and 930 s: every half of the bound, not each request
  });
});

describe("a fetched key set listing more keys than an inline one may (100)", () => {
  it("is refused as a failed fetch: the keys held stay, and lastError says why", async () => {
    const set = gw.gateway.identity.keySet("many")!;
    expect(set.kids).toEqual(["k"]);
    const refetch = async () => {
      const fetching = set.refresh();
      expect(fetching).not.toBeNull();
      await fetching;
    };
    published.set("/many/jwks", Array<string>(101).fill("b"));
    await refetch();
    // Before the fix: all 101 installed (up to ~20,000 within the 256 KiB bound), lastError null.
    expect(set.lastError).toBe(`${base}/many/jwks lists 101 keys; at most 100 are accepted`);
    expect(set.kids).toEqual(["k"]);
    expect(await chat(await sign("/many", "a"))).toEqual({ status: 200 });
    expect(await chat(await sign("/many", "b"))).toEqual({ status: 401, code: "token-signature" });

    published.set("/many/jwks", Array<string>(100).fill("b")); // at the bound: accepted
    await refetch();
    expect(set.lastError).toBeNull();
    expect(set.kids).toHaveLength(100);
  });
});

describe("the wall clock stepped back (NTP correcting a clock that ran ahead, `date -s`)", () => {
  afterEach(() => vi.restoreAllMocks());

  /** The monotonic clock `ms` on from now, and the wall clock `ms` on and then `back` ms back. */
  function elapse(ms: number, back: number) {
    const mono = performance.now.bind(performance);
    const wall = Date.now.bind(Date);
    vi.spyOn(performance, "now").mockImplementation(() => mono() + ms);
    vi.spyOn(Date, "now").mockImplementation(() => wall() + ms - back);
  }
  const verify = (id: string, pair: string, set: KeySet, record: ProviderRecord) =>
    sign(`/${id}`, pair).then((token) =>
      verifyToken(token, parseToken(token, 8192), record, set, Date.now()).then(
        (v) => `accepted ${v.keyId}`,
        (err: unknown) => (err as { code: string }).code,
      ),
    );
  const provider = (id: string) => ({
    id,
    issuer: `${base}/${id}`,
    jwks_uri: `${base}/${id}/jwks`,
    audiences: [AUD],
    keys_max_stale_s: 600,
  });

  it("does not keep keys past keys_max_stale_s usable while their endpoint fails", async () => {
    published.set("/back/jwks", ["a"]);
    // The gateway's own clocks, as it builds its key sets.
    const { record, set } = clockedKeySet(provider("back"), { fetchTimeoutMs: 2000, cooldownMs: 10_000 });
    await set.refresh();
    expect(await verify("back", "a", set, record)).toBe("accepted k");
    published.delete("/back/jwks"); // the partner's endpoint fails from now on

    // 601 s on, past the bound; meanwhile the wall clock stepped back an hour.
    elapse(601_000, 3_600_000);
    // Before the fix: usable, and the token accepted for the hour the clock stepped (the staleness
    // was timed on the wall clock, which said the keys were fetched 50 minutes from now).
    expect(set.usable()).toBe(false);
    expect(await verify("back", "a", set, record)).toBe("identity-provider-unavailable");
    expect(set.fetches).toBe(2); // and a refetch tried, though the wall clock says the last was ahead
  });

  it("refetches keys past their age as if the clock had not moved: a withdrawn key no longer verifies", async () => {
    published.set("/ahead/jwks", ["a"]);
    // The gateway's own clocks, as it builds its key sets.
    const { record, set } = clockedKeySet(provider("ahead"), { fetchTimeoutMs: 2000, cooldownMs: 10_000 });
    await set.refresh();
    published.set("/ahead/jwks", ["b"]); // the partner rotates: key a withdrawn

    // 301 s on (past half the staleness bound, and the cooldown); the wall clock stepped back an hour.
    elapse(301_000, 3_600_000);
    // Before the fix: the upkeep fetched nothing for the hour, and key a, withdrawn, verified.
    set.maintain();
    await fetchSettled(set);
    expect(set.fetches).toBe(2);
    expect(await verify("ahead", "a", set, record)).toBe("token-signature");
    expect(await verify("ahead", "b", set, record)).toBe("accepted k");
  });

  it("fetches for a key it does not hold once past the cooldown, as if the clock had not moved", async () => {
    published.set("/rotated/jwks", ["a"]);
    // The gateway's own clocks, as it builds its key sets.
    const { record, set } = clockedKeySet(provider("rotated"), { fetchTimeoutMs: 2000, cooldownMs: 10_000 });
    await set.refresh();
    published.set("/rotated/jwks", ["b"]); // the partner rotates

    // 11 s on, past the cooldown; the wall clock stepped back an hour.
    elapse(11_000, 3_600_000);
    // Before the fix: within the "cooldown" for the hour, the new key's tokens refused unfetched.
    expect(await verify("rotated", "b", set, record)).toBe("accepted k");
    expect(set.fetches).toBe(2);
  });
});
