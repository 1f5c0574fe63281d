/**
 * The bulk outcome (outcome.ts) is decide()'s outcome, reason and served model, exactly: over
 * generated principals and requests, under the test scheme and under random edits of it (licenses
 * added, partners suspended or widened, countries embargoed, the nationality rule switched).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileScheme, schemeFileSchema, type CompiledScheme, type SchemeFile } from "../scheme/index.js";
import { loadSchemeFile } from "../scheme/index.js";
import { testScheme } from "../testing/schemes.js";
import { decide } from "./decide.js";
import { decideOutcome } from "./outcome.js";
import { ACTIONS, ASSURANCE_LEVELS, type DecisionRequest, type Principal } from "./types.js";

const base = testScheme();
const g7 = loadSchemeFile("examples/g7-trusted-partners.yaml");
const COUNTRIES = ["US", "FR", "DE", "GB", "CA", "JP", "IN", "CN", "IR", "KP", "BR", "MO", "NO", "RU", "PL"];

const country = fc.constantFrom(...COUNTRIES);
const day = fc.constantFrom("1970-01-01", "1995-06-01", "2010-03-03", "2010-03-03");
const nationality = fc.record({ country, since: fc.option(day, { nil: null }) });
const principal: fc.Arbitrary<Principal> = fc.record({
  id: fc.constantFrom("p-in", "p-expired", "p-future", "p-x", "p-y"),
  citizenships: fc.array(nationality, { maxLength: 3 }),
  permanent_residencies: fc.array(nationality, { maxLength: 2 }),
  residence: fc.option(country, { nil: null }),
  organization: fc.option(
    fc.oneof(
      fc.constantFrom("uk-aisi", "old-lab", "bw-cyber", "unregistered"),
      fc.record({
        id: fc.constantFrom("bw-cyber", "acme", "uk-aisi"),
        country: fc.option(country, { nil: null }),
        screening: fc.constantFrom("clear", "clear", "potential", "confirmed" as const),
      }),
    ),
    { nil: null },
  ),
  assurance: fc.constantFrom(...ASSURANCE_LEVELS),
  screening: fc.constantFrom("clear", "clear", "clear", "potential", "confirmed" as const),
});
const request = (models: readonly string[]): fc.Arbitrary<DecisionRequest> =>
  fc.record({
    model: fc.constantFrom(...models, "no-such-model"),
    action: fc.constantFrom(...ACTIONS),
    location: fc.option(country, { nil: null }),
    purpose: fc.option(fc.constantFrom("cyber-defense", "research"), { nil: null }),
    time: fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 6, 1) }),
    usage: fc.option(
      fc.record({
        "L-ORG": fc.record({ tokens: fc.integer({ min: 0, max: 2000 }) }),
        "L-NEW": fc.record({ tokens: fc.integer({ min: 0, max: 2000 }) }),
      }),
      { nil: undefined },
    ),
  });

const edit = (models: readonly string[]) =>
  fc.record({
    rule: fc.constantFrom("most-recent", "all" as const),
    embargo: fc.option(country, { nil: null }),
    suspendCountryPartner: fc.boolean(),
    widen: fc.option(country, { nil: null }),
    partner: fc.option(
      fc.record({
        id: fc.constant("extra-partner"),
        countries: fc.subarray(COUNTRIES, { minLength: 1 }),
        status: fc.constantFrom("active", "active", "suspended" as const),
        assurance: fc.constantFrom(...ASSURANCE_LEVELS),
        grants: fc.array(
          fc.record({
            models: fc.subarray([...models], { minLength: 1 }),
            actions: fc.subarray([...ACTIONS], { minLength: 1 }),
          }),
          { minLength: 1, maxLength: 2 },
        ),
      }),
      { nil: null },
    ),
    license: fc.option(
      fc.record({
        id: fc.constant("L-NEW"),
        licensee: fc.oneof(
          fc.record({ organization: fc.constantFrom("uk-aisi", "bw-cyber", "acme") }),
          fc.record({ principal: fc.constantFrom("p-in", "p-x", "p-y") }),
        ),
        models: fc.subarray([...models], { minLength: 1 }),
        actions: fc.subarray([...ACTIONS], { minLength: 1 }),
        destinations: fc.subarray(COUNTRIES, { minLength: 1 }),
        purposes: fc.option(fc.subarray(["cyber-defense", "research"], { minLength: 1 }), { nil: undefined }),
        nationalities: fc.option(fc.subarray(COUNTRIES, { minLength: 1 }), { nil: undefined }),
        valid_from: fc.constantFrom("2025-01-01", "2026-06-01", "2027-01-01"),
        valid_until: fc.constantFrom("2027-06-01", "2028-01-01"),
        quota_tokens: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
        status: fc.constantFrom("pending", "approved", "approved", "suspended" as const),
      }),
      { nil: null },
    ),
  });

function edited(scheme: CompiledScheme, e: Edit): CompiledScheme {
  const s = structuredClone(scheme.source) as SchemeFile & Record<string, unknown>;
  const embargoed = [...(s.embargoed as string[]), ...(e.embargo === null ? [] : [e.embargo])];
  const countries = s.partners.countries.map((p, i) => ({
    ...p,
    ...(i === 0 && e.suspendCountryPartner ? { status: "suspended" as const } : {}),
    ...(i === 0 && e.widen !== null
      ? { countries: [...(Array.isArray(p.countries) ? p.countries : p.countries.include), e.widen] }
      : {}),
  }));
  if (e.partner !== null) countries.unshift(e.partner as (typeof countries)[number]);
  const result = compileScheme(
    schemeFileSchema.parse({
      ...s,
      nationality_rule: e.rule,
      embargoed,
      partners: { ...s.partners, countries },
      licenses: [...s.licenses, ...(e.license === null ? [] : [e.license])],
    }),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.scheme;
}
type Edit = {
  rule: "most-recent" | "all";
  embargo: string | null;
  suspendCountryPartner: boolean;
  widen: string | null;
  partner: unknown;
  license: unknown;
};

/** Seeds for aiming an input at one of the scheme's grants; `keep`: which fields stay as generated. */
interface Aim {
  readonly kind: number;
  readonly which: number;
  readonly model: number;
  readonly action: number;
  readonly location: number;
  readonly nationality: number;
  readonly time: number;
  readonly purpose: number;
  readonly keep: number;
}
const aim: fc.Arbitrary<Aim | null> = fc.option(
  fc.record({
    kind: fc.nat(2),
    which: fc.nat(),
    model: fc.nat(),
    action: fc.nat(),
    location: fc.nat(),
    nationality: fc.nat(),
    time: fc.nat(),
    purpose: fc.nat(),
    keep: fc.nat(),
  }),
  { nil: null, freq: 3 },
);

const pick = <T>(items: Iterable<T>, seed: number): T | undefined => {
  const list = [...items];
  return list.length === 0 ? undefined : list[seed % list.length];
};

/**
 * The principal and request turned towards a license, an organization partner's grant or a country
 * partner's grant of the scheme (holder, model, action, location, nationality, time, purpose,
 * assurance), each field left as generated one time in four: random inputs alone almost never meet
 * a grant's conditions all at once, and it is the last condition that a wrong outcome gets wrong.
 */
function aimed(
  s: CompiledScheme,
  p: Principal,
  r: DecisionRequest,
  at: Aim | null,
): [Principal, DecisionRequest] {
  if (at === null) return [p, r];
  let field = 0;
  // The aimed value, or the generated one (one time in four, per field).
  const or = <T>(aimedValue: T | undefined, generated: T): T =>
    ((at.keep >> (2 * field++)) & 3) === 0 || aimedValue === undefined ? generated : aimedValue;
  const nationalOf = (c: string | undefined): Principal => ({
    ...p,
    permanent_residencies: or([], p.permanent_residencies ?? []),
    citizenships: or(
      c === undefined
        ? undefined
        : [{ country: c, since: null }, ...(p.citizenships ?? [])].slice(0, 1 + (at.keep % 2)),
      p.citizenships ?? [],
    ),
  });
  const actionOf = (covers: (i: number) => boolean) =>
    or(ACTIONS.filter((_, i) => covers(i))[at.action % 4], r.action);
  if (at.kind === 0) {
    const lic = pick(s.licenses.values(), at.which);
    if (lic === undefined) return [p, r];
    const held: Partial<Principal> =
      lic.licensee.kind === "principal" ? { id: lic.licensee.id } : { organization: lic.licensee.id };
    const national = lic.nationalities === null ? p : nationalOf(pick(lic.nationalities, at.nationality));
    return [
      { ...national, ...or(held, {}) },
      {
        ...r,
        model: or(pick(lic.models, at.model), r.model),
        action: actionOf((i) => (lic.actions & (1 << i)) !== 0),
        location: or(pick(lic.destinations, at.location), r.location ?? null),
        time: or(lic.validFrom + (at.time % 3) * 30 * 86_400_000, r.time),
        purpose: or(lic.purposes === null ? undefined : pick(lic.purposes, at.purpose), r.purpose ?? null),
      },
    ];
  }
  const partner =
    at.kind === 1 ? pick(s.organizationPartners.values(), at.which) : pick(s.countryPartners, at.which);
  if (partner === undefined) return [p, r];
  const [model, row] = pick(partner.grants, at.model) ?? [r.model, undefined];
  const covers = (i: number) => (row?.[i] ?? -1) >= 0;
  if ("locations" in partner) {
    return [
      {
        ...nationalOf(pick(COUNTRIES, at.nationality)),
        organization: or(partner.id, p.organization ?? null),
        assurance: or("attested", p.assurance ?? "none"),
      },
      {
        ...r,
        model: or(model, r.model),
        action: actionOf(covers),
        location: or(pick(partner.locations, at.location), r.location ?? null),
      },
    ];
  }
  return [
    {
      ...nationalOf(pick(partner.countries, at.nationality)),
      assurance: or("attested", p.assurance ?? "none"),
    },
    {
      ...r,
      model: or(model, r.model),
      action: actionOf(covers),
      location: or(pick([...partner.countries, ...s.home], at.location), r.location ?? null),
    },
  ];
}

describe("the bulk outcome", () => {
  for (const [name, scheme] of [
    ["test scheme", base],
    ["G7 example", g7],
  ] as const) {
    const models = [...scheme.models.keys()];
    it(`is decide()'s outcome, reason and served model (${name}, random edits)`, () => {
      fc.assert(
        fc.property(
          edit(models),
          fc.array(fc.tuple(principal, request(models), aim), { minLength: 1, maxLength: 30 }),
          (e, inputs) => {
            const s = edited(scheme, e);
            for (const [generated, asked, at] of inputs) {
              const [p, r] = aimed(s, generated, asked, at);
              const d = decide(s, p, r);
              expect(decideOutcome(s, p, r)).toEqual({
                decision: d.decision,
                reason: d.reason,
                served_model: d.served_model,
              });
            }
          },
        ),
        { numRuns: 400 },
      );
    });
  }
});
