/**
 * DESIGN.md "Decision semantics" written a second time, as plainly as it reads and without any of
 * decide()'s precomputation (facts per principal, grant indexes, shared pass results), and the two
 * held equal over generated schemes — home and embargoed sets, restricted nationalities, models with
 * fallbacks and regions, country and organization partners in every status, licenses with every
 * condition — and generated principals and requests. conformance.test.ts holds decide() to the
 * contract on one scheme, sentence by sentence; this holds it to the whole contract on many. Where
 * DESIGN.md leaves a choice open the reference takes the code's documented one (README, "The
 * decision"): several acquired on the latest date all count, and a foreign person with no
 * nationality on record meets no condition on nationality.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import { compileScheme, schemeFileSchema, type CompiledScheme, type SchemeFile } from "../scheme/index.js";
import { decide } from "./decide.js";
import { decideOutcome } from "./outcome.js";
import {
  ACTIONS,
  ASSURANCE_LEVELS,
  type DecisionRequest,
  type Nationality,
  type Principal,
  type Reason,
} from "./types.js";

const C = ["US", "CA", "FR", "DE", "GB", "IN", "BR", "CN", "IR", "KP", "AU", "AQ"];
const MODELS = ["m0", "m1", "m2", "m3", "m4"];
const country = fc.constantFrom(...C);
const sub = (min = 0) => fc.subarray(C, { minLength: min });
const grant = fc.record({
  models: fc.subarray(MODELS, { minLength: 1 }),
  actions: fc.subarray([...ACTIONS], { minLength: 1 }),
});
const schemeArb = fc
  .record({
    home: fc.subarray(["US", "CA", "GB"], { minLength: 1 }),
    nationality_rule: fc.constantFrom("most-recent", "all"),
    embargoed: fc.subarray(["IR", "KP", "CN", "BR"]),
    restricted: fc.subarray(["CN", "IN", "BR"]),
    models: fc.tuple(
      ...MODELS.map((_, i) =>
        fc.record({
          control: fc.constantFrom("open", "controlled", "home-only"),
          fallback: fc.option(fc.constantFrom(...MODELS.slice(i + 1), "-"), { nil: undefined }),
          available_in: fc.oneof(
            { arbitrary: fc.constant(undefined), weight: 3 },
            { arbitrary: sub(1), weight: 1 },
          ),
        }),
      ),
    ),
    countries: fc.array(
      fc.record({
        countries: sub(1),
        status: fc.constantFrom("active", "active", "suspended"),
        assurance: fc.constantFrom(...ASSURANCE_LEVELS),
        grants: fc.array(grant, { minLength: 1, maxLength: 2 }),
      }),
      { maxLength: 3 },
    ),
    orgs: fc.array(
      fc.record({
        country,
        status: fc.constantFrom("active", "active", "revoked"),
        assurance: fc.constantFrom(...ASSURANCE_LEVELS),
        locations: fc.option(sub(1), { nil: undefined }),
        grants: fc.array(grant, { minLength: 1, maxLength: 2 }),
      }),
      { maxLength: 3 },
    ),
    licenses: fc.array(
      fc.record({
        licensee: fc.oneof(
          fc.record({ organization: fc.constantFrom("o0", "o1", "o2", "ox") }),
          fc.record({ principal: fc.constantFrom("p0", "p1") }),
        ),
        models: fc.subarray(MODELS, { minLength: 1 }),
        actions: fc.subarray([...ACTIONS], { minLength: 1 }),
        destinations: sub(1),
        purposes: fc.option(fc.subarray(["r", "s"], { minLength: 1 }), { nil: undefined }),
        nationalities: fc.option(sub(1), { nil: undefined }),
        valid_from: fc.constantFrom("2026-01-01", "2026-06-01T12:00:00+02:00"),
        valid_until: fc.constantFrom("2026-07-01", "2027-01-01T00:00:00Z"),
        quota_tokens: fc.option(fc.constantFrom(0, 5, 10), { nil: undefined }),
        status: fc.constantFrom("approved", "approved", "revoked", "pending"),
      }),
      { maxLength: 4 },
    ),
  })
  .map((s) => {
    const src = {
      version: 1,
      name: "gen",
      home: s.home,
      nationality_rule: s.nationality_rule,
      embargoed: s.embargoed,
      restricted_nationalities: s.restricted,
      models: Object.fromEntries(
        s.models.map((m, i) => [
          MODELS[i],
          {
            control: m.control,
            ...(m.fallback && m.fallback !== "-" ? { fallback: m.fallback } : {}),
            ...(m.available_in ? { available_in: m.available_in } : {}),
          },
        ]),
      ),
      partners: {
        countries: s.countries.map((p, i) => ({ id: `c${i}`, ...p })),
        organizations: s.orgs.map((p, i) => ({ id: `o${i}`, ...p })),
      },
      licenses: s.licenses.map((l, i) => ({ id: `L${i}`, ...l })),
    };
    return schemeFileSchema.parse(src);
  });

function compiled(source: SchemeFile): CompiledScheme {
  const r = compileScheme(source);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.scheme;
}

const day = fc
  .integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2027, 0, 1) })
  .map((t) => new Date(t).toISOString().slice(0, 10));
const dayPick = fc.oneof(day, fc.constantFrom("2000-01-01", "2010-01-01", "2026-03-01"));
const nat = fc.record({ country, since: fc.option(dayPick, { nil: null }) });
const screeningArb = fc.oneof(
  { arbitrary: fc.constant("clear" as const), weight: 8 },
  { arbitrary: fc.constantFrom("potential" as const, "confirmed" as const), weight: 1 },
);
const principalArb: fc.Arbitrary<Principal> = fc.record({
  id: fc.constantFrom("p0", "p1", "p2"),
  citizenships: fc.array(nat, { maxLength: 3 }),
  permanent_residencies: fc.array(nat, { maxLength: 2 }),
  residence: fc.option(country, { nil: null }),
  organization: fc.option(
    fc.oneof(
      fc.constantFrom("o0", "o1", "o2", "ox"),
      fc.record({
        id: fc.constantFrom("o0", "o1", "ox"),
        country: fc.option(country, { nil: null }),
        screening: screeningArb,
      }),
    ),
    { nil: null },
  ),
  assurance: fc.constantFrom(...ASSURANCE_LEVELS),
  screening: screeningArb,
});
/** The instant t written as an ISO 8601 date-time in the given zone ("Z" or ±HH:MM). */
function zoned(t: number, zone: string): string {
  if (zone === "Z") return new Date(t).toISOString();
  const sign = zone.startsWith("-") ? -1 : 1;
  const offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  return new Date(t + offset).toISOString().replace("Z", zone);
}
const requestArb: fc.Arbitrary<DecisionRequest> = fc.record({
  model: fc.constantFrom(...MODELS, "zz"),
  action: fc.constantFrom(...ACTIONS),
  location: fc.option(country, { nil: null }),
  purpose: fc.option(fc.constantFrom("r", "s"), { nil: null }),
  time: fc
    .tuple(
      fc.oneof(
        fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2027, 1, 1) }),
        // The licenses' bounds (one of them in +02:00) and a `since` date, and a millisecond before.
        fc
          .tuple(
            fc.constantFrom(
              Date.UTC(2026, 0, 1),
              Date.UTC(2026, 6, 1),
              Date.UTC(2026, 5, 1, 10),
              Date.UTC(2026, 2, 1),
            ),
            fc.constantFrom(0, -1),
          )
          .map(([t, d]) => t + d),
      ),
      fc.constantFrom("ms", "Z", "+05:30", "-08:00"),
    )
    .map(([t, form]) => (form === "ms" ? t : zoned(t, form))),
  usage: fc.dictionary(
    fc.constantFrom("L0", "L1", "L2", "L3"),
    // Around the quotas generated: one under, at, one over.
    fc.record({ tokens: fc.constantFrom(0, 4, 5, 6, 9, 10, 11) }),
  ),
});

/**
 * A case aimed at one grant of the scheme — a country partner's, an organization partner's or a
 * license's: its model and action, a country it names as the location and the nationality, its
 * licensee or member, so that the later checks are reached and decided on their details; what the
 * generic generators give is mixed in (another nationality, location or time, a screening status).
 */
function aimedAt(source: SchemeFile): fc.Arbitrary<[Principal, DecisionRequest]> {
  const list = (e: SchemeFile["home"]) => (Array.isArray(e) ? [...e] : [...e.include]);
  const targets = [
    ...source.partners.countries.map((p) => ({
      grants: p.grants,
      nationalities: list(p.countries),
      locations: [...list(p.countries), ...list(source.home)],
      organization: null as string | null,
      principal: null as string | null,
      purposes: undefined as string[] | undefined,
    })),
    ...source.partners.organizations.map((p) => ({
      grants: p.grants,
      nationalities: C,
      locations: list(p.locations ?? [p.country]),
      organization: p.id as string | null,
      principal: null as string | null,
      purposes: undefined as string[] | undefined,
    })),
    ...source.licenses.map((l) => ({
      grants: [{ models: l.models, actions: l.actions }],
      nationalities: l.nationalities === undefined ? C : list(l.nationalities),
      locations: list(l.destinations),
      organization: "organization" in l.licensee ? l.licensee.organization : null,
      principal: "principal" in l.licensee ? l.licensee.principal : null,
      purposes: l.purposes,
    })),
  ];
  if (targets.length === 0) return fc.tuple(principalArb, requestArb);
  return fc.constantFrom(...targets).chain((t) =>
    fc
      .record({
        p: principalArb,
        r: requestArb,
        grant: fc.constantFrom(...t.grants),
        nationality: fc.record({
          country: fc.constantFrom(...t.nationalities),
          since: fc.option(dayPick, { nil: null }),
        }),
        location: fc.constantFrom(...t.locations),
        purpose: t.purposes === undefined ? fc.constant(null) : fc.constantFrom(...t.purposes),
        more: fc.boolean(), // keep the generated nationalities beside the aimed one
        elsewhere: fc.constantFrom(false, false, false, true), // the generated location instead
        screened: fc.constantFrom(false, false, false, true), // the generated screening statuses
      })
      .chain(({ grant, ...c }) =>
        fc
          .record({ model: fc.constantFrom(...grant.models), action: fc.constantFrom(...grant.actions) })
          .map(({ model, action }): [Principal, DecisionRequest] => [
            {
              ...c.p,
              id: t.principal ?? c.p.id,
              organization: t.organization ?? c.p.organization,
              citizenships: [c.nationality, ...(c.more ? (c.p.citizenships ?? []) : [])],
              permanent_residencies: c.more ? c.p.permanent_residencies : [],
              residence: c.screened ? c.p.residence : null,
              screening: c.screened ? c.p.screening : "clear",
            },
            {
              ...c.r,
              model,
              action,
              location: c.elsewhere ? c.r.location : c.location,
              purpose: c.purpose ?? c.r.purpose,
            },
          ]),
      ),
  );
}

const RANK = ["none", "self", "verified", "attested"];
const ALLOWS: readonly Reason[] = [
  "open-model",
  "home-person",
  "partner-country",
  "partner-organization",
  "license",
];
const UNIVERSAL: readonly Reason[] = [
  "denied-party",
  "embargoed-location",
  "embargoed-residence",
  "embargoed-organization",
  "embargoed-nationality",
];
type Grant = { kind: string; partner?: string; license?: string } | null;

/**
 * A foreign person's relevant nationalities. `most-recent`: the countries acquired on the latest
 * date; where dates are missing, every place the undated entries could take (before, on or after
 * the latest date), and when those disagree about the answer, every nationality (`all`).
 */
function relevantOf(rule: string, held: readonly Nationality[]): string[] {
  const all = [...new Set(held.map((n) => n.country))];
  if (rule === "all" || all.length <= 1) return all;
  const dated = held.filter((n) => n.since);
  const undated = held.filter((n) => !n.since);
  const latest = Math.max(...dated.map((n) => Date.parse(n.since!)), -Infinity);
  const recent = [...new Set(dated.filter((n) => Date.parse(n.since!) === latest).map((n) => n.country))];
  const answers = new Set<string>();
  const answer = (countries: string[]) => answers.add([...new Set(countries)].sort().join());
  if (dated.length > 0) answer(recent); // every undated one acquired before
  for (const u of undated) {
    answer([u.country]); // acquired after every other
    if (dated.length > 0) answer([...recent, u.country]); // on the latest date
  }
  return answers.size === 1 ? [...answers][0]!.split(",") : all;
}

/** The decision as DESIGN.md states it: outcome, reason, served model and the grant it rests on. */
function reference(s: CompiledScheme, p: Principal, r: DecisionRequest) {
  const t = typeof r.time === "number" ? r.time : Date.parse(r.time);
  const held = [...(p.citizenships ?? []), ...(p.permanent_residencies ?? [])].filter(
    (n) => !n.since || Date.parse(n.since) <= t,
  );
  const home = held.some((n) => s.home.has(n.country));
  const relevant = home ? [] : relevantOf(s.nationalityRule, held);
  const orgId =
    p.organization == null ? null : typeof p.organization === "string" ? p.organization : p.organization.id;
  const orgRec = typeof p.organization === "object" && p.organization !== null ? p.organization : null;
  const op = orgId === null ? undefined : s.organizationPartners.get(orgId);
  const orgCountry = op ? op.country : (orgRec?.country ?? null);
  const confirmed = p.screening === "confirmed" || orgRec?.screening === "confirmed";
  const potential = p.screening === "potential" || orgRec?.screening === "potential";
  const loc = r.location ?? null;
  const assurance = RANK.indexOf(p.assurance ?? "none");
  const one = (id: string): [Reason, Grant] => {
    const m = s.models.get(id);
    if (confirmed) return ["denied-party", null];
    if (potential && m && m.control !== "open") return ["screening-review", null];
    if (loc && s.embargoed.has(loc)) return ["embargoed-location", null];
    if (p.residence && s.embargoed.has(p.residence)) return ["embargoed-residence", null];
    if (orgCountry && s.embargoed.has(orgCountry)) return ["embargoed-organization", null];
    if (relevant.some((c) => s.embargoed.has(c))) return ["embargoed-nationality", null];
    if (!m) return ["unknown-model", null];
    if (m.availableIn && !(loc && m.availableIn.has(loc))) return ["not-available-here", null];
    if (m.control === "open") return ["open-model", null];
    if (home) {
      if (m.control === "home-only" && !(loc && s.home.has(loc))) return ["home-only-outside-home", null];
      return ["home-person", null];
    }
    if (m.control === "home-only") return ["no-authorization", null];
    const ai = ACTIONS.indexOf(r.action);
    for (const cp of s.countryPartners) {
      const gi = cp.grants.get(id)?.[ai] ?? -1;
      if (
        cp.status === "active" &&
        gi >= 0 &&
        relevant.length > 0 &&
        relevant.every((c) => cp.countries.has(c)) &&
        loc &&
        (cp.countries.has(loc) || s.home.has(loc)) &&
        assurance >= cp.assurance
      )
        return ["partner-country", { kind: "partner-country", partner: cp.id }];
    }
    if (op) {
      const gi = op.grants.get(id)?.[ai] ?? -1;
      if (
        op.status === "active" &&
        gi >= 0 &&
        assurance >= op.assurance &&
        loc &&
        op.locations.has(loc) &&
        relevant.length > 0 &&
        !relevant.some((c) => s.restricted.has(c))
      )
        return ["partner-organization", { kind: "partner-organization", partner: op.id }];
    }
    let quota = false;
    // The principal's own licenses first, then its organization's (which one an allow names is the
    // code's choice: DESIGN.md does not say).
    const licenses = [...s.licenses.values()];
    const own = licenses.filter((l) => l.licensee.kind === "principal" && l.licensee.id === p.id);
    const its = licenses.filter((l) => l.licensee.kind === "organization" && l.licensee.id === orgId);
    for (const l of [...own, ...its]) {
      const period = s.source.licenses.find((x) => x.id === l.id)!;
      const ok =
        l.status === "approved" &&
        Date.parse(period.valid_from) <= t &&
        t < Date.parse(period.valid_until) &&
        l.models.has(id) &&
        (l.actions >> ai) & 1 &&
        loc &&
        l.destinations.has(loc) &&
        (l.purposes === null || (r.purpose != null && l.purposes.has(r.purpose))) &&
        (l.nationalities === null || (relevant.length > 0 && relevant.every((c) => l.nationalities!.has(c))));
      if (!ok) continue;
      if (l.quotaTokens !== null && (r.usage?.[l.id]?.tokens ?? 0) >= l.quotaTokens) {
        quota = true;
        continue;
      }
      return ["license", { kind: "license", license: l.id }];
    }
    if (quota) return ["license-quota-exhausted", null];
    return ["no-authorization", null];
  };
  const [reason, g] = one(r.model);
  if (ALLOWS.includes(reason)) return { decision: "allow", reason, served: r.model, grant: g };
  let next = UNIVERSAL.includes(reason) ? null : (s.models.get(r.model)?.fallback ?? null);
  while (next) {
    const [fr, fg] = one(next);
    if (ALLOWS.includes(fr)) return { decision: "fallback", reason, served: next, grant: fg };
    next = s.models.get(next)?.fallback ?? null;
  }
  return { decision: "deny", reason, served: null, grant: null };
}

it("property: decide() and decideOutcome() agree with the contract read plainly, over generated schemes", () => {
  fc.assert(
    fc.property(
      schemeArb.chain((source) =>
        fc.tuple(
          fc.constant(source),
          fc.array(fc.oneof(fc.tuple(principalArb, requestArb), aimedAt(source)), {
            minLength: 10,
            maxLength: 40,
          }),
        ),
      ),
      ([source, cases]) => {
        const s = compiled(source);
        for (const [p, r] of cases) {
          const d = decide(s, p, r);
          const got = {
            decision: d.decision,
            reason: d.reason,
            served: d.served_model,
            grant:
              d.grant === null
                ? null
                : {
                    kind: d.grant.kind,
                    ...("partner" in d.grant ? { partner: d.grant.partner } : { license: d.grant.license }),
                  },
          };
          const want = reference(s, p, r);
          expect({ p, r, got }).toEqual({ p, r, got: want });
          const o = decideOutcome(s, p, r);
          expect(o).toEqual({ decision: d.decision, reason: d.reason, served_model: d.served_model });
        }
      },
    ),
    // 300 runs of 10–40 cases each: about 3 s here, and CLEARANCE_FUZZ_RUNS asks for more.
    { numRuns: Number(process.env.CLEARANCE_FUZZ_RUNS ?? 300) },
  );
}, 120_000);
