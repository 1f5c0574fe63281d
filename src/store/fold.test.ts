/** caseFold: letter case aside where lowercasing alone keeps letters apart (ß, ẞ, a final sigma). */
import { describe, expect, it } from "vitest";
import { caseFold } from "./fold.js";

const startsWith = (text: string, prefix: string) => caseFold(text).startsWith(caseFold(prefix));

describe("caseFold", () => {
  it("finds a Greek name by any case of its start, a sigma last included", () => {
    // Before (toLowerCase): "ΑΣ" lowercased to "ας" (word-final sigma), the name to "ασ…".
    for (const p of ["Α", "ΑΣ", "Ασ", "ας", "ΑΣΤ", "αστέ", "ΑΣΤΈΡΙΟΣ", "Αστέριος"])
      expect(startsWith("Αστέριος Παπαδόπουλος", p), p).toBe(true);
    expect(startsWith("Αστέριος", "ΑΣΤΈΡΙΟΣ Π")).toBe(false);
  });

  it("finds ß by ss, SS and ẞ, and the other way round", () => {
    for (const p of ["STRASS", "strass", "Straß", "STRAẞE", "strasse ag"])
      expect(startsWith("Straße AG", p), p).toBe(true);
    expect(startsWith("STRASSE AG", "Straß")).toBe(true);
    expect(startsWith("Straße AG", "strat")).toBe(false);
  });

  it("finds a name stored decomposed by a prefix typed composed, and the other way round", () => {
    // Before: "Jose\u0301" (e, then the combining acute: macOS, some keyboards) and "José" (é) differed.
    const decomposed = "Jose\u0301 Ruiz";
    for (const p of ["José", "JOSÉ", "josé r", "Jose\u0301", "JOSE\u0301 RUIZ"]) {
      expect(startsWith(decomposed, p), p).toBe(true);
      expect(startsWith(decomposed.normalize("NFC"), p), p).toBe(true);
    }
    expect(startsWith("Ångström", "A\u030ANGSTRO\u0308M")).toBe(true);
    // Canonical equivalence only: a compatibility form is another character ("²" is not "2").
    expect(startsWith("m²-1", "m2")).toBe(false);
    expect(startsWith("ＡＣＭＥ", "acme")).toBe(false);
  });

  it("folds every character as its canonical decomposition, and a folded text to itself", () => {
    const different: string[] = [];
    for (let c = 0; c <= 0x10ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const x = String.fromCodePoint(c);
      const folded = caseFold(x);
      if (caseFold(x.normalize("NFD")) !== folded || caseFold(folded) !== folded)
        different.push(c.toString(16));
    }
    expect(different).toEqual([]);
  });

  it("leaves ASCII as toLowerCase has it", () => {
    expect(caseFold("P-7731 Quentin")).toBe("p-7731 quentin");
  });
});
