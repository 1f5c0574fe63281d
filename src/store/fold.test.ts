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

  it("leaves ASCII as toLowerCase has it", () => {
    expect(caseFold("P-7731 Quentin")).toBe("p-7731 quentin");
  });
});
