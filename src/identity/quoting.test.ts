/**
 * What a token refusal or a provider's config check names, quoted: a token header's `alg` and `kid`
 * are the caller's text, and nothing before the algorithm check looks inside `alg` (no control nor
 * bidirectional character is refused there), so a refusal copying it raw acted on whoever read it (a
 * terminal, a log). The configured audiences, the console's client id and algorithm names are listed
 * bare when plain, quoted when not (one holding ", " must not read as two). The partner's key is the
 * test's own, registered inline.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { TEST_SCHEME_YAML } from "../testing/schemes.js";
import { Federation } from "./federation.js";
import { KeySet } from "./keys.js";
import { providerInputSchema, type ProviderRecord } from "./schema.js";
import { parseToken, verifyToken } from "./verify.js";

const ISSUER = "https://eid.quoting.example";
const AUD = "urn:clearance:gateway";
let key: CryptoKey;
let pub: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  pub = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: AUD,
  sub: "mallory",
  iat: now(),
  exp: now() + 600,
  ...over,
});

function provider(over: Record<string, unknown> = {}): { record: ProviderRecord; keys: KeySet } {
  const input = providerInputSchema.parse({
    id: "de-gov",
    issuer: ISSUER,
    jwks: { keys: [pub] },
    audiences: [AUD],
    ...over,
  });
  const record: ProviderRecord = { ...input, partner: "g7", created_at: "", created_by: "", removed: null };
  return {
    record,
    keys: new KeySet(input, { fetchTimeoutMs: 1000, cooldownMs: 0, allowHttpLoopback: false }),
  };
}

/** The refusal of `token` by provider `p` (its code and message). */
async function refusal(token: string, p = provider()): Promise<{ code: string; message: string }> {
  const parsed = parseToken(token, 8192);
  const err = await verifyToken(token, parsed, p.record, p.keys, Date.now()).then(
    () => expect.fail("the token was accepted"),
    (e: unknown) => e as { code: string; message: string },
  );
  return { code: err.code, message: err.message };
}

describe("a token's alg the provider does not allow", () => {
  const ALLOWED = "allowed: RS256, PS256, ES256, EdDSA, Ed25519";

  it("is quoted: a control or bidirectional character in it cannot act on whoever reads the refusal", async () => {
    // Before the fix: `alg RS256\u001b[2J is not allowed…`, the escape sequence raw (a terminal
    // showing the log cleared its screen), and the override reversed what followed it.
    expect(await refusal(`${b64({ alg: "RS256\u001b[2J", kid: "k1" })}.${b64(claims())}.c2ln`)).toEqual({
      code: "token-algorithm",
      message: `alg "RS256\\u001b[2J" is not allowed for de-gov; ${ALLOWED}`,
    });
    expect(await refusal(`${b64({ alg: "\u202eRS256\u009b", kid: "k1" })}.${b64(claims())}.c2ln`)).toEqual({
      code: "token-algorithm",
      message: `alg "\\u202eRS256\\u009b" is not allowed for de-gov; ${ALLOWED}`,
    });
    // A plain one is quoted as well: it is the caller's text, not a name the gateway knows.
    expect(await refusal(`${b64({ alg: "none", kid: "k1" })}.${b64(claims())}.`)).toEqual({
      code: "token-algorithm",
      message: `alg "none" is not allowed for de-gov; ${ALLOWED}`,
    });
  });

  it("is cut short when long (an algorithm's name is a few characters)", async () => {
    const alg = `ES256${"x".repeat(2000)}`;
    expect(await refusal(`${b64({ alg, kid: "k1" })}.${b64(claims())}.c2ln`)).toEqual({
      code: "token-algorithm",
      message: `alg "ES256${"x".repeat(35)}"… is not allowed for de-gov; ${ALLOWED}`,
    });
  });
});

describe("what else a token refusal names", () => {
  it("a kid no key has is quoted (a bidirectional character passes the kid's own check)", async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "k\u202e1" }).sign(key);
    // Before the fix: `no key k\u202e1 of …`, the override raw.
    expect(await refusal(token)).toEqual({
      code: "unknown-signing-key",
      message: 'no key "k\\u202e1" of de-gov verifies ES256 tokens',
    });
  });

  it("the audiences are listed bare when plain, quoted when not", async () => {
    const p = provider({ audiences: [AUD, "urn:a, urn:b", "urn:\u202ex"] });
    const other = await new SignJWT(claims({ aud: "urn:elsewhere" }))
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(key);
    // Before the fix: `… one of urn:clearance:gateway, urn:a, urn:b, urn:\u202ex`: four audiences
    // where three are configured, the last one's override raw.
    const listed = `urn:clearance:gateway, "urn:a, urn:b", "urn:\\u202ex"`;
    expect(await refusal(other, p)).toEqual({
      code: "token-audience",
      message: `the token is not for this gateway: aud must include one of ${listed}`,
    });
    const { aud: _aud, ...rest } = claims();
    const none = await new SignJWT(rest).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(key);
    expect(await refusal(none, p)).toEqual({
      code: "token-audience",
      message: `the token names no audience (aud); it must include one of ${listed}`,
    });
  });

  describe("the console's client id a gateway token also names", () => {
    let dir: string;
    let store: Store;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "clearance-quoting-"));
      store = await openStore({ driver: "sqlite", dataDir: dir });
    });
    afterAll(async () => {
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("is quoted when not plain", async () => {
      const { record } = provider({ console: { client_id: "console\u202e" } });
      const snapshot = {
        federation: {
          providers: [
            {
              collection: "identity-provider" as const,
              id: "de-gov",
              revision: 1,
              updatedAt: "",
              document: record,
            },
          ],
          blocked: new Map(),
        },
        scheme: parseScheme(TEST_SCHEME_YAML),
      };
      const federation = new Federation({
        source: () => snapshot,
        store,
        maxTokenBytes: 8192,
        cooldownMs: 1,
        fetchTimeoutMs: 1000,
        allowHttpLoopback: false,
        tokenCache: 0,
        maintainMs: 60_000,
      });
      const token = await new SignJWT(claims({ aud: [AUD, "console\u202e"] }))
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .sign(key);
      // Before the fix: `… names the console's client id console\u202e of de-gov: …`, raw.
      await expect(federation.authenticate(token)).rejects.toMatchObject({
        code: "token-audience",
        message: `the token's aud also names the console's client id "console\\u202e" of de-gov: a token that signs in to the console never calls a model`,
      });
      await federation.close();
    });
  });
});

describe("a provider's algorithms, checked", () => {
  const issues = (algorithms: string[]) =>
    providerInputSchema
      .safeParse({ id: "de-gov", issuer: ISSUER, jwks: { keys: [pub] }, audiences: [AUD], algorithms })
      .error?.issues.map((i) => i.message);

  it("names an unknown or refused one bare when plain, quoted when not", () => {
    // Before the fix: `unknown algorithm XS256\u001b[2J; …` and `HS256\u202e cannot be…`, raw.
    expect(issues(["XS256\u001b[2J", "HS256\u202e", "XS256", "HS256"])).toEqual([
      'unknown algorithm "XS256\\u001b[2J"; expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519',
      '"HS256\\u202e" cannot be configured: a shared secret or no signature lets anyone holding the key mint tokens; use RS256, PS256, ES256, EdDSA, Ed25519',
      "unknown algorithm XS256; expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519",
      "HS256 cannot be configured: a shared secret or no signature lets anyone holding the key mint tokens; use RS256, PS256, ES256, EdDSA, Ed25519",
    ]);
  });
});
