/**
 * Explanations are data now (findings), put into words only where a person reads them. These
 * tests hold the words to the sentences decide() built before (src/testing/decide-in-words.ts),
 * check by check, over generated principals, requests and licenses; and the wire's ISO time
 * reader to Date.parse.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileScheme, schemeFileSchema, type CompiledScheme, type SchemeFile } from "../scheme/index.js";
import { decideInWords } from "../testing/decide-in-words.js";
import { testScheme } from "../testing/schemes.js";
import { decide, timeOf } from "./decide.js";
import { explain } from "./explain.js";
import { ACTIONS, ASSURANCE_LEVELS, type DecisionRequest, type Principal } from "./types.js";
import { decidingDetail, decisionView } from "./words.js";

const base = testScheme();
const COUNTRIES = ["US", "FR", "DE", "GB", "CA", "JP", "IN", "CN", "IR", "KP", "BR", "MO", "NO", "PL", "RU"];
const MODELS = [...base.models.keys(), "no-such-model"];

const country = fc.constantFrom(...COUNTRIES);
const day = fc
  .integer({ min: Date.UTC(1960, 0, 1), max: Date.UTC(2028, 0, 1) })
  .map((t) => new Date(t).toISOString().slice(0, 10));
const nationality = fc.record({ country, since: fc.option(day, { nil: null }) });
const instant = fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 6, 1) });

const principal: fc.Arbitrary<Principal> = fc.record({
  id: fc.constantFrom("p-in", "p-expired", "p-future", "p-x", "p-y"),
  citizenships: fc.array(nationality, { maxLength: 3 }),
  permanent_residencies: fc.array(nationality, { maxLength: 2 }),
  residence: fc.option(country, { nil: null }),
  organization: fc.option(
    fc.oneof(
      fc.constantFrom("uk-aisi", "old-lab", "bw-cyber", "unregistered"),
      fc.record({
        id: fc.constantFrom("bw-cyber", "acme"),
        country: fc.option(country, { nil: null }),
        screening: fc.constantFrom("clear", "clear", "potential", "confirmed"),
      }),
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
  time: fc.oneof(
    instant,
    instant.map((t) => new Date(t).toISOString()),
  ),
  usage: fc.option(
    fc.record({
      "L-ORG": fc.record({ tokens: fc.integer({ min: 0, max: 2000 }) }),
      "L-GENERATED": fc.record({ tokens: fc.integer({ min: 0, max: 2000 }) }),
    }),
    { nil: undefined },
  ),
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

/** The view without the findings (data the sentences never had), as JSON would carry it. */
function inWords(scheme: CompiledScheme, p: Principal, r: DecisionRequest): unknown {
  const view = decisionView(decide(scheme, p, r));
  return JSON.parse(
    JSON.stringify(view, (key, value: unknown) => (key === "finding" ? undefined : value)),
  ) as unknown;
}

describe("findings in words", () => {
  it("are the sentences decide() wrote before, check by check, with the test scheme", () => {
    fc.assert(
      fc.property(principal, request, (p, r) => {
        expect(inWords(base, p, r)).toEqual(JSON.parse(JSON.stringify(decideInWords(base, p, r))));
      }),
      { numRuns: 5000 },
    );
  });

  it("are the same with a generated license, and under the rule that every nationality counts", () => {
    fc.assert(
      fc.property(
        license,
        fc.constantFrom("most-recent", "all"),
        fc.array(fc.tuple(principal, request), { minLength: 1, maxLength: 20 }),
        (l, rule, inputs) => {
          const scheme = recompile((s) => ({ ...s, nationality_rule: rule, licenses: [...s.licenses, l] }));
          for (const [p, r] of inputs) {
            const before = decideInWords(scheme, p, r);
            expect(inWords(scheme, p, r)).toEqual(JSON.parse(JSON.stringify(before)));
            const d = decide(scheme, p, r);
            expect(decidingDetail(d)).toBe(before.checks.at(-1)?.detail);
            const text = explain(d);
            for (const c of before.checks) expect(text).toContain(c.detail);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("are worked out once per principal and scheme version, and the same on every later decision", () => {
    const p: Principal = { id: "p-x", citizenships: [{ country: "IN" }], assurance: "verified" };
    const r: DecisionRequest = { model: "m1", action: "infer", location: "IN", time: Date.UTC(2026, 6, 1) };
    const first = decide(base, p, r);
    expect(base.principalFacts.has(p)).toBe(true);
    expect(decide(base, p, r)).toEqual(first);
    expect(decide(base, { ...p }, r)).toEqual(first);
  });
});

describe("the wire's time", () => {
  it("reads YYYY-MM-DDTHH:MM:SS.sssZ as Date.parse does", () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31) }), (t) => {
        const iso = new Date(t).toISOString();
        expect(timeOf(iso)).toBe(Date.parse(iso));
      }),
      { numRuns: 5000 },
    );
  });

  it("agrees with Date.parse on edge and malformed strings too", () => {
    const digit = fc.constantFrom(..."0123456789");
    const two = fc.tuple(digit, digit).map(([a, b]) => a + b);
    const odd = fc
      .tuple(fc.constantFrom("2026", "0099", "0999", "1970", "9999"), two, two, two, two, two)
      .map(([y, mo, d, h, mi, s]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.123Z`);
    fc.assert(
      fc.property(odd, (s) => {
        expect(Object.is(timeOf(s), Date.parse(s))).toBe(true);
      }),
      { numRuns: 5000 },
    );
    for (const s of [
      "2026-07-01",
      "2026-07-01T00:00:00Z",
      "2026-07-01T24:00:00.000Z",
      "2026-02-31T00:00:00.000Z",
      "2026-07-01T10:00:00.000+02:00",
      "x".repeat(24),
      "2026-07-01T1a:00:00.000Z",
    ]) {
      expect(Object.is(timeOf(s), Date.parse(s))).toBe(true);
    }
    expect(timeOf(12345)).toBe(12345);
  });
});
