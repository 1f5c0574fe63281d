/**
 * What the decision needs to know about a principal: home or foreign person, relevant
 * nationalities, organization, and the findings that depend on nothing else. Worked out once per
 * principal and scheme version (`factsOf` keeps them with the compiled scheme; principals are
 * immutable inputs), and shared by every decision about that principal.
 */
import type { CompiledLicense, CompiledOrganizationPartner, CompiledScheme } from "../scheme/compile.js";
import { assuranceRank } from "../scheme/compile.js";
import type {
  Assurance,
  Finding,
  NationalityBasis,
  Nationality,
  Principal,
  Reason,
  Screening,
} from "./types.js";
import { ASSURANCE_LEVELS } from "./types.js";
import { instantOf } from "./dates.js";

export interface PrincipalFacts {
  /** The home country this person is a citizen or permanent resident of, or null: a foreign person. */
  readonly homeCountry: string | null;
  readonly homeVia: "citizenship" | "permanent residency" | null;
  /** Foreign persons only: the nationalities nationality-based checks look at. */
  readonly relevant: readonly string[];
  /** `most-recent` could not be applied (dates missing), so every nationality counts. */
  readonly ambiguous: boolean;
  /**
   * From this instant (ms) every citizenship and residency listed has been acquired (-Infinity when
   * none has a date). Before it, some are not yet held: the facts are worked out for that time.
   */
  readonly heldFrom: number;
  readonly assurance: number;
  readonly assuranceLevel: Assurance;
  readonly basis: NationalityBasis;
  /** The home-person check's finding for a foreign person: for home-only models, and for the rest. */
  readonly foreignHomeOnly: Finding;
  readonly foreign: Finding;
  /** The home-person check's allow, for a home person. */
  readonly home: Finding | null;
  readonly organizationId: string | null;
  readonly organizationCountry: string | null;
  readonly organizationScreening: Screening;
  readonly organizationPartner: CompiledOrganizationPartner | undefined;
  /** A confirmed screening match of the principal or its organization: denies every model. */
  readonly deniedParty: Denial | null;
  /** A potential screening match (principal or organization) awaiting review. */
  readonly potentialMatch: boolean;
  /** Residence, organization country or a relevant nationality embargoed (checked in that order). */
  readonly embargo: Denial | null;
  /** The first relevant nationality in the scheme's restricted set. */
  readonly restricted: string | null;
  /** Per country partner (scheme order): the first relevant nationality outside its countries. */
  readonly outsidePartner: readonly (string | null)[];
  /** The licenses held: the principal's own, then its organization's, in scheme order. */
  readonly licenses: readonly CompiledLicense[];
}

/** A check's deciding deny, worked out once per principal. */
export interface Denial {
  readonly reason: Reason;
  readonly finding: Finding;
}

const NONE: readonly Nationality[] = [];

export function principalFacts(scheme: CompiledScheme, p: Principal): PrincipalFacts {
  const citizenships = p.citizenships ?? NONE;
  const residencies = p.permanent_residencies ?? NONE;
  let heldFrom = -Infinity;
  for (const list of [citizenships, residencies])
    for (const n of list) {
      // An unreadable date (NaN) is no date: it must not make every later request recompute.
      const t = n.since ? instantOf(n.since) : NaN;
      if (t > heldFrom) heldFrom = t;
    }
  let homeCountry: string | null = null;
  let homeVia: PrincipalFacts["homeVia"] = null;
  for (const n of citizenships) {
    if (scheme.home.has(n.country)) {
      homeCountry = n.country;
      homeVia = "citizenship";
      break;
    }
  }
  if (homeCountry === null) {
    for (const n of residencies) {
      if (scheme.home.has(n.country)) {
        homeCountry = n.country;
        homeVia = "permanent residency";
        break;
      }
    }
  }

  let relevant: readonly string[] = NO_COUNTRIES;
  let ambiguous = false;
  if (homeCountry === null) {
    const r = relevantNationalities(citizenships, residencies, scheme.nationalityRule === "all");
    relevant = r.relevant;
    ambiguous = r.ambiguous;
  }

  const org = p.organization ?? null;
  const organizationId = organizationIdOf(org);
  const partner = organizationId === null ? undefined : scheme.organizationPartners.get(organizationId);
  // The partner registry's country is authoritative; the caller's is used for unregistered organizations.
  const organizationCountry =
    partner?.country ?? (org !== null && typeof org === "object" ? (org.country ?? null) : null);
  const organizationScreening =
    org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear";

  const basis: NationalityBasis = ambiguous
    ? "dates-missing"
    : scheme.nationalityRule === "all"
      ? "all"
      : "most-recent";
  const assurance = assuranceRank(p.assurance ?? "none");
  const deniedParty: Denial | null =
    p.screening === "confirmed"
      ? { reason: "denied-party", finding: { code: "principal-screening-match", principal: p.id } }
      : organizationScreening === "confirmed" && organizationId !== null
        ? {
            reason: "denied-party",
            finding: { code: "organization-screening-match", organization: organizationId },
          }
        : null;
  const own = scheme.licensesByPrincipal.get(p.id) ?? NO_LICENSES;
  const orgs =
    organizationId === null
      ? NO_LICENSES
      : (scheme.licensesByOrganization.get(organizationId) ?? NO_LICENSES);
  return {
    homeCountry,
    homeVia,
    relevant,
    ambiguous,
    heldFrom,
    assurance,
    assuranceLevel: ASSURANCE_LEVELS[assurance] ?? "none",
    basis,
    foreignHomeOnly: { code: "foreign-person", basis },
    foreign: { code: "foreign-person-nationalities", nationalities: relevant, basis },
    home:
      homeCountry === null || homeVia === null
        ? null
        : { code: "home-person", country: homeCountry, via: homeVia },
    organizationId,
    organizationCountry,
    organizationScreening,
    organizationPartner: partner,
    deniedParty,
    potentialMatch: p.screening === "potential" || organizationScreening === "potential",
    embargo: embargo(scheme, p.residence ?? null, organizationCountry, relevant, basis),
    restricted: firstIn(relevant, scheme.restricted),
    outsidePartner: scheme.countryPartners.map((cp) => firstNotIn(relevant, cp.countries)),
    licenses: own.length === 0 ? orgs : orgs.length === 0 ? own : [...own, ...orgs],
  };
}

const NO_LICENSES: readonly CompiledLicense[] = [];

function embargo(
  scheme: CompiledScheme,
  residence: string | null,
  organizationCountry: string | null,
  relevant: readonly string[],
  basis: NationalityBasis,
): Denial | null {
  const embargoed = scheme.embargoed;
  if (residence !== null && embargoed.has(residence)) {
    return { reason: "embargoed-residence", finding: { code: "residence-embargoed", country: residence } };
  }
  if (organizationCountry !== null && embargoed.has(organizationCountry)) {
    return {
      reason: "embargoed-organization",
      finding: { code: "organization-country-embargoed", country: organizationCountry },
    };
  }
  const nationality = firstIn(relevant, embargoed);
  if (nationality === null) return null;
  return {
    reason: "embargoed-nationality",
    finding: { code: "nationality-embargoed", country: nationality, basis },
  };
}

function firstIn(countries: readonly string[], set: ReadonlySet<string>): string | null {
  for (const c of countries) if (set.has(c)) return c;
  return null;
}

function firstNotIn(countries: readonly string[], set: ReadonlySet<string>): string | null {
  for (const c of countries) if (!set.has(c)) return c;
  return null;
}

const NO_COUNTRIES: readonly string[] = [];

/**
 * The principal's facts under this scheme version at `time`, worked out on first sight and kept
 * with it. Before a listed nationality's `since` (a replay of the past, or a date in the future)
 * it is not yet held: the facts are worked out afresh without it.
 */
export function factsOf(scheme: CompiledScheme, p: Principal, time: number = Infinity): PrincipalFacts {
  let facts = scheme.principalFacts.get(p);
  if (facts === undefined) {
    facts = principalFacts(scheme, p);
    scheme.principalFacts.set(p, facts);
  }
  if (time >= facts.heldFrom) return facts;
  // Before a listed date: the facts of the interval between two dates are kept beside the
  // principal's (a future-dated nationality would otherwise cost a recomputation per request).
  const kept = FACTS_AT.get(facts);
  if (kept !== undefined && time >= kept.from && time < kept.until) return kept.facts;
  let from = -Infinity;
  let until = Infinity;
  for (const list of [p.citizenships ?? NONE, p.permanent_residencies ?? NONE])
    for (const n of list) {
      const t = n.since ? instantOf(n.since) : NaN;
      if (t <= time && t > from) from = t;
      else if (t > time && t < until) until = t;
    }
  const at = principalFacts(scheme, heldAt(p, time));
  FACTS_AT.set(facts, { from, until, facts: at });
  return at;
}

/** Per principal's facts (so per scheme version): those of the last interval before a listed date. */
const FACTS_AT = new WeakMap<PrincipalFacts, { from: number; until: number; facts: PrincipalFacts }>();

/**
 * The principal with only the citizenships and residencies acquired by `time` (undated ones kept);
 * the principal itself when it holds every one by then.
 */
export function heldAt(p: Principal, time: number): Principal {
  const held = (n: Nationality) => !n.since || !(instantOf(n.since) > time);
  const citizenships = p.citizenships ?? NONE;
  const residencies = p.permanent_residencies ?? NONE;
  if (citizenships.every(held) && residencies.every(held)) return p;
  return Object.assign({}, p, {
    citizenships: citizenships.filter(held),
    permanent_residencies: residencies.filter(held),
  });
}

/**
 * `most-recent` (EAR, 15 CFR 734.13(b)): the most recently acquired citizenship or permanent
 * residency; several acquired on the same latest date all count. A missing date makes it ambiguous
 * only when it could change the answer: an undated entry of the one country acquired on the latest
 * date leaves it the answer (it is that country, acquired before, on or after that date); any other
 * undated entry — of another country, or of one of several tied on the latest date, which it would
 * narrow to itself if acquired after — could, so every nationality counts (`ambiguous`; DESIGN.md:
 * "If dates are missing and that makes it ambiguous, use `all` for that principal").
 * `all` (ITAR, 22 CFR 120.50(b)): every citizenship and permanent residency.
 */
export function relevantNationalities(
  citizenships: readonly Nationality[],
  residencies: readonly Nationality[],
  all: boolean,
): { relevant: readonly string[]; ambiguous: boolean } {
  const total = citizenships.length + residencies.length;
  if (total === 0) return { relevant: NO_COUNTRIES, ambiguous: false };
  if (total === 1) {
    const only = (citizenships[0] ?? residencies[0]) as Nationality;
    return { relevant: [only.country], ambiguous: false };
  }
  const distinct: string[] = [];
  const undated: string[] = [];
  let latest = -Infinity;
  for (const list of [citizenships, residencies]) {
    for (const n of list) {
      if (!distinct.includes(n.country)) distinct.push(n.country);
      const t = n.since ? instantOf(n.since) : NaN;
      if (Number.isNaN(t)) undated.push(n.country);
      else if (t > latest) latest = t;
    }
  }
  if (all || distinct.length === 1) return { relevant: distinct, ambiguous: false };
  const recent: string[] = [];
  for (const list of [citizenships, residencies]) {
    for (const n of list) {
      if (n.since && instantOf(n.since) === latest && !recent.includes(n.country)) recent.push(n.country);
    }
  }
  for (const country of undated)
    if (recent.length !== 1 || recent[0] !== country) return { relevant: distinct, ambiguous: true };
  return { relevant: recent, ambiguous: false };
}

/** The id of a principal's organization, whether it is named by id or given as a record (null: none). */
export function organizationIdOf(org: Principal["organization"]): string | null {
  return org == null ? null : typeof org === "string" ? org : org.id;
}
