/**
 * Signed notes, byte for byte as in c2sp.org/signed-note (and golang.org/x/mod/sumdb/note, whose keys
 * and notes this module reads and writes), with Ed25519 keys (signature type 0x01) from node:crypto.
 *
 * A signed note is a text ending in "\n", a blank line, and one or more signature lines
 * `— <key name> <base64(uint32 BE key ID || signature)>\n` (the dash is U+2014). The text is split
 * from the signatures at the LAST blank line, so the text itself may contain blank lines.
 *
 * Keys:
 *   private  `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>`
 *   verifier `<name>+<8 hex key ID>+<base64(0x01 || 32-byte public key)>`
 *   key ID = first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key)
 *
 * Deliberate strictness beyond the Go reference (never rejects anything Go itself produces):
 * base64 must be canonical (padded, zero trailing bits), and keys are checked for their algorithm
 * byte and length before their key ID, so an error names the first real problem.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";

export interface NoteSigner {
  readonly name: string;
  /** uint32 */
  readonly keyId: number;
  sign(message: Uint8Array): Buffer;
}

export interface NoteVerifier {
  readonly name: string;
  /** uint32 */
  readonly keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface OpenedNote {
  /** The signed text, including its final "\n" but not the blank line. */
  text: string;
  /** Signatures by the given verifiers, each checked; at least one. */
  verified: { name: string; keyId: number }[];
  /** Signatures by keys not among the verifiers: ignored, as the spec requires. */
  unverified: { name: string; keyId: number }[];
}

export type NoteErrorCode =
  /** A private or verifier key string is malformed (prefix, name, key ID, base64, algorithm, length). */
  | "malformed-key"
  /** A note is malformed: encoding, control characters, missing blank line, bad signature line. */
  | "malformed-note"
  /** No signature in the note is by a known key (name and key ID both matching). */
  | "unknown-key"
  /** A signature by a known key does not verify: the whole note is rejected. */
  | "invalid-signature"
  /** More than MAX_SIGNATURES signature lines. */
  | "too-many-signatures"
  /** signNote: no signers, or a signer with an invalid name or key ID. */
  | "invalid-signer"
  /** openNote: two different verifiers share a name and key ID, and the note is signed by that pair. */
  | "ambiguous-key";

export class NoteError extends Error {
  readonly code: NoteErrorCode;
  /** The key concerned, for "invalid-signature" and "ambiguous-key". */
  readonly key: { name: string; keyId: number } | undefined;
  constructor(code: NoteErrorCode, message: string, key?: { name: string; keyId: number }) {
    super(message);
    this.name = "NoteError";
    this.code = code;
    this.key = key;
  }
}

/** Signature lines accepted per note (the spec requires at least 16; Go's reference stops at 100). */
export const MAX_SIGNATURES = 100;

/** Signature type identifier byte for Ed25519 (c2sp.org/signed-note). */
const ALG_ED25519 = 0x01;
const SIG_PREFIX = "\u2014 "; // em dash, space
const PRIVATE_PREFIX = "PRIVATE+KEY+";
// DER wrappers around a raw 32-byte Ed25519 seed / public key (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

const WHITE_SPACE = /\p{White_Space}/u; // exactly Go's unicode.IsSpace
const LONE_SURROGATE = /\p{Surrogate}/u; // with /u, a well-formed pair is one code point, not a match
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX8 = /^[0-9a-fA-F]{8}$/;

/**
 * Decodes standard (RFC 4648 §4) padded base64, or returns undefined. Only the canonical encoding is
 * accepted: no whitespace, no missing padding, no non-zero trailing bits. Internal helper.
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!BASE64.test(s)) return undefined;
  const bytes = Buffer.from(s, "base64");
  return bytes.toString("base64") === s ? bytes : undefined;
}

/** Key names: non-empty, well-formed, no Unicode white space, no "+". */
export function isValidKeyName(name: string): boolean {
  return name !== "" && !LONE_SURROGATE.test(name) && !WHITE_SPACE.test(name) && !name.includes("+");
}

/** The spec's key ID: SHA-256(name || 0x0A || keyData)[:4] as a big-endian uint32; keyData = type byte || key. */
export function computeKeyId(name: string, keyData: Uint8Array): number {
  return createHash("sha256").update(name, "utf8").update("\n").update(keyData).digest().readUInt32BE(0);
}

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, "0");
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Splits at the first occurrence of sep; without one, everything is `before`. */
function chop(s: string, sep: string): [before: string, after: string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + sep.length)];
}

function keyError(message: string): NoteError {
  return new NoteError("malformed-key", message);
}

/** Parses `<name>+<hex8>+<base64>`, checks the name, key ID syntax and base64; returns the raw parts. */
function splitKey(s: string, what: string): { name: string; keyId: number; data: Buffer } {
  const [name, rest] = chop(s, "+");
  const [id16, data64] = chop(rest, "+");
  if (!isValidKeyName(name)) throw keyError(`malformed ${what}: invalid key name`);
  if (!HEX8.test(id16)) throw keyError(`malformed ${what}: key ID must be 8 hexadecimal digits`);
  const data = decodeBase64Strict(data64);
  if (data === undefined) throw keyError(`malformed ${what}: key data is not valid base64`);
  if (data.length === 0) throw keyError(`malformed ${what}: empty key data`);
  if (data[0] !== ALG_ED25519) {
    throw keyError(
      `malformed ${what}: unsupported signature type 0x${data[0]!.toString(16).padStart(2, "0")}`,
    );
  }
  if (data.length !== 33) {
    throw keyError(`malformed ${what}: Ed25519 key must be 32 bytes, got ${data.length - 1}`);
  }
  return { name, keyId: Number.parseInt(id16, 16), data };
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

function rawPublicKey(priv: KeyObject): Buffer {
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  return spki.subarray(SPKI_ED25519_PREFIX.length);
}

function formatKeys(name: string, seed: Uint8Array): { privateKey: string; verifierKey: string } {
  const pub = Buffer.concat([Buffer.of(ALG_ED25519), rawPublicKey(ed25519PrivateKey(seed))]);
  const id = hex8(computeKeyId(name, pub));
  const privData = Buffer.concat([Buffer.of(ALG_ED25519), seed]).toString("base64");
  return {
    privateKey: `${PRIVATE_PREFIX}${name}+${id}+${privData}`,
    verifierKey: `${name}+${id}+${pub.toString("base64")}`,
  };
}

/** A new Ed25519 key pair for `name`, in the Go note key formats. */
export function generateKey(name: string): { privateKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw keyError("invalid key name: must be non-empty, without spaces or '+'");
  return formatKeys(name, randomBytes(32));
}

function parsePrivate(privateKey: string): { name: string; keyId: number; key: KeyObject; pub: Buffer } {
  if (!privateKey.startsWith(PRIVATE_PREFIX)) {
    throw keyError("malformed private key: missing PRIVATE+KEY+ prefix");
  }
  const { name, keyId, data } = splitKey(privateKey.slice(PRIVATE_PREFIX.length), "private key");
  const key = ed25519PrivateKey(data.subarray(1));
  const pub = Buffer.concat([Buffer.of(ALG_ED25519), rawPublicKey(key)]);
  if (computeKeyId(name, pub) !== keyId) {
    throw keyError("malformed private key: key ID does not match the key");
  }
  return { name, keyId, key, pub };
}

/** Parses `PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>`; the key ID must match the derived public key. */
export function parseSignerKey(privateKey: string): NoteSigner {
  const { name, keyId, key } = parsePrivate(privateKey);
  return Object.freeze({
    name,
    keyId,
    sign: (message: Uint8Array): Buffer => sign(null, message, key),
  });
}

/** Parses `<name>+<hex8>+<base64(0x01 || public key)>`; the key ID must match. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const { name, keyId, data } = splitKey(vkey, "verifier key");
  if (computeKeyId(name, data) !== keyId) {
    throw keyError("malformed verifier key: key ID does not match the key");
  }
  let key: KeyObject;
  try {
    key = ed25519PublicKey(data.subarray(1));
  } catch {
    throw keyError("malformed verifier key: not an Ed25519 public key");
  }
  return Object.freeze({
    name,
    keyId,
    verify: (message: Uint8Array, signature: Uint8Array): boolean => {
      if (signature.length !== 64) return false;
      try {
        return verify(null, message, key, signature);
      } catch {
        return false;
      }
    },
  });
}

/** The verifier key (public) matching a private key string. */
export function verifierKeyFromPrivateKey(privateKey: string): string {
  const { name, keyId, pub } = parsePrivate(privateKey);
  return `${name}+${hex8(keyId)}+${pub.toString("base64")}`;
}

/** Checks the character-level rules every signed note obeys; returns a reason or undefined. */
function badCharacters(s: string): string | undefined {
  if (LONE_SURROGATE.test(s)) return "not valid UTF-8";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return "contains an ASCII control character other than newline";
  }
  return undefined;
}

/**
 * Signs `text` (which must end in "\n", be valid UTF-8 and hold no ASCII control characters other
 * than newline) and returns the signed note: text, blank line, one signature line per signer, in order.
 * Blank lines inside the text are allowed: openers split at the last blank line, which is the one added here.
 */
export function signNote(text: string, ...signers: NoteSigner[]): string {
  if (!text.endsWith("\n")) throw new NoteError("malformed-note", "note text must end with a newline");
  const bad = badCharacters(text);
  if (bad !== undefined) throw new NoteError("malformed-note", `note text is ${bad}`);
  if (signers.length === 0) throw new NoteError("invalid-signer", "at least one signer is required");
  if (signers.length > MAX_SIGNATURES) {
    throw new NoteError("too-many-signatures", `at most ${MAX_SIGNATURES} signatures per note`);
  }
  const message = Buffer.from(text, "utf8");
  let out = text + "\n";
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new NoteError("invalid-signer", "signer has an invalid key name");
    if (!isUint32(s.keyId)) throw new NoteError("invalid-signer", "signer key ID is not a uint32");
    const id = Buffer.alloc(4);
    id.writeUInt32BE(s.keyId, 0);
    const sig = Buffer.concat([id, s.sign(message)]);
    out += `${SIG_PREFIX}${s.name} ${sig.toString("base64")}\n`;
  }
  return out;
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function noteError(message: string): NoteError {
  return new NoteError("malformed-note", `malformed note: ${message}`);
}

/**
 * Parses a signed note and checks its signatures against `verifiers`, as Go's note.Open does:
 * signatures by unknown keys (name and key ID not both matching a verifier) are listed as unverified;
 * a signature by a known key that fails rejects the whole note ("invalid-signature"); repeated
 * signatures by one known key are checked once (the first); at least one must verify ("unknown-key").
 * Accepts the note as a string or as raw bytes (then invalid UTF-8 is detected exactly).
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  let msg: string;
  if (typeof note === "string") {
    msg = note;
  } else {
    try {
      msg = utf8Fatal.decode(note);
    } catch {
      throw noteError("not valid UTF-8");
    }
  }
  const bad = badCharacters(msg);
  if (bad !== undefined) throw noteError(bad);

  const split = msg.lastIndexOf("\n\n");
  if (split < 0) throw noteError("no blank line before the signatures");
  const text = msg.slice(0, split + 1);
  let sigs = msg.slice(split + 2);
  if (sigs === "" || !sigs.endsWith("\n")) throw noteError("signature block must end with a newline");

  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const k = `${v.keyId}+${v.name}`;
    const list = known.get(k);
    if (list === undefined) known.set(k, [v]);
    else if (!list.includes(v)) list.push(v);
  }

  const message = Buffer.from(text, "utf8");
  const result: OpenedNote = { text, verified: [], unverified: [] };
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  let count = 0;
  while (sigs !== "") {
    const nl = sigs.indexOf("\n");
    let line = sigs.slice(0, nl);
    sigs = sigs.slice(nl + 1);
    if (!line.startsWith(SIG_PREFIX)) {
      throw noteError("signature line must start with an em dash and a space");
    }
    line = line.slice(SIG_PREFIX.length);
    const [name, b64] = chop(line, " ");
    if (!isValidKeyName(name)) throw noteError("invalid key name in signature line");
    const raw = b64 === "" ? undefined : decodeBase64Strict(b64);
    if (raw === undefined) throw noteError("signature is not valid base64");
    if (raw.length < 5) throw noteError("signature too short");
    if (++count > MAX_SIGNATURES) {
      throw new NoteError("too-many-signatures", `malformed note: more than ${MAX_SIGNATURES} signatures`);
    }
    const keyId = raw.readUInt32BE(0);
    const k = `${keyId}+${name}`;
    const candidates = known.get(k);
    if (candidates === undefined) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        result.unverified.push({ name, keyId });
      }
      continue;
    }
    if (candidates.length > 1) {
      throw new NoteError("ambiguous-key", `ambiguous key ${name}+${hex8(keyId)}`, { name, keyId });
    }
    if (seen.has(k)) continue;
    seen.add(k);
    if (!candidates[0]!.verify(message, raw.subarray(4))) {
      throw new NoteError("invalid-signature", `invalid signature for key ${name}+${hex8(keyId)}`, {
        name,
        keyId,
      });
    }
    result.verified.push({ name, keyId });
  }
  if (result.verified.length === 0) {
    throw new NoteError("unknown-key", "note has no signature from a known key");
  }
  return result;
}
