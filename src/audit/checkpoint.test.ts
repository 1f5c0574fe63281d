import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CheckpointError,
  MAX_TREE_SIZE,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from "./checkpoint.js";
import type { Checkpoint, CheckpointErrorCode } from "./checkpoint.js";
import { NoteError, generateKey, parseSignerKey, parseVerifierKey, signNote } from "./note.js";

const VECTORS = resolve(process.cwd(), "../shared/data/tlog-vectors");
const SIGNED_NOTE = join(VECTORS, "signed-note");
const haveVectors = existsSync(SIGNED_NOTE);
const describeVectors = haveVectors ? describe : describe.skip;

// Known RFC 6962 roots (tlog-vectors README): the empty tree, and the 8-leaf reference tree.
const EMPTY_ROOT = Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "hex");
const ROOT8 = Buffer.from("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", "hex");
const ROOT8_B64 = ROOT8.toString("base64"); // "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
// The same bytes with an unused trailing bit set ("g" = 0b100000 → "h"): decodes alike, not canonical.
const NON_CANONICAL_ROOT8 = ROOT8_B64.replace(/g=$/, "h=");

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

function expectCheckpointError(fn: () => unknown, code: CheckpointErrorCode, message: string | RegExp): void {
  const e = catchError(fn);
  expect(e).toBeInstanceOf(CheckpointError);
  expect((e as CheckpointError).code).toBe(code);
  expect((e as CheckpointError).message).toMatch(message);
}

describe("formatCheckpoint / parseCheckpoint", () => {
  it("formats the three lines exactly", () => {
    const c: Checkpoint = { origin: "example.com/log", size: 8n, root: ROOT8, extensions: [] };
    expect(formatCheckpoint(c)).toBe(`example.com/log\n8\n${ROOT8_B64}\n`);
    expect(parseCheckpoint(formatCheckpoint(c))).toEqual(c);
  });

  it("parses the spec's example checkpoint text", () => {
    const text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    const c = parseCheckpoint(text);
    expect(c.origin).toBe("example.com/behind-the-sofa");
    expect(c.size).toBe(20852163n);
    expect(c.root.toString("base64")).toBe("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(text);
  });

  it.each([
    ["empty tree", { origin: "o", size: 0n, root: EMPTY_ROOT, extensions: [] }, "o\n0\n"],
    [
      "2^64-1",
      { origin: "o", size: 2n ** 64n - 1n, root: ROOT8, extensions: [] },
      "o\n18446744073709551615\n",
    ],
    [
      "extension lines",
      { origin: "example.com/log", size: 1n, root: ROOT8, extensions: ["ext one", "— x +y"] },
      "example.com/log\n1\n",
    ],
    [
      "origin with spaces and plus (allowed, only not recommended)",
      { origin: "My Log + co", size: 123456789012345n, root: ROOT8, extensions: [] },
      "My Log + co\n123456789012345\n",
    ],
    [
      "unicode origin",
      { origin: "例え.jp/ログ", size: 5n, root: ROOT8, extensions: [] },
      "例え.jp/ログ\n5\n",
    ],
  ] satisfies [string, Checkpoint, string][])("round-trips: %s", (_label, c, prefix) => {
    const text = formatCheckpoint(c);
    expect(text.startsWith(prefix)).toBe(true);
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\n")).toHaveLength(3 + c.extensions.length + 1);
    const back = parseCheckpoint(text);
    expect(back).toEqual(c);
    expect(back.root.equals(c.root)).toBe(true);
    expect(formatCheckpoint(back)).toBe(text);
  });

  it("exposes MAX_TREE_SIZE = 2^64-1", () => {
    expect(MAX_TREE_SIZE).toBe(18446744073709551615n);
  });

  describe("strict parse errors", () => {
    const ok = (size: string, root = ROOT8_B64, origin = "o"): string => `${origin}\n${size}\n${root}\n`;
    const cases: [string, string, RegExp][] = [
      ["empty text", "", /text must end with a newline/],
      ["missing trailing newline", ok("1").slice(0, -1), /text must end with a newline/],
      ["CRLF line ends", ok("1").replaceAll("\n", "\r\n"), /origin contains a control character/],
      ["one line", "o\n", /want at least 3 lines .*got 1/],
      ["two lines", "o\n1\n", /want at least 3 lines .*got 2/],
      ["empty origin", ok("1", ROOT8_B64, ""), /origin is empty/],
      ["control character in origin", ok("1", ROOT8_B64, "o\u0000"), /origin contains a control character/],
      ["tab in origin", ok("1", ROOT8_B64, "o\tp"), /origin contains a control character/],
      ["lone surrogate in origin", ok("1", ROOT8_B64, "o\ud800"), /origin is not valid UTF-8/],
      ["empty size", ok(""), /tree size is empty/],
      ["leading zero", ok("01"), /tree size has leading zeros/],
      ["zero zero", ok("00"), /tree size has leading zeros/],
      ["negative", ok("-1"), /tree size is negative/],
      ["negative zero", ok("-0"), /tree size is negative/],
      ["plus sign", ok("+1"), /not a non-negative decimal integer/],
      ["space", ok(" 1"), /not a non-negative decimal integer/],
      ["trailing space", ok("1 "), /not a non-negative decimal integer/],
      ["fraction", ok("1.5"), /not a non-negative decimal integer/],
      ["exponent", ok("1e3"), /not a non-negative decimal integer/],
      ["hex", ok("0x10"), /not a non-negative decimal integer/],
      ["underscore", ok("1_000"), /not a non-negative decimal integer/],
      ["non-ASCII digits", ok("١٢"), /not a non-negative decimal integer/],
      ["2^64", ok("18446744073709551616"), /tree size exceeds 2\^64-1/],
      ["very long size", ok("9".repeat(400)), /tree size exceeds 2\^64-1/],
      ["empty root", ok("1", ""), /root hash is empty/],
      ["33-byte root", ok("1", Buffer.alloc(33, 7).toString("base64")), /root hash is 33 bytes, want 32/],
      ["31-byte root", ok("1", Buffer.alloc(31, 7).toString("base64")), /root hash is 31 bytes, want 32/],
      ["64-byte root", ok("1", Buffer.alloc(64, 7).toString("base64")), /root hash is 64 bytes, want 32/],
      ["unpadded root", ok("1", ROOT8_B64.replace(/=$/, "")), /root hash is not valid standard base64/],
      [
        "base64url root",
        ok("1", Buffer.alloc(32, 0xfb).toString("base64url") + "="),
        /not valid standard base64/,
      ],
      ["root with space", ok("1", ` ${ROOT8_B64}`), /not valid standard base64/],
      ["hex root", ok("1", ROOT8.toString("hex")), /not valid standard base64|root hash is 48 bytes/],
      ["non-canonical root", ok("1", NON_CANONICAL_ROOT8), /not valid standard base64/],
      ["empty extension line", `${ok("1")}\n`, /extension line 1 is empty/],
      ["empty line among extensions", `${ok("1")}a\n\nb\n`, /extension line 2 is empty/],
      ["control character in extension", `${ok("1")}a\rb\n`, /extension line 1 contains a control character/],
    ];
    it.each(cases)("%s", (_label, text, message) => {
      expectCheckpointError(() => parseCheckpoint(text), "malformed-checkpoint", message);
    });

    it("prefixes every message with 'malformed checkpoint: '", () => {
      expectCheckpointError(
        () => parseCheckpoint("o\n01\nx\n"),
        "malformed-checkpoint",
        /^malformed checkpoint: /,
      );
    });

    it("has a non-canonical-root case that is actually non-canonical", () => {
      expect(NON_CANONICAL_ROOT8).not.toBe(ROOT8_B64);
      expect(Buffer.from(NON_CANONICAL_ROOT8, "base64").equals(ROOT8)).toBe(true);
    });
  });

  describe("format errors", () => {
    const base: Checkpoint = { origin: "o", size: 1n, root: ROOT8, extensions: [] };
    const cases: [string, Checkpoint, RegExp][] = [
      ["empty origin", { ...base, origin: "" }, /origin is empty/],
      ["newline in origin", { ...base, origin: "a\nb" }, /origin contains a control character/],
      ["negative size", { ...base, size: -1n }, /tree size/],
      ["size 2^64", { ...base, size: 2n ** 64n }, /tree size/],
      ["number size", { ...base, size: 1 as unknown as bigint }, /tree size/],
      ["31-byte root", { ...base, root: ROOT8.subarray(1) }, /root hash must be 32 bytes/],
      [
        "non-Buffer root",
        { ...base, root: "x".repeat(32) as unknown as Buffer },
        /root hash must be 32 bytes/,
      ],
      ["empty extension", { ...base, extensions: ["a", ""] }, /extension line 2 is empty/],
      [
        "newline in extension",
        { ...base, extensions: ["a\n"] },
        /extension line 1 contains a control character/,
      ],
    ];
    it.each(cases)("%s", (_label, c, message) => {
      expectCheckpointError(() => formatCheckpoint(c), "invalid-checkpoint", message);
    });
  });
});

describe("signCheckpoint / openCheckpoint", () => {
  const log = generateKey("example.com/log");
  const signer = parseSignerKey(log.privateKey);
  const verifier = parseVerifierKey(log.verifierKey);
  const c: Checkpoint = {
    origin: "example.com/log",
    size: 2n ** 64n - 1n,
    root: ROOT8,
    extensions: ["x-ext"],
  };

  it("signs a checkpoint as a signed note and opens it", () => {
    const note = signCheckpoint(c, signer);
    expect(note.startsWith(`${formatCheckpoint(c)}\n\u2014 example.com/log `)).toBe(true);
    const { checkpoint, note: opened } = openCheckpoint(note, verifier, "example.com/log");
    expect(checkpoint).toEqual(c);
    expect(opened.text).toBe(formatCheckpoint(c));
    expect(opened.verified).toEqual([{ name: "example.com/log", keyId: verifier.keyId }]);
    expect(openCheckpoint(Buffer.from(note), verifier).checkpoint).toEqual(c);
  });

  it("ignores cosignatures by other keys", () => {
    const witness = parseSignerKey(generateKey("witness.example/w1").privateKey);
    const note = signNote(formatCheckpoint(c), witness, signer);
    const { note: opened } = openCheckpoint(note, verifier);
    expect(opened.unverified.map((s) => s.name)).toEqual(["witness.example/w1"]);
  });

  it("checks the origin when one is expected", () => {
    const note = signCheckpoint(c, signer);
    expectCheckpointError(
      () => openCheckpoint(note, verifier, "example.com/other"),
      "origin-mismatch",
      /"example\.com\/log" is not the expected "example\.com\/other"/,
    );
  });

  it("rejects checkpoints not signed by the verifier's key", () => {
    const note = signCheckpoint(c, parseSignerKey(generateKey("example.com/log").privateKey));
    const e = catchError(() => openCheckpoint(note, verifier));
    expect(e).toBeInstanceOf(NoteError);
    expect((e as NoteError).code).toBe("unknown-key");
  });

  it("rejects a tampered checkpoint", () => {
    const note = signCheckpoint(c, signer);
    const e = catchError(() =>
      openCheckpoint(note.replace("18446744073709551615", "18446744073709551614"), verifier),
    );
    expect(e).toBeInstanceOf(NoteError);
    expect((e as NoteError).code).toBe("invalid-signature");
  });

  it("rejects a validly signed note whose text is not a checkpoint", () => {
    const note = signNote("example.com/log\n01\nAAAA\n", signer);
    expectCheckpointError(() => openCheckpoint(note, verifier), "malformed-checkpoint", /leading zeros/);
  });
});

describeVectors(
  haveVectors ? "checkpoint with signed-note vectors" : "../shared/data/tlog-vectors not found: skipping",
  () => {
    const read = (name: string): string => readFileSync(join(SIGNED_NOTE, name), "utf8");

    it("verifies the spec example's signature, then finds it is not a checkpoint", () => {
      const verifier = parseVerifierKey(read("c2sp-example.vkey").replace(/\n$/, ""));
      expectCheckpointError(
        () => openCheckpoint(read("c2sp-example.note"), verifier),
        "malformed-checkpoint",
        /want at least 3 lines .*got 1/,
      );
    });

    it("signs and opens a checkpoint with the golden key pair", () => {
      const signer = parseSignerKey(read("xmod-PeterNeumann.skey").replace(/\n$/, ""));
      const verifier = parseVerifierKey(read("xmod-PeterNeumann.vkey").replace(/\n$/, ""));
      const cp: Checkpoint = { origin: "PeterNeumann", size: 8n, root: ROOT8, extensions: [] };
      const note = signCheckpoint(cp, signer);
      expect(signCheckpoint(cp, signer)).toBe(note); // Ed25519 is deterministic
      expect(openCheckpoint(note, verifier, "PeterNeumann").checkpoint).toEqual(cp);
    });
  },
);
