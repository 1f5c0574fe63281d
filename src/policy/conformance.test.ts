/**
 * DESIGN.md "Decision semantics", sentence by sentence, against decide() (the function the gateway
 * calls) and settleLocation() (how the gateway settles disputed sources). Each `describe` quotes the
 * sentence it holds the code to; examples state it directly, and where the sentence is an
 * invariant a fast-check property states it over generated principals and requests.
 */
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { mapClaims } from "../identity/claims.js";
import { providerInputSchema } from "../identity/schema.js";
import { vouch, type Reach } from "../identity/scope.js";
import { parseScheme } from "../scheme/index.js";
import { decide } from "./decide.js";
import { relevantNationalities } from "./facts.js";
import { settleLocation } from "./location.js";
import { ACTIONS, ASSURANCE_LEVELS } from "./types.js";
import type { Action, Decision, DecisionRequest, Nationality, Principal, Reason } from "./types.js";
import { describeFinding } from "./words.js";

const YAML = `
version: 1
name: contract
home: [US, CA]
nationality_rule: most-recent
embargoed: [IR, KP, CU, SY]
restricted_nationalities: [CN, MO]
models:
  open: {control: open}
  open-us: {control: open, available_in: [US]}
  ctl: {control: controlled}
  chain: {control: controlled, fallback: mid}
  mid: {control: controlled, fallback: open}
  home: {control: home-only, fallback: ctl}
  home2: {control: home-only}
  eu: {control: controlled, available_in: [DE, FR], fallback: open}
partners:
  countries:
    - {id: allies, countries: [FR, DE, GB, JP], assurance: verified,
       grants: [{models: [ctl, mid, eu, home2], actions: [infer, evaluate]}]}
    - {id: paused, countries: [NO], status: suspended, assurance: none, grants: [{models: [ctl], actions: [infer]}]}
  organizations:
    - {id: lab, country: GB, assurance: self, grants: [{models: [ctl, home2], actions: [fine_tune]}]}
    - {id: roam, country: AU, assurance: self, locations: [NZ, AU], grants: [{models: [ctl], actions: [weights]}]}
    - {id: shut, country: JP, status: suspended, assurance: none, grants: [{models: [ctl], actions: [fine_tune]}]}
licenses:
  - {id: L-P, licensee: {principal: p-lic}, models: [ctl], actions: [infer], destinations: [IN, BR],
     purposes: [research], nationalities: [IN, BR], valid_from: "2026-01-01T00:00:00Z",
     valid_until: "2027-01-01T00:00:00Z", quota_tokens: 100, status: approved}
  - {id: L-ORG, licensee: {organization: acme}, models: [ctl, home2], actions: [infer, weights], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved}
  - {id: L-REV, licensee: {principal: p-rev}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2027-01-01, status: revoked}
  - {id: L-SUS, licensee: {principal: p-rev}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2027-01-01, status: suspended}
  - {id: L-PEN, licensee: {principal: p-rev}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2027-01-01, status: pending}
  - {id: L-Q1, licensee: {principal: p-two}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2027-01-01, quota_tokens: 10, status: approved}
  - {id: L-Q2, licensee: {principal: p-two}, models: [ctl], actions: [infer], destinations: [BR],
     valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved}
  - {id: L-Q3, licensee: {principal: p-three}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: 2026-01-01, valid_until: 2026-03-01, quota_tokens: 10, status: approved}
  - {id: L-TZ, licensee: {principal: p-tz}, models: [ctl], actions: [infer], destinations: [IN],
     valid_from: "2026-06-01T12:00:00+02:00", valid_until: 2026-07-01, status: approved}
`;
const scheme = parseScheme(YAML, "contract.yaml");
const allScheme = parseScheme(YAML.replace("nationality_rule: most-recent", "nationality_rule: all"));

const NOW = "2026-06-01T00:00:00Z";
const HOME = new Set(["US", "CA"]);
const EMBARGOED = ["IR", "KP", "CU", "SY"];

const nat = (country: string, since: string | null = null): Nationality => ({ country, since });
const person = (id: string, countries: string[], extra: Partial<Principal> = {}): Principal => ({
  id,
  citizenships: countries.map((c) => nat(c)),
  assurance: "attested",
  ...extra,
});
const req = (
  model: string,
  location: string | null,
  extra: Partial<DecisionRequest> = {},
): DecisionRequest => ({ model, action: "infer", location, time: NOW, ...extra });
const short = (d: Decision) =>
  `${d.decision} ${d.reason}${d.decision === "fallback" ? ` ${d.served_model}` : ""}`;
const run = (p: Principal, r: DecisionRequest, s = scheme) => short(decide(s, p, r));
const said = (d: Decision) => d.checks.map((c) => describeFinding(c.finding)).join(" | ");

const US = person("p-us", ["US"], { residence: "US" });
const FR = person("p-fr", ["FR"], { residence: "FR" });
const IN = person("p-in", ["IN"], { residence: "IN" });
const LIC = person("p-lic", ["IN"], { residence: "IN" });

// Generators: principals and requests over the scheme above.
const COUNTRIES = [
  "US",
  "CA",
  "FR",
  "DE",
  "GB",
  "JP",
  "NO",
  "IN",
  "BR",
  "PK",
  "CN",
  "MO",
  "IR",
  "KP",
  "AU",
  "NZ",
  "AQ",
];
const country = fc.constantFrom(...COUNTRIES);
const foreignCountry = fc.constantFrom(...COUNTRIES.filter((c) => !HOME.has(c)));
const day = fc
  .integer({ min: Date.UTC(1960, 0, 1), max: Date.UTC(2027, 6, 1) })
  .map((t) => new Date(t).toISOString().slice(0, 10));
const nationalityArb = fc.record({ country, since: fc.option(day, { nil: null }) });
const principalArb: fc.Arbitrary<Principal> = fc.record({
  id: fc.constantFrom("p-lic", "p-two", "p-three", "p-rev", "p-x"),
  citizenships: fc.array(nationalityArb, { maxLength: 3 }),
  permanent_residencies: fc.array(nationalityArb, { maxLength: 2 }),
  residence: fc.option(country, { nil: null }),
  organization: fc.option(
    fc.oneof(
      fc.constantFrom("lab", "roam", "shut", "acme", "other"),
      fc.record({
        id: fc.constantFrom("lab", "acme", "other"),
        country: fc.option(country, { nil: null }),
        screening: fc.constantFrom("clear" as const, "clear" as const, "potential" as const),
      }),
    ),
    { nil: null },
  ),
  assurance: fc.constantFrom(...ASSURANCE_LEVELS),
  screening: fc.constantFrom("clear" as const, "clear" as const, "clear" as const, "potential" as const),
});
const requestArb: fc.Arbitrary<DecisionRequest> = fc.record({
  model: fc.constantFrom(...scheme.models.keys(), "no-such"),
  action: fc.constantFrom(...ACTIONS) as fc.Arbitrary<Action>,
  location: fc.option(country, { nil: null }),
  purpose: fc.option(fc.constantFrom("research", "other"), { nil: null }),
  time: fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2027, 1, 1) }),
  usage: fc.record({
    "L-P": fc.record({ tokens: fc.integer({ min: 90, max: 110 }) }),
    "L-Q1": fc.record({ tokens: fc.integer({ min: 5, max: 15 }) }),
    "L-Q3": fc.record({ tokens: fc.integer({ min: 5, max: 15 }) }),
  }),
});

function orgScreening(p: Principal): string {
  return typeof p.organization === "object" && p.organization !== null
    ? (p.organization.screening ?? "clear")
    : "clear";
}

/** A citizen or permanent resident of a home country at `time` (held from its `since`). */
function isHome(p: Principal, time: string | number = Infinity): boolean {
  const t = typeof time === "number" ? time : Date.parse(time);
  const held = (n: Nationality) => !n.since || Date.parse(n.since) <= t;
  return [...(p.citizenships ?? []), ...(p.permanent_residencies ?? [])].some(
    (n) => HOME.has(n.country) && held(n),
  );
}

const UNIVERSAL: readonly Reason[] = [
  "denied-party",
  "embargoed-location",
  "embargoed-residence",
  "embargoed-organization",
  "embargoed-nationality",
];

describe("Actions: `infer`, `fine_tune`, `evaluate`, `weights`", () => {
  it("each is decided on its own grant", () => {
    const lab = person("p-lab", ["GB"], { organization: "lab" });
    expect(ACTIONS).toEqual(["infer", "fine_tune", "evaluate", "weights"]);
    expect(run(lab, req("ctl", "GB", { action: "fine_tune" }))).toBe("allow partner-organization");
    expect(run(FR, req("ctl", "FR", { action: "evaluate" }))).toBe("allow partner-country");
    expect(run(FR, req("ctl", "FR", { action: "weights" }))).toBe("deny no-authorization");
  });
});

describe("identity assurance none < self < verified < attested", () => {
  it("a partner's level is met by it and every level above, by none below", () => {
    const at = (assurance: Principal["assurance"]) => run({ ...FR, assurance }, req("ctl", "FR"));
    expect(ASSURANCE_LEVELS).toEqual(["none", "self", "verified", "attested"]);
    expect([at("none"), at("self"), at("verified"), at("attested")]).toEqual([
      "deny no-authorization",
      "deny no-authorization",
      "allow partner-country",
      "allow partner-country",
    ]);
  });
  it("a principal with no assurance on record is at `none`: it meets only a level of none", () => {
    const lab = person("p-lab", ["GB"], { organization: "lab" }); // lab requires self
    const ft = req("ctl", "GB", { action: "fine_tune" });
    const { assurance: _, ...unassured } = lab;
    const d = decide(scheme, unassured, ft);
    expect(short(d)).toBe("deny no-authorization");
    expect(said(d)).toContain("identity assurance none is below the required self");
    expect(run({ ...lab, assurance: "self" }, ft)).toBe("allow partner-organization");
  });
});

describe("A home person is a citizen or permanent resident of a home country; everyone else is a foreign person", () => {
  it("citizenship or permanent residency of any home country, whatever else is held", () => {
    expect(run(US, req("ctl", "BR"))).toBe("allow home-person");
    expect(run(person("p-ca", ["CA"]), req("ctl", "BR"))).toBe("allow home-person");
    const lpr: Principal = { id: "p-lpr", citizenships: [nat("IN")], permanent_residencies: [nat("US")] };
    expect(run(lpr, req("ctl", "IN"))).toBe("allow home-person");
    expect(run(person("p-cnus", ["CN", "US"]), req("ctl", "BR"))).toBe("allow home-person");
  });
  it("residence in a home country does not make a home person", () => {
    expect(run({ ...IN, residence: "US" }, req("ctl", "US"))).toBe("deny no-authorization");
  });
});

describe("Nationality-based checks apply to foreign persons only", () => {
  it("an embargoed or restricted nationality does not touch a home person", () => {
    const usIr = person("p-usir", ["IR", "US"], { residence: "US" });
    expect(run(usIr, req("ctl", "US"))).toBe("allow home-person");
    expect(run(usIr, req("ctl", "US"), allScheme)).toBe("allow home-person");
    const usCn = person("p-uscn", ["CN", "US"], { organization: "lab" });
    expect(run(usCn, req("ctl", "GB", { action: "fine_tune" }))).toBe("allow home-person");
  });
  it("for a foreign person under `all` they do", () => {
    expect(run(person("p-frir", ["FR", "IR"]), req("open", "FR"), allScheme)).toBe(
      "deny embargoed-nationality",
    );
  });
});

describe("`most-recent`: the most recently acquired citizenship or permanent residency", () => {
  const cnFr: Principal = {
    id: "p-cnfr",
    citizenships: [nat("CN", "1980-01-01"), nat("FR", "2010-05-01")],
  };
  it("only the latest counts: an earlier embargoed or restricted one does not", () => {
    expect(run({ ...cnFr, assurance: "attested" }, req("ctl", "FR"))).toBe("allow partner-country");
    const irDe = { ...cnFr, citizenships: [nat("IR", "1980-01-01"), nat("DE", "2010-01-01")] };
    expect(run(irDe, req("open", "DE"))).toBe("allow open-model");
  });
  it("a permanent residency acquired later is the one that counts", () => {
    const p: Principal = {
      id: "p-frcn",
      citizenships: [nat("FR", "1980-01-01")],
      permanent_residencies: [nat("CN", "2020-01-01")],
      organization: "lab",
      assurance: "attested",
    };
    const d = decide(scheme, p, req("ctl", "GB", { action: "fine_tune" }));
    expect(d.reason).toBe("no-authorization");
    expect(said(d)).toContain("nationality CN is restricted");
  });
  it("one acquired after the request's time is not held yet; from its date it is", () => {
    const p: Principal = { id: "p-late", citizenships: [nat("IN", "1980-01-01"), nat("FR", "2026-06-02")] };
    expect(run({ ...p, assurance: "attested" }, req("ctl", "FR"))).toBe("deny no-authorization");
    expect(run({ ...p, assurance: "attested" }, req("ctl", "FR", { time: "2026-06-02T00:00:00Z" }))).toBe(
      "allow partner-country",
    );
  });
  it("a `since` with a zone is held from that instant; a date alone from 00:00 UTC that day", () => {
    // 2026-06-02T00:00:00+02:00 is 2026-06-01T22:00:00Z.
    const zoned: Principal = {
      id: "p-zoned",
      citizenships: [nat("IN", "1980-01-01"), nat("FR", "2026-06-02T00:00:00+02:00")],
      assurance: "attested",
    };
    const at = (p: Principal, time: string) => run(p, req("ctl", "FR", { time }));
    expect(at(zoned, "2026-06-01T21:59:59.999Z")).toBe("deny no-authorization");
    expect(at(zoned, "2026-06-01T22:00:00.000Z")).toBe("allow partner-country");
    expect(at(zoned, "2026-06-02T00:00:00.000+02:00")).toBe("allow partner-country");
    const dateOnly = {
      ...zoned,
      id: "p-date-only",
      citizenships: [nat("IN", "1980-01-01"), nat("FR", "2026-06-02")],
    };
    expect(at(dateOnly, "2026-06-02T01:59:59.999+02:00")).toBe("deny no-authorization");
    expect(at(dateOnly, "2026-06-02T00:00:00.000Z")).toBe("allow partner-country");
  });
  it("acquired on the same latest date: both count", () => {
    const p: Principal = {
      id: "p-tie",
      citizenships: [nat("IN", "1980-01-01"), nat("FR", "2010-01-01"), nat("CN", "2010-01-01")],
      assurance: "attested",
    };
    const d = decide(scheme, p, req("ctl", "FR"));
    expect(d.reason).toBe("no-authorization");
    expect(said(d)).toContain("nationality CN is not in the partner's countries");
  });
});

describe("`most-recent`, as properties", () => {
  const dated = fc
    .uniqueArray(fc.tuple(foreignCountry, fc.integer({ min: 0, max: 20_000 })), {
      minLength: 1,
      maxLength: 4,
      selector: ([, d]) => d,
    })
    .map((entries) =>
      entries.map(([c, d]) =>
        nat(c, new Date(Date.UTC(1970, 0, 1) + d * 86_400_000).toISOString().slice(0, 10)),
      ),
    );
  it("property: with every date known and distinct, the person is decided as a national of the latest one only", () => {
    fc.assert(
      fc.property(dated, fc.integer({ min: 0, max: 4 }), principalArb, requestArb, (entries, split, p, r) => {
        const q: Principal = {
          ...p,
          citizenships: entries.slice(0, split),
          permanent_residencies: entries.slice(split),
        };
        const latest = entries.reduce((a, b) => ((a.since as string) > (b.since as string) ? a : b));
        const only: Principal = { ...p, citizenships: [latest], permanent_residencies: [] };
        expect(short(decide(scheme, q, r))).toBe(short(decide(scheme, only, r)));
      }),
      { numRuns: 1500 },
    );
  });
  it("property: every date missing on two countries or more is ambiguous: decided as under `all`, and said so", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(foreignCountry, { minLength: 2, maxLength: 4 }),
        principalArb,
        requestArb,
        (countries, p, r) => {
          const q: Principal = {
            ...p,
            citizenships: countries.map((c) => nat(c)),
            permanent_residencies: [],
          };
          const d = decide(scheme, q, r);
          expect(short(d)).toBe(short(decide(allScheme, q, r)));
          if (d.checks.some((c) => c.check === "home-person") || d.reason === "embargoed-nationality")
            expect(said(d)).toContain("acquisition dates missing, so every nationality counts");
        },
      ),
      { numRuns: 1500 },
    );
  });
  it("property: `most-recent` never refuses what `all` serves (its nationalities are among all of them)", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const all = decide(allScheme, p, r);
        const recent = decide(scheme, p, r);
        if (all.decision === "allow") expect(recent.decision).toBe("allow");
        if (all.served_model !== null) expect(recent.served_model).not.toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
  it("property: the same principal asked at many times is decided as a fresh copy of it would be (held from `since`)", () => {
    fc.assert(
      fc.property(
        principalArb,
        requestArb,
        fc.array(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2028, 0, 1) }), {
          minLength: 1,
          maxLength: 6,
        }),
        (p, r, times) => {
          for (const time of times) {
            expect(decide(scheme, p, { ...r, time })).toEqual(
              decide(scheme, structuredClone(p), { ...r, time }),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("`most-recent`: if dates are missing and that makes it ambiguous, use `all` for that principal, and say so", () => {
  it("a missing date that could change the answer: every nationality counts, and the explanation says so", () => {
    const p: Principal = { id: "p-amb", citizenships: [nat("IR"), nat("FR", "2010-01-01")] };
    const d = decide(scheme, p, req("open", "FR"));
    expect(short(d)).toBe("deny embargoed-nationality");
    expect(said(d)).toContain("acquisition dates missing, so every nationality counts");
    const partner = decide(
      scheme,
      { ...p, citizenships: [nat("DE"), nat("FR", "2010-01-01")] },
      req("ctl", "FR"),
    );
    expect(short(partner)).toBe("deny no-authorization");
    expect(said(partner)).toContain("acquisition dates missing");
  });
  it("an undated entry of one of several countries acquired on the latest date is ambiguous: every nationality counts", () => {
    // FR alone is the most recent if the undated FR came after 2010; FR and DE if not. Which, is not known.
    const p: Principal = {
      id: "p-tie-undated",
      citizenships: [nat("IR", "1980-01-01"), nat("FR", "2010-01-01"), nat("DE", "2010-01-01")],
      permanent_residencies: [nat("FR")],
      assurance: "attested",
    };
    expect(relevantNationalities(p.citizenships ?? [], p.permanent_residencies ?? [], false)).toEqual({
      relevant: ["IR", "FR", "DE"],
      ambiguous: true,
    });
    const d = decide(scheme, p, req("ctl", "FR"));
    expect(short(d)).toBe("deny embargoed-nationality");
    expect(said(d)).toContain("acquisition dates missing, so every nationality counts");
    // The same with the tie broken: FR alone is the most recent, known.
    const single = {
      ...p,
      citizenships: [nat("IR", "1980-01-01"), nat("DE", "2009-01-01"), nat("FR", "2010-01-01")],
    };
    expect(short(decide(scheme, single, req("ctl", "FR")))).toBe("allow partner-country");
  });
  it("every date missing on a single nationality is not ambiguous", () => {
    expect(run(person("p-one", ["FR"]), req("ctl", "FR"))).toBe("allow partner-country");
  });
  it("no date missing is never ambiguous: nothing is said about dates", () => {
    const p: Principal = { id: "p-dated", citizenships: [nat("IN", "1980-01-01"), nat("FR", "2010-01-01")] };
    const d = decide(scheme, { ...p, assurance: "attested" }, req("ctl", "FR"));
    expect(short(d)).toBe("allow partner-country");
    expect(said(d)).not.toContain("dates missing");
  });
});

describe("`all`: a grant that depends on nationality must hold for each of them; a restriction applies if it holds for any", () => {
  const frIn = person("p-frin", ["FR", "IN"]);
  it("country partner: every nationality in the partner's set", () => {
    expect(run(frIn, req("ctl", "FR"), allScheme)).toBe("deny no-authorization");
    expect(run(person("p-frde", ["FR", "DE"]), req("ctl", "FR"), allScheme)).toBe("allow partner-country");
  });
  it("license nationalities: every one named by the license", () => {
    const two = { ...LIC, citizenships: [nat("IN"), nat("BR")] };
    expect(run(two, req("ctl", "IN", { purpose: "research" }), allScheme)).toBe("allow license");
    const three = { ...LIC, citizenships: [nat("IN"), nat("BR"), nat("PK")] };
    expect(run(three, req("ctl", "IN", { purpose: "research" }), allScheme)).toBe("deny no-authorization");
  });
  it("restriction: any restricted nationality at an organization partner; any embargoed one", () => {
    const lab = person("p-gbcn", ["GB", "CN"], { organization: "lab" });
    expect(run(lab, req("ctl", "GB", { action: "fine_tune" }), allScheme)).toBe("deny no-authorization");
    expect(
      run({ ...lab, citizenships: [nat("GB")] }, req("ctl", "GB", { action: "fine_tune" }), allScheme),
    ).toBe("allow partner-organization");
    expect(run(person("p-deir", ["DE", "IR"]), req("open", "DE"), allScheme)).toBe(
      "deny embargoed-nationality",
    );
  });
  it("permanent residencies count as nationalities: a grant must hold for them, a restriction applies through them", () => {
    const frCnPr: Principal = {
      ...person("p-frcnpr", ["FR"]),
      permanent_residencies: [nat("CN", "1990-01-01")],
    };
    expect(run(frCnPr, req("ctl", "FR"), allScheme)).toBe("deny no-authorization");
    const lab = { ...frCnPr, citizenships: [nat("GB")], organization: "lab" };
    const d = decide(allScheme, lab, req("ctl", "GB", { action: "fine_tune" }));
    expect(short(d)).toBe("deny no-authorization");
    expect(said(d)).toContain("nationality CN is restricted");
    const deIrPr = { ...frCnPr, permanent_residencies: [nat("IR", "1990-01-01")] };
    expect(run(deIrPr, req("open", "FR"), allScheme)).toBe("deny embargoed-nationality");
    // Under `most-recent` the earlier residency does not count: FR (undated, the only citizenship)
    // against a dated residency is ambiguous, so a dated citizenship is used here.
    const dated = { ...frCnPr, citizenships: [nat("FR", "2000-01-01")] };
    expect(run(dated, req("ctl", "FR"))).toBe("allow partner-country");
  });
  it("property: under `all`, adding a foreign nationality never grants more", () => {
    fc.assert(
      fc.property(principalArb, requestArb, foreignCountry, (p, r, extra) => {
        if (isHome(p) || (p.citizenships ?? []).length === 0) return;
        const more = { ...p, citizenships: [...(p.citizenships ?? []), nat(extra)] };
        const before = decide(allScheme, p, r);
        const after = decide(allScheme, more, r);
        if (after.decision === "allow") expect(before.decision).toBe("allow");
        if (after.served_model !== null) expect(before.served_model).not.toBeNull();
      }),
      { numRuns: 1500 },
    );
  });
});

describe("An unknown location never satisfies a condition on location (fail closed), and cannot trigger the location embargo", () => {
  it("each condition on location", () => {
    expect(run(US, req("open-us", null))).toBe("deny not-available-here");
    expect(run(FR, req("eu", null))).toBe("fallback not-available-here open");
    expect(run(US, req("home2", null))).toBe("deny home-only-outside-home");
    expect(run(FR, req("ctl", null))).toBe("deny no-authorization");
    expect(
      run(person("p-lab", ["GB"], { organization: "lab" }), req("ctl", null, { action: "fine_tune" })),
    ).toBe("deny no-authorization");
    expect(run(LIC, req("ctl", null, { purpose: "research" }))).toBe("deny no-authorization");
  });
  it("it never reads as embargoed", () => {
    expect(run(US, req("open", null))).toBe("allow open-model");
    expect(run(US, req("ctl", null))).toBe("allow home-person");
  });
  it("property: an unknown location decides as a known country no set names (AQ) does", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const unknown = decide(scheme, p, { ...r, location: null });
        const nowhere = decide(scheme, p, { ...r, location: "AQ" });
        expect(short(unknown)).toBe(short(nowhere));
        expect(unknown.reason).not.toBe("embargoed-location");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("Fail closed on unknown facts: a foreign person with no nationality on record satisfies no condition on nationality (README)", () => {
  const none = (extra: Partial<Principal> = {}) => person("p-none", [], extra);
  it("no country partner, no organization partner, no license naming nationalities; a license naming none serves", () => {
    const d = decide(scheme, none({ residence: "FR" }), req("ctl", "FR"));
    expect(short(d)).toBe("deny no-authorization");
    expect(said(d)).toContain("relevant nationalities: none on record");
    expect(said(d)).toContain("allies: no nationality on record");
    expect(run(none({ organization: "lab" }), req("ctl", "GB", { action: "fine_tune" }))).toBe(
      "deny no-authorization",
    );
    expect(run({ ...none(), id: "p-lic" }, req("ctl", "IN", { purpose: "research" }))).toBe(
      "deny no-authorization",
    );
    expect(run(none({ organization: "acme" }), req("ctl", "IN"))).toBe("allow license");
  });
  it("an unknown nationality is not embargoed: the open model serves, and a residence or location embargo still applies", () => {
    expect(run(none(), req("open", "BR"))).toBe("allow open-model");
    expect(run(none({ residence: "IR" }), req("open", "BR"))).toBe("deny embargoed-residence");
    expect(run(none(), req("open", "KP"))).toBe("deny embargoed-location");
  });
});

describe("Sources that disagree are not unknown: any embargoed one applies the embargo, otherwise refused as ambiguous", () => {
  it("an embargoed country among them is the location, and the embargo decides", () => {
    const settled = settleLocation(scheme, ["DE", "IR"]);
    expect(settled).toEqual({ location: "IR" });
    expect(run(US, req("open", (settled as { location: string }).location))).toBe("deny embargoed-location");
    expect(settleLocation(scheme, ["KP", "FR", "US"])).toEqual({ location: "KP" });
  });
  it("none embargoed: ambiguous (refused), never unknown and never one of them", () => {
    expect(settleLocation(scheme, ["DE", "US"])).toEqual({ ambiguous: ["DE", "US"] });
  });
});

describe("Where the facts come from: a partner's provider is believed only within its partner's reach and up to its maximum assurance; screening is never the principal's own source's", () => {
  // As the gateway builds it (identity/federation.ts): the partner's countries, and the scheme's
  // embargoed and restricted sets (believed from anyone: against the holder's interest) and home.
  const reach: Reach = {
    kind: "country",
    partner: "allies",
    countries: scheme.countryPartners.find((p) => p.id === "allies")!.countries,
    adverse: new Set([...scheme.embargoed, ...scheme.restricted]),
    home: scheme.home,
  };
  const provider = providerInputSchema.parse({
    id: "fr-gov",
    issuer: "https://id.example.fr",
    audiences: ["clearance"],
    claims: { citizenships: "nat", residence: "res", organization: "org" },
    assurance: { level: "self", acr: { high: "attested", substantial: "verified" } },
    max_assurance: "verified",
  });
  const token = {
    principalId: "fed:fr",
    issuer: provider.issuer,
    provider: "fr-gov",
    keyId: null,
    subject: "s",
  };
  const vouched = (claims: Record<string, unknown>) =>
    vouch(reach, mapClaims(provider, claims, Date.now()), token).principal;
  it("assurance: what the token maps to, capped at the provider's maximum", () => {
    expect(run(vouched({ nat: ["FR"], acr: "substantial" }), req("ctl", "FR"))).toBe("allow partner-country");
    expect(run(vouched({ nat: ["FR"] }), req("ctl", "FR"))).toBe("deny no-authorization"); // self
    expect(vouched({ nat: ["FR"], acr: "high" }).assurance).toBe("verified");
  });
  it("reach: a home citizenship and an organization are not believed from a country partner's provider; an embargoed nationality is", () => {
    const us = vouched({ nat: ["US"], acr: "substantial" });
    expect(us.citizenships).toEqual([]);
    expect(run(us, req("ctl", "US"))).toBe("deny no-authorization");
    const member = vouched({ nat: ["GB"], org: "lab", acr: "substantial" });
    expect(member.organization).toBeNull();
    expect(run(member, req("ctl", "GB", { action: "fine_tune" }))).toBe("deny no-authorization");
    expect(run(vouched({ nat: ["FR", "IR"], acr: "substantial" }), req("open", "FR"))).toBe(
      "deny embargoed-nationality",
    );
  });
  it("screening: the token has no say (the screening engine and a reviewer set it afterwards)", () => {
    const screened = (screening: string) => vouched({ nat: ["FR"], screening }).screening;
    expect([screened("confirmed"), screened("clear"), screened("potential")]).toEqual([
      "clear",
      "clear",
      "clear",
    ]);
  });
});

describe("Check order: the first that decides, decides", () => {
  const everything: Principal = {
    id: "p-bad",
    citizenships: [nat("SY")],
    residence: "CU",
    organization: { id: "org-kp", country: "KP" },
    screening: "confirmed",
  };
  it("denied party > embargo (location > residence > organization > nationality) > unknown model", () => {
    expect(run(everything, req("no-such", "IR"))).toBe("deny denied-party");
    const unscreened = { ...everything, screening: "clear" as const };
    expect(run(unscreened, req("no-such", "IR"))).toBe("deny embargoed-location");
    expect(run(unscreened, req("no-such", "DE"))).toBe("deny embargoed-residence");
    expect(run({ ...unscreened, residence: null }, req("no-such", "DE"))).toBe("deny embargoed-organization");
    expect(run({ ...unscreened, residence: null, organization: null }, req("no-such", "DE"))).toBe(
      "deny embargoed-nationality",
    );
    expect(run(FR, req("no-such", "DE"))).toBe("deny unknown-model");
  });
  it("unknown model / not available > open model > home person > country partner > organization partner > license > default", () => {
    expect(run(US, req("open-us", "FR"))).toBe("deny not-available-here");
    expect(run(US, req("open", "FR"))).toBe("allow open-model");
    // A home person who is also everything below: the home-person check decides.
    const all = person("p-lic", ["US"], { organization: "lab" });
    expect(run(all, req("ctl", "GB", { action: "fine_tune" }))).toBe("allow home-person");
    // A country partner's national in an organization partner that would also allow.
    const both = person("p-lab", ["GB"], { organization: "lab" });
    expect(decide(scheme, both, req("ctl", "GB", { action: "evaluate" })).reason).toBe("partner-country");
    expect(run(both, req("ctl", "GB", { action: "fine_tune" }))).toBe("allow partner-organization");
    expect(run(LIC, req("ctl", "IN", { purpose: "research" }))).toBe("allow license");
    expect(run(IN, req("ctl", "IN"))).toBe("deny no-authorization");
  });
  it("property: checks are listed in DESIGN's order, all but the last passed, the last decided", () => {
    const ORDER = [
      "screening",
      "embargo",
      "model",
      "open-model",
      "home-person",
      "partner-country",
      "partner-organization",
      "license",
      "default",
    ];
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        for (const list of [d.checks, ...(d.fallbacks ?? []).map((f) => f.checks)]) {
          const names = list.map((c) => c.check);
          const positions = names.map((n) => ORDER.indexOf(n));
          expect(positions.every((x, i) => x >= 0 && (i === 0 || x > (positions[i - 1] as number)))).toBe(
            true,
          );
          expect(list.slice(0, -1).every((c) => c.outcome === "pass")).toBe(true);
          expect(list.at(-1)?.outcome).not.toBe("pass");
        }
        expect(d.checks.at(-1)?.reason).toBe(d.reason);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("1. A confirmed screening match of the principal or its organization denies every model (`denied-party`)", () => {
  it("principal or organization, open and unknown models too, never falling back", () => {
    for (const model of ["open", "ctl", "home", "chain", "no-such"]) {
      expect(run({ ...US, screening: "confirmed" }, req(model, "US"))).toBe("deny denied-party");
      const org = { ...FR, organization: { id: "x", screening: "confirmed" as const } };
      expect(run(org, req(model, "FR"))).toBe("deny denied-party");
    }
  });
  it("property: a confirmed match always denies, with denied-party, and nothing is served", () => {
    fc.assert(
      fc.property(principalArb, requestArb, fc.boolean(), (p, r, ofOrganization) => {
        const q: Principal = ofOrganization
          ? { ...p, organization: { id: "screened", screening: "confirmed" } }
          : { ...p, screening: "confirmed" };
        const d = decide(scheme, q, r);
        expect(short(d)).toBe("deny denied-party");
        expect(d.fallbacks).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});

describe("1. A potential match denies controlled and home-only models until reviewed (`screening-review`)", () => {
  it("controlled and home-only: screening-review (a fallback may serve an open model); open: not withheld", () => {
    const potential = { ...US, screening: "potential" as const };
    expect(run(potential, req("ctl", "US"))).toBe("deny screening-review");
    expect(run(potential, req("home2", "US"))).toBe("deny screening-review");
    expect(run(potential, req("home", "US"))).toBe("deny screening-review");
    expect(run(potential, req("chain", "US"))).toBe("fallback screening-review open");
    expect(run(potential, req("open", "US"))).toBe("allow open-model");
    const org = { ...FR, organization: { id: "x", screening: "potential" as const } };
    expect(run(org, req("ctl", "FR"))).toBe("deny screening-review");
  });
  it("property: a potential (not confirmed) match denies every controlled and home-only model with screening-review", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        if (p.screening === "confirmed") return;
        const q: Principal = { ...p, screening: "potential" };
        const d = decide(scheme, q, r);
        const control = scheme.models.get(r.model)?.control;
        if (control === "controlled" || control === "home-only") expect(d.reason).toBe("screening-review");
        else expect(d.reason).not.toBe("screening-review");
        if (d.served_model !== null) expect(scheme.models.get(d.served_model)?.control).toBe("open");
      }),
      { numRuns: 1000 },
    );
  });
});

describe("2. Embargo: location, residence or organization country denies every model; so does a relevant nationality of a foreign person", () => {
  it("each source, for every model, with no fallback", () => {
    for (const model of ["open", "ctl", "chain", "home", "no-such"]) {
      expect(run(US, req(model, "KP"))).toBe("deny embargoed-location");
      expect(run({ ...US, residence: "CU" }, req(model, "US"))).toBe("deny embargoed-residence");
      expect(run({ ...FR, organization: { id: "o", country: "SY" } }, req(model, "FR"))).toBe(
        "deny embargoed-organization",
      );
      expect(run(person("p-ir", ["IR"]), req(model, "FR"))).toBe("deny embargoed-nationality");
    }
  });
  it("the partner registry's country is the organization's country", () => {
    const claimed = { ...FR, organization: { id: "lab", country: "IR" } };
    expect(run(claimed, req("open", "FR"))).toBe("allow open-model");
  });
  it("property: an embargoed location denies every model and serves none; the embargo decides unless screening did first", () => {
    fc.assert(
      fc.property(principalArb, requestArb, fc.constantFrom(...EMBARGOED), (p, r, location) => {
        const d = decide(scheme, p, { ...r, location });
        expect(d.decision).toBe("deny");
        expect(d.served_model).toBeNull();
        if (p.screening === "clear" && orgScreening(p) === "clear") {
          expect(d.reason).toBe("embargoed-location");
          expect(d.fallbacks).toBeUndefined();
        } else {
          // A potential match decided first (screening-review): the fallbacks tried meet the embargo.
          for (const f of d.fallbacks ?? [])
            expect(f.reason).toMatch(/^(screening-review|embargoed-location)$/);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("3. Unknown model (`unknown-model`), or a model not available at the request's location (`not-available-here`)", () => {
  it("deny; a model offered elsewhere falls back", () => {
    expect(run(US, req("no-such", "US"))).toBe("deny unknown-model");
    expect(run(FR, req("eu", "US"))).toBe("fallback not-available-here open");
    expect(run(FR, req("eu", "DE"))).toBe("allow partner-country");
    expect(run(IN, req("open-us", "IN"))).toBe("deny not-available-here");
    expect(run(IN, req("open-us", "US"))).toBe("allow open-model");
  });
});

describe("4. Open model: allow (`open-model`)", () => {
  it("anyone not denied by the checks before, at any location offering it", () => {
    for (const p of [US, FR, IN, person("p-none", [])])
      expect(run(p, req("open", "BR"))).toBe("allow open-model");
  });
});

describe("5. Home person: allow, except a `home-only` model only inside the home countries; foreign persons never get `home-only` models", () => {
  it("home person: controlled anywhere, home-only only at home", () => {
    expect(run(US, req("ctl", "DE"))).toBe("allow home-person");
    expect(run(US, req("home2", "US"))).toBe("allow home-person");
    expect(run(US, req("home2", "CA"))).toBe("allow home-person");
    expect(run(US, req("home2", "DE"))).toBe("deny home-only-outside-home");
    expect(run(US, req("home", "DE"))).toBe("fallback home-only-outside-home ctl");
  });
  it("foreign person: never, not even with a partner's, organization's or license's grant for it", () => {
    expect(run(FR, req("home2", "US"))).toBe("deny no-authorization");
    expect(
      run(person("p-lab", ["GB"], { organization: "lab" }), req("home2", "GB", { action: "fine_tune" })),
    ).toBe("deny no-authorization");
    expect(run(person("p-acme", ["IN"], { organization: "acme" }), req("home2", "IN"))).toBe(
      "deny no-authorization",
    );
    expect(run(FR, req("home", "US"))).toBe("fallback no-authorization ctl");
  });
  it("property: a foreign person is never served a home-only model; a home person only inside home", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        if (d.served_model === null || scheme.models.get(d.served_model)?.control !== "home-only") return;
        expect(isHome(p, r.time)).toBe(true);
        expect(HOME.has(r.location ?? "")).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("6. Country partner: every relevant nationality in its set, location in the set or home, assurance, a grant for model and action", () => {
  it("each condition", () => {
    expect(run(FR, req("ctl", "DE"))).toBe("allow partner-country");
    expect(run(FR, req("ctl", "US"))).toBe("allow partner-country");
    expect(run(FR, req("ctl", "BR"))).toBe("deny no-authorization");
    expect(run({ ...FR, assurance: "self" }, req("ctl", "FR"))).toBe("deny no-authorization");
    expect(run(FR, req("ctl", "FR", { action: "fine_tune" }))).toBe("deny no-authorization");
    expect(run(person("p-no", ["NO"]), req("ctl", "NO"))).toBe("deny no-authorization");
    expect(decide(scheme, FR, req("ctl", "FR")).grant).toEqual({
      kind: "partner-country",
      partner: "allies",
      index: 0,
    });
  });
  it("property: an allow by a country partner meets every condition", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        const found = d.checks.at(-1)!.finding;
        if (found.code !== "country-partner") return;
        const partner = scheme.countryPartners.find((c) => c.id === found.partner)!;
        expect(partner.status).toBe("active");
        expect(found.nationalities.length).toBeGreaterThan(0);
        const held = [...(p.citizenships ?? []), ...(p.permanent_residencies ?? [])].map((n) => n.country);
        for (const n of found.nationalities) expect(partner.countries.has(n) && held.includes(n)).toBe(true);
        const location = r.location as string;
        expect(partner.countries.has(location) || HOME.has(location)).toBe(true);
        expect(ASSURANCE_LEVELS.indexOf(p.assurance ?? "none")).toBeGreaterThanOrEqual(partner.assurance);
        expect(partner.grants.get(r.model)?.[ACTIONS.indexOf(r.action)]).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("7. Organization partner: active, grant, assurance, location it allows (default: its own country), no restricted nationality", () => {
  const lab = person("p-lab", ["IN"], { organization: "lab", assurance: "self" });
  const ft = (location: string | null) => req("ctl", location, { action: "fine_tune" });
  it("each condition", () => {
    expect(run(lab, ft("GB"))).toBe("allow partner-organization");
    expect(run(lab, ft("US"))).toBe("deny no-authorization"); // default: its own country only
    expect(run({ ...lab, assurance: "none" }, ft("GB"))).toBe("deny no-authorization");
    expect(run(lab, req("ctl", "GB", { action: "weights" }))).toBe("deny no-authorization");
    expect(run({ ...lab, organization: "shut" }, ft("JP"))).toBe("deny no-authorization");
    const roam = { ...lab, organization: "roam" };
    expect(run(roam, req("ctl", "NZ", { action: "weights" }))).toBe("allow partner-organization");
    expect(run(roam, req("ctl", "AU", { action: "weights" }))).toBe("allow partner-organization");
    expect(run(roam, req("ctl", "GB", { action: "weights" }))).toBe("deny no-authorization");
  });
  it("a restricted nationality needs its own license", () => {
    const cn = { ...lab, citizenships: [nat("CN")] };
    const d = decide(scheme, cn, ft("GB"));
    expect(short(d)).toBe("deny no-authorization");
    expect(said(d)).toContain("nationality CN is restricted and needs its own license");
    const licensed = { ...cn, organization: "acme" };
    expect(run(licensed, req("ctl", "IN", { action: "weights" }))).toBe("allow license");
  });
  it("the default location is compiled as the organization's own country", () => {
    expect([...scheme.organizationPartners.get("lab")!.locations]).toEqual(["GB"]);
    expect([...scheme.organizationPartners.get("roam")!.locations].sort()).toEqual(["AU", "NZ"]);
  });
});

describe("8. License: approved, valid_from <= time < valid_until, not revoked, licensee, model and action, destination, purpose and nationalities, quota", () => {
  const ok = req("ctl", "IN", { purpose: "research" });
  it("the validity period is half-open, to the millisecond", () => {
    expect(run(LIC, { ...ok, time: "2025-12-31T23:59:59.999Z" })).toBe("deny no-authorization");
    expect(run(LIC, { ...ok, time: "2026-01-01T00:00:00.000Z" })).toBe("allow license");
    expect(run(LIC, { ...ok, time: Date.UTC(2026, 11, 31, 23, 59, 59, 999) })).toBe("allow license");
    expect(run(LIC, { ...ok, time: "2027-01-01T00:00:00.000Z" })).toBe("deny no-authorization");
  });
  it("time zones: a bound's zone is honoured, a date alone is 00:00 UTC, and a request's time is read in its own zone", () => {
    // valid_from 2026-06-01T12:00:00+02:00 is 10:00 UTC; valid_until 2026-07-01 is 00:00 UTC, exclusive.
    const tz = person("p-tz", ["IN"]);
    const at = (time: string | number) => run(tz, req("ctl", "IN", { time }));
    expect(at("2026-06-01T09:59:59.999Z")).toBe("deny no-authorization");
    expect(at("2026-06-01T11:59:59.999+02:00")).toBe("deny no-authorization");
    expect(at("2026-06-01T10:00:00.000Z")).toBe("allow license");
    expect(at("2026-06-01T05:00:00-05:00")).toBe("allow license");
    expect(at(Date.UTC(2026, 5, 1, 10))).toBe("allow license");
    expect(at("2026-06-30T23:59:59.999Z")).toBe("allow license");
    expect(at("2026-07-01T01:59:59.999+02:00")).toBe("allow license");
    expect(at("2026-07-01T00:00:00.000Z")).toBe("deny no-authorization");
    expect(at("2026-06-30T20:00:00-04:00")).toBe("deny no-authorization");
    expect(at(Date.UTC(2026, 6, 1))).toBe("deny no-authorization");
  });
  it("property: allowed exactly on [valid_from, valid_until), whatever form the time takes", () => {
    const from = Date.UTC(2026, 0, 1);
    const until = Date.UTC(2027, 0, 1);
    const near = fc.oneof(
      fc.integer({ min: from - 5, max: from + 5 }),
      fc.integer({ min: until - 5, max: until + 5 }),
      fc.integer({ min: from - 86_400_000 * 400, max: until + 86_400_000 * 400 }),
    );
    fc.assert(
      fc.property(near, fc.boolean(), (t, asText) => {
        const time = asText ? new Date(t).toISOString() : t;
        const d = decide(scheme, LIC, { ...ok, time });
        expect(d.reason).toBe(from <= t && t < until ? "license" : "no-authorization");
      }),
      { numRuns: 2000 },
    );
  });
  it("approved only: revoked, suspended, pending do not authorize", () => {
    const d = decide(scheme, { ...LIC, id: "p-rev" }, req("ctl", "IN"));
    expect(short(d)).toBe("deny no-authorization");
    expect(said(d)).toMatch(/revoked.*suspended.*pending/);
  });
  it("licensee: the principal, or its organization; nobody else", () => {
    expect(run({ ...IN, organization: "acme" }, req("ctl", "IN"))).toBe("allow license");
    expect(run({ ...IN, organization: { id: "acme" } }, req("ctl", "IN"))).toBe("allow license");
    expect(run({ ...LIC, id: "p-other" }, ok)).toBe("deny no-authorization");
  });
  it("model, action, destination, purpose and nationalities where named", () => {
    expect(run(LIC, { ...ok, model: "mid" })).toBe("fallback no-authorization open");
    expect(run(LIC, { ...ok, action: "evaluate" })).toBe("deny no-authorization");
    expect(run(LIC, { ...ok, location: "BR" })).toBe("allow license");
    expect(run(LIC, { ...ok, location: "PK" })).toBe("deny no-authorization");
    expect(run(LIC, { ...ok, purpose: "marketing" })).toBe("deny no-authorization");
    expect(run(LIC, { ...ok, purpose: null })).toBe("deny no-authorization");
    expect(run({ ...LIC, citizenships: [nat("PK")] }, ok)).toBe("deny no-authorization");
    // L-ORG names neither purposes nor nationalities: any purpose, any nationality.
    const acme = person("p-acme", ["PK"], { organization: "acme" });
    expect(run(acme, req("ctl", "IN", { purpose: "anything" }))).toBe("allow license");
    expect(run(acme, req("ctl", "IN"))).toBe("allow license");
  });
  it("quota: left allows; used up, and only that, says `license-quota-exhausted`", () => {
    expect(run(LIC, { ...ok, usage: { "L-P": { tokens: 99 } } })).toBe("allow license");
    expect(run(LIC, { ...ok, usage: { "L-P": { tokens: 100 } } })).toBe("deny license-quota-exhausted");
    // Used up and also another failure: not "only on quota".
    expect(run(LIC, { ...ok, usage: { "L-P": { tokens: 100 } }, location: "PK" })).toBe(
      "deny no-authorization",
    );
    expect(run(LIC, { ...ok, usage: { "L-P": { tokens: 100 } }, time: "2027-01-01T00:00:00Z" })).toBe(
      "deny no-authorization",
    );
    const three = person("p-three", ["IN"]);
    expect(run(three, req("ctl", "IN", { usage: { "L-Q3": { tokens: 10 } } }))).toBe("deny no-authorization");
    // Another license covers: it allows.
    const two = person("p-two", ["IN"]);
    expect(run(two, req("ctl", "BR", { usage: { "L-Q1": { tokens: 10 } } }))).toBe("allow license");
    expect(run(two, req("ctl", "IN", { usage: { "L-Q1": { tokens: 10 } } }))).toBe(
      "deny license-quota-exhausted",
    );
  });
  it("property: `license-quota-exhausted` exactly when a license fails on quota alone and none covers", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        const fresh = decide(scheme, p, { ...r, usage: {} });
        if (d.reason === "license-quota-exhausted") expect(short(fresh)).toBe("allow license");
        if (fresh.reason === "license" && d.decision !== "allow")
          expect(d.reason).toBe("license-quota-exhausted");
      }),
      { numRuns: 3000 },
    );
  });
});

describe("9. Otherwise deny (`no-authorization`)", () => {
  it("a foreign person with nothing that authorizes", () => {
    expect(run(IN, req("ctl", "IN"))).toBe("deny no-authorization");
    expect(decide(scheme, IN, req("ctl", "IN")).checks.at(-1)?.check).toBe("default");
  });
});

describe("Fallback: the requested model denied for whatever reason, a fallback this principal may use here (the full check list): `fallback`", () => {
  it("served by the fallback, and the decision says so", () => {
    const d = decide(scheme, IN, req("chain", "IN"));
    expect(short(d)).toBe("fallback no-authorization open");
    expect(d.model).toBe("chain");
    expect(d.fallbacks?.map((f) => `${f.model} ${f.outcome} ${f.reason}`)).toEqual([
      "mid deny no-authorization",
      "open allow open-model",
    ]);
  });
  it("chains are followed: the first model down the chain that may be used is served", () => {
    expect(run(FR, req("chain", "FR"))).toBe("fallback no-authorization mid");
    expect(run(IN, req("chain", "IN"))).toBe("fallback no-authorization open");
    expect(run(FR, req("eu", "BR"))).toBe("fallback not-available-here open");
  });
  it("property: a non-universal denial is served as the fallback itself would be decided", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        if (d.decision === "allow") return;
        const fallback = scheme.models.get(r.model)?.fallback ?? null;
        if (fallback === null || UNIVERSAL.includes(d.reason)) {
          expect(d.decision).toBe("deny");
          expect(d.fallbacks).toBeUndefined();
          return;
        }
        const direct = decide(scheme, p, { ...r, model: fallback });
        expect(d.served_model).toBe(direct.served_model);
        expect(d.decision).toBe(direct.served_model === null ? "deny" : "fallback");
        expect(d.fallbacks?.[0]?.checks).toEqual(direct.checks);
        if (d.decision === "fallback") expect(d.grant).toEqual(direct.grant);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("Chains are followed; a cycle is rejected when the scheme is loaded", () => {
  it("a cycle, a self-loop and a longer one are refused", () => {
    const withModels = (models: string) =>
      YAML.replace(/models:\n[\s\S]*?\npartners:/, `models:\n${models}\npartners:`);
    const base =
      "  ctl: {control: controlled}\n  mid: {control: controlled}\n  eu: {control: controlled}\n  home2: {control: home-only}\n";
    expect(() => parseScheme(withModels(`${base}  a: {control: open, fallback: a}`))).toThrow(
      /fallback cycle: a → a/,
    );
    expect(() =>
      parseScheme(
        withModels(
          `${base}  a: {control: open, fallback: b}\n  b: {control: open, fallback: c}\n  c: {control: open, fallback: a}`,
        ),
      ),
    ).toThrow(/fallback cycle: a → b → c → a/);
    expect(() =>
      parseScheme(withModels(`${base}  a: {control: open, fallback: b}\n  b: {control: open}`)),
    ).not.toThrow();
  });
});

describe("Universal denials (denied party, embargo) deny the fallback too, so they never fall back", () => {
  it("each universal reason, on a model with a fallback chain to an open model", () => {
    expect(run({ ...FR, screening: "confirmed" }, req("chain", "FR"))).toBe("deny denied-party");
    expect(run(FR, req("chain", "IR"))).toBe("deny embargoed-location");
    expect(run({ ...FR, residence: "IR" }, req("chain", "FR"))).toBe("deny embargoed-residence");
    expect(run({ ...FR, organization: { id: "o", country: "IR" } }, req("chain", "FR"))).toBe(
      "deny embargoed-organization",
    );
    expect(run(person("p-ir", ["IR"]), req("chain", "FR"))).toBe("deny embargoed-nationality");
  });
});

describe("Every decision carries outcome, reason, grant, model asked and served, ordered checks, scheme name and digest", () => {
  it("property: the record is complete and consistent", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const d = decide(scheme, p, r);
        expect(["allow", "deny", "fallback"]).toContain(d.decision);
        expect(d.model).toBe(r.model);
        expect(d.scheme).toEqual({ name: "contract", digest: scheme.digest });
        expect(d.checks.length).toBeGreaterThan(0);
        if (d.decision === "allow") expect(d.served_model).toBe(r.model);
        if (d.decision === "deny") expect([d.served_model, d.grant]).toEqual([null, null]);
        if (d.decision === "fallback") {
          expect(d.served_model).not.toBe(r.model);
          expect(d.fallbacks?.at(-1)).toMatchObject({
            model: d.served_model,
            outcome: "allow",
            grant: d.grant,
          });
        }
        const by = d.decision === "fallback" ? d.fallbacks!.at(-1)!.reason : d.reason;
        const grantKind = d.grant?.kind ?? null;
        if (by === "partner-country" || by === "partner-organization" || by === "license") {
          expect(grantKind).toBe(by);
        } else expect(grantKind).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });
});

describe("`policy` is pure: no clock reads (time is an input)", () => {
  it("property: the machine's clock does not move a decision", () => {
    fc.assert(
      fc.property(principalArb, requestArb, (p, r) => {
        const expected = decide(scheme, structuredClone(p), r);
        try {
          vi.useFakeTimers();
          for (const now of [0, Date.UTC(2026, 0, 1), Date.UTC(2099, 0, 1)]) {
            vi.setSystemTime(now);
            expect(decide(scheme, structuredClone(p), r)).toEqual(expected);
          }
        } finally {
          vi.useRealTimers();
        }
      }),
      { numRuns: 200 },
    );
  });
});
