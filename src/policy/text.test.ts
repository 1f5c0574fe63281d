import { describe, expect, it } from "vitest";
import {
  CONTROL,
  CONTROL_OR_LONE_SURROGATE,
  FORBIDDEN_CONTROL,
  LONE_SURROGATE,
  RAW_IN_JSON,
  controlName,
  quoted,
} from "./text.js";

describe("the shared patterns for unprintable text", () => {
  it("find control characters (C0, DEL, C1) and lone surrogates, not a well-formed pair", () => {
    for (const c of ["\u0000", "\n", "\u001f", "\u007f", "\u0085", "\u009f"]) {
      expect(CONTROL.test(`a${c}b`)).toBe(true);
      expect(CONTROL_OR_LONE_SURROGATE.test(`a${c}b`)).toBe(true);
    }
    for (const s of ["\ud800", "x\udfff", "\udc00\ud800"]) {
      expect(LONE_SURROGATE.test(s)).toBe(true);
      expect(CONTROL.test(s)).toBe(false);
      expect(CONTROL_OR_LONE_SURROGATE.test(s)).toBe(true);
    }
    for (const ok of ["mythos-5", "é ü ß", "\u00a0", "😀 a pair", ""]) {
      expect(CONTROL_OR_LONE_SURROGATE.test(ok)).toBe(false);
    }
    // Not global: the same answer twice in a row.
    expect([CONTROL.test("\n"), CONTROL.test("\n")]).toEqual([true, true]);
  });

  it("find the controls no free text may hold (all but TAB, LF and CR), and name them by code point", () => {
    for (const c of [
      "\u0000",
      "\u0007",
      "\u000b",
      "\u000c",
      "\u000e",
      "\u001f",
      "\u007f",
      "\u0085",
      "\u009f",
    ])
      expect(FORBIDDEN_CONTROL.test(`a${c}b`), c).toBe(true);
    for (const ok of ["\t", "\n", "\r", "\u00a0", "\u202e", "é"])
      expect(FORBIDDEN_CONTROL.test(ok), ok).toBe(false);
    expect(["\u0000", "\u0007", "\u001b", "\u007f", "\u0085", "\u0090"].map(controlName)).toEqual([
      "U+0000 (null)",
      "U+0007 (bell)",
      "U+001B (escape)",
      "U+007F (delete)",
      "U+0085 (next line)",
      "U+0090 (a C1 control)",
    ]);
  });

  // Before: global (for quoted's replace), so a second `test` went on from where the first matched.
  it("find what quoted escapes, the same answer twice in a row; quoted escapes every one", () => {
    for (const c of ["\u0000", "\u007f", "\u009b", "\u202e", "\u2066"]) {
      expect([RAW_IN_JSON.test(c), RAW_IN_JSON.test(c)], c).toEqual([true, true]);
    }
    for (const ok of ["\t", "\n", "\u00a0", "é", "\u2028"]) expect(RAW_IN_JSON.test(ok), ok).toBe(false);
    expect(quoted("a\u009b[31mb\u202ec\u007f\u0000\u009b")).toBe(
      '"a\\u009b[31mb\\u202ec\\u007f\\u0000\\u009b"',
    );
  });
});
