/**
 * Principals grouped into classes that `decide()` cannot tell apart under either scheme (see
 * Projection), each with its members counted by location and report group (nationality label,
 * organization), a few of them named. A million principals pass through here one by one, so the
 * common case (one nationality) takes a short path and groups are found by number, not by words.
 */
import { relevantNationalities } from "../policy/facts.js";
import { ASSURANCE_LEVELS, SCREENING_STATUSES, type Nationality, type Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import type { CompiledScheme } from "../scheme/compile.js";

const NONE: readonly Nationality[] = [];
const SEP = "\u0000";

/**
 * Projects principals onto the facts the two schemes can tell apart, so that principals who must be
 * decided alike share one class. Per scheme: home person or not; the relevant nationalities, each
 * kept only if some set a check reads names it (embargoed, restricted, a country partner's
 * countries) and otherwise replaced by "*" (no check can tell two such countries apart), or all
 * kept for holders of a license (its nationalities are read for them alone); whether the residence
 * and the organization's country are embargoed; the organization only if it is a partner or holds
 * licenses in either; the licenses held personally (not the id); assurance and screening. The
 * location is kept apart (see Class).
 *
 * The class is three numbers (`project` sets them), found in nested maps without building a key
 * string per principal: nationalities under both schemes; embargo flags, assurance, screening and
 * personal licenses; the organization when it matters. Words are numbered as first seen (below
 * 2^26 each: fewer distinct values than principals).
 */
export class Projection {
  private readonly mentioned = new Set<string>();
  private readonly schemes: readonly CompiledScheme[];
  /** Both schemes read nationalities alike (same home, same rule): worked out once. */
  private readonly sameNationalities: boolean;
  private readonly words = new Map<string, number>();
  private readonly pairs = new Numbering<number>();
  private readonly licenses = new Numbering<string>();
  /** Principals and organizations holding a license in either scheme. */
  private readonly holders = new Set<string>();
  private readonly licensed = new Set<string>();
  /** Worked out once per value: single nationalities, residences, organizations. */
  private readonly single = new Map<string, number>();
  private readonly residences = new Map<string, number>();
  private readonly organizations = new Map<
    string,
    { readonly number: number; readonly countries: readonly (string | undefined)[] }
  >();
  /** The class of the principal last projected. */
  nationalities = 0;
  facts = 0;
  organization = 0;

  constructor(active: CompiledScheme, candidate: CompiledScheme) {
    this.schemes = [active, candidate];
    for (const s of this.schemes) {
      for (const c of s.embargoed) this.mentioned.add(c);
      for (const c of s.restricted) this.mentioned.add(c);
      for (const cp of s.countryPartners) for (const c of cp.countries) this.mentioned.add(c);
      for (const id of s.licensesByPrincipal.keys()) this.holders.add(id);
      for (const id of s.licensesByOrganization.keys()) this.licensed.add(id);
    }
    this.sameNationalities =
      active.nationalityRule === candidate.nationalityRule &&
      active.home.size === candidate.home.size &&
      [...active.home].every((c) => candidate.home.has(c));
  }

  /** The class as one string (tests; `project` is the fast path). */
  key(p: Principal): string {
    this.project(p);
    return `${this.nationalities}/${this.facts}/${this.organization}`;
  }

  project(p: Principal): void {
    const org = p.organization ?? null;
    const orgId = org === null ? null : typeof org === "string" ? org : org.id;
    const [active, candidate] = this.schemes as [CompiledScheme, CompiledScheme];
    // A license's nationalities are read only for its holders: theirs are kept exactly.
    const exact = this.holders.has(p.id) || (orgId !== null && this.licensed.has(orgId));
    const citizenships = p.citizenships ?? NONE;
    const residencies = p.permanent_residencies ?? NONE;
    if (!exact && citizenships.length + residencies.length === 1) {
      // The common case, by country (the same under both schemes' look-ups every time).
      const country = ((citizenships[0] ?? residencies[0]) as Nationality).country;
      let n = this.single.get(country);
      if (n === undefined) this.single.set(country, (n = this.nationalityNumber(p, false)));
      this.nationalities = n;
    } else this.nationalities = this.nationalityNumber(p, exact);

    let flags = 0;
    if (p.residence != null) {
      let r = this.residences.get(p.residence);
      if (r === undefined) {
        r = (active.embargoed.has(p.residence) ? 1 : 0) | (candidate.embargoed.has(p.residence) ? 4 : 0);
        this.residences.set(p.residence, r);
      }
      flags = r;
    }
    let licenses = "";
    if (exact) {
      for (let i = 0; i < 2; i++) {
        const held = (this.schemes[i] as CompiledScheme).licensesByPrincipal.get(p.id);
        if (held !== undefined) licenses += `${i}:${held.map((l) => l.id).join(",")};`;
      }
    }
    let organization = 0;
    if (orgId !== null) {
      let known = this.organizations.get(orgId);
      if (known === undefined) {
        const partners = [active.organizationPartners.get(orgId), candidate.organizationPartners.get(orgId)];
        const matters =
          partners.some((x) => x !== undefined) ||
          active.licensesByOrganization.has(orgId) ||
          candidate.licensesByOrganization.has(orgId);
        known = {
          number: matters ? this.word(`org:${orgId}`) + 1 : 0,
          countries: partners.map((x) => x?.country),
        };
        this.organizations.set(orgId, known);
      }
      organization = known.number;
      const own = typeof org === "object" && org !== null ? (org.country ?? null) : null;
      for (let i = 0; i < 2; i++) {
        // The partner registry's country is authoritative (as in facts.ts).
        const country = known.countries[i] ?? own;
        if (country !== null && (this.schemes[i] as CompiledScheme).embargoed.has(country))
          flags |= 2 << (2 * i);
      }
    }
    const orgScreening = org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear";
    const small =
      ((flags * 8 + ASSURANCE.indexOf(p.assurance ?? "none") + 1) * 4 +
        SCREENING.indexOf(p.screening ?? "clear") +
        1) *
        4 +
      SCREENING.indexOf(orgScreening) +
      1;
    this.facts = (licenses === "" ? 0 : this.licenses.of(licenses) + 1) * 4096 + small;
    this.organization = organization;
  }

  private nationalityNumber(p: Principal, exact: boolean): number {
    const [active, candidate] = this.schemes as [CompiledScheme, CompiledScheme];
    const a = this.word(this.nationalitiesOf(active, p, exact));
    const b = this.sameNationalities ? a : this.word(this.nationalitiesOf(candidate, p, exact));
    // Numbered densely, so that the class's first number stays a small integer (V8: no heap number).
    return this.pairs.of(a * 0x4000000 + b);
  }

  private word(w: string): number {
    let n = this.words.get(w);
    if (n === undefined) this.words.set(w, (n = this.words.size));
    return n;
  }

  /** "H" for a home person; else the relevant nationalities as far as a check can tell them apart. */
  private nationalitiesOf(s: CompiledScheme, p: Principal, exact: boolean): string {
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

/** Unknown values (never valid input) number 0: decide() reads them all alike. */
const ASSURANCE: readonly string[] = ASSURANCE_LEVELS;
const SCREENING: readonly string[] = SCREENING_STATUSES;

/** The members of a class at one location with the same nationality label and organization (the report's groups). */
export interface Bucket {
  /** The group's number, the same for every class (see Buckets). */
  readonly id: number;
  count: number;
  /** The ids of its first members (up to the example limit). */
  ids: string[];
}

/** Principals decided alike (see Projection): one of them, and all of them by location and report group. */
export interface Class {
  readonly rep: Principal;
  /** Locations in the order first seen, each with its report groups in the order first seen. */
  readonly places: Map<string | null, Bucket[]>;
  /** The same buckets by location number, then member kind (see buildClasses). */
  readonly buckets: Map<number, Map<number, Bucket>>;
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

/** Numbers as first seen. */
class Numbering<T> {
  private readonly numbers = new Map<T, number>();
  of(v: T): number {
    let n = this.numbers.get(v);
    if (n === undefined) this.numbers.set(v, (n = this.numbers.size));
    return n;
  }
}

/**
 * Every principal into its class, at its residence and at each location it was seen at; yields
 * every 20,000 principals (a turn for the event loop, when the caller gives one). All look-ups are
 * by number: the class by its three numbers (Projection), the member kind (nationality label ×
 * organization) by its two, the bucket by location × member kind within the class.
 */
export function* buildClasses(
  active: CompiledScheme,
  candidate: CompiledScheme,
  principals: Iterable<Principal>,
  seen: ReadonlyMap<string, ReadonlySet<string | null>> | undefined,
  limit: number,
  /** Told how many principals are in classes so far, at every yield. */
  onCount?: (count: number) => void,
): Generator<undefined, Classes, undefined> {
  const projection = new Projection(active, candidate);
  const found = new Map<number, Map<number, Map<number, Class>>>();
  const classes: Class[] = [];
  const buckets = new Buckets();
  // Member kinds (nationality label × organization), numbered as first seen.
  const kinds = new Map<string, Map<string, number>>();
  const locations = new Numbering<string | null>();
  const kindWords: [string, string][] = [];
  let count = 0;
  for (const p of principals) {
    if (++count % 20_000 === 0) {
      onCount?.(count);
      yield;
    }
    projection.project(p);
    let byFacts = found.get(projection.nationalities);
    if (byFacts === undefined) found.set(projection.nationalities, (byFacts = new Map()));
    let byOrganization = byFacts.get(projection.facts);
    if (byOrganization === undefined) byFacts.set(projection.facts, (byOrganization = new Map()));
    let cls = byOrganization.get(projection.organization);
    if (cls === undefined) {
      cls = { rep: p, places: new Map(), buckets: new Map() };
      byOrganization.set(projection.organization, cls);
      classes.push(cls);
    }
    const nationality = labelOf(active, p);
    const organization = organizationOf(p);
    let byLabel = kinds.get(organization);
    if (byLabel === undefined) kinds.set(organization, (byLabel = new Map()));
    let kind = byLabel.get(nationality);
    if (kind === undefined) {
      byLabel.set(nationality, (kind = kindWords.length));
      kindWords.push([nationality, organization]);
    }
    const residence = p.residence ?? null;
    visit(cls, residence, kind, p.id);
    const also = seen?.get(p.id);
    if (also !== undefined) for (const loc of also) if (loc !== residence) visit(cls, loc, kind, p.id);
  }
  return { classes, buckets, principals: count };

  function visit(cls: Class, location: string | null, kind: number, id: string): void {
    const at = locations.of(location);
    let here = cls.buckets.get(at);
    if (here === undefined) cls.buckets.set(at, (here = new Map()));
    let bucket = here.get(kind);
    if (bucket === undefined) {
      const [nationality, organization] = kindWords[kind] as [string, string];
      bucket = { id: buckets.id(location, nationality, organization), count: 0, ids: [] };
      here.set(kind, bucket);
      const place = cls.places.get(location);
      if (place === undefined) cls.places.set(location, [bucket]);
      else place.push(bucket);
    }
    bucket.count++;
    if (bucket.ids.length < limit) bucket.ids.push(id);
  }
}

/** The report's nationality label (report/principals.ts), by a short path for one nationality. */
function labelOf(scheme: CompiledScheme, p: Principal): string {
  const citizenships = p.citizenships ?? NONE;
  const residencies = p.permanent_residencies ?? NONE;
  if (citizenships.length + residencies.length === 1)
    return ((citizenships[0] ?? residencies[0]) as Nationality).country;
  return nationalityLabel(scheme, p);
}
