/**
 * A deterministic synthetic world for the decision benchmark: a scheme (home US, ~20 models, a few
 * country partners, 1,000 organization partners, 10,000 licenses) and a population of principals
 * with requests. Everything comes from one seeded PRNG, so two runs decide exactly the same inputs
 * and their numbers can be compared. The mix aims at what a gateway sees: most traffic from people
 * the scheme knows about, a tail of embargoed, screened and unlicensed requests.
 */
import type { z } from "zod";
import type { Action, Assurance, Nationality, Principal } from "../src/policy/types.js";
import type { schemeFileSchema } from "../src/scheme/schema.js";

export type SchemeInput = z.input<typeof schemeFileSchema>;
type LicenseInput = NonNullable<SchemeInput["licenses"]>[number];
type OrgInput = NonNullable<NonNullable<SchemeInput["partners"]>["organizations"]>[number];

/** mulberry32: tiny, fast, good enough for test data; never Math.random, so runs are reproducible. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** 1..max distinct items. */
  some<T>(items: readonly T[], max: number): T[] {
    const out = new Set<T>();
    const n = 1 + this.int(max);
    while (out.size < Math.min(n, items.length)) out.add(this.pick(items));
    return [...out];
  }
  /** Weighted choice: [[weight, value], ...]. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let r = this.next() * table.reduce((s, [w]) => s + w, 0);
    for (const [w, v] of table) if ((r -= w) < 0) return v;
    return (table[table.length - 1] as readonly [number, T])[1];
  }
}

export const TRUSTED = ["CA", "DE", "FR", "GB", "IT", "JP", "AU", "NZ"]; // G7 + Five Eyes, without the US
export const EU_OTHER = ["NL", "SE", "ES", "PL", "BE", "AT", "IE", "FI", "DK", "PT", "CZ"];
export const OTHER = [
  "IN",
  "BR",
  "MX",
  "SG",
  "KR",
  "IL",
  "AE",
  "SA",
  "TR",
  "ZA",
  "NG",
  "ID",
  "UA",
  "CH",
  "NO",
];
const RESTRICTED = ["CN", "RU", "BY", "VE", "IQ", "LB"]; // EAR D:5, not embargoed
export const EMBARGOED = ["IR", "KP", "SY", "CU"]; // EAR E:1 + E:2
const ORG_COUNTRIES = [...TRUSTED, ...TRUSTED, ...EU_OTHER, ...OTHER, "CN"];
const ACTIONS: readonly Action[] = ["infer", "fine_tune", "evaluate", "weights"];
const ASSURANCE: readonly Assurance[] = ["none", "self", "verified", "attested"];
export const PURPOSES = ["research", "cyber-defense", "medical", "evaluation", "education"];

const FAMILIES = ["mythos", "fable", "lumen", "atlas", "vega", "orion"];
/** Controlled models with open fallbacks, a chain of controlled ones, one EU-only, one home-only. */
export const CONTROLLED = [
  ...FAMILIES.map((f) => `${f}-5`),
  "code-5",
  "code-4",
  "eu-mythos-5",
  "frontier-x",
  "research-1",
];
export const OPEN = [...FAMILIES.map((f) => `${f}-4`), "code-3", "embed-1"];
export const HOME_ONLY = "mythos-5-weights";

function models(): SchemeInput["models"] {
  const m: SchemeInput["models"] = {};
  for (const f of FAMILIES) {
    m[`${f}-5`] = { control: "controlled", fallback: `${f}-4` };
    m[`${f}-4`] = { control: "open" };
  }
  m["code-5"] = { control: "controlled", fallback: "code-4" };
  m["code-4"] = { control: "controlled", fallback: "code-3" };
  m["code-3"] = { control: "open" };
  m["eu-mythos-5"] = { control: "controlled", available_in: ["EU"], fallback: "mythos-4" };
  m["frontier-x"] = { control: "controlled" };
  m["research-1"] = { control: "controlled", fallback: "lumen-4" };
  m["embed-1"] = { control: "open" };
  m[HOME_ONLY] = { control: "home-only" };
  return m;
}

const grant = (r: Rng) => ({ models: r.some(CONTROLLED, 3), actions: r.some(ACTIONS, 2) });

function organization(r: Rng, i: number): OrgInput {
  const country = r.pick(ORG_COUNTRIES);
  return {
    id: `org-${String(i).padStart(4, "0")}`,
    country,
    status: r.weighted([
      [85, "active"],
      [7, "suspended"],
      [5, "applied"],
      [3, "revoked"],
    ] as const),
    assurance: r.pick(["self", "verified", "verified", "attested"] as const),
    ...(r.chance(0.4) ? { locations: r.chance(0.5) ? [country, "US"] : [country, "EU"] } : {}),
    grants: Array.from({ length: 1 + r.int(3) }, () => grant(r)),
  };
}

/** A person: ids follow the kind so a reader of a decision can tell where it came from. */
export type Kind =
  "home" | "trusted" | "eu" | "member" | "licensee" | "embargoed" | "foreign" | "dual" | "stateless";

export interface Person {
  readonly principal: Principal;
  readonly kind: Kind;
  /** Where this person usually works from. */
  readonly base: string;
}

const nat = (country: string, since?: string): Nationality => (since ? { country, since } : { country });
const year = (r: Rng, from: number, span: number) =>
  `${from + r.int(span)}-${String(1 + r.int(12)).padStart(2, "0")}-15`;

function person(r: Rng, i: number, orgs: readonly OrgInput[], corps: readonly string[]): Person {
  const kind = r.weighted<Kind>([
    [20, "home"],
    [15, "trusted"],
    [10, "eu"],
    [20, "member"],
    [12, "licensee"],
    [3, "embargoed"],
    [12, "foreign"],
    [7, "dual"],
    [1, "stateless"],
  ]);
  const id = `${kind}-${String(i).padStart(5, "0")}`;
  let cits: Nationality[] = [];
  let prs: Nationality[] = [];
  let organization: Principal["organization"] = null;
  let residence: string | null = null;
  switch (kind) {
    case "home":
      cits = r.chance(0.85) ? [nat("US")] : [nat(r.pick(OTHER)), nat("US", year(r, 2000, 20))];
      if (r.chance(0.1)) {
        // A green-card holder: a foreign citizen who is a US person by permanent residency.
        [cits, prs] = [[nat(r.pick([...OTHER, ...RESTRICTED]))], [nat("US", year(r, 2010, 10))]];
      }
      residence = r.chance(0.9) ? "US" : r.pick(TRUSTED);
      break;
    case "trusted":
    case "eu":
      cits = [nat(r.pick(kind === "eu" ? EU_OTHER : TRUSTED))];
      break;
    case "member": {
      const partner = r.chance(0.8);
      const org = partner ? r.pick(orgs) : undefined;
      const country = org?.country ?? r.pick(ORG_COUNTRIES);
      cits = [nat(r.chance(0.75) ? country : r.pick([...TRUSTED, ...OTHER, ...RESTRICTED]))];
      const screening = r.weighted([
        [96, "clear"],
        [3, "potential"],
        [1, "confirmed"],
      ] as const);
      organization = org ? org.id : { id: r.pick(corps), country, screening };
      break;
    }
    case "licensee":
      cits = [nat(r.pick([...OTHER, ...RESTRICTED, ...TRUSTED, ...EU_OTHER]))];
      if (r.chance(0.3)) organization = r.pick(corps);
      break;
    case "embargoed":
      cits = [nat(r.pick(EMBARGOED))];
      if (r.chance(0.3)) cits = [nat(r.pick(OTHER))]; // ... or living in an embargoed country
      residence = r.chance(0.5) ? r.pick(EMBARGOED) : null;
      break;
    case "foreign":
      cits = [nat(r.pick([...OTHER, ...RESTRICTED]))];
      break;
    case "dual": {
      // Born in one country, naturalized later; sometimes a date is missing (ambiguous → all count).
      const first = r.pick([...RESTRICTED, ...EMBARGOED, ...OTHER]);
      const second = r.pick([...TRUSTED, ...EU_OTHER, ...OTHER]);
      cits = [nat(first, year(r, 1960, 30)), nat(second, r.chance(0.85) ? year(r, 1995, 28) : undefined)];
      if (r.chance(0.3)) [cits, prs] = [[cits[0] as Nationality], [cits[1] as Nationality]];
      break;
    }
    case "stateless":
      break;
  }
  const base = residence ?? (cits.at(-1) ?? prs.at(-1))?.country ?? r.pick(OTHER);
  const principal: Principal = {
    id,
    citizenships: cits,
    permanent_residencies: prs,
    residence: residence ?? (r.chance(0.6) ? base : null),
    organization,
    assurance: r.pick(ASSURANCE),
    screening: r.weighted([
      [98, "clear"],
      [1.5, "potential"],
      [0.5, "confirmed"],
    ] as const),
  };
  return { principal, kind, base };
}

function date(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const DAY = 86_400_000;
export const WINDOW_START = Date.parse("2026-07-01T00:00:00Z");
export const WINDOW_DAYS = 365;

/** A license to a person or an organization, usually shaped to what its holder does. */
function license(
  r: Rng,
  i: number,
  holder: { principal?: Person; org?: { id: string; country: string } },
): LicenseInput {
  const home = holder.principal?.base ?? holder.org?.country ?? "DE";
  const from = WINDOW_START - 365 * DAY + r.int(540) * DAY;
  return {
    id: `L-${String(i).padStart(5, "0")}`,
    licensee: holder.principal
      ? { principal: holder.principal.principal.id }
      : { organization: holder.org?.id ?? "" },
    models: r.some(CONTROLLED, 3),
    actions: r.chance(0.6) ? ["infer"] : r.some(ACTIONS, 2),
    destinations: r.weighted([
      [70, [home]],
      [10, ["EU"]],
      [10, ["G7"]],
      [10, [home, "US"]],
    ]),
    ...(r.chance(0.5) ? { purposes: r.some(PURPOSES, 2) } : {}),
    ...(r.chance(0.5) ? { nationalities: r.chance(0.7) ? [home] : ["trusted"] } : {}),
    valid_from: date(from),
    valid_until: date(from + (90 + r.int(640)) * DAY),
    ...(r.chance(0.4) ? { quota_tokens: 1_000_000 * (1 + r.int(100)) } : {}),
    status: r.weighted([
      [75, "approved"],
      [8, "pending"],
      [8, "suspended"],
      [5, "revoked"],
      [4, "denied"],
    ] as const),
  };
}

export interface World {
  readonly scheme: SchemeInput;
  readonly people: readonly Person[];
}

export interface Sizes {
  readonly organizations: number;
  readonly licenses: number;
  readonly principals: number;
}

export function generateWorld(seed: number, sizes: Sizes): World {
  const r = new Rng(seed);
  const orgs = Array.from({ length: sizes.organizations }, (_, i) => organization(r, i));
  const corps = Array.from({ length: 300 }, (_, i) => `corp-${String(i).padStart(3, "0")}`);
  const people = Array.from({ length: sizes.principals }, (_, i) => person(r, i, orgs, corps));
  const licensees = people.filter((p) => p.kind === "licensee" || p.kind === "dual");
  const licenseOrgs = [...orgs, ...corps.map((id) => ({ id, country: r.pick(ORG_COUNTRIES) }))];
  const licenses = Array.from({ length: sizes.licenses }, (_, i) =>
    license(r, i, r.chance(0.6) ? { principal: r.pick(licensees) } : { org: r.pick(licenseOrgs) }),
  );
  const scheme: SchemeInput = {
    version: 1,
    name: "bench-generated",
    home: ["US"],
    nationality_rule: "most-recent",
    embargoed: ["EAR_E1", "EAR_E2"],
    restricted_nationalities: ["EAR_D5"],
    sets: { trusted: ["G7", "FIVE_EYES"] },
    models: models(),
    partners: {
      countries: [
        { id: "g7-fvey", countries: ["trusted"], assurance: "attested", grants: [grant(r), grant(r)] },
        {
          id: "eu-members",
          countries: ["EU"],
          assurance: "verified",
          grants: [{ models: ["eu-mythos-5"], actions: ["infer"] }],
        },
        {
          id: "nato-eval",
          countries: ["NATO"],
          assurance: "verified",
          grants: [{ models: ["code-5", "code-4"], actions: ["evaluate"] }],
        },
        {
          id: "apac",
          countries: ["JP", "KR", "AU", "NZ", "SG"],
          status: "suspended",
          assurance: "self",
          grants: [grant(r)],
        },
      ],
      organizations: orgs,
    },
    licenses,
  };
  return { scheme, people };
}
