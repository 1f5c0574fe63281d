import { describe, expect, it } from "vitest";
import { CONTROL, CONTROL_OR_LONE_SURROGATE, LONE_SURROGATE } from "./text.js";

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
});
