/**
 * Listed parties that were missed (fail-open), on the real lists in ../shared/data/screening: each
 * case here scored below the threshold before its fix. Skipped, saying so, when the lists are absent.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLD } from "./engine.js";
import { ScreeningIndex } from "./index.js";
import { loadList, ofacCompanions } from "./loaders/index.js";
import type { SubjectFacts } from "./matcher.js";
import type { ListEntry } from "./types.js";

const SHARED = join(import.meta.dirname, "..", "..", "..", "shared", "data", "screening");
const file = (p: string) => ({ name: p, bytes: readFileSync(p) });
const ofac = (main: string) =>
  [join(SHARED, main), ...ofacCompanions(join(SHARED, main)).filter(existsSync)].map(file);

describe.skipIf(!existsSync(SHARED))("listed parties found on the real lists", { timeout: 120_000 }, () => {
  let index: ScreeningIndex;
  let lists: { list: string; entries: readonly ListEntry[] }[];
  beforeAll(() => {
    lists = [
      loadList(ofac("ofac-sdn-csv/jackdwyer-2024-05-03/sdn.csv")),
      loadList([file(join(SHARED, "un-sc", "UN_consolidated-2026-02-27.xml"))]),
      loadList([file(join(SHARED, "bis-dpl", "dpl-2022.txt"))]),
    ];
    index = ScreeningIndex.build(
      lists.map((l) => ({ list: l.list, entries: l.entries.map((entry) => ({ entry, digest: "" })) })),
    );
  });
  /** The score of the entry whose primary name is `listed` (0 when not found at all). */
  const scoreOf = (facts: SubjectFacts, list: string, listed: string) => {
    const entry = lists.find((l) => l.list === list)!.entries.find((e) => e.names[0]!.name === listed);
    expect(entry, `${listed} on ${list}`).toBeDefined();
    const hit = index
      .search(facts, { threshold: 0.3 })
      .find((m) => m.list === list && m.entry_id === entry!.id);
    return hit?.score ?? 0;
  };

  it("DPL companies by their exact names, screened as organizations", () => {
    // Typed as people from their names, they took the type penalty: 0.850 and 0.446.
    for (const name of ["MAHAN AIRWAYS", "PJSC AEROFLOT", "ELMONT AG", "SKY BLUE BIRD FZC"])
      expect(scoreOf({ name, type: "organization" }, "bis-dpl", name), name).toBeGreaterThanOrEqual(
        DEFAULT_THRESHOLD,
      );
    expect(
      scoreOf({ name: "Aeroflot", type: "organization" }, "bis-dpl", "PJSC AEROFLOT"),
    ).toBeGreaterThanOrEqual(DEFAULT_THRESHOLD);
  });

  it("birth dates inside a listed range or near an approximate year corroborate, not contradict", () => {
    // "DOB 01 Jan 1977 to 31 Dec 1985" was read as its two ends, "circa 1965" as exactly 1965:
    // born 1981, or 1967, took -0.20 and fell to 0.80.
    const sadikov = {
      name: "Olimzhon Adkhamovich Sadikov",
      type: "person" as const,
      birth_date: "1981-05-02",
    };
    expect(scoreOf(sadikov, "ofac-sdn", "SADIKOV, Olimzhon Adkhamovich")).toBeGreaterThanOrEqual(1);
    const rabii = { name: "Nidal Al-Rabi'i", type: "person" as const, birth_date: "1967" };
    expect(scoreOf(rabii, "ofac-sdn", "AL-RABI'I, Nidal")).toBeGreaterThanOrEqual(DEFAULT_THRESHOLD);
  });

  it("an exact name with a birth date years off stays a potential match, the mismatch shown", () => {
    const m = index
      .search({ name: "Yahya Sinwar", type: "person", birth_date: "1975" }, { threshold: 0.3 })
      .find((x) => x.primary_name === "SINWAR, Yahya")!;
    expect(m.score).toBeGreaterThanOrEqual(DEFAULT_THRESHOLD);
    expect(m.factors).toContainEqual(
      expect.objectContaining({ field: "birth_date", detail: expect.stringContaining("listed 1961–1963") }),
    );
    expect(m.factors.find((f) => f.field === "birth_date")!.effect).toBeLessThan(0);
  });

  it("OFAC a.k.a.s with a quote inside are read whole and found", () => {
    // 'ABU-'UMAR' was read as "ABU-": 15 aliases lost and 83 cut short on this list.
    const marzook = lists.find((l) => l.list === "ofac-sdn")!.entries.find((e) => e.id === "3754")!;
    expect(marzook.names.map((n) => n.name)).toContain("ABU-'UMAR");
    expect(marzook.names.map((n) => n.name)).not.toContain("ABU-");
    expect(scoreOf({ name: "Abu-'Umar" }, "ofac-sdn", marzook.names[0]!.name)).toBeGreaterThanOrEqual(
      DEFAULT_THRESHOLD,
    );
  });

  it("a one-letter change in a short given name still reaches the listed name", () => {
    // The candidate keys (whole token, first and last four letters, consonants) all missed
    // "amaou" for "amadou": the search scored 0.000 what the matcher scores 0.981.
    for (const [query, listed] of [
      ["Amaou Kouffa", "KOUFFA, Amadou"],
      ["Allaa Shamlakh", "SHAMLAKH, Alaa"],
      ["Sreen Lukic", "LUKIC, Sreten"],
      ["Mahi Mehri", "MEHRI, Mahdi"],
      ["Saim Borji", "BORJI, Salim"],
      ["Ahad Najib", "NAJIB, Ahmad"],
    ])
      expect(scoreOf({ name: query!, type: "person" }, "ofac-sdn", listed!), query).toBeGreaterThanOrEqual(
        DEFAULT_THRESHOLD,
      );
  });

  it("Chinese and Korean names written family name first", () => {
    // 20 of 83 Chinese names (pinyin syllables apart, as any-ascii writes Hanzi) and 33 of 141
    // Korean ones (given name joined) were found.
    for (const [query, listed] of [
      ["Zhang Ji Cheng", "ZHANG, Jicheng"],
      ["Wang Guo Ying", "WANG, Guoying"],
      ["Liu Bao Xia", "LIU, Baoxia"],
      ["Kim Yongchol", "KIM, Yong Chol"],
      ["Ri Jeson", "RI, Je-Son"],
      ["Pak Tochun", "PAK, To-Chun"],
    ])
      expect(scoreOf({ name: query!, type: "person" }, "ofac-sdn", listed!), query).toBeGreaterThanOrEqual(
        DEFAULT_THRESHOLD,
      );
  });

  it("a search at the threshold finds what a search down to 0.6 scores at or above it", () => {
    // The candidate cut depends on the threshold: at 0.86 these were never scored ("dzhuan" shares
    // no key with "juan" but its folded spelling), while a search down to 0.6 scored them 1.0 and 0.905.
    // The second is an alias of SDN entry 12926 in the 2021 list that the 2024 one writes otherwise.
    for (const [query, listed] of [
      ["Джуан Джосе Моралес Кифуентес", "MORALES CIFUENTES, Juan Jose"],
      ["AL-SAMARRA'I, Ibrahim Awwad Ibrahim", "#12926"],
    ]) {
      const entry = lists[0]!.entries.find((e) =>
        listed!.startsWith("#") ? e.id === listed!.slice(1) : e.names[0]!.name === listed,
      )!;
      const at = (threshold: number) =>
        index
          .search({ name: query!, type: "person" }, { threshold })
          .find((m) => m.list === "ofac-sdn" && m.entry_id === entry.id)?.score ?? 0;
      expect(at(0.6), query).toBeGreaterThanOrEqual(DEFAULT_THRESHOLD);
      expect(at(DEFAULT_THRESHOLD), query).toBe(at(0.6));
    }
  });

  it("the names a search scores first are those its own tokens reach, not shared suffixes", () => {
    // 1,500 Russian names share "alek…" and "…vich" with this one: scored in the order they were
    // reached, the listed one was beyond the names a search may score.
    expect(
      scoreOf(
        { name: "Алексеи Петрович Шкадаревич", type: "person" },
        "ofac-sdn",
        "SHKADAREVICH, Alexei Petrovich",
      ),
    ).toBeGreaterThanOrEqual(DEFAULT_THRESHOLD);
    const crowded = index.search(
      { name: "Алексеи Петрович Шкадаревич", type: "person" },
      { threshold: DEFAULT_THRESHOLD },
    );
    expect(crowded.map((m) => m.primary_name)).toContain("SHKADAREVICH, Alexei Petrovich");
  });
});
if (!existsSync(SHARED)) console.warn(`skipping the real-list recall tests: ${SHARED} is absent`);
