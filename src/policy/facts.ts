/**
 * What the decision needs to know about a principal, worked out once per decision and shared by
 * every model along a fallback chain: home or foreign person, relevant nationalities, organization.
 */
import type { CompiledOrganizationPartner, CompiledScheme } from "../scheme/compile.js";
import { assuranceRank } from "../scheme/compile.js";
import type { Nationality, Principal, Screening } from "./types.js";

export interface PrincipalFacts {
  /** The home country this person is a citizen or permanent resident of, or null: a foreign person. */
  readonly homeCountry: string | null;
  readonly homeVia: "citizenship" | "permanent residency" | null;
  /** Foreign persons only: the nationalities nationality-based checks look at. */
  readonly relevant: readonly string[];
  /** `most-recent` could not be applied (dates missing), so every nationality counts. */
  readonly ambiguous: boolean;
  readonly assurance: number;
  readonly organizationId: string | null;
  readonly organizationCountry: string | null;
  readonly organizationScreening: Screening;
  readonly organizationPartner: CompiledOrganizationPartner | undefined;
}

const NONE: readonly Nationality[] = [];

export function principalFacts(scheme: CompiledScheme, p: Principal): PrincipalFacts {
  const citizenships = p.citizenships ?? NONE;
  const residencies = p.permanent_residencies ?? NONE;
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
  const organizationId = org === null ? null : typeof org === "string" ? org : org.id;
  const partner = organizationId === null ? undefined : scheme.organizationPartners.get(organizationId);
  // The partner registry's country is authoritative; the caller's is used for unregistered organizations.
  const organizationCountry =
    partner?.country ?? (org !== null && typeof org === "object" ? (org.country ?? null) : null);
  const organizationScreening =
    org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear";

  return {
    homeCountry,
    homeVia,
    relevant,
    ambiguous,
    assurance: assuranceRank(p.assurance ?? "none"),
    organizationId,
    organizationCountry,
    organizationScreening,
    organizationPartner: partner,
  };
}

const NO_COUNTRIES: readonly string[] = [];

/**
 * `most-recent` (EAR, 15 CFR 734.13(b)): the most recently acquired citizenship or permanent
 * residency; several acquired on the same latest date all count. If a date is missing among
 * different countries the order is unknown, so every nationality counts (`ambiguous`).
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
  let undated = false;
  let latest = -Infinity;
  for (const list of [citizenships, residencies]) {
    for (const n of list) {
      if (!distinct.includes(n.country)) distinct.push(n.country);
      const t = n.since ? Date.parse(n.since) : NaN;
      if (Number.isNaN(t)) undated = true;
      else if (t > latest) latest = t;
    }
  }
  if (all || distinct.length === 1) return { relevant: distinct, ambiguous: false };
  if (undated) return { relevant: distinct, ambiguous: true };
  const recent: string[] = [];
  for (const list of [citizenships, residencies]) {
    for (const n of list) {
      if (Date.parse(n.since as string) === latest && !recent.includes(n.country)) recent.push(n.country);
    }
  }
  return { relevant: recent, ambiguous: false };
}
