import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLD } from "./engine.js";
import { buildEvaluation, metricsAt, scoreCases, toCyrillic, type CaseScore } from "./evaluation.js";
import { ScreeningIndex } from "./index.js";
import { loadList, ofacCompanions } from "./loaders/index.js";

const SHARED = join(import.meta.dirname, "..", "..", "..", "shared", "data", "screening");

describe("evaluation metrics", () => {
  it("counts a found positive, a missed one, and a false alert on a negative", () => {
    const c = (expected: boolean) => ({
      category: "x",
      query: { name: "a b" },
      expected: expected ? { list: "l", id: "1" } : null,
    });
    const scores: CaseScore[] = [
      { c: c(true), expected: 0.95, other: 0 },
      { c: c(true), expected: 0.7, other: 0.9 },
      { c: c(false), expected: 0, other: 0.9 },
      { c: c(false), expected: 0, other: 0.5 },
    ];
    expect(metricsAt(scores, 0.86)).toEqual({
      threshold: 0.86,
      precision: 0.5,
      recall: 0.5,
      f1: 0.5,
      tp: 1,
      fp: 1,
      fn: 1,
    });
  });
  it("writes Latin names in Cyrillic for the transliteration cases", () => {
    expect(toCyrillic("Ivan Petrov")).toBe("иван петров");
    expect(toCyrillic("Shchukin")).toBe("щукин");
  });
});

describe.skipIf(!existsSync(SHARED))(
  "quality on the real lists (a sample of the evaluation set)",
  { timeout: 120_000 },
  () => {
    it(`at the default threshold ${DEFAULT_THRESHOLD}: precision at least 0.9, recall at least 0.65`, () => {
      const file = (p: string) => ({ name: p, bytes: readFileSync(p) });
      const ofac = (main: string) =>
        [join(SHARED, main), ...ofacCompanions(join(SHARED, main)).filter(existsSync)].map(file);
      const indexed = [
        loadList(ofac("ofac-sdn-csv/jackdwyer-2024-05-03/sdn.csv")),
        loadList([file(join(SHARED, "un-sc", "UN_consolidated-2026-02-27.xml"))]),
      ].map((l) => ({ list: l.list, entries: l.entries }));
      const cases = buildEvaluation({ indexed }, 40);
      const index = ScreeningIndex.build(
        indexed.map((l) => ({
          list: l.list,
          entries: l.entries.map((e) => ({
            entry: { ...e, names: e.names.filter((n) => n.kind !== "original-script") },
            digest: "",
          })),
        })),
      );
      const m = metricsAt(scoreCases(index, cases), DEFAULT_THRESHOLD);
      expect(m.precision).toBeGreaterThanOrEqual(0.9);
      expect(m.recall).toBeGreaterThanOrEqual(0.65);
    });
  },
);
if (!existsSync(SHARED)) console.warn(`skipping the quality test on real lists: ${SHARED} is absent`);
