/**
 * The attack matrix: every forged, broken or misdirected token is refused with 401 and a precise
 * code in the caller's wire format, never reaching the upstream; self-named keys (jku, x5u) are
 * never fetched; a storm of unknown kids costs at most one key-set fetch per cooldown; a key-set
 * endpoint that is down, slow or answers garbage fails closed. The partner's keys are the test's own,
 * served from a loopback server it controls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createPublicKey } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { clockedKeySet } from "../testing/key-sets.js";
import { KeySet } from "./keys.js";
import { providerInputSchema } from "./schema.js";
import { parseToken, verifyToken } from "./verify.js";

const AUD = "urn:clearance:gateway";
let server: Server;
let base: string;
let gw: TestGateway;
const hits = new Map<string, number>();
const keys: Record<string, { priv: CryptoKey; pub: JWK; alg: string }> = {};

async function keyPair(name: string, alg: "RS256" | "ES256" | "EdDSA") {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  keys[name] = { priv: privateKey, pub: { ...(await exportJWK(publicKey)), kid: name, alg }, alg };
}

function serve(req: IncomingMessage, res: ServerResponse) {
  const path = req.url ?? "/";
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const json = (v: unknown) =>
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(v));
  if (path === "/atk/jwks") {
    // The partner's key also published under odd kids (a lone surrogate, a control character, a
    // well-formed pair): the signature verifies, so only the kid's own check can refuse them.
    const rsa = keys["rsa-1"]!.pub;
    const odd = ODD_KIDS.map((kid) => ({ ...rsa, kid }));
    return json({ keys: [...["rsa-1", "ec-1", "ed-1"].map((k) => keys[k]!.pub), ...odd] });
  }
  if (path === "/other/jwks") return json({ keys: [keys["other-1"]!.pub] });
  if (path === "/slow/jwks") return void setTimeout(() => json({ keys: [keys["rsa-1"]!.pub] }), 6_000);
  if (path === "/garbage/jwks") return res.writeHead(200).end("<html>not json");
  if (path === "/down/jwks") return res.writeHead(503).end();
  // Entries that are no keys at all, next to a good one: the good one serves, the rest are ignored.
  if (path === "/odd/jwks") return json({ keys: [null, 42, "rsa-1", [], keys["rsa-1"]!.pub] });
  res.writeHead(404).end(); // /evil/…: must never be asked
}

const ODD_KIDS = ["rsa-\ud800", "rsa-\u0007", "rsa-\u{1F511}"];

const provider = (id: string, extra = "") =>
  `    - { partner: g7-fvey, id: ${id}, issuer: "${base}/${id}", jwks_uri: "${base}/${id}/jwks", audiences: [${AUD}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested${extra} }\n`;

beforeAll(async () => {
  await keyPair("rsa-1", "RS256");
  await keyPair("ec-1", "ES256");
  await keyPair("ed-1", "EdDSA");
  await keyPair("other-1", "RS256");
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gw = await startTestGateway({
    extra: `identity:
  key_fetch_timeout_ms: 2000
  providers:
${provider("atk")}${provider("other")}${provider("slow")}${provider("garbage")}${provider("down")}${provider("odd")}`,
  });
  // The background fetch at start: wait until the partner's keys are in memory (what the key set
  // last said of its fetch is reported if they never come).
  await eventually(
    async () => {
      const set = gw.gateway.identity.keySet("atk");
      return { usable: set?.usable() ?? false, lastError: set?.lastError };
    },
    (seen) => seen.usable,
  );
  // vitest's hookTimeout bounds it: eventually() gives up at half of that, saying what it saw (a
  // limit of its own here, under that half, would end the hook first, saying nothing).
});
afterAll(async () => {
  await gw?.gateway.close();
  await new Promise((r) => {
    server.close(r);
    server.closeAllConnections();
  });
});

const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  iss: `${base}/atk`,
  aud: AUD,
  sub: "mallory",
  iat: now(),
  exp: now() + 600,
  nationality: ["DE"],
  ...over,
});
async function sign(
  over: Record<string, unknown> = {},
  key = "rsa-1",
  header: Record<string, unknown> = {},
): Promise<string> {
  const k = keys[key]!;
  // jose signs a crit header only when told the extension is understood (the attacker's side).
  const crit = Array.isArray(header.crit) ? Object.fromEntries(header.crit.map((c) => [c, true])) : undefined;
  return new SignJWT(claims(over))
    .setProtectedHeader({ alg: k.alg, kid: key, ...header } as never)
    .sign(k.priv, crit === undefined ? {} : { crit });
}
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

async function send(token: string, wire: "openai" | "anthropic" = "openai") {
  const res = await fetch(`${gw.url}${wire === "openai" ? "/v1/chat/completions" : "/v1/messages"}`, {
    method: "POST",
    headers: {
      ...(wire === "openai" ? { authorization: `Bearer ${token}` } : { "x-api-key": token }),
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "x-test-country": "DE",
    },
    body: JSON.stringify({ model: "mythos-5", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, decision: res.headers.get("x-clearance-decision") };
}

/** 401, the code, in the OpenAI format; and the same in the Anthropic format. */
async function refused(token: string, code: string) {
  const o = await send(token, "openai");
  expect(o.status, JSON.stringify(o.body)).toBe(401);
  expect(o.body.error).toMatchObject({ code, type: "authentication_error" });
  expect(o.decision).toBe("none"); // nothing was decided, nothing forwarded
  const a = await send(token, "anthropic");
  expect(a.status).toBe(401);
  expect(a.body).toMatchObject({ type: "error", error: { type: "authentication_error", code } });
}

describe("the attack matrix", () => {
  it("a good token is served (the baseline every case below departs from)", async () => {
    expect((await send(await sign())).status).toBe(200);
    expect((await send(await sign({}, "ec-1"))).status).toBe(200);
    expect((await send(await sign({}, "ed-1"))).status).toBe(200);
  });

  it("alg none", async () => {
    await refused(`${b64({ alg: "none", kid: "rsa-1" })}.${b64(claims())}.`, "token-algorithm");
  });

  it("HS256 signed with the provider's public key as the secret (algorithm confusion)", async () => {
    const pem = createPublicKey({ key: keys["rsa-1"]!.pub as never, format: "jwk" }).export({
      type: "spki",
      format: "pem",
    });
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
      .sign(new TextEncoder().encode(String(pem)));
    await refused(token, "token-algorithm");
  });

  it("an alg that does not match the key's type (ES256 naming the RSA key)", async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: "ES256", kid: "rsa-1" })
      .sign(keys["ec-1"]!.priv);
    await refused(token, "unknown-signing-key");
  });

  it("a kid of another provider's key", async () => {
    await refused(await sign({}, "other-1"), "unknown-signing-key");
  });

  it("a forged signature", async () => {
    const [h, p] = (await sign()).split(".");
    const forged = await sign({ nationality: ["US"] });
    await refused(`${h}.${p}.${forged.split(".")[2]}`, "token-signature");
  });

  it("expired, not yet valid, issued in the future, issued too long ago (beyond the 60 s skew)", async () => {
    await refused(await sign({ exp: now() - 120 }), "token-expired");
    await refused(await sign({ nbf: now() + 600 }), "token-not-yet-valid");
    await refused(await sign({ iat: now() + 600 }), "token-issued-in-future");
    await refused(await sign({ iat: now() - 2 * 86_400 }), "token-too-old");
    // Within the skew: accepted.
    expect((await send(await sign({ exp: now() - 30 }))).status).toBe(200);
  });

  it("a wrong audience or issuer", async () => {
    await refused(await sign({ aud: "urn:someone-else" }), "token-audience");
    await refused(await sign({ iss: `${base}/atk/` }), "unknown-issuer");
    await refused(await sign({ iss: "https://evil.example" }), "unknown-issuer");
  });

  it("missing or malformed claims", async () => {
    await refused(await sign({ exp: undefined }), "token-claims");
    await refused(await sign({ exp: "tomorrow" }), "token-claims");
    await refused(await sign({ sub: undefined }), "token-claims");
    await refused(await sign({ sub: 42 }), "token-claims");
    // A lone surrogate (sent as the \ud800 escape): not Unicode, and it would be the principal's
    // id and the audit entry's subject, which RFC 8785 cannot hold. A well-formed pair is a subject.
    await refused(await sign({ sub: "mallory\ud800" }), "token-claims");
    await refused(await sign({ nationality: ["DE\udc00"] }), "token-claims");
    expect((await send(await sign({ sub: "mallory\u{1F600}" }))).status).toBe(200);
    await refused(await sign({ iss: undefined }), "token-claims");
    // A date that is no number is malformed, not "not yet valid" or "issued in the future".
    await refused(await sign({ nbf: "soon" }), "token-claims");
    await refused(await sign({ iat: "yesterday" }), "token-claims");
    // No audience at all: not for this gateway.
    await refused(await sign({ aud: undefined }), "token-audience");
  });

  it("a refusal names what is wrong and never echoes the token", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ nbf: "soon" }, "token-claims", /nbf/],
      [{ iat: "yesterday" }, "token-claims", /iat/],
      [{ aud: undefined }, "token-audience", /aud/],
      [{ exp: now() - 120 }, "token-expired", /expired/],
      [{ sub: "mallory\ud800" }, "token-claims", /subject claim is not valid Unicode \(a lone surrogate\)/],
      [
        { nationality: ["DE\udc00"] },
        "token-claims",
        /citizenships \(claim nationality\) cannot be read: DE\?/,
      ],
    ];
    for (const [over, code, names] of cases) {
      const token = await sign(over);
      const { body } = await send(token);
      const error = body.error as { code: string; message: string };
      expect(error.code, code).toBe(code);
      expect(error.message, code).toMatch(names);
      const text = JSON.stringify(body);
      for (const part of token.split(".")) expect(text).not.toContain(part);
    }
  });

  it("a token over the size limit", async () => {
    await refused(await sign({ padding: "x".repeat(9_000) }), "token-too-large");
  });

  it("broken base64, broken JSON, duplicate members", async () => {
    const good = (await sign()).split(".");
    await refused(`eyJ!!.${good[1]}.${good[2]}`, "token-malformed");
    await refused(`${b64('{"alg":"RS256"')}.${good[1]}.${good[2]}`, "token-malformed");
    await refused(`${good[0]}.${b64('{"iss":"x"')}.${good[2]}`, "token-malformed");
    await refused(
      `${b64('{"alg":"RS256","kid":"rsa-1","alg":"none"}')}.${good[1]}.${good[2]}`,
      "token-malformed",
    );
    await refused(
      `${good[0]}.${b64(`{"sub":"a","sub":"b","iss":"${base}/atk"}`)}.${good[2]}`,
      "token-malformed",
    );
    await refused("eyJ.a.b.c.d", "token-malformed"); // five parts: JWE
  });

  it("jku, x5u and an embedded jwk are refused, and the servers they name receive nothing", async () => {
    await refused(await sign({}, "rsa-1", { jku: `${base}/evil/jwks` }), "token-header");
    await refused(await sign({}, "rsa-1", { x5u: `${base}/evil/cert` }), "token-header");
    await refused(await sign({}, "rsa-1", { jwk: keys["rsa-1"]!.pub }), "token-header");
    expect([...hits.keys()].filter((p) => p.startsWith("/evil"))).toEqual([]);
  });

  it("a kid that the audit entry's key_id could not hold: a lone surrogate, a control character, not a string", async () => {
    // Published in the partner's key set and signed by its key: before, served, and the lone
    // surrogate written into the decision's entry as a \ud800 escape RFC 8785 cannot re-encode.
    await refused(await sign({}, "rsa-1", { kid: "rsa-\ud800" }), "token-header");
    await refused(await sign({}, "rsa-1", { kid: "rsa-\u0007" }), "token-header");
    await refused(await sign({}, "rsa-1", { kid: 7 }), "token-header");
    await refused(await sign({}, "rsa-1", { kid: "k".repeat(257) }), "token-header");
    const { body } = await send(await sign({}, "rsa-1", { kid: "rsa-\ud800" }));
    expect((body.error as { message: string }).message).toBe(
      "the token's kid header is not valid Unicode (a lone surrogate)",
    );
    // A well-formed pair is a kid like any other.
    expect((await send(await sign({}, "rsa-1", { kid: "rsa-\u{1F511}" }))).status).toBe(200);
  });

  it("a critical header the gateway does not process", async () => {
    await refused(await sign({}, "rsa-1", { crit: ["urn:x"], "urn:x": 1 }), "token-critical-header");
  });

  it("1,000 requests with random kids: at most one key-set fetch per cooldown", async () => {
    const before = hits.get("/atk/jwks") ?? 0;
    const tokens = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => sign({}, "rsa-1", { kid: `random-${i}-${Math.random()}` })),
    );
    let unknown = 0;
    for (let i = 0; i < tokens.length; i += 50) {
      const batch = await Promise.all(tokens.slice(i, i + 50).map((t) => send(t)));
      unknown += batch.filter(
        (r) => (r.body.error as { code?: string })?.code === "unknown-signing-key",
      ).length;
    }
    expect(unknown).toBe(1000);
    expect((hits.get("/atk/jwks") ?? 0) - before).toBeLessThanOrEqual(1);
  }, 120_000);

  it("a key-set endpoint that is down, slow or answers garbage: refused, identity-provider-unavailable", async () => {
    for (const id of ["down", "slow", "garbage"]) {
      const token = await sign({ iss: `${base}/${id}` });
      const r = await send(token);
      expect(r.status, id).toBe(401);
      expect(r.body.error, id).toMatchObject({ code: "identity-provider-unavailable" });
    }
  }, 30_000);
});

describe("a key set holding entries that are no keys", () => {
  it("ignores them (null, numbers, texts, lists) and verifies with the good key; the fetch never throws", async () => {
    // A null entry threw inside the fetch's success handler: an unhandled rejection, which ends a
    // Node process (every gateway node at its next key refresh, again after each restart).
    const input = providerInputSchema.parse({
      id: "odd",
      issuer: `${base}/odd`,
      jwks_uri: `${base}/odd/jwks`,
      audiences: [AUD],
    });
    const set = new KeySet(input, { fetchTimeoutMs: 2000, cooldownMs: 0, allowHttpLoopback: true });
    await expect(set.refresh()).resolves.toBeUndefined();
    expect(set.lastError).toBeNull();
    expect(set.kids).toEqual(["rsa-1"]);
    expect((await send(await sign({ iss: `${base}/odd` }))).status).toBe(200);
  });
});

describe("keys kept while the endpoint fails, for a bounded staleness", () => {
  it("serves from the cached keys, then fails closed past keys_max_stale_s", async () => {
    let clock = 1_000_000_000_000;
    let up = true;
    const jwksServer = createServer((_, res) =>
      up ? res.writeHead(200).end(JSON.stringify({ keys: [keys["rsa-1"]!.pub] })) : res.writeHead(500).end(),
    );
    await new Promise<void>((r) => jwksServer.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
      const { record, set } = clockedKeySet(
        {
          id: "stale",
          issuer: `${base}/atk`,
          jwks_uri: url,
          audiences: [AUD],
          keys_max_age_s: 60,
          keys_max_stale_s: 600,
        },
        { fetchTimeoutMs: 500, cooldownMs: 1000 },
        () => clock,
      );
      await set.refresh();
      expect(set.usable()).toBe(true);
      up = false;
      const t0 = Math.floor(clock / 1000);
      const token = await new SignJWT({ ...claims(), iat: t0, exp: t0 + 86_400 })
        .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
        .sign(keys["rsa-1"]!.priv);
      const parsed = parseToken(token, 8192);
      clock += 300_000; // endpoint down, keys 5 minutes old: still served from memory
      set.maintain();
      await expect(verifyToken(token, parsed, record, set, clock)).resolves.toMatchObject({ keyId: "rsa-1" });
      clock += 400_000; // past the 600 s staleness bound
      await expect(verifyToken(token, parsed, record, set, clock)).rejects.toMatchObject({
        code: "identity-provider-unavailable",
      });
    } finally {
      await new Promise((r) => jwksServer.close(r));
    }
  });
});
