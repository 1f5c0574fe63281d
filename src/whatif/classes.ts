/**
 * Principals grouped into classes that `decide()` cannot tell apart under either scheme (see
 * Projection), each with its members counted by location and report group (nationality label,
 * organization), a few of them named. A million principals pass through here one by one, so the
 * common case (one nationality) takes a short path and groups are found by number, not by words.
 */
import { relevantNationalities } from "../policy/facts.js";
import type { Nationality, Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import type { CompiledScheme } from "../scheme/compile.js";

const NONE: readonly Nationality[] = [];
const SEP = "\u0000";
const NO_LICENSES: readonly { readonly id: string }[] = [];

/**
 * Projects principals onto the facts the two schemes can tell apart, so that principals who must be
 * decided alike share one key. Per scheme: home person or not; the relevant nationalities, each
 * kept only if some set a check reads names it (embargoed, restricted, a country partner's
 * countries) and otherwise replaced by "*" (no check can tell two such countries apart), or all
 * kept for holders of a license (its nationalities are read for them alone); whether the residence
 * and the organization's country are embargoed; the organization only if it is a partner or holds
 * licenses in either; the licenses held personally (not the id); assurance and screening. The
 * location is kept apart (see Class).
 */
export class Projection {
  private readonly mentioned = new Set<string>();
  private readonly schemes: readonly CompiledScheme[];
  /** Both schemes read nationalities alike (same home, same rule): worked out once. */
  private readonly sameNationalities: boolean;

  constructor(active: CompiledScheme, candidate: CompiledScheme) {
    this.schemes = [active, candidate];
    for (const s of this.schemes) {
      for (const c of s.embargoed) this.mentioned.add(c);
      for (const c of s.restricted) this.mentioned.add(c);
      for (const cp of s.countryPartners) for (const c of cp.countries) this.mentioned.add(c);
    }
    this.sameNationalities =
      active.nationalityRule === candidate.nationalityRule &&
      active.home.size === candidate.home.size &&
      [...active.home].every((c) => candidate.home.has(c));
  }

  key(p: Principal): string {
    const org = p.organization ?? null;
    const orgId = org === null ? null : typeof org === "string" ? org : org.id;
    let key = `${p.assurance ?? "none"}${SEP}${p.screening ?? "clear"}${SEP}${
      org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear"
    }`;
    let orgMatters = false;
    // A license's nationalities are read only for its holders: theirs are kept exactly.
    let exact = false;
    for (const s of this.schemes) {
      if (s.licensesByPrincipal.has(p.id) || (orgId !== null && s.licensesByOrganization.has(orgId)))
        exact = true;
    }
    let nationalities = "";
    for (let i = 0; i < this.schemes.length; i++) {
      const s = this.schemes[i] as CompiledScheme;
      const partner = orgId === null ? undefined : s.organizationPartners.get(orgId);
      if (partner !== undefined || (orgId !== null && s.licensesByOrganization.has(orgId))) orgMatters = true;
      const orgCountry =
        partner?.country ?? (org !== null && typeof org === "object" ? (org.country ?? null) : null);
      if (i === 0 || !this.sameNationalities) nationalities = this.nationalities(s, p, exact);
      key +=
        SEP +
        nationalities +
        SEP +
        (p.residence != null && s.embargoed.has(p.residence) ? "R" : "") +
        (orgCountry !== null && s.embargoed.has(orgCountry) ? "O" : "") +
        SEP +
        licenseIds(s, p.id);
    }
    return key + SEP + (orgMatters ? `org:${orgId}` : "");
  }

  /** "H" for a home person; else the relevant nationalities as far as a check can tell them apart. */
  private nationalities(s: CompiledScheme, p: Principal, exact: boolean): string {
    const citizenships = p.citizenships ?? NONE;
    const residencies = p.permanent_residencies ?? NONE;
    // The common case: one nationality, relevant under either rule.
    if (citizenships.length + residencies.length === 1) {
      const only = (citizenships[0] ?? residencies[0]) as Nationality;
      return s.home.has(only.country) ? "H" : exact || this.mentioned.has(only.country) ? only.country : "*";
    }
    for (const n of citizenships) if (s.home.has(n.country)) return "H";
    for (const n of residencies) if (s.home.has(n.country)) return "H";
    const r = relevantNationalities(citizenships, residencies, s.nationalityRule === "all");
    if (r.relevant.length === 0) return "";
    const kept = new Set<string>();
    for (const c of r.relevant) kept.add(exact || this.mentioned.has(c) ? c : "*");
    return [...kept].sort().join(",");
  }
}

function licenseIds(s: CompiledScheme, id: string): string {
  const held = s.licensesByPrincipal.get(id) ?? NO_LICENSES;
  return held.length === 0 ? "" : held.map((l) => l.id).join(",");
}

/** The members of a class at one location with the same nationality label and organization (the report's groups). */
export interface Bucket {
  /** The group's number, the same for every class (see Buckets). */
  readonly id: number;
  count: number;
  examples: string[];
}

/** Principals decided alike (see Projection): one of them, and all of them by location and report group. */
export interface Class {
  readonly rep: Principal;
  /** Locations in the order first seen, each with its report groups in the order first seen. */
  readonly places: Map<string | null, Map<number, Bucket>>;
}

/** The report groups (location, nationality label, organization), numbered as first seen. */
export class Buckets {
  readonly location: (string | null)[] = [];
  readonly nationality: string[] = [];
  readonly organization: string[] = [];
  private readonly ids = new Map<string, number>();

  id(location: string | null, nationality: string, organization: string): number {
    const key = `${location ?? ""}${SEP}${nationality}${SEP}${organization}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.location.length;
      this.ids.set(key, id);
      this.location.push(location);
      this.nationality.push(nationality);
      this.organization.push(organization);
    }
    return id;
  }
}

export const organizationOf = (p: Principal): string => {
  const org = p.organization ?? null;
  return org === null ? "none" : typeof org === "string" ? org : org.id;
};

export interface Classes {
  readonly classes: Class[];
  readonly buckets: Buckets;
  readonly principals: number;
}

/**
 * Every principal into its class, at its residence and at each location it was seen at; yields
 * every 20,000 principals (a turn for the event loop, when the caller gives one).
 */
export function* buildClasses(
  active: CompiledScheme,
  candidate: CompiledScheme,
  principals: Iterable<Principal>,
  seen: ReadonlyMap<string, ReadonlySet<string | null>> | undefined,
  limit: number,
): Generator<undefined, Classes, undefined> {
  const projection = new Projection(active, candidate);
  const byKey = new Map<string, Class>();
  const classes: Class[] = [];
  const buckets = new Buckets();
  // Report groups by (location, nationality label, organization): labels and organizations
  // numbered once, then each group found by number (below 2^52 for fewer than 2^26 of each).
  const labels = new Map<string, number>();
  const organizations = new Map<string, number>();
  const groupIds = new Map<string | null, Map<number, number>>();
  const groupOf = (
    location: string | null,
    n: number,
    o: number,
    nationality: string,
    organization: string,
  ) => {
    let atLocation = groupIds.get(location);
    if (atLocation === undefined) groupIds.set(location, (atLocation = new Map()));
    let id = atLocation.get(n * 0x4000000 + o);
    if (id === undefined)
      atLocation.set(n * 0x4000000 + o, (id = buckets.id(location, nationality, organization)));
    return id;
  };
  let count = 0;
  for (const p of principals) {
    if (++count % 20_000 === 0) yield;
    const key = projection.key(p);
    let cls = byKey.get(key);
    if (cls === undefined) {
      cls = { rep: p, places: new Map() };
      byKey.set(key, cls);
      classes.push(cls);
    }
    const nationality = labelOf(active, p);
    const organization = organizationOf(p);
    let n = labels.get(nationality);
    if (n === undefined) labels.set(nationality, (n = labels.size));
    let o = organizations.get(organization);
    if (o === undefined) organizations.set(organization, (o = organizations.size));
    const residence = p.residence ?? null;
    visit(cls, residence, groupOf(residence, n, o, nationality, organization), p.id, limit);
    const also = seen?.get(p.id);
    if (also !== undefined) {
      for (const loc of also) {
        if (loc !== residence) visit(cls, loc, groupOf(loc, n, o, nationality, organization), p.id, limit);
      }
    }
  }
  return { classes, buckets, principals: count };
}

/** The report's nationality label (report/principals.ts), by a short path for one nationality. */
function labelOf(scheme: CompiledScheme, p: Principal): string {
  const citizenships = p.citizenships ?? NONE;
  const residencies = p.permanent_residencies ?? NONE;
  if (citizenships.length + residencies.length === 1)
    return ((citizenships[0] ?? residencies[0]) as Nationality).country;
  return nationalityLabel(scheme, p);
}

function visit(cls: Class, location: string | null, group: number, id: string, limit: number): void {
  let buckets = cls.places.get(location);
  if (buckets === undefined) cls.places.set(location, (buckets = new Map()));
  let bucket = buckets.get(group);
  if (bucket === undefined) buckets.set(group, (bucket = { id: group, count: 0, examples: [] }));
  bucket.count++;
  if (bucket.examples.length < limit) bucket.examples.push(`${id}@${location ?? "unknown"}`);
}
