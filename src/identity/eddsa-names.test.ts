/**
 * Ed25519 has two names for one algorithm: `EdDSA` (RFC 8037) and `Ed25519` (RFC 9864's fully
 * specified name). A partner whose key set names one while its signer writes the other is the same
 * key and the same signature, so the pair is accepted both ways; any other difference between the
 * key's `alg` and the token's is still refused. jose 6 matches a key's `alg` to the token's exactly,
 * so it alone refused the pair. The keys are the test's own, inline.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { clockedKeySet } from "../testing/key-sets.js";
import { parseToken, verifyToken } from "./verify.js";

const AUD = "urn:clearance:gateway";
const ISS = "https://eddsa.example";
const keys: Record<string, { priv: CryptoKey; pub: JWK }> = {};

beforeAll(async () => {
  for (const [name, alg] of [
    ["ed", "Ed25519"],
    ["rsa", "PS256"],
  ] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    keys[name] = { priv: privateKey, pub: await exportJWK(publicKey) };
  }
});

/** "verified" or the refusal's code: a token signed by `key` with header `alg`, against `jwk`. */
function outcome(key: string, alg: string, jwk: JWK): Promise<string> {
  return outcomeAgainst(key, alg, [{ ...jwk, kid: "k", use: "sig" }], "k");
}

/**
 * The same against the key set `jwks`, the token naming `kid` (none when undefined), the provider
 * allowing `algorithms` (the schema's default when null).
 */
async function outcomeAgainst(
  key: string,
  alg: string,
  jwks: JWK[],
  kid?: string,
  algorithms: string[] | null = ["EdDSA", "Ed25519", "RS256", "PS256"],
): Promise<string> {
  const { record, set } = clockedKeySet(
    {
      id: "eddsa",
      issuer: ISS,
      audiences: [AUD],
      ...(algorithms === null ? {} : { algorithms }),
      jwks: { keys: jwks },
    },
    { fetchTimeoutMs: 1_000, cooldownMs: 1_000 },
  );
  const iat = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ nationality: ["DE"] })
    .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setSubject("anna")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(keys[key]!.priv);
  return verifyToken(token, parseToken(token, 16_384), record, set, Date.now()).then(
    () => "verified",
    (err: { code?: string }) => err.code ?? String(err),
  );
}

describe("the two names of Ed25519", () => {
  it("a key named Ed25519 verifies a token whose header says EdDSA, and the other way round", async () => {
    // Before the fix: both were refused as unknown-signing-key.
    expect(await outcome("ed", "EdDSA", { ...keys.ed!.pub, alg: "Ed25519" })).toBe("verified");
    expect(await outcome("ed", "Ed25519", { ...keys.ed!.pub, alg: "EdDSA" })).toBe("verified");
    // Each name with itself, and a key naming no algorithm, as before.
    expect(await outcome("ed", "EdDSA", { ...keys.ed!.pub, alg: "EdDSA" })).toBe("verified");
    expect(await outcome("ed", "Ed25519", { ...keys.ed!.pub, alg: "Ed25519" })).toBe("verified");
    expect(await outcome("ed", "Ed25519", keys.ed!.pub)).toBe("verified");
  });

  it("a key published under both names, naming no kid, verifies a token naming none", async () => {
    const both = [
      { ...keys.ed!.pub, alg: "EdDSA", use: "sig" },
      { ...keys.ed!.pub, alg: "Ed25519", use: "sig" },
    ];
    // Before the fix: both entries, their alg set aside, matched the token, refused for naming no kid
    // against several keys (which jose alone, matching EdDSA to one entry, had verified).
    expect(await outcomeAgainst("ed", "EdDSA", both)).toBe("verified");
    expect(await outcomeAgainst("ed", "Ed25519", both)).toBe("verified");
  });

  it("still refuses a token naming no kid against two Ed25519 keys, whatever their names", async () => {
    const { publicKey } = await generateKeyPair("Ed25519", { extractable: true });
    const other = { ...(await exportJWK(publicKey)), alg: "Ed25519", use: "sig" };
    const two = [{ ...keys.ed!.pub, alg: "EdDSA", use: "sig" }, other];
    expect(await outcomeAgainst("ed", "EdDSA", two)).toBe("unknown-signing-key");
    // The same key under both names but for different uses is not one entry either.
    const uses = [
      { ...keys.ed!.pub, alg: "EdDSA", use: "sig" },
      { ...keys.ed!.pub, alg: "Ed25519" },
    ];
    expect(await outcomeAgainst("ed", "EdDSA", uses)).toBe("unknown-signing-key");
  });

  it("still refuses any other difference between the key's alg and the token's", async () => {
    // An Ed25519 key that names another algorithm is used for none of Ed25519's names.
    expect(await outcome("ed", "EdDSA", { ...keys.ed!.pub, alg: "ES256" })).toBe("unknown-signing-key");
    expect(await outcome("ed", "Ed25519", { ...keys.ed!.pub, alg: "RS256" })).toBe("unknown-signing-key");
    // An RSA key named RS256 verifies no PS256 token, though the key would.
    expect(await outcome("rsa", "PS256", { ...keys.rsa!.pub, alg: "RS256" })).toBe("unknown-signing-key");
    expect(await outcome("rsa", "PS256", { ...keys.rsa!.pub, alg: "PS256" })).toBe("verified");
  });

  it("the default allow-list, and a list naming either name, take tokens under both", async () => {
    const ed = [{ ...keys.ed!.pub, kid: "k", use: "sig" }];
    const rsa = [{ ...keys.rsa!.pub, kid: "k", use: "sig" }];
    // Before the fix: the default named EdDSA only, and a list is matched name for name, so each
    // of these was refused as token-algorithm ("alg Ed25519 is not allowed for eddsa").
    expect(await outcomeAgainst("ed", "Ed25519", ed, "k", null)).toBe("verified");
    expect(await outcomeAgainst("ed", "Ed25519", ed, "k", ["EdDSA"])).toBe("verified");
    expect(await outcomeAgainst("ed", "EdDSA", ed, "k", ["Ed25519"])).toBe("verified");
    expect(await outcomeAgainst("ed", "EdDSA", ed, "k", null)).toBe("verified");
    // A list naming neither takes neither, and naming one admits nothing else.
    expect(await outcomeAgainst("ed", "Ed25519", ed, "k", ["RS256"])).toBe("token-algorithm");
    expect(await outcomeAgainst("ed", "EdDSA", ed, "k", ["ES256"])).toBe("token-algorithm");
    expect(await outcomeAgainst("rsa", "PS256", rsa, "k", ["EdDSA"])).toBe("token-algorithm");
  });
});
