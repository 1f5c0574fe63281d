/**
 * A token nested thousands of levels deep (possible with identity.max_token_bytes and
 * listen.max_header_bytes raised near 64 KiB): what the refusal shows of a value is rendered only as
 * far as it is shown, so the refusal is the 401 it should be, never a 500 from an overflowed stack.
 * So for a discovery document naming another issuer: the key fetch's error says which, briefly.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { clockedKeySet } from "../testing/key-sets.js";
import { jsonPreview } from "./json.js";

const ISSUER = "https://eid.deep.example";
const AUD = "urn:clearance:gateway";
const DEPTH = 20_000;
let gw: TestGateway;
let key: CryptoKey;

/** [[[…]]], DEPTH levels deep, as JSON text (JSON.stringify, in jose too, would overflow writing it). */
const DEEP = `${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}`;
/** Stands for DEEP in the claims given to sign(). */
const deep = "@deep@";

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const pub = JSON.stringify({ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" });
  gw = await startTestGateway({
    listen: "{ host: 127.0.0.1, port: 0, max_header_bytes: 131072 }",
    extra: `identity:
  max_token_bytes: 65536
  providers:
    - { partner: g7-fvey, id: deep, issuer: "${ISSUER}", jwks: { keys: [${pub}] }, audiences: [${AUD}], claims: { citizenships: nationality, residence: residence, display_name: name }, assurance: { level: attested }, max_assurance: attested }
`,
  });
});
afterAll(() => gw?.gateway.close());

async function chat(token: string): Promise<{ status: number; code: string | undefined; message: string }> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-test-country": "DE" },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code?: string; message?: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message ?? "" };
}

/** A token with these claims, signed by hand: `deep` stands for DEEP. */
const sign = (claims: Record<string, unknown>) => {
  const now = Math.floor(Date.now() / 1000);
  const payload = JSON.stringify({
    iss: ISSUER,
    aud: AUD,
    sub: "deep",
    iat: now,
    exp: now + 600,
    nationality: ["DE"],
    ...claims,
  }).replace(`"${deep}"`, DEEP);
  return new CompactSign(Buffer.from(payload)).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(key);
};

describe("a token nested thousands of levels deep", () => {
  it("a deep crit header is refused as token-critical-header", async () => {
    // jose refuses crit before signing, so the header is written by hand (no signature is checked).
    const header = Buffer.from(`{"alg":"ES256","kid":"k1","crit":${DEEP}}`).toString("base64url");
    const [, payload, signature] = (await sign({})).split(".");
    const r = await chat(`${header}.${payload}.${signature}`);
    // Before the fix: 500 (JSON.stringify of the crit value overflowed the stack).
    expect(r).toMatchObject({ status: 401, code: "token-critical-header" });
    expect(r.message).toContain("crit: [[[[");
  });

  it("a deep citizenship or residence is refused as token-claims, naming the claim", async () => {
    const nationality = await chat(await sign({ nationality: deep }));
    // Before the fix: 500 (shown() of the unreadable value overflowed the stack).
    expect(nationality).toMatchObject({ status: 401, code: "token-claims" });
    expect(nationality.message).toMatch(/citizenships \(claim nationality\) cannot be read: \[\[\[\[/);
    const residence = await chat(await sign({ residence: deep }));
    expect(residence).toMatchObject({ status: 401, code: "token-claims" });
    expect(residence.message).toMatch(/residence \(claim residence\) cannot be read/);
  });

  it("a deep display name is set aside and the token served", async () => {
    expect((await chat(await sign({ name: { a: deep } }))).status).toBe(200);
  });

  it("jsonPreview is JSON.stringify's text as far as it is shown", () => {
    const values: unknown[] = [
      null,
      true,
      -1.5e-7,
      'x\u0000\ud800"',
      [],
      {},
      [1, [2, [3, { a: "b", "c\nd": [null, false] }]]],
      { __proto__: [1], x: { y: { z: "long ".repeat(40) } } },
      JSON.parse('{"__proto__":{"a":1},"b":[{},[]]}'),
    ];
    for (const v of values) {
      const full = JSON.stringify(v);
      expect(jsonPreview(v, 1000), full).toBe(full);
      for (const max of [1, 5, 20, 60]) {
        const cut = jsonPreview(v, max);
        expect(cut.slice(0, max), `${full} at ${max}`).toBe(full.slice(0, max));
        expect(cut.length >= max || cut === full, `${full} at ${max}`).toBe(true);
      }
    }
    expect(jsonPreview(JSON.parse(DEEP), 80)).toBe("[".repeat(80));
  });

  it("a discovery document naming a deep or huge issuer: the fetch's error shows it briefly", async () => {
    const issuers = [DEEP, JSON.stringify("x".repeat(100_000))];
    const server = createServer((_req, res) =>
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(`{"issuer":${issuers.shift() ?? "null"},"jwks_uri":"http://127.0.0.1:1/jwks"}`),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const timing = { fetchTimeoutMs: 2000, cooldownMs: 0 };
      const provider = { id: "disc", issuer: base, discovery: true, audiences: [AUD] };
      for (const start of [
        "the discovery document names issuer [[[[",
        "the discovery document names issuer xxx",
      ]) {
        const { set } = clockedKeySet(provider, timing, Date.now);
        await set.refresh();
        // Before the fix: "Maximum call stack size exceeded", then a 100,000-character message,
        // carried by every refusal of the provider's tokens (identity-provider-unavailable).
        expect(set.lastError?.startsWith(start), set.lastError?.slice(0, 100)).toBe(true);
        expect(set.lastError!.length).toBeLessThan(200);
      }
    } finally {
      server.close();
    }
  });
});
