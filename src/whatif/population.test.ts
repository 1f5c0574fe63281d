/**
 * What-if over a population: a candidate that adds a partner country, removes a license, embargoes
 * a country and changes the nationality rule to `all` gains and loses exactly the expected people;
 * a candidate equal to the active scheme changes nothing; grouping principals into classes gives
 * the same counts as deciding for each principal; principals projected to one class decide alike.
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decide } from "../policy/decide.js";
import { ACTIONS, type Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import { loadSchemeFile, parseScheme } from "../scheme/index.js";
import {
  classKey,
  organizationOf,
  populationWhatIf,
  populationWhatIfYielding,
  sideOf,
} from "./population.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { direction, type WhatIfPart } from "./result.js";

const BASE = `
version: 1
name: base
home: [US]
nationality_rule: most-recent
embargoed: [IR]
restricted_nationalities: [CN]
models:
  m5: {control: controlled, fallback: m4}
  m4: {control: open}
partners:
  countries:
    - {id: allies, countries: [FR, DE, CA], assurance: verified, grants: [{models: [m5], actions: [infer]}]}
licenses:
  - {id: L-IN, licensee: {principal: devi}, models: [m5], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2028-01-01, status: approved}
`;
const CANDIDATE = BASE.replace("name: base", "name: candidate")
  .replace("countries: [FR, DE, CA]", "countries: [FR, DE, CA, JP]") // adds a partner country
  .replace(/licenses:\n.*\n.*\n/, "licenses: []\n") // removes the license
  .replace("embargoed: [IR]", "embargoed: [IR, RU]") // embargoes a country
  .replace("nationality_rule: most-recent", "nationality_rule: all");

const person = (id: string, citizenships: [string, string][], residence: string): Principal => ({
  id,
  citizenships: citizenships.map(([country, since]) => ({ country, since })),
  residence,
  assurance: "verified",
});
const PEOPLE: Principal[] = [
  person("alice", [["US", "1990-01-01"]], "US"),
  person("benoit", [["FR", "1990-01-01"]], "FR"),
  person("devi", [["IN", "1990-01-01"]], "IN"),
  person("raj", [["IN", "1991-01-01"]], "IN"),
  person(
    "feng",
    [
      ["CN", "1987-05-01"],
      ["CA", "2016-11-15"],
    ],
    "CA",
  ),
  person("omid", [["RU", "1980-01-01"]], "RU"),
  person("sara", [["JP", "1985-01-01"]], "JP"),
];
const TIME = Date.parse("2026-11-21T12:00:00Z");

/** "who@where model action" for every decision in the groups of one direction. */
function decisions(part: WhatIfPart, dir: "gain" | "loss"): string[] {
  return part.groups
    .filter((g) => g.direction === dir)
    .flatMap((g) => g.examples.map((e) => `${e} ${g.model} ${g.action}`))
    .sort();
}

describe("what-if over the population", () => {
  const active = parseScheme(BASE, "base.yaml");
  const candidate = parseScheme(CANDIDATE, "candidate.yaml");
  const result = populationWhatIf({
    active,
    candidate,
    principals: PEOPLE,
    seen: new Map([["benoit", new Set(["JP", "FR"])]]),
    time: TIME,
    examples: 100,
  });

  it("gains exactly the new partner country's nationals and those seen there", () => {
    expect(decisions(result, "gain")).toEqual(["benoit@JP m5 infer", "sara@JP m5 infer"]);
  });

  it("loses exactly the license holder, the embargoed country's residents and the dual national", () => {
    expect(decisions(result, "loss")).toEqual(
      [
        "devi@IN m5 infer",
        "feng@CA m5 infer",
        ...ACTIONS.flatMap((a) => [`omid@RU m4 ${a}`, `omid@RU m5 ${a}`]),
      ].sort(),
    );
    expect(result.groups.filter((g) => g.direction === "change")).toEqual([]);
  });

  it("says how each changes, grouped by reason", () => {
    const s = result.summary;
    expect(s).toMatchObject({
      gained: 2,
      lost: 10,
      changed: 0,
      allow_to_fallback: 2,
      allow_to_deny: 4,
      fallback_to_deny: 4,
    });
    expect(s.compared).toBe((PEOPLE.length + 1) * 2 * ACTIONS.length);
    const transitions = Object.fromEntries(s.by_transition.map((t) => [t.key, t.gained + t.lost]));
    expect(transitions).toEqual({
      "allow open-model → deny embargoed-location": 4,
      "fallback no-authorization (m4) → deny embargoed-location": 4,
      "fallback no-authorization (m4) → allow partner-country": 2,
      "allow license → fallback no-authorization (m4)": 1,
      "allow partner-country → fallback no-authorization (m4)": 1,
    });
    const feng = result.groups.find((g) => g.examples.includes("feng@CA"));
    expect(feng).toMatchObject({ location: "CA", nationality: "CA", organization: "none", count: 1 });
  });

  it("keeps examples bounded while counting everyone", () => {
    const many = Array.from({ length: 1000 }, (_, i) => person(`jp-${i}`, [["JP", "1985-01-01"]], "JP"));
    const r = populationWhatIf({ active, candidate, principals: many, time: TIME, examples: 3 });
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]).toMatchObject({ count: 1000, examples: ["jp-0@JP", "jp-1@JP", "jp-2@JP"] });
    expect(r.classes).toBe(1);
  });
});

const COUNTRIES = ["US", "FR", "DE", "GB", "CA", "CN", "IN", "IR", "RU", "JP", "MO", "HK"];
const arbPrincipal = (id: string) =>
  fc.record({
    id: fc.constant(id),
    citizenships: fc.array(
      fc.record({
        country: fc.constantFrom(...COUNTRIES),
        since: fc.option(fc.constantFrom("1980-01-01", "1995-06-01", "2010-03-03"), { nil: null }),
      }),
      { maxLength: 2 },
    ),
    residence: fc.option(fc.constantFrom(...COUNTRIES), { nil: null }),
    organization: fc.option(fc.constantFrom("uk-aisi", "bw-cyber", "inria", { id: "acme", country: "CN" }), {
      nil: null,
    }),
    assurance: fc.constantFrom("none", "self", "verified", "attested" as const),
    screening: fc.constantFrom("clear", "clear", "potential", "confirmed" as const),
  }) as fc.Arbitrary<Principal>;
const arbPopulation = fc
  .integer({ min: 1, max: 25 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbPrincipal(`p${i}`))));
const arbSeen = fc.array(
  fc.tuple(fc.integer({ min: 0, max: 24 }), fc.option(fc.constantFrom(...COUNTRIES), { nil: null })),
  {
    maxLength: 20,
  },
);

const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");

describe("worker threads", () => {
  it("decide the same as one thread", async () => {
    const candidate = parseScheme(CANDIDATE, "candidate.yaml");
    const active = parseScheme(BASE, "base.yaml");
    const people = fc
      .sample(arbPopulation, 20)
      .flatMap((ps, i) => ps.map((p) => ({ ...p, id: `${p.id}-${i}` })));
    const input = { active, candidate, principals: people, time: TIME, examples: 1000 };
    const one = populationWhatIf(input);
    const two = await populationWhatIfYielding({ ...input, threads: 2, minClassesPerThread: 1 });
    const strip = (r: WhatIfPart) =>
      r.groups.map(({ examples, ...g }) => ({ ...g, examples: [...examples].sort() }));
    expect(two.summary).toEqual(one.summary);
    expect(strip(two)).toEqual(strip(one));
    expect(one.summary.lost + one.summary.gained).toBeGreaterThan(0);
  }, 60_000);
});

describe("what-if properties", () => {
  it("a candidate equal to the active scheme changes nothing", () => {
    const same = loadSchemeFile("examples/g7-trusted-partners.yaml");
    fc.assert(
      fc.property(arbPopulation, arbSeen, (people, seenList) => {
        const seen = new Map<string, Set<string | null>>();
        for (const [i, loc] of seenList) seen.set(`p${i}`, (seen.get(`p${i}`) ?? new Set()).add(loc));
        const r = populationWhatIf({ active: g7, candidate: same, principals: people, seen, time: TIME });
        expect(r.groups).toEqual([]);
        expect(r.summary).toMatchObject({ gained: 0, lost: 0, changed: 0 });
      }),
      { numRuns: 50 },
    );
  });

  it("classes of principals give the same counts as deciding for each principal", () => {
    const candidate = parseScheme(
      readG7()
        .replace("name: g7-trusted-partners", "name: g7-candidate")
        .replace("trusted: [G7, FIVE_EYES]", "trusted: [G7, FIVE_EYES, IN]")
        .replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]")
        .replace("nationality_rule: most-recent", "nationality_rule: all"),
      "candidate.yaml",
    );
    fc.assert(
      fc.property(arbPopulation, (people) => {
        const r = populationWhatIf({ active: g7, candidate, principals: people, time: TIME });
        const naive = new Map<string, number>();
        for (const p of people) {
          for (const model of g7.models.keys()) {
            for (const action of ACTIONS) {
              const request = { model, action, location: p.residence ?? null, time: TIME };
              const a = sideOf(decide(g7, p, request));
              const b = sideOf(decide(candidate, p, request));
              const dir = direction(a, b);
              if (dir === null) continue;
              const key = [
                dir,
                p.residence ?? "unknown",
                nationalityLabel(g7, p),
                organizationOf(p),
                model,
                action,
                a.reason,
                b.reason,
                b.decision,
              ].join("|");
              naive.set(key, (naive.get(key) ?? 0) + 1);
            }
          }
        }
        const grouped = new Map<string, number>();
        for (const g of r.groups) {
          const key = [
            g.direction,
            g.location,
            g.nationality,
            g.organization,
            g.model,
            g.action,
            g.from.reason,
            g.to.reason,
            g.to.decision,
          ].join("|");
          grouped.set(key, (grouped.get(key) ?? 0) + g.count);
        }
        expect(grouped).toEqual(naive);
      }),
      { numRuns: 50 },
    );
  });
});

const readG7 = () => readFileSync("examples/g7-trusted-partners.yaml", "utf8");

describe("class projection", () => {
  const g7Candidate = () =>
    parseScheme(
      readG7()
        .replace("name: g7-trusted-partners", "name: g7-candidate")
        .replace("trusted: [G7, FIVE_EYES]", "trusted: [G7, FIVE_EYES, IN]")
        .replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]")
        .replace("nationality_rule: most-recent", "nationality_rule: all"),
      "candidate.yaml",
    );
  const pairs: [string, CompiledScheme, CompiledScheme][] = [
    ["base → candidate", parseScheme(BASE, "base.yaml"), parseScheme(CANDIDATE, "candidate.yaml")],
    ["g7 → g7 candidate", g7, g7Candidate()],
  ];
  // Ids from a small set, one of them holding a license personally under BASE.
  const arbPerson = fc
    .tuple(fc.constantFrom("devi", "p1", "p2", "p3"), arbPrincipal("x"))
    .map(([id, p]) => ({ ...p, id }));
  const locations = [...COUNTRIES, null];

  for (const [name, active, candidate] of pairs) {
    it(`principals projected to one class decide alike under both schemes (${name})`, () => {
      const models = [...new Set([...active.models.keys(), ...candidate.models.keys()])];
      let collapsed = 0;
      fc.assert(
        fc.property(fc.array(arbPerson, { minLength: 2, maxLength: 40 }), (people) => {
          const byKey = new Map<string, Principal>();
          for (const p of people) {
            const key = classKey(active, candidate, p);
            const rep = byKey.get(key);
            if (rep === undefined) {
              byKey.set(key, p);
              continue;
            }
            collapsed++;
            for (const scheme of [active, candidate]) {
              for (const model of models) {
                for (const action of ACTIONS) {
                  for (const location of locations) {
                    const request = { model, action, location, time: TIME };
                    expect(sideOf(decide(scheme, p, request))).toEqual(sideOf(decide(scheme, rep, request)));
                  }
                }
              }
            }
          }
        }),
        { numRuns: 150 },
      );
      // The property is only worth something if the projection does merge principals.
      expect(collapsed).toBeGreaterThan(0);
    });
  }
});
