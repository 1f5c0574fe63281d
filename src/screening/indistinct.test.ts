/**
 * Names with nothing distinctive left once normalised (legal forms, titles, initials, generic
 * words): held for review, saying why, instead of passing as clear or matching every listed
 * company with the same generic word.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ScreeningEngine } from "./engine.js";
import { HOLD_ENTRY, HOLD_LIST } from "./indistinct.js";
import { loadList, ofacCompanions } from "./loaders/index.js";
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
      org("6", "GLOBAL TRADING COMPANY LLC"),
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

  it("is still matched to an entry listed under the very same name, and held besides", () => {
    // The review's finding: these were held as "indistinct" only, never matched to the listed party.
    for (const [name, id] of [
      ["A A Trading FZCO", "1"],
      ["Global Trading Company LLC", "6"],
      ["LLC Global Trading Company", "6"],
    ] as const) {
      const r = engine.screen({ name, type: "organization" });
      expect(
        r.matches.map((m) => [m.list, m.entry_id, m.score]),
        name,
      ).toEqual([
        ["sdn", id, 1],
        [HOLD_LIST, HOLD_ENTRY, 0.86],
      ]);
    }
    // Of unknown type too (a federated principal's display name).
    expect(engine.screen({ name: "A. A. Trading" }).matches.map((m) => m.entry_id)).toEqual([
      "1",
      HOLD_ENTRY,
    ]);
    // Only the same tokens, all of them: "Trading Co" is not "A A TRADING FZCO" (its tokens a subset).
    expect(engine.screen({ name: "Trading", type: "organization" }).matches.map((m) => m.entry_id)).toEqual([
      HOLD_ENTRY,
    ]);
    expect(engine.screen({ name: "A Trading", type: "organization" }).matches.map((m) => m.entry_id)).toEqual(
      [HOLD_ENTRY],
    );
  });

  it("counts the hold as one of the items a limit allows, and never cuts it", () => {
    const twice = ScreeningEngine.fromLists([
      {
        list: "sdn",
        entries: [org("1", "A A TRADING FZCO"), org("2", "A A TRADING FZCO")].map((entry) => ({
          entry,
          digest: `d${entry.id}`,
        })),
      },
    ]);
    const ids = (limit?: number) =>
      twice
        .screen({ name: "A. A. Trading FZCO", type: "organization" }, limit === undefined ? {} : { limit })
        .matches.map((m) => m.entry_id);
    expect(ids()).toEqual(["1", "2", HOLD_ENTRY]);
    expect(ids(3)).toEqual(["1", "2", HOLD_ENTRY]);
    expect(ids(2)).toEqual(["1", HOLD_ENTRY]);
    expect(ids(1)).toEqual([HOLD_ENTRY]);
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

const SHARED = join(import.meta.dirname, "..", "..", "..", "shared", "data", "screening");
const SDN = join(SHARED, "ofac-sdn-csv", "jackdwyer-2024-05-03", "sdn.csv");

describe.skipIf(!existsSync(SDN))("on the real SDN list (2024-05-03)", { timeout: 120_000 }, () => {
  let sdn: ScreeningEngine;
  beforeAll(() => {
    const list = loadList(
      [SDN, ...ofacCompanions(SDN).filter(existsSync)].map((name) => ({ name, bytes: readFileSync(name) })),
    );
    sdn = ScreeningEngine.fromLists([
      { list: "sdn", entries: list.entries.map((entry) => ({ entry, digest: entry.id })) },
    ]);
  });
  const found = (name: string) =>
    sdn.screen({ name, type: "organization" }).matches.map((m) => `${m.entry_id} ${m.score}`);

  it("a listed company's own indistinct name finds it (the search alone reached 18 or 29, or none)", () => {
    expect(found("A A Trading FZCO")).toEqual(["10598 1", `${HOLD_ENTRY} 0.86`]);
    expect(found("M and S Trading")).toEqual(["46793 1", `${HOLD_ENTRY} 0.86`]);
    expect(found("B R C S.A.")).toEqual(["10795 1", `${HOLD_ENTRY} 0.86`]);
    // Generic words alone reach no listed company: only the hold.
    for (const name of ["Trading Co", "General Trading LLC", "International Holdings Ltd"])
      expect(found(name), name).toEqual([`${HOLD_ENTRY} 0.86`]);
  });
});

if (!existsSync(SDN)) console.warn(`skipping the real-SDN indistinct-name tests: ${SDN} is absent`);
