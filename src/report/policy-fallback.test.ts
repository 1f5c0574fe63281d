/**
 * The policy footprint's fallbacks against decide(): for random schemes (models with fallback
 * chains, controls and availability; country partners, an organization partner, licenses), at each
 * place, a representative person of every audience — a home person, a national of each partner
 * country, a member of the organization partner, each licensee, and someone none of them — is served
 * by decide() exactly the model the row says: the model itself when the row names the person's
 * audience, else the first fallback that names it (or serves everyone), else nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide } from "../policy/decide.js";
import { ACTIONS, type Principal } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { compileScheme, parseScheme, schemeFileSchema } from "../scheme/index.js";
import { policyFootprint, type PolicyFallback, type PolicyRow } from "./policy.js";

const TIME = Date.parse("2026-06-15T12:00:00Z");
const COUNTRIES = ["US", "FR", "DE", "CN", "IR", "JP", "BR", "IN"];
const MODELS = ["a", "b", "c", "d"];
const some = (min = 0) => fc.subarray(COUNTRIES, { minLength: min });
const grant = fc.record({
  models: fc.subarray(MODELS, { minLength: 1 }),
  actions: fc.subarray([...ACTIONS], { minLength: 1 }),
});
const model = (fallbacks: (string | undefined)[]) =>
  fc.record({
    control: fc.constantFrom("controlled", "home-only", "open"),
    fallback: fc.constantFrom(...fallbacks),
    available_in: fc.option(some(), { nil: undefined }),
  });

const schemes = fc.record({
  home: some(1),
  embargoed: some(),
  restricted: some(),
  models: fc.record({
    a: model([undefined, "b", "c", "d"]),
    b: model([undefined, "c", "d"]),
    c: model([undefined, "d"]),
    d: model([undefined]),
  }),
  countries: fc.array(
    fc.record({
      countries: some(1),
      status: fc.constantFrom("active", "active", "suspended"),
      assurance: fc.constantFrom("none", "verified", "attested"),
      grant,
    }),
    { maxLength: 2 },
  ),
  organization: fc.option(
    fc.record({
      country: fc.constantFrom(...COUNTRIES),
      locations: fc.option(some(1), { nil: undefined }),
      status: fc.constantFrom("active", "suspended"),
      grant,
    }),
    { nil: undefined },
  ),
  licenses: fc.array(
    fc.record({
      licensee: fc.constantFrom({ principal: "holder" }, { organization: "lab" }),
      grant,
      destinations: some(1),
      status: fc.constantFrom("approved", "approved", "suspended"),
      expired: fc.boolean(),
    }),
    { maxLength: 2 },
  ),
});

type Arb = typeof schemes extends fc.Arbitrary<infer T> ? T : never;

function compiled(s: Arb): CompiledScheme | null {
  const models = Object.fromEntries(
    MODELS.map((id) => {
      const m = s.models[id as "a"];
      return [
        id,
        {
          control: m.control,
          ...(m.fallback === undefined ? {} : { fallback: m.fallback }),
          ...(m.available_in === undefined ? {} : { available_in: m.available_in }),
        },
      ];
    }),
  );
  const parsed = schemeFileSchema.safeParse({
    version: 1,
    name: "s",
    home: s.home,
    embargoed: s.embargoed,
    restricted_nationalities: s.restricted,
    models,
    partners: {
      countries: s.countries.map((p, i) => ({
        id: `cp${i}`,
        countries: p.countries,
        status: p.status,
        assurance: p.assurance,
        grants: [p.grant],
      })),
      organizations:
        s.organization === undefined
          ? []
          : [
              {
                id: "org",
                country: s.organization.country,
                status: s.organization.status,
                assurance: "verified",
                ...(s.organization.locations === undefined ? {} : { locations: s.organization.locations }),
                grants: [s.organization.grant],
              },
            ],
    },
    licenses: s.licenses.map((l, i) => ({
      id: `L${i}`,
      licensee: l.licensee,
      models: l.grant.models,
      actions: l.grant.actions,
      destinations: l.destinations,
      valid_from: "2026-01-01",
      valid_until: l.expired ? "2026-06-01" : "2027-01-01",
      status: l.status,
    })),
  });
  if (!parsed.success) return null;
  const r = compileScheme(parsed.data);
  return r.ok ? r.scheme : null;
}

interface Audience {
  readonly name: string;
  readonly person: Principal;
  /** Whether an entry of the row (the model's own audience, or a fallback's) names this person. */
  readonly named: (e: Omit<PolicyFallback, "model">) => boolean;
}

/** A representative person of each audience the policy footprint names, and of nobody's. */
function audiences(scheme: CompiledScheme): Audience[] {
  const out: Audience[] = [];
  const foreign = (c: string) => !scheme.home.has(c) && !scheme.embargoed.has(c);
  const inPartner = (c: string) => scheme.countryPartners.some((p) => p.countries.has(c));
  // Someone without standing: a foreign national of no partner country, in no organization.
  const plain = COUNTRIES.find((c) => foreign(c) && !inPartner(c) && !scheme.restricted.has(c));
  for (const h of scheme.home) {
    out.push({
      name: `home person (${h})`,
      person: { id: "h", citizenships: [{ country: h }], assurance: "attested" },
      named: (e) => e.home_persons,
    });
  }
  for (const p of scheme.countryPartners) {
    for (const c of p.countries) {
      if (!foreign(c) || !COUNTRIES.includes(c)) continue;
      const partners = new Set(scheme.countryPartners.filter((q) => q.countries.has(c)).map((q) => q.id));
      out.push({
        name: `national of ${c}`,
        person: { id: `n-${c}`, citizenships: [{ country: c }], assurance: "attested" },
        named: (e) => e.partner_nationals.some((n) => partners.has(n.split(" ")[0] as string)),
      });
    }
  }
  if (plain === undefined) return out;
  out.push({
    name: `national of ${plain} without standing`,
    person: { id: "nobody", citizenships: [{ country: plain }], assurance: "attested" },
    named: () => false,
  });
  for (const o of scheme.organizationPartners.values()) {
    // Members of an organization in an embargoed country are denied everything (a universal denial).
    if (scheme.embargoed.has(o.country)) continue;
    out.push({
      name: `member of ${o.id}`,
      person: { id: "member", citizenships: [{ country: plain }], organization: o.id, assurance: "attested" },
      named: (e) => e.partner_organizations.includes(o.id),
    });
  }
  out.push({
    name: "the principal licensee",
    person: { id: "holder", citizenships: [{ country: plain }], assurance: "attested" },
    named: (e) => e.licensees.some((l) => l.startsWith("principal holder (")),
  });
  out.push({
    name: "a member of the licensed organization",
    person: { id: "staff", citizenships: [{ country: plain }], organization: "lab", assurance: "attested" },
    named: (e) => e.licensees.some((l) => l.startsWith("organization lab (")),
  });
  return out;
}

/** What the row says this person is served: the model, the first fallback naming them, or nothing. */
function expected(row: PolicyRow, a: Audience): string | null {
  if (row.access === "embargoed") return null;
  const own = {
    access: row.access,
    home_persons: row.home_persons,
    partner_nationals: row.partner_nationals,
    partner_organizations: row.partner_organizations,
    licensees: row.licensees,
  };
  if (row.access === "everyone" || a.named(own)) return row.model;
  return row.fallbacks.find((f) => f.access === "everyone" || a.named(f))?.model ?? null;
}

function mismatches(scheme: CompiledScheme): string[] {
  const out: string[] = [];
  const rows = policyFootprint(scheme, TIME).rows.filter((r) => COUNTRIES.includes(r.country));
  const people = audiences(scheme);
  for (const row of rows) {
    for (const a of people) {
      const d = decide(scheme, a.person, {
        model: row.model,
        action: row.action,
        location: row.country,
        time: TIME,
      });
      const got = d.decision === "deny" ? null : d.served_model;
      const want = expected(row, a);
      if (got !== want) {
        out.push(
          `${row.country} ${row.model} ${row.action}, ${a.name}: the row says ${want ?? "nothing"}, ` +
            `decide() serves ${got ?? "nothing"} (${d.decision} ${d.reason})`,
        );
      }
    }
    // The row's "everyone else" is the one without standing.
    const nobody = people.find((a) => a.person.id === "nobody");
    if (nobody !== undefined && row.access !== "everyone" && row.access !== "embargoed") {
      const want = expected(row, nobody);
      if (row.fallback_model !== want) out.push(`${row.country} ${row.model} ${row.action}: everyone else`);
    }
  }
  return out;
}

describe("the policy footprint's fallbacks", () => {
  it("name what decide() serves: a chain whose first fallback serves only home persons", () => {
    const s = parseScheme(
      `version: 1
name: chain
home: [US]
models:
  m6: { control: controlled, fallback: m5 }
  m5: { control: controlled, fallback: m4 }
  m4: { control: open }
partners:
  countries:
    - { id: allies, countries: [FR, DE], assurance: none, grants: [{ models: [m5], actions: [infer] }] }
`,
      "chain.yaml",
    );
    const row = policyFootprint(s, TIME).rows.find(
      (r) => r.country === "BR" && r.model === "m6" && r.action === "infer",
    );
    // Home persons get m6 itself; m5 serves nobody else in Brazil; everyone else gets m4.
    expect(row).toMatchObject({ access: "home-persons", fallback_model: "m4", fallback_access: "everyone" });
    expect(row?.fallbacks).toEqual([
      {
        model: "m4",
        access: "everyone",
        home_persons: false,
        partner_nationals: [],
        partner_organizations: [],
        licensees: [],
      },
    ]);
    const brazilian = decide(
      s,
      { id: "x", citizenships: [{ country: "BR" }] },
      { model: "m6", action: "infer", location: "BR", time: TIME },
    );
    expect(brazilian.served_model).toBe("m4");
    // In France, the allies' nationals get m5 first.
    const fr = policyFootprint(s, TIME).rows.find(
      (r) => r.country === "FR" && r.model === "m6" && r.action === "infer",
    );
    expect(fr?.fallbacks.map((f) => [f.model, f.access])).toEqual([
      ["m5", "partner-nationals"],
      ["m4", "everyone"],
    ]);
    expect(mismatches(s)).toEqual([]);
  });

  it("name what decide() serves a representative of every audience, on random schemes", () => {
    fc.assert(
      fc.property(schemes, (s) => {
        const scheme = compiled(s);
        if (scheme === null) return;
        expect(mismatches(scheme)).toEqual([]);
      }),
      { numRuns: Number(process.env.CLEARANCE_FUZZ_RUNS ?? 300) },
    );
  }, 120_000);
});
