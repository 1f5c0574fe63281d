/**
 * API keys: `clr_<id>_<secret>`. Pure functions, no I/O.
 *
 * - `id`: 12 characters of lower-case RFC 4648 base32 (60 random bits). Public: it names the key in
 *   lists and logs, and lets the gateway find the record with one map look-up. Base32 has no `_`
 *   and survives case-insensitive handling.
 * - `secret`: 32 random bytes (crypto.randomBytes), base64url without padding (43 characters). It
 *   may contain `_` and `-`, so a key is parsed by position, never by splitting on `_`.
 *
 * Only SHA-256 of the secret is stored. A slow password KDF (bcrypt, scrypt, argon2) exists to make
 * guessing low-entropy human passwords expensive; a 256-bit random secret cannot be guessed at any
 * hash speed, so a KDF would add no protection to a leaked database. It would add tens of
 * milliseconds of CPU to every request (verification runs per request, against the in-memory
 * snapshot) and hand an attacker a cheap way to burn the gateway's CPU with bogus keys.
 *
 * The secret leaves this module only inside the key string `generateApiKey` returns, which the store
 * hands back from `keys.create` exactly once. Never log a key or a secret; log the id.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "clr_";
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const KEY_PATTERN = /^clr_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
const ID_PATTERN = /^[a-z2-7]{12}$/;
const HASH_PATTERN = /^[0-9a-f]{64}$/;

export interface ParsedApiKey {
  readonly id: string;
  readonly secret: string;
}

export interface GeneratedApiKey extends ParsedApiKey {
  /** The full key to hand to the client: `clr_<id>_<secret>`. */
  readonly key: string;
  /** Hex SHA-256 of the secret: what the store keeps. */
  readonly hash: string;
}

export function generateKeyId(): string {
  // 256 is a multiple of 32, so masking each byte to 5 bits is uniform.
  let id = "";
  for (const byte of randomBytes(ID_LENGTH)) id += ID_ALPHABET[byte & 31];
  return id;
}

export function generateApiKey(id: string = generateKeyId()): GeneratedApiKey {
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  return { id, secret, key: `${API_KEY_PREFIX}${id}_${secret}`, hash: hashSecret(secret) };
}

/**
 * What one revocation did: `revoked` by this call; `already-revoked` before it (by another node,
 * the CLI, an earlier call: its first revokedAt stands, nothing changed); `unknown` id.
 */
export type KeyRevocation = "revoked" | "already-revoked" | "unknown";

export function isKeyId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/**
 * `{id, secret}` when `text` is exactly a well-formed key, else null. The secret must be the
 * canonical encoding of 32 bytes (its last character's two spare bits zero), so that one secret has
 * one spelling.
 */
export function parseApiKey(text: unknown): ParsedApiKey | null {
  if (typeof text !== "string") return null;
  const match = KEY_PATTERN.exec(text);
  if (match === null) return null;
  const [, id, secret] = match as unknown as [string, string, string];
  if (Buffer.from(secret, "base64url").toString("base64url") !== secret) return null;
  return { id, secret };
}

/** Hex SHA-256 of the secret's text (so `printf %s "$SECRET" | sha256sum` reproduces it). */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/**
 * Whether `secret` hashes to `hashHex`. Compares digests in constant time: the stored hash is not
 * secret-equivalent, but a timing-safe compare costs nothing and removes the question.
 */
export function verifySecret(secret: string, hashHex: string): boolean {
  if (!HASH_PATTERN.test(hashHex)) return false;
  const expected = Buffer.from(hashHex, "hex");
  const actual = createHash("sha256").update(secret, "utf8").digest();
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
