/** Invariants of the decision, checked over generated principals, requests and scheme changes. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileScheme, schemeFileSchema, type CompiledScheme, type SchemeFile } from "../scheme/index.js";
import { testScheme } from "../testing/schemes.js";
import { decide } from "./decide.js";
import { ACTIONS, ASSURANCE_LEVELS, type DecisionRequest, type Principal } from "./types.js";

const base = testScheme();
const COUNTRIES = [
  "US",
  "FR",
  "DE",
  "GB",
  "CA",
  "JP",
  "IN",
  "CN",
  "IR",
  "KP",
  "CU",
  "SY",
  "BR",
  "MO",
  "NO",
  "AU",
  "PL",
  "RU",
];
const MODELS = [...base.models.keys(), "no-such-model"];

const country = fc.constantFrom(...COUNTRIES);
const day = fc
  .integer({ min: Date.UTC(1960, 0, 1), max: Date.UTC(2028, 0, 1) })
  .map((t) => new Date(t).toISOString().slice(0, 10));
const nationality = fc.record({ country, since: fc.option(day, { nil: null }) });

const principal: fc.Arbitrary<Principal> = fc.record({
  id: fc.constantFrom("p-in", "p-expired", "p-future", "p-x", "p-y"),
  citizenships: fc.array(nationality, { maxLength: 3 }),
  permanent_residencies: fc.array(nationality, { maxLength: 2 }),
  residence: fc.option(country, { nil: null }),
  organization: fc.option(
    fc.oneof(
      fc.constantFrom("uk-aisi", "old-lab", "bw-cyber", "unregistered"),
      fc.record({ id: fc.constantFrom("bw-cyber", "acme"), country: fc.option(country, { nil: null }) }),
    ),
    { nil: null },
  ),
  assurance: fc.constantFrom(...ASSURANCE_LEVELS),
  screening: fc.constantFrom("clear", "clear", "clear", "potential", "confirmed"),
});

const request: fc.Arbitrary<DecisionRequest> = fc.record({
  model: fc.constantFrom(...MODELS),
  action: fc.constantFrom(...ACTIONS),
  location: fc.option(country, { nil: null }),
  purpose: fc.option(fc.constantFrom("cyber-defense", "research"), { nil: null }),
  time: fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 6, 1) }),
  usage: fc.option(fc.record({ "L-ORG": fc.record({ tokens: fc.integer({ min: 0, max: 2000 }) }) }), {
    nil: undefined,
  }),
});

const license = fc.record({
  id: fc.constant("L-GENERATED"),
  licensee: fc.oneof(
    fc.record({ organization: fc.constantFrom("uk-aisi", "bw-cyber", "acme", "unregistered") }),
    fc.record({ principal: fc.constantFrom("p-in", "p-x", "p-y") }),
  ),
  models: fc.subarray([...base.models.keys()], { minLength: 1 }),
  actions: fc.subarray([...ACTIONS], { minLength: 1 }),
  destinations: fc.subarray(COUNTRIES, { minLength: 1 }),
  purposes: fc.option(fc.subarray(["cyber-defense", "research"], { minLength: 1 }), { nil: undefined }),
  nationalities: fc.option(fc.subarray(COUNTRIES, { minLength: 1 }), { nil: undefined }),
  valid_from: fc.constantFrom("2025-01-01", "2026-06-01", "2027-01-01"),
  valid_until: fc.constantFrom("2027-06-01", "2028-01-01"),
  quota_tokens: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
  status: fc.constantFrom("pending", "approved", "approved", "suspended", "revoked", "denied"),
});

function recompile(change: (source: SchemeFile) => unknown): CompiledScheme {
  const result = compileScheme(schemeFileSchema.parse(change(structuredClone(base.source))));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.scheme;
}

const RUNS = { numRuns: 2000 };

describe("decision invariants", () => {
  it("an embargoed location denies every model, with no fallback served", () => {
    fc.assert(
      fc.property(principal, request, fc.constantFrom(...base.embargoed), (p, r, location) => {
        const d = decide(base, p, { ...r, location });
        expect(d.decision).toBe("deny");
        expect(d.served_model).toBeNull();
      }),
      RUNS,
    );
  });

  it("adding a license never turns an allow into a deny (nor a served request into a refused one)", () => {
    fc.assert(
      fc.property(
        license,
        fc.array(fc.tuple(principal, request), { minLength: 1, maxLength: 20 }),
        (l, inputs) => {
          const withLicense = recompile((s) => ({ ...s, licenses: [...s.licenses, l] }));
          for (const [p, r] of inputs) {
            const before = decide(base, p, r);
            const after = decide(withLicense, p, r);
            if (before.decision === "allow") expect(after.decision).toBe("allow");
            if (before.decision !== "deny") expect(after.decision).not.toBe("deny");
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("removing a country from a partner's set never turns a deny into an allow", () => {
    const partners = base.source.partners;
    const removal = fc.oneof(
      fc.tuple(fc.constant("countries" as const), fc.nat(partners.countries.length - 1), country),
      fc.tuple(fc.constant("organizations" as const), fc.nat(partners.organizations.length - 1), country),
    );
    fc.assert(
      fc.property(
        removal,
        fc.array(fc.tuple(principal, request), { minLength: 1, maxLength: 20 }),
        ([kind, i, c], inputs) => {
          const narrowed = recompile((s) => {
            if (kind === "countries") {
              const p = s.partners.countries[i]!;
              s.partners.countries[i] = { ...p, countries: { include: toList(p.countries), exclude: [c] } };
            } else {
              const p = s.partners.organizations[i]!;
              s.partners.organizations[i] = {
                ...p,
                locations: { include: toList(p.locations ?? [p.country]), exclude: [c] },
              };
            }
            return s;
          });
          for (const [p, r] of inputs) {
            const before = decide(base, p, r);
            const after = decide(narrowed, p, r);
            if (before.decision === "deny") expect(after.decision).toBe("deny");
            if (before.decision !== "allow") expect(after.decision).not.toBe("allow");
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is deterministic: equal inputs give equal decisions", () => {
    fc.assert(
      fc.property(principal, request, (p, r) => {
        expect(decide(base, structuredClone(p), structuredClone(r))).toEqual(decide(base, p, r));
      }),
      RUNS,
    );
  });

  it("the deciding check is the last one listed; every check before it passed", () => {
    fc.assert(
      fc.property(principal, request, (p, r) => {
        const d = decide(base, p, r);
        const last = d.checks.at(-1)!;
        expect(last.reason).toBe(d.reason);
        expect(last.outcome).toBe(d.decision === "allow" ? "allow" : "deny");
        expect(d.checks.slice(0, -1).every((c) => c.outcome === "pass")).toBe(true);
        for (const f of d.fallbacks ?? []) {
          expect(f.checks.at(-1)?.reason).toBe(f.reason);
          expect(f.checks.slice(0, -1).every((c) => c.outcome === "pass")).toBe(true);
        }
        if (d.decision === "fallback")
          expect(d.fallbacks?.at(-1)).toMatchObject({ model: d.served_model, outcome: "allow" });
      }),
      RUNS,
    );
  });
});

function toList(expr: SchemeFile["home"]): string[] {
  return Array.isArray(expr) ? [...expr] : [...expr.include];
}
