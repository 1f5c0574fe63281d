/**
 * The population what-if's fast path (classes of principals, the bulk outcome, groups found by
 * number, worker threads) against the straightforward one: every principal × location × model ×
 * action decided directly with decide() under both schemes, counted group by group. Random
 * populations (with locations seen in the log) and random edits of the G7 scheme; the results must
 * be the same: the summary exactly, and every group with its count and examples.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide } from "../policy/decide.js";
import { ACTIONS, ASSURANCE_LEVELS, type Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import { compileScheme, loadSchemeFile, schemeFileSchema, type CompiledScheme } from "../scheme/index.js";
import { organizationOf, populationWhatIf, populationWhatIfYielding, sideOf } from "./population.js";
import { ChangeCollector, type ChangeGroup, type WhatIfPart } from "./result.js";

const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");
const TIME = Date.parse("2026-11-21T12:00:00Z");
const COUNTRIES = ["US", "FR", "DE", "GB", "CA", "CN", "IN", "IR", "RU", "JP", "MO", "BR"];
const LIMIT = 1_000_000;

const country = fc.constantFrom(...COUNTRIES);
const principal = (id: string): fc.Arbitrary<Principal> =>
  fc.record({
    id: fc.constant(id),
    citizenships: fc.array(
      fc.record({ country, since: fc.option(fc.constantFrom("1980-01-01", "2010-03-03"), { nil: null }) }),
      { maxLength: 2 },
    ),
    permanent_residencies: fc.array(fc.record({ country, since: fc.constant(null) }), { maxLength: 1 }),
    residence: fc.option(country, { nil: null }),
    organization: fc.option(
      fc.oneof(
        fc.constantFrom("uk-aisi", "bw-cyber", "inria"),
        fc.record({
          id: fc.constantFrom("acme", "uk-aisi"),
          country: fc.option(country, { nil: null }),
          screening: fc.constantFrom("clear", "clear", "potential", "confirmed" as const),
        }),
      ),
      { nil: null },
    ),
    assurance: fc.constantFrom(...ASSURANCE_LEVELS),
    screening: fc.constantFrom("clear", "clear", "clear", "potential", "confirmed" as const),
  });

const population = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => principal(i % 7 === 0 ? "licensee" : `p${i}`))),
  )
  .map((people) => people.map((p, i) => ({ ...p, id: `${p.id}-${i}` })));
const seenList = fc.array(fc.tuple(fc.nat(39), fc.option(country, { nil: null })), { maxLength: 30 });

/** Random edits of the G7 scheme: the kinds of change a what-if is asked about. */
const edits = fc.record({
  rule: fc.constantFrom("most-recent", "all" as const),
  embargo: fc.subarray(["RU", "CN", "BR"]),
  partnerCountries: fc.subarray(["IN", "BR", "JP", "CN"]),
  suspendPartner: fc.boolean(),
  dropLicense: fc.boolean(),
  license: fc.option(
    fc.record({
      models: fc.subarray(["mythos-5", "fable-5", "eu-mythos-5"], { minLength: 1 }),
      destinations: fc.subarray(COUNTRIES, { minLength: 1 }),
      nationalities: fc.option(fc.subarray(COUNTRIES, { minLength: 1 }), { nil: undefined }),
      holder: fc.constantFrom("licensee-0", "licensee-7", "acme"),
    }),
    { nil: null },
  ),
});

function edited(e: typeof edits extends fc.Arbitrary<infer T> ? T : never): CompiledScheme {
  const s = structuredClone(g7.source);
  const [fvey, ...rest] = s.partners.countries;
  const countries = Array.isArray(fvey?.countries) ? fvey.countries : (fvey?.countries.include ?? []);
  const partners = [
    {
      ...fvey!,
      countries: [...countries, ...e.partnerCountries],
      status: e.suspendPartner ? "suspended" : "active",
    },
    ...rest,
  ];
  const licenses = [
    ...(e.dropLicense ? [] : s.licenses),
    ...(e.license === null
      ? []
      : [
          {
            id: "L-EXTRA",
            licensee:
              e.license.holder === "acme" ? { organization: "acme" } : { principal: e.license.holder },
            models: e.license.models,
            actions: ["infer", "evaluate"],
            destinations: e.license.destinations,
            ...(e.license.nationalities ? { nationalities: e.license.nationalities } : {}),
            valid_from: "2026-01-01",
            valid_until: "2027-12-31",
            status: "approved",
          },
        ]),
  ];
  const r = compileScheme(
    schemeFileSchema.parse({
      ...s,
      name: "g7-edited",
      nationality_rule: e.rule,
      embargoed: [...(s.embargoed as string[]), ...e.embargo],
      partners: { ...s.partners, countries: partners },
      licenses,
    }),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.scheme;
}

/** Every principal × location × model × action, decided directly. */
function straightforward(
  active: CompiledScheme,
  candidate: CompiledScheme,
  people: readonly Principal[],
  seen: ReadonlyMap<string, ReadonlySet<string | null>>,
) {
  const models = [...new Set([...active.models.keys(), ...candidate.models.keys()])];
  const collector = new ChangeCollector(LIMIT);
  for (const p of people) {
    const residence = p.residence ?? null;
    const locations = [residence, ...[...(seen.get(p.id) ?? [])].filter((l) => l !== residence)];
    for (const location of locations) {
      for (const model of models) {
        for (const action of ACTIONS) {
          const request = { model, action, location, time: TIME };
          collector.compared++;
          collector.add(
            location ?? "unknown",
            nationalityLabel(active, p),
            organizationOf(p),
            model,
            action,
            sideOf(decide(active, p, request)),
            sideOf(decide(candidate, p, request)),
            1,
            [`${p.id}@${location ?? "unknown"}`],
          );
        }
      }
    }
  }
  return collector.result(active.digest, candidate.digest);
}

/** Groups in a canonical order, examples sorted (the two paths meet members in different orders). */
const canonical = (groups: readonly ChangeGroup[]) =>
  groups.map((g) => JSON.stringify({ ...g, examples: [...g.examples].sort() })).sort();

describe("the population what-if's fast path", () => {
  it("gives the straightforward result: every principal, location, model and action decided with decide()", async () => {
    let changed = 0;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(population, seenList, edits, edits, async (people, seenAt, before, after) => {
        const active = edited(before);
        const candidate = edited(after);
        const seen = new Map<string, Set<string | null>>();
        for (const [i, loc] of seenAt) {
          const id = people[i % people.length]?.id as string;
          seen.set(id, (seen.get(id) ?? new Set()).add(loc));
        }
        const input = { active, candidate, principals: people, seen, time: TIME, examples: LIMIT };
        const expected = straightforward(active, candidate, people, seen);
        const fast: WhatIfPart = populationWhatIf(input);
        // Worker threads in one run of ten (each starts a thread that loads the sources anew).
        const threaded =
          run++ % 10 === 0
            ? [await populationWhatIfYielding({ ...input, threads: 2, minClassesPerThread: 1 })]
            : [];
        for (const r of [fast, ...threaded]) {
          expect(r.summary).toEqual(expected.summary);
          expect(canonical(r.groups)).toEqual(canonical(expected.groups));
        }
        changed += expected.groups.length;
      }),
      { numRuns: 80 },
    );
    // Only worth something if the edits do change decisions.
    expect(changed).toBeGreaterThan(0);
  }, 120_000);
});
