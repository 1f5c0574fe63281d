/**
 * The audit log's names: `audit.origin` is the first line of every checkpoint and the signing key's
 * name (C2SP signed-note and tlog-checkpoint: no control characters, valid UTF-8, no Unicode space
 * or '+'); `audit.node` is this node's name in the shared audit log's claim and in every entry. A
 * NUL from a double-quoted YAML "\0" (or any control character, or a lone surrogate) loaded: the
 * shared log's claim and publish then failed raw on PostgreSQL, and the checkpoint could not be
 * signed. Each is refused at its line, naming the field.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { refusedWith } from "../testing/config.js";
import { parseConfig } from "./index.js";

const BASE = `scheme: g7-trusted-partners.yaml
providers:
  demo: { type: demo }
default_provider: demo
`;
const parse = (text: string) => parseConfig(text, join("examples", "test.yaml"), {});

describe("audit.origin and audit.node", () => {
  // As written in a double-quoted YAML scalar: a NUL, a start of heading, an escape (a terminal's
  // colours), DEL, a C1 control (NEL, which JavaScript's \s does not match), a lone surrogate.
  const BAD: readonly [string, RegExp][] = [
    ["\\0", /control character/],
    ["\\x01", /control character/],
    ["\\e[31m", /control character/],
    ["\\x7f", /control character/],
    ["\\N", /control character/],
    ["\\ud800", /lone surrogate/],
  ];
  const CASES = (["origin", "node"] as const).flatMap((field) =>
    BAD.map(([escape, message]) => [field, escape, message] as const),
  );

  it.each(CASES)("refuses audit.%s holding %s, at its line", (field, escape, message) => {
    const text = `${BASE}audit:\n  checkpoint_ms: 1000\n  ${field}: "gw${escape}1"\n`;
    const found = refusedWith(() => parse(text));
    expect(found).toEqual([
      expect.objectContaining({
        path: ["audit", field],
        line: text.split("\n").findIndex((l) => l.includes(escape)) + 1,
        message: expect.stringMatching(message) as unknown,
      }),
    ]);
  });

  it("refuses an origin the signing key could not be named by: a Unicode space, a '+'", () => {
    for (const origin of ['"log\\u00a0x"', '"log\\u2028x"', "log+x"]) {
      const text = `${BASE}audit:\n  origin: ${origin}\n`;
      expect(refusedWith(() => parse(text))).toEqual([
        expect.objectContaining({ path: ["audit", "origin"], line: 6 }),
      ]);
    }
  });

  // Before: taken (C2SP forbids none of them), so a log named "clearance.example/audit" with a zero
  // width space in it was another log that read the same.
  it.each([
    ["\\u200b", "U+200B (zero width space)"],
    ["\\ufeff", "U+FEFF (zero width no-break space, or byte order mark)"],
    ["\\u2060", "U+2060 (word joiner)"],
    ["\\u00ad", "U+00AD (soft hyphen)"],
    ["\\u200f", "U+200F (right-to-left mark)"],
    ["\\ufe0f", "U+FE0F (a variation selector)"],
    ["\\U000E0041", "U+E0041 (a tag or variation selector)"],
  ])("refuses audit.origin holding %s (%s), naming it at its line", (escape, named) => {
    const text = `${BASE}audit:\n  origin: "clearance.example/au${escape}dit"\n`;
    expect(refusedWith(() => parse(text))).toEqual([
      {
        code: "custom",
        path: ["audit", "origin"],
        file: join("examples", "test.yaml"),
        line: 6,
        column: expect.any(Number) as unknown,
        message: `holds ${named}, an invisible character: the log's origin is compared by eye by verifiers and people, and it would read as a name without it; remove it`,
      },
    ]);
  });

  // Before: taken, so "gw-1" with a zero width space in it was another node that read the same in
  // entries and in the shared log's claim.
  it.each([
    ["\\u200b", "U+200B (zero width space)"],
    ["\\ufeff", "U+FEFF (zero width no-break space, or byte order mark)"],
    ["\\u2060", "U+2060 (word joiner)"],
    ["\\u00ad", "U+00AD (soft hyphen)"],
    ["\\ufe0f", "U+FE0F (a variation selector)"],
    ["\\U000E0041", "U+E0041 (a tag or variation selector)"],
  ])("refuses audit.node holding %s (%s), naming it at its line", (escape, named) => {
    const text = `${BASE}audit:\n  node: "gw${escape}-1"\n`;
    expect(refusedWith(() => parse(text))).toEqual([
      {
        code: "custom",
        path: ["audit", "node"],
        file: join("examples", "test.yaml"),
        line: 6,
        column: expect.any(Number) as unknown,
        message: `holds ${named}, an invisible character: the node's name tells nodes apart in every audit entry and the shared log's claim, read by eye, and it would read as a name without it; remove it`,
      },
    ]);
  });

  it("refuses a bidirectional control in audit.origin as in any config value (the YAML reader's bidi_control)", () => {
    for (const escape of ["\\u202e", "\\u2066"]) {
      const text = `${BASE}audit:\n  origin: "clearance.example/au${escape}dit"\n`;
      expect(refusedWith(() => parse(text))).toEqual([
        expect.objectContaining({ code: "bidi_control", path: ["audit", "origin"], line: 6 }),
      ]);
    }
  });

  it("takes printable names, in any script; a node name may hold a space", () => {
    const c = parse(`${BASE}audit:\n  origin: 审计.example/日志\n  node: "gw 1 — Zürich"\n`);
    expect(c.file.audit.origin).toBe("审计.example/日志");
    expect(c.file.audit.node).toBe("gw 1 — Zürich");
  });
});
