/**
 * Names with nothing distinctive left once normalised (legal forms, titles, initials, generic
 * words): held for review, saying why, instead of passing as clear or matching every listed
 * company with the same generic word.
 */
import { describe, expect, it } from "vitest";
import { ScreeningEngine } from "./engine.js";
import { HOLD_ENTRY, HOLD_LIST } from "./indistinct.js";
import type { ListEntry } from "./types.js";

const org = (id: string, name: string): ListEntry => ({
  id,
  type: "organization",
  names: [{ name, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});

// Listed names as the SDN list writes them: generic words beside initials or a distinctive word.
const engine = ScreeningEngine.fromLists([
  {
    list: "sdn",
    entries: [
      org("1", "A A TRADING FZCO"),
      org("2", "M AND S TRADING"),
      org("3", "FMF GENERAL TRADING LLC"),
      org("4", "ISMAIL GENERAL TRADING"),
      org("5", "MAHAN AIR"),
    ].map((entry) => ({ entry, digest: `d${entry.id}` })),
  },
]);

describe("a name with nothing distinctive to screen", () => {
  it("is held for review, not passed as clear (a legal form alone) nor matched to every trading company", () => {
    for (const name of ["LLC", "Ltd", "Co., Ltd.", "OOO", "Company", "Trading Co", "General Trading LLC"]) {
      const r = engine.screen({ name, type: "organization" });
      expect(r.status, name).toBe("potential");
      expect(
        r.matches.map((m) => [m.list, m.entry_id]),
        name,
      ).toEqual([[HOLD_LIST, HOLD_ENTRY]]);
      expect(r.matches[0]).toMatchObject({ matched_name: name, name_kind: "indistinct", score: 0.86 });
    }
    // Of unknown type too; and a person named by initials and titles alone.
    expect(engine.screen({ name: "Trading Company Ltd" }).matches[0]?.entry_id).toBe(HOLD_ENTRY);
    expect(engine.screen({ name: "Dr. A. B.", type: "person" }).matches[0]?.entry_id).toBe(HOLD_ENTRY);
  });

  it("leaves a name with one distinctive word to the matcher", () => {
    const r = engine.screen({ name: "Mahan Air General Trading LLC", type: "organization" });
    expect(r.matches.some((m) => m.list === HOLD_LIST)).toBe(false);
    expect(engine.screen({ name: "Mahan Air", type: "organization" }).matches[0]?.entry_id).toBe("5");
    // A person's "general" or "trade" is a name, not a generic word.
    expect(engine.screen({ name: "Grace Trade", type: "person" }).matches).toEqual([]);
  });

  it("is not held without lists to screen against (not screened at all)", () => {
    const empty = ScreeningEngine.fromLists([]);
    expect(empty.screen({ name: "LLC", type: "organization" })).toMatchObject({
      status: "clear",
      matches: [],
    });
  });
});
