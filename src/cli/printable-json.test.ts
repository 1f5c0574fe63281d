/**
 * printableJson is quoted's escaping (src/policy/text.ts) applied to JSON text, with the line and
 * paragraph separators besides: the same JSON, nothing in it a terminal acts on.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quoted } from "../policy/text.js";
import { printableJson } from "./io.js";

// What JSON.stringify leaves raw that a terminal acts on, or a Unicode line splitter cuts at.
const RAW = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const unit = fc.oneof(
  fc.constantFrom(..."\u0000\u0007\t\n\r\u001b\u007f\u0085\u009b\u2028\u2029\u202e\u2066\ud800é".split("")),
  fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((n) => String.fromCodePoint(n)),
);

describe("printableJson", () => {
  it("writes the same JSON, indented or not, without a character a terminal acts on", () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: unit }), fc.constantFrom(undefined, 2), (value, indent) => {
        const json = JSON.stringify(value, null, indent);
        const shown = printableJson(json);
        expect(shown).not.toMatch(RAW);
        expect(JSON.parse(shown)).toEqual(JSON.parse(json));
      }),
    );
  });

  it("writes a string as quoted does, the line and paragraph separators escaped besides", () => {
    fc.assert(
      fc.property(fc.string({ unit }), (s) => {
        expect(printableJson(JSON.stringify(s))).toBe(
          quoted(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`),
        );
      }),
    );
    expect(printableJson(JSON.stringify("a\u202eb\u009bc\u2028"))).toBe('"a\\u202eb\\u009bc\\u2028"');
  });
});
