import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  MAX_SIGNATURES,
  NoteError,
  computeKeyId,
  generateKey,
  isValidKeyName,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyFromPrivateKey,
} from "./note.js";
import type { NoteErrorCode, NoteVerifier } from "./note.js";

const VECTORS = resolve(process.cwd(), "../shared/data/tlog-vectors");
const SIGNED_NOTE = join(VECTORS, "signed-note");
const haveVectors = existsSync(SIGNED_NOTE);
const describeVectors = haveVectors ? describe : describe.skip;

/** Reads a vector file (called inside tests only, so a missing directory just skips). */
function vector(name: string): string {
  return readFileSync(join(SIGNED_NOTE, name), "utf8");
}
/** A one-line key file, without its final newline. */
function keyFile(name: string): string {
  return vector(name).replace(/\n$/, "");
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

function expectNoteError(fn: () => unknown, code: NoteErrorCode, message?: string | RegExp): NoteError {
  const e = catchError(fn);
  expect(e).toBeInstanceOf(NoteError);
  const err = e as NoteError;
  expect(err.code).toBe(code);
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

/** Text part of a signed note: everything up to and including the newline before the last blank line. */
function textOf(note: string): string {
  return note.slice(0, note.lastIndexOf("\n\n") + 1);
}

/** Replaces the base64 signature of signature line `index` after transforming its decoded bytes. */
function editSignature(note: string, index: number, edit: (raw: Buffer) => Buffer): string {
  const text = textOf(note);
  const lines = note.slice(text.length + 1, -1).split("\n");
  const line = lines[index]!;
  const space = line.lastIndexOf(" ");
  const raw = Buffer.from(line.slice(space + 1), "base64");
  lines[index] = `${line.slice(0, space + 1)}${edit(Buffer.from(raw)).toString("base64")}`;
  return `${text}\n${lines.join("\n")}\n`;
}

const flipByte =
  (i: number) =>
  (raw: Buffer): Buffer => {
    raw[i] = raw[i]! ^ 0x01;
    return raw;
  };

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Sets an unused trailing bit in the last base64 digit before "=": same bytes, non-canonical text. */
function nonCanonical(b64: string): string {
  const i = b64.indexOf("=") - 1;
  const out = b64.slice(0, i) + B64_ALPHABET[B64_ALPHABET.indexOf(b64[i]!) | 1]! + b64.slice(i + 1);
  expect(out).not.toBe(b64);
  expect(Buffer.from(out, "base64").equals(Buffer.from(b64, "base64"))).toBe(true);
  return out;
}

/** Builds a verifier key string with a correct key ID for arbitrary key data (for malformed-key cases). */
function vkeyFor(name: string, data: Buffer): string {
  return `${name}+${computeKeyId(name, data).toString(16).padStart(8, "0")}+${data.toString("base64")}`;
}

describeVectors(
  haveVectors ? "signed-note test vectors" : "../shared/data/tlog-vectors not found: skipping",
  () => {
    it("opens the C2SP spec example with its key", () => {
      const v = parseVerifierKey(keyFile("c2sp-example.vkey"));
      expect(v.name).toBe("example.com/foo");
      expect(v.keyId).toBe(0x530d903a);
      const opened = openNote(vector("c2sp-example.note"), [v]);
      expect(opened).toEqual({
        text: "This is an example message.\n",
        verified: [{ name: "example.com/foo", keyId: 0x530d903a }],
        unverified: [],
      });
      // The same from raw bytes.
      expect(openNote(readFileSync(join(SIGNED_NOTE, "c2sp-example.note")), [v])).toEqual(opened);
    });

    it("reproduces the x/mod golden note byte for byte", () => {
      const note = vector("xmod-PeterNeumann.note");
      const signer = parseSignerKey(keyFile("xmod-PeterNeumann.skey"));
      expect(signer.name).toBe("PeterNeumann");
      expect(signer.keyId).toBe(0xc74f20a3);
      const text = textOf(note);
      expect(text).toBe(
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
      );
      const signed = signNote(text, signer);
      expect(
        Buffer.from(signed, "utf8").equals(readFileSync(join(SIGNED_NOTE, "xmod-PeterNeumann.note"))),
      ).toBe(true);
      expect(signed).toBe(note);
    });

    it("opens the golden note with the golden verifier key, which the private key derives", () => {
      const vkey = keyFile("xmod-PeterNeumann.vkey");
      expect(verifierKeyFromPrivateKey(keyFile("xmod-PeterNeumann.skey"))).toBe(vkey);
      const opened = openNote(vector("xmod-PeterNeumann.note"), [parseVerifierKey(vkey)]);
      expect(opened.verified).toEqual([{ name: "PeterNeumann", keyId: 0xc74f20a3 }]);
      expect(opened.unverified).toEqual([]);
    });

    it("computes the key IDs embedded in the vector keys", () => {
      for (const file of ["c2sp-example.vkey", "xmod-PeterNeumann.vkey"]) {
        const [name, id, data] = keyFile(file).split("+") as [string, string, string];
        const raw = Buffer.from(data, "base64");
        expect(raw[0]).toBe(0x01);
        expect(raw.length).toBe(33);
        const manual = createHash("sha256")
          .update(Buffer.concat([Buffer.from(name), Buffer.of(0x0a), raw]))
          .digest()
          .readUInt32BE(0);
        expect(computeKeyId(name, raw)).toBe(manual);
        expect(manual).toBe(Number.parseInt(id, 16));
        expect(parseVerifierKey(keyFile(file)).keyId).toBe(manual);
      }
    });

    it("lists signatures by other keys as unverified, and needs one known key", () => {
      const neumann = parseVerifierKey(keyFile("xmod-PeterNeumann.vkey"));
      const example = parseVerifierKey(keyFile("c2sp-example.vkey"));
      const note = vector("xmod-PeterNeumann.note");
      expectNoteError(() => openNote(note, [example]), "unknown-key");
      expectNoteError(() => openNote(note, []), "unknown-key");
      // Add a second signature by a fresh key: the golden one is then unverified.
      const other = generateKey("EnochRoot");
      const cosigned = signNote(
        textOf(note),
        parseSignerKey(keyFile("xmod-PeterNeumann.skey")),
        parseSignerKey(other.privateKey),
      );
      const opened = openNote(cosigned, [parseVerifierKey(other.verifierKey), example]);
      expect(opened.verified).toEqual([
        { name: "EnochRoot", keyId: parseVerifierKey(other.verifierKey).keyId },
      ]);
      expect(opened.unverified).toEqual([{ name: "PeterNeumann", keyId: 0xc74f20a3 }]);
      expect(openNote(cosigned, [neumann, parseVerifierKey(other.verifierKey)]).verified).toHaveLength(2);
    });

    it("rejects a tampered golden note with the right error", () => {
      const v = parseVerifierKey(keyFile("xmod-PeterNeumann.vkey"));
      const note = vector("xmod-PeterNeumann.note");
      // One byte of text.
      expectNoteError(
        () => openNote(note.replace("cryptography", "cryptographY"), [v]),
        "invalid-signature",
        /PeterNeumann\+c74f20a3/,
      );
      // One byte of the Ed25519 signature (after the 4-byte key ID), at the start and at the end.
      expectNoteError(() => openNote(editSignature(note, 0, flipByte(4)), [v]), "invalid-signature");
      expectNoteError(() => openNote(editSignature(note, 0, flipByte(67)), [v]), "invalid-signature");
      // One byte of the key ID: now an unknown key.
      expectNoteError(() => openNote(editSignature(note, 0, flipByte(0)), [v]), "unknown-key");
      // Another key name: unknown too.
      expectNoteError(() => openNote(note.replace("— PeterNeumann ", "— PeterNeumanm "), [v]), "unknown-key");
      // Truncated or extended signature bytes for a known key.
      expectNoteError(
        () =>
          openNote(
            editSignature(note, 0, (r) => r.subarray(0, 67)),
            [v],
          ),
        "invalid-signature",
      );
      expectNoteError(
        () =>
          openNote(
            editSignature(note, 0, (r) => Buffer.concat([r, Buffer.of(0)])),
            [v],
          ),
        "invalid-signature",
      );
      const err = expectNoteError(
        () => openNote(note.replace("problem,", "problem;"), [v]),
        "invalid-signature",
      );
      expect(err.key).toEqual({ name: "PeterNeumann", keyId: 0xc74f20a3 });
    });

    it("ignores a key that shares only the name or only the key ID with the signer", () => {
      const note = vector("xmod-PeterNeumann.note");
      const sameName = parseVerifierKey(generateKey("PeterNeumann").verifierKey);
      const sameId: NoteVerifier = { name: "PeterNeumann2", keyId: 0xc74f20a3, verify: () => true };
      const opened = catchError(() => openNote(note, [sameName, sameId]));
      expect((opened as NoteError).code).toBe("unknown-key");
    });

    it("does not let a same-named key stand in for the spec example's key", () => {
      const text = textOf(vector("c2sp-example.note"));
      const resigned = signNote(text, parseSignerKey(generateKey("example.com/foo").privateKey));
      expect(resigned).not.toBe(vector("c2sp-example.note"));
      expectNoteError(
        () => openNote(resigned, [parseVerifierKey(keyFile("c2sp-example.vkey"))]),
        "unknown-key",
      );
    });
  },
);

describe("keys", () => {
  it("generates keys in the Go note formats, with matching key IDs", () => {
    const { privateKey, verifierKey } = generateKey("example.com/log42");
    expect(privateKey).toMatch(/^PRIVATE\+KEY\+example\.com\/log42\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(verifierKey).toMatch(/^example\.com\/log42\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const signer = parseSignerKey(privateKey);
    const verifier = parseVerifierKey(verifierKey);
    const embedded = Number.parseInt(verifierKey.split("+")[1]!, 16);
    expect(privateKey.split("+")[3]).toBe(verifierKey.split("+")[1]);
    expect(signer.keyId).toBe(embedded);
    expect(verifier.keyId).toBe(embedded);
    expect(signer.name).toBe("example.com/log42");
    expect(Buffer.from(privateKey.slice(privateKey.indexOf("+", 12 + 18) + 1), "base64")[0]).toBe(0x01);
    expect(
      computeKeyId(verifier.name, Buffer.from(verifierKey.split("+").slice(2).join("+"), "base64")),
    ).toBe(embedded);
    expect(verifierKeyFromPrivateKey(privateKey)).toBe(verifierKey);
    expect(generateKey("example.com/log42").privateKey).not.toBe(privateKey);
  });

  it("signs deterministically and verifies", () => {
    const k = generateKey("a");
    const signer = parseSignerKey(k.privateKey);
    const verifier = parseVerifierKey(k.verifierKey);
    const msg = Buffer.from("hello\n");
    const sig = signer.sign(msg);
    expect(sig.length).toBe(64);
    expect(signer.sign(msg).equals(sig)).toBe(true);
    expect(verifier.verify(msg, sig)).toBe(true);
    expect(verifier.verify(Buffer.from("hellO\n"), sig)).toBe(false);
    expect(verifier.verify(msg, sig.subarray(1))).toBe(false);
    expect(verifier.verify(msg, new Uint8Array(0))).toBe(false);
  });

  it("validates key names as the spec says", () => {
    for (const ok of ["a", "example.com/log", "PeterNeumann", "ünïcödé", "emoji\u{1F600}", "a-b_c.d/e:f"]) {
      expect(isValidKeyName(ok), ok).toBe(true);
    }
    for (const bad of [
      "",
      "a b",
      "a+b",
      "a\tb",
      "a\nb",
      "a\u00a0b",
      "a\u0085b",
      "a\u2003b",
      "a\u3000b",
      "a\u2028b",
      "\ud800x",
      "x\udc00",
    ]) {
      expect(isValidKeyName(bad), JSON.stringify(bad)).toBe(false);
      expectNoteError(() => generateKey(bad), "malformed-key");
    }
  });

  it("accepts an upper-case hex key ID like Go does", () => {
    const { verifierKey } = generateKey("up");
    const id = verifierKey.slice(3, 11);
    const v = parseVerifierKey(`up+${id.toUpperCase()}+${verifierKey.slice(12)}`);
    expect(v.keyId).toBe(Number.parseInt(id, 16));
  });

  describe("malformed verifier keys", () => {
    const { verifierKey, privateKey } = generateKey("example.com/k");
    const id = verifierKey.slice("example.com/k+".length, "example.com/k+".length + 8);
    const data = verifierKey.slice("example.com/k+".length + 9);
    const raw = Buffer.from(data, "base64");
    const otherId = ((Number.parseInt(id, 16) ^ 1) >>> 0).toString(16).padStart(8, "0");
    const cases: [string, string, RegExp][] = [
      ["empty", "", /invalid key name/],
      ["name only", "example.com/k", /key ID must be 8 hexadecimal digits/],
      ["name and plus", "example.com/k+", /key ID/],
      ["space in name", `exa mple+${id}+${data}`, /invalid key name/],
      ["NBSP in name", `exa\u00a0mple+${id}+${data}`, /invalid key name/],
      ["empty name", `+${id}+${data}`, /invalid key name/],
      ["7 hex digits", `example.com/k+${id.slice(1)}+${data}`, /8 hexadecimal/],
      ["9 hex digits", `example.com/k+0${id}+${data}`, /8 hexadecimal/],
      ["non-hex key ID", `example.com/k+zzzzzzzz+${data}`, /8 hexadecimal/],
      ["0x key ID", `example.com/k+0x${id.slice(2)}+${data}`, /8 hexadecimal/],
      ["no key data", `example.com/k+${id}`, /empty key data/],
      ["bad base64", `example.com/k+${id}+!!!!`, /not valid base64/],
      ["truncated base64", `example.com/k+${id}+${data.slice(0, -1)}`, /not valid base64/],
      [
        "unpadded base64",
        vkeyFor("example.com/k", raw.subarray(0, 32)).replace(/=$/, ""),
        /not valid base64/,
      ],
      [
        "non-canonical base64",
        ((k: string) => k.slice(0, 23) + nonCanonical(k.slice(23)))(
          vkeyFor("example.com/k", raw.subarray(0, 32)),
        ),
        /not valid base64/,
      ],
      ["base64url", `example.com/k+${id}+${raw.toString("base64url")}=`, /not valid base64/],
      [
        "whitespace in base64",
        `example.com/k+${id}+${data.slice(0, 8)} ${data.slice(8)}`,
        /not valid base64/,
      ],
      ["trailing newline", `${verifierKey}\n`, /not valid base64/],
      ["wrong key ID", `example.com/k+${otherId}+${data}`, /key ID does not match/],
      ["private key given", privateKey, /invalid key name|8 hexadecimal/],
      [
        "algorithm 0x02",
        vkeyFor("example.com/k", Buffer.concat([Buffer.of(2), raw.subarray(1)])),
        /unsupported signature type 0x02/,
      ],
      [
        "algorithm 0x00",
        vkeyFor("example.com/k", Buffer.concat([Buffer.of(0), raw.subarray(1)])),
        /unsupported signature type 0x00/,
      ],
      ["31-byte key", vkeyFor("example.com/k", raw.subarray(0, 32)), /must be 32 bytes, got 31/],
      [
        "33-byte key",
        vkeyFor("example.com/k", Buffer.concat([raw, Buffer.of(0)])),
        /must be 32 bytes, got 33/,
      ],
      ["algorithm byte only", vkeyFor("example.com/k", Buffer.of(1)), /must be 32 bytes, got 0/],
    ];
    it.each(cases)("%s", (_label, key, message) => {
      expectNoteError(() => parseVerifierKey(key), "malformed-key", message);
    });
  });

  describe("malformed private keys", () => {
    const { privateKey, verifierKey } = generateKey("example.com/k");
    const rest = privateKey.slice("PRIVATE+KEY+".length);
    const [name, id, data] = [
      rest.slice(0, rest.indexOf("+")),
      rest.split("+")[1]!,
      rest.slice(rest.indexOf("+", rest.indexOf("+") + 1) + 1),
    ];
    const seedData = Buffer.from(data, "base64");
    const otherId = ((Number.parseInt(id, 16) ^ 0x80000000) >>> 0).toString(16).padStart(8, "0");
    const withData = (d: Buffer): string => `PRIVATE+KEY+${name}+${id}+${d.toString("base64")}`;
    const cases: [string, string, RegExp][] = [
      ["empty", "", /missing PRIVATE\+KEY\+ prefix/],
      ["verifier key given", verifierKey, /missing PRIVATE\+KEY\+ prefix/],
      ["lower-case prefix", `private+key+${rest}`, /prefix/],
      ["PRIVATE only", `PRIVATE+${rest}`, /prefix/],
      ["prefix only", "PRIVATE+KEY+", /invalid key name/],
      ["bad name", `PRIVATE+KEY+a b+${id}+${data}`, /invalid key name/],
      ["short key ID", `PRIVATE+KEY+${name}+${id.slice(0, 6)}+${data}`, /8 hexadecimal/],
      ["bad base64", `PRIVATE+KEY+${name}+${id}+A===`, /not valid base64/],
      ["no key data", `PRIVATE+KEY+${name}+${id}+`, /empty key data/],
      ["wrong key ID", `PRIVATE+KEY+${name}+${otherId}+${data}`, /key ID does not match/],
      ["other name, same key ID", `PRIVATE+KEY+${name}x+${id}+${data}`, /key ID does not match/],
      [
        "algorithm 0x02",
        withData(Buffer.concat([Buffer.of(2), seedData.subarray(1)])),
        /unsupported signature type 0x02/,
      ],
      ["31-byte seed", withData(seedData.subarray(0, 32)), /must be 32 bytes, got 31/],
      [
        "64-byte expanded key",
        withData(Buffer.concat([seedData, Buffer.alloc(32)])),
        /must be 32 bytes, got 64/,
      ],
    ];
    it.each(cases)("%s", (_label, key, message) => {
      const err = expectNoteError(() => parseSignerKey(key), "malformed-key", message);
      // A private key must not leak into error messages.
      expect(err.message).not.toContain(data);
    });
  });
});

describe("signNote / openNote", () => {
  const a = generateKey("example.com/a");
  const b = generateKey("example.com/b");
  const signerA = parseSignerKey(a.privateKey);
  const signerB = parseSignerKey(b.privateKey);
  const verifierA = parseVerifierKey(a.verifierKey);
  const verifierB = parseVerifierKey(b.verifierKey);

  it("round-trips through generateKey, signNote and openNote", () => {
    const text = "tree head\n42\n";
    const note = signNote(text, signerA);
    expect(note.startsWith(`${text}\n\u2014 example.com/a `)).toBe(true);
    expect(note.endsWith("\n")).toBe(true);
    expect(openNote(note, [verifierA])).toEqual({
      text,
      verified: [{ name: "example.com/a", keyId: verifierA.keyId }],
      unverified: [],
    });
    expect(openNote(Buffer.from(note), [verifierA]).text).toBe(text);
  });

  it("writes the signature line exactly: em dash, space, name, space, base64(key ID || sig), newline", () => {
    const note = Buffer.from(signNote("x\n", signerA));
    const sigLine = note.subarray(3); // "x\n\n"
    expect(sigLine.subarray(0, 4).equals(Buffer.from([0xe2, 0x80, 0x94, 0x20]))).toBe(true);
    const [, name, b64] = sigLine.toString("utf8").match(/^\u2014 (\S+) ([A-Za-z0-9+/]+=*)\n$/)!;
    expect(name).toBe("example.com/a");
    const raw = Buffer.from(b64!, "base64");
    expect(raw.length).toBe(68);
    expect(raw.readUInt32BE(0)).toBe(signerA.keyId);
    expect(verifierA.verify(Buffer.from("x\n"), raw.subarray(4))).toBe(true);
  });

  it("signs with several signers, in order, and reports verified and unverified keys", () => {
    const note = signNote("multi\n", signerA, signerB);
    const lines = note.split("\n");
    expect(lines[2]).toMatch(/^\u2014 example\.com\/a /);
    expect(lines[3]).toMatch(/^\u2014 example\.com\/b /);
    expect(openNote(note, [verifierB])).toEqual({
      text: "multi\n",
      verified: [{ name: "example.com/b", keyId: verifierB.keyId }],
      unverified: [{ name: "example.com/a", keyId: verifierA.keyId }],
    });
    expect(openNote(note, [verifierA, verifierB]).verified.map((s) => s.name)).toEqual([
      "example.com/a",
      "example.com/b",
    ]);
  });

  it("splits at the last blank line, so text may contain blank lines", () => {
    for (const text of ["\n", "a\n\nb\n", "a\n\n", "a\n\n\n", "\u2014 example.com/a AAAAAAAA\n\n"]) {
      const opened = openNote(signNote(text, signerA), [verifierA]);
      expect(opened.text).toBe(text);
    }
  });

  it("keeps a leading byte order mark as part of the signed text", () => {
    const note = signNote("\ufeffbom\n", signerA);
    expect(openNote(Buffer.from(note, "utf8"), [verifierA]).text).toBe("\ufeffbom\n");
  });

  it("splits at the last blank line even when that misplaces the signatures (then they fail)", () => {
    const good = signNote("body\n", signerA);
    const sigLine = good.slice("body\n\n".length);
    expectNoteError(() => openNote(`${good}\n${sigLine}`, [verifierA]), "invalid-signature");
  });

  it("rejects a note signed only by an unknown key", () => {
    const note = signNote("hello\n", signerA);
    expectNoteError(() => openNote(note, [verifierB]), "unknown-key", /no signature from a known key/);
    expectNoteError(() => openNote(note, []), "unknown-key");
  });

  it("rejects the whole note when a known key's signature fails, even if another verifies", () => {
    const note = signNote("hello\n", signerA, signerB);
    const bad = editSignature(note, 1, flipByte(10));
    expectNoteError(() => openNote(bad, [verifierA, verifierB]), "invalid-signature", /example\.com\/b\+/);
    // Without B's key, B's bad signature is just unverified.
    expect(openNote(bad, [verifierA]).unverified).toEqual([
      { name: "example.com/b", keyId: verifierB.keyId },
    ]);
  });

  it("checks only the first of repeated signatures by one known key, as Go does", () => {
    const note = signNote("dup\n", signerA, signerA);
    expect(openNote(note, [verifierA]).verified).toHaveLength(1);
    expect(openNote(editSignature(note, 1, flipByte(10)), [verifierA]).verified).toHaveLength(1);
    expectNoteError(() => openNote(editSignature(note, 0, flipByte(10)), [verifierA]), "invalid-signature");
  });

  it("drops repeated identical unknown signature lines", () => {
    const note = signNote("dup\n", signerB, signerB, signerA);
    expect(openNote(note, [verifierA]).unverified).toEqual([
      { name: "example.com/b", keyId: verifierB.keyId },
    ]);
  });

  it("rejects ambiguous verifiers for a signing key, but tolerates the same verifier twice", () => {
    const note = signNote("amb\n", signerA);
    const clone: NoteVerifier = { name: verifierA.name, keyId: verifierA.keyId, verify: () => true };
    expectNoteError(() => openNote(note, [verifierA, clone]), "ambiguous-key");
    expect(openNote(note, [verifierA, verifierA]).verified).toHaveLength(1);
  });

  it("accepts up to MAX_SIGNATURES signature lines and rejects more", () => {
    expect(MAX_SIGNATURES).toBeGreaterThanOrEqual(16);
    const note = signNote("many\n", signerA);
    const extra = (n: number): string =>
      Array.from({ length: n }, (_, i) => `\u2014 k${i} ${Buffer.alloc(68, i).toString("base64")}\n`).join(
        "",
      );
    const ok = openNote(note + extra(MAX_SIGNATURES - 1), [verifierA]);
    expect(ok.unverified).toHaveLength(MAX_SIGNATURES - 1);
    expectNoteError(() => openNote(note + extra(MAX_SIGNATURES), [verifierA]), "too-many-signatures");
    expectNoteError(
      () => signNote("x\n", ...Array.from({ length: MAX_SIGNATURES + 1 }, () => signerA)),
      "too-many-signatures",
    );
  });

  describe("malformed notes", () => {
    const good = signNote("body\n", signerA);
    const text = "body\n";
    const sigLine = good.slice(text.length + 1, -1);
    const b64 = sigLine.slice(sigLine.lastIndexOf(" ") + 1);
    const cases: [string, string | Uint8Array, RegExp][] = [
      ["empty", "", /no blank line/],
      ["text only", text, /no blank line/],
      ["no signature lines", `${text}\n`, /must end with a newline/],
      ["signature without final newline", good.slice(0, -1), /no blank line|must end with a newline/],
      ["blank line after signatures", `${good}\n`, /must end with a newline/],
      ["hyphens instead of em dash", `${text}\n-- example.com/a ${b64}\n`, /em dash/],
      ["en dash", `${text}\n\u2013 example.com/a ${b64}\n`, /em dash/],
      ["em dash without space", `${text}\n\u2014example.com/a ${b64}\n`, /em dash/],
      [
        "no space before signature",
        `${text}\n\u2014 example.com/a${b64}\n`,
        /not valid base64|invalid key name/,
      ],
      ["empty name", `${text}\n\u2014  ${b64}\n`, /invalid key name/],
      ["plus in name", `${text}\n\u2014 a+b ${b64}\n`, /invalid key name/],
      ["empty signature", `${text}\n\u2014 example.com/a \n`, /not valid base64/],
      ["bad base64", `${text}\n\u2014 example.com/a ${b64.slice(1)}\n`, /not valid base64/],
      ["non-canonical base64", `${text}\n\u2014 example.com/a ${nonCanonical(b64)}\n`, /not valid base64/],
      ["trailing space", `${text}\n\u2014 example.com/a ${b64} \n`, /not valid base64/],
      [
        "4-byte signature",
        `${text}\n\u2014 example.com/a ${Buffer.alloc(4).toString("base64")}\n`,
        /too short/,
      ],
      ["carriage return", good.replace("body\n", "body\r\n"), /control character/],
      ["CRLF signature line", `${good.slice(0, -1)}\r\n`, /control character/],
      ["tab", good.replace("body", "bo\tdy"), /control character/],
      ["NUL", good.replace("body", "bo\u0000dy"), /control character/],
      ["lone surrogate", good.replace("body", "bo\ud800dy"), /not valid UTF-8/],
      [
        "invalid UTF-8 bytes",
        Buffer.concat([Buffer.from([0x62, 0xff, 0x0a]), Buffer.from(good.slice(4))]),
        /not valid UTF-8/,
      ],
      ["overlong UTF-8", Buffer.concat([Buffer.from([0xc0, 0xaf]), Buffer.from(good)]), /not valid UTF-8/],
    ];
    it.each(cases)("%s", (_label, note, message) => {
      expectNoteError(() => openNote(note, [verifierA]), "malformed-note", message);
    });
  });

  describe("signNote input checks", () => {
    it.each([
      ["no final newline", "abc", /must end with a newline/],
      ["empty", "", /must end with a newline/],
      ["control character", "a\rb\n", /control character/],
      ["lone surrogate", "\udc00\n", /not valid UTF-8/],
    ])("rejects text: %s", (_label, text, message) => {
      expectNoteError(() => signNote(text, signerA), "malformed-note", message);
    });

    it("rejects missing or invalid signers", () => {
      expectNoteError(() => signNote("x\n"), "invalid-signer");
      const sign = (): Buffer => Buffer.alloc(64);
      expectNoteError(() => signNote("x\n", { name: "a b", keyId: 1, sign }), "invalid-signer");
      expectNoteError(() => signNote("x\n", { name: "a+b", keyId: 1, sign }), "invalid-signer");
      expectNoteError(() => signNote("x\n", { name: "a", keyId: -1, sign }), "invalid-signer");
      expectNoteError(() => signNote("x\n", { name: "a", keyId: 2 ** 32, sign }), "invalid-signer");
      expectNoteError(() => signNote("x\n", { name: "a", keyId: 1.5, sign }), "invalid-signer");
    });
  });
});
