import { describe, expect, it } from "vitest";
import { generateApiKey, generateKeyId, hashSecret, isKeyId, parseApiKey, verifySecret } from "./keys.js";

describe("API keys", () => {
  it("generates clr_<12 base32>_<43 base64url> and parses back", () => {
    const g = generateApiKey();
    expect(g.key).toMatch(/^clr_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$/);
    expect(g.key).toBe(`clr_${g.id}_${g.secret}`);
    expect(Buffer.from(g.secret, "base64url")).toHaveLength(32);
    expect(parseApiKey(g.key)).toEqual({ id: g.id, secret: g.secret });
    expect(g.hash).toBe(hashSecret(g.secret));
    expect(verifySecret(g.secret, g.hash)).toBe(true);
  });

  it("generates distinct ids and secrets", () => {
    const keys = Array.from({ length: 1000 }, () => generateApiKey());
    expect(new Set(keys.map((k) => k.id)).size).toBe(1000);
    expect(new Set(keys.map((k) => k.secret)).size).toBe(1000);
    expect(keys.every((k) => isKeyId(k.id))).toBe(true);
    expect(isKeyId(generateKeyId())).toBe(true);
  });

  it("parses by position, so a secret may contain _ and -", () => {
    const secret = Buffer.alloc(32, 0xff).toString("base64url"); // "____...8"
    expect(secret).toContain("_");
    expect(parseApiKey(`clr_abcdefgh2345_${secret}`)).toEqual({ id: "abcdefgh2345", secret });
  });

  it("rejects anything not exactly a key", () => {
    const { key, id, secret } = generateApiKey();
    const lastBits = `${secret.slice(0, 42)}B`; // "B" = 000001: its spare bits are not zero
    for (const bad of [
      "",
      key.slice(4),
      `CLR_${key.slice(4)}`,
      `sk_${key.slice(4)}`,
      ` ${key}`,
      `${key}\n`,
      `${key}=`,
      key.slice(0, -1),
      `${key}A`,
      `clr_${id.toUpperCase()}_${secret}`,
      `clr_${id.slice(1)}_${secret}`,
      `clr_${id}1_${secret}`, // 1 is not base32
      `clr_${id}-${secret}`,
      `clr_${id}_${secret.slice(0, 42)}+`,
      `clr_${id}_${lastBits}`,
      undefined,
      null,
      42,
    ]) {
      expect(parseApiKey(bad), String(bad)).toBeNull();
    }
  });

  it("hashes the secret's text with SHA-256", () => {
    expect(hashSecret("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("verifies only the right secret against a well-formed hash", () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(verifySecret(b.secret, a.hash)).toBe(false);
    expect(verifySecret("", a.hash)).toBe(false);
    expect(verifySecret(a.secret, a.hash.slice(2))).toBe(false);
    expect(verifySecret(a.secret, `${a.hash}00`)).toBe(false);
    expect(verifySecret(a.secret, a.hash.toUpperCase())).toBe(false);
    expect(verifySecret(a.secret, "z".repeat(64))).toBe(false);
  });
});
