import { describe, expect, it } from "vitest";
import { visible } from "./text.js";

describe("visible", () => {
  it("writes bidirectional overrides, isolates, marks and control characters as their code point", () => {
    expect(visible("Bob\u202E ovortep navI")).toBe("Bob⟨U+202E⟩ ovortep navI");
    expect(visible("a\u2066b\u2069c\u200f\u061c")).toBe("a⟨U+2066⟩b⟨U+2069⟩c⟨U+200F⟩⟨U+061C⟩");
    expect(visible("bell\u0007 esc\u001b[31m nul\u0000 del\u007f c1\u009b")).toBe(
      "bell⟨U+0007⟩ esc⟨U+001B⟩[31m nul⟨U+0000⟩ del⟨U+007F⟩ c1⟨U+009B⟩",
    );
  });

  it("keeps what reads as it is: line breaks, tabs, other scripts, emoji", () => {
    const kept = "line one\nline two\r\n\tindented — محمد עברית 👩‍💻 Ünïcödé";
    expect(visible(kept)).toBe(kept);
  });

  it("shows a missing text as a dash and anything else as its string, never throwing (a stored record without the member)", () => {
    // Before: visible(undefined) threw a TypeError, which blanked the whole console page.
    expect(visible(undefined)).toBe("—");
    expect(visible(null)).toBe("—");
    expect(visible(42 as unknown as string)).toBe("42");
  });
});
