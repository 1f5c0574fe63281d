/**
 * What-if over the population: every principal × every model × every action, at their country of
 * residence and at the locations they were seen at, decided under the scheme in force and under
 * the candidate with the pure `decide()`.
 *
 * A million principals × 20 models × 4 actions is 80 million cells, twice: too many to decide one
 * by one. But a decision's outcome depends on a principal only through the few facts the two
 * schemes can tell apart (see Projection), so principals with the same projected facts form a
 * class, decided once per location, model and action; only the decisions that change are then
 * counted into the report's groups (location, nationality, organization) of the class's members.
 */
import { decide } from "../policy/decide.js";
import { principalFacts, relevantNationalities, type PrincipalFacts } from "../policy/facts.js";
import { ACTIONS, type Action, type Decision, type Nationality, type Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { ChangeCollector, direction, type Side, type WhatIfPart } from "./result.js";

export interface PopulationInput {
  readonly active: CompiledScheme;
  readonly candidate: CompiledScheme;
  readonly principals: Iterable<Principal>;
  /** Locations each principal (by id) was seen at in the log, besides its residence. */
  readonly seen?: ReadonlyMap<string, ReadonlySet<string | null>>;
  /** Milliseconds since the epoch: the moment both schemes are judged at (license periods). */
  readonly time: number;
  /** Tokens used per license, as the quota counters have them now. */
  readonly usage?: Readonly<Record<string, { readonly tokens: number }>>;
  /** Named examples per group (default 5). */
  readonly examples?: number;
  /** populationWhatIfYielding: worker threads to decide in, for large populations (default 1). */
  readonly threads?: number;
  /** Fewest classes worth a thread of their own (default 2,000; tests lower it). */
  readonly minClassesPerThread?: number;
}

/** The members of a class at one location with the same nationality label and organization (the report's groups). */
export interface Bucket {
  readonly nationality: string;
  readonly organization: string;
  count: number;
  examples: string[];
}

const NONE: readonly Nationality[] = [];
const SEP = "\u0000";

function homeOf(scheme: CompiledScheme, p: Principal): string {
  for (const n of p.citizenships ?? NONE) if (scheme.home.has(n.country)) return n.country;
  for (const n of p.permanent_residencies ?? NONE) if (scheme.home.has(n.country)) return n.country;
  return "";
}

/**
 * Projects principals onto the facts the two schemes can tell apart, so that principals who must be
 * decided alike share one key. Per scheme: home person or not; the relevant nationalities, each
 * kept only if some set a check reads names it (embargoed, restricted, a country partner's
 * countries) and otherwise replaced by "*" (no check can tell two such countries apart), or all
 * kept for holders of a license (its nationalities are read for them alone); whether the residence and the organization's country are embargoed; the
 * organization only if it is a partner or holds licenses in either; the licenses held personally
 * (not the id); assurance and screening. The location is kept apart (see Class).
 */
export class Projection {
  private readonly mentioned = new Set<string>();
  private readonly schemes: readonly CompiledScheme[];

  constructor(active: CompiledScheme, candidate: CompiledScheme) {
    this.schemes = [active, candidate];
    for (const s of this.schemes) {
      for (const c of s.embargoed) this.mentioned.add(c);
      for (const c of s.restricted) this.mentioned.add(c);
      for (const cp of s.countryPartners) for (const c of cp.countries) this.mentioned.add(c);
    }
  }

  key(p: Principal): string {
    const org = p.organization ?? null;
    const orgId = org === null ? null : typeof org === "string" ? org : org.id;
    let key = `${p.assurance ?? "none"}${SEP}${p.screening ?? "clear"}${SEP}${
      org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear"
    }`;
    let orgMatters = false;
    // A license's nationalities are read only for its holders: theirs are kept exactly.
    const exact = this.schemes.some(
      (s) => s.licensesByPrincipal.has(p.id) || (orgId !== null && s.licensesByOrganization.has(orgId)),
    );
    for (const s of this.schemes) {
      const partner = orgId === null ? undefined : s.organizationPartners.get(orgId);
      if (partner !== undefined || (orgId !== null && s.licensesByOrganization.has(orgId))) orgMatters = true;
      const orgCountry =
        partner?.country ?? (org !== null && typeof org === "object" ? (org.country ?? null) : null);
      const home = homeOf(s, p) !== "";
      key +=
        SEP +
        (home ? "H" : this.nationalities(s, p, exact)) +
        SEP +
        (p.residence != null && s.embargoed.has(p.residence) ? "R" : "") +
        (orgCountry !== null && s.embargoed.has(orgCountry) ? "O" : "") +
        SEP +
        (s.licensesByPrincipal.get(p.id) ?? NO_LICENSES).map((l) => l.id).join(",");
    }
    return key + SEP + (orgMatters ? `org:${orgId}` : "");
  }

  private nationalities(s: CompiledScheme, p: Principal, exact: boolean): string {
    const r = relevantNationalities(
      p.citizenships ?? NONE,
      p.permanent_residencies ?? NONE,
      s.nationalityRule === "all",
    );
    if (r.relevant.length === 0) return "";
    const kept = new Set<string>();
    for (const c of r.relevant) kept.add(exact || this.mentioned.has(c) ? c : "*");
    return [...kept].sort().join(",");
  }
}

const NO_LICENSES: readonly { readonly id: string }[] = [];
const projections = new WeakMap<CompiledScheme, WeakMap<CompiledScheme, Projection>>();

/** The facts `decide()` can tell apart between principals, under both schemes: equal keys, equal decisions. */
export function classKey(active: CompiledScheme, candidate: CompiledScheme, p: Principal): string {
  let byCandidate = projections.get(active);
  if (byCandidate === undefined) projections.set(active, (byCandidate = new WeakMap()));
  let projection = byCandidate.get(candidate);
  if (projection === undefined) byCandidate.set(candidate, (projection = new Projection(active, candidate)));
  return projection.key(p);
}

export const sideOf = (d: Decision): Side => ({
  decision: d.decision,
  reason: d.reason,
  served_model: d.served_model,
});

export const organizationOf = (p: Principal): string => {
  const org = p.organization ?? null;
  return org === null ? "none" : typeof org === "string" ? org : org.id;
};

type PopulationResult = WhatIfPart & { readonly principals: number; readonly classes: number };

/** Runs a generator to its end; its yields are only turns offered to the event loop. */
function finish<T>(steps: Generator<undefined, T, undefined>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Runs a generator to its end, giving the event loop a turn at every yield. */
async function finishYielding<T>(steps: Generator<undefined, T, undefined>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The what-if on this thread, without pause (tests, benchmarks of one core, small populations). */
export function populationWhatIf(input: PopulationInput): PopulationResult {
  const built = finish(buildClasses(input));
  const collector = new ChangeCollector(input.examples ?? 5);
  const models = modelsOf(input);
  finish(
    decideClasses(
      input.active,
      input.candidate,
      built.classes.values(),
      models,
      input.time,
      input.usage,
      collector,
    ),
  );
  return resultOf(input, built, models, collector);
}

/**
 * The same, giving the event loop a turn every few milliseconds (inside a gateway, a what-if over a
 * large population must not hold up the requests it serves meanwhile), and with `threads` > 1
 * deciding the classes in worker threads.
 */
export async function populationWhatIfYielding(input: PopulationInput): Promise<PopulationResult> {
  const built = await finishYielding(buildClasses(input));
  const collector = new ChangeCollector(input.examples ?? 5);
  const models = modelsOf(input);
  const perThread = input.minClassesPerThread ?? MIN_CLASSES_PER_THREAD;
  const threads = Math.min(input.threads ?? 1, Math.floor(built.classes.size / perThread));
  if (threads > 1) {
    const { decideInWorkers } = await import("./workers.js");
    for (const part of await decideInWorkers(input, [...built.classes.values()], models, threads))
      collector.absorb(part);
  } else {
    const { active, candidate, time, usage } = input;
    await finishYielding(
      decideClasses(active, candidate, built.classes.values(), models, time, usage, collector),
    );
  }
  return resultOf(input, built, models, collector);
}

/** Below this many classes per thread, starting workers costs more than it saves. */
const MIN_CLASSES_PER_THREAD = 2_000;

const modelsOf = (input: PopulationInput) => [
  ...new Set([...input.active.models.keys(), ...input.candidate.models.keys()]),
];

/** Principals decided alike (see Projection): one of them, and all of them by location and report group. */
export interface Class {
  readonly rep: Principal;
  readonly places: Map<string | null, Map<string, Bucket>>;
}

function* buildClasses(
  input: PopulationInput,
): Generator<undefined, { classes: Map<string, Class>; principals: number }, undefined> {
  const { active, candidate } = input;
  const projection = new Projection(active, candidate);
  const limit = input.examples ?? 5;
  const classes = new Map<string, Class>();
  let principals = 0;
  for (const p of input.principals) {
    if (++principals % 20_000 === 0) yield;
    const key = projection.key(p);
    let cls = classes.get(key);
    if (cls === undefined) {
      cls = { rep: p, places: new Map() };
      classes.set(key, cls);
    }
    const nationality = nationalityLabel(active, p);
    const organization = organizationOf(p);
    const residence = p.residence ?? null;
    const seen = input.seen?.get(p.id);
    visit(cls, residence, nationality, organization, p.id, limit);
    if (seen !== undefined) {
      for (const loc of seen) if (loc !== residence) visit(cls, loc, nationality, organization, p.id, limit);
    }
  }
  return { classes, principals };
}

/** The decisions of some classes under both schemes, into `collector`; yields every few milliseconds. */
export function* decideClasses(
  active: CompiledScheme,
  candidate: CompiledScheme,
  classes: Iterable<Class>,
  models: readonly string[],
  time: number,
  usage: PopulationInput["usage"],
  collector: ChangeCollector,
): Generator<undefined, void, undefined> {
  const a = new Decider(active, time, usage);
  const b = new Decider(candidate, time, usage);
  const cells = models.length * ACTIONS.length;
  let done = 0;
  for (const { rep, places } of classes) {
    if (++done % 200 === 0) yield;
    const fa = principalFacts(active, rep);
    const fb = principalFacts(candidate, rep);
    for (const [location, buckets] of places) {
      const ua = universal(active, rep, fa, location);
      const ub = universal(candidate, rep, fb, location);
      // Decided once for the class here; only the changes are handed to each of its report groups.
      const changes: { model: string; action: Action; from: Side; to: Side }[] = [];
      for (const model of models) {
        for (const action of ACTIONS) {
          const from = a.side(rep, model, action, location, ua);
          const to = b.side(rep, model, action, location, ub);
          if (direction(from, to) !== null) changes.push({ model, action, from, to });
        }
      }
      for (const bucket of buckets.values()) {
        collector.compared += bucket.count * cells;
        for (const c of changes) {
          collector.add(
            location ?? "unknown",
            bucket.nationality,
            bucket.organization,
            c.model,
            c.action,
            c.from,
            c.to,
            bucket.count,
            bucket.examples,
          );
        }
      }
    }
  }
}

function resultOf(
  input: PopulationInput,
  built: { classes: Map<string, Class>; principals: number },
  models: readonly string[],
  collector: ChangeCollector,
): PopulationResult {
  const { summary, groups } = collector.result(input.active.digest, input.candidate.digest);
  const { principals } = built;
  return {
    kind: "population",
    summary,
    groups,
    principals,
    classes: built.classes.size,
    notes: [
      `${principals} principals (${built.classes.size} classes of principals with the same facts) × ${models.length} models × ${ACTIONS.length} actions, ` +
        `at their residence and the locations the log saw them at, judged at ${new Date(input.time).toISOString()}`,
      "principals are those the store holds (federated principals once their identity provider has vouched for them); " +
        "a request's purpose is not known in advance, so licenses limited to purposes do not count here",
    ],
  };
}

/**
 * The universal denial a principal meets at a location (denied party, then the embargo checks in
 * decide()'s order), or "": with the location, all that decides an open model without a fallback.
 */
function universal(scheme: CompiledScheme, p: Principal, f: PrincipalFacts, location: string | null): string {
  if (p.screening === "confirmed" || f.organizationScreening === "confirmed") return "denied-party";
  const e = scheme.embargoed;
  if (location !== null && e.has(location)) return "embargoed-location";
  if (p.residence != null && e.has(p.residence)) return "embargoed-residence";
  if (f.organizationCountry !== null && e.has(f.organizationCountry)) return "embargoed-organization";
  for (const c of f.relevant) if (e.has(c)) return "embargoed-nationality";
  return "";
}

/**
 * decide() under one scheme, remembering the decisions of open models without a fallback by what
 * alone decides them (model, action, location, universal denial): across classes they repeat.
 */
class Decider {
  private readonly open = new Map<string, Side>();
  constructor(
    private readonly scheme: CompiledScheme,
    private readonly time: number,
    private readonly usage: PopulationInput["usage"],
  ) {}

  side(
    rep: Principal,
    model: string,
    action: Action,
    location: string | null,
    universalDenial: string,
  ): Side {
    const m = this.scheme.models.get(model);
    const memo = m !== undefined && m.control === "open" && m.fallback === null;
    const key = memo ? `${model}${SEP}${action}${SEP}${location ?? ""}${SEP}${universalDenial}` : "";
    if (memo) {
      const known = this.open.get(key);
      if (known !== undefined) return known;
    }
    const request = {
      model,
      action,
      location,
      time: this.time,
      ...(this.usage ? { usage: this.usage } : {}),
    };
    const side = sideOf(decide(this.scheme, rep, request));
    if (memo) this.open.set(key, side);
    return side;
  }
}

function visit(
  cls: Class,
  location: string | null,
  nationality: string,
  organization: string,
  id: string,
  limit: number,
): void {
  let buckets = cls.places.get(location);
  if (buckets === undefined) cls.places.set(location, (buckets = new Map()));
  const key = nationality + SEP + organization;
  let bucket = buckets.get(key);
  if (bucket === undefined)
    buckets.set(key, (bucket = { nationality, organization, count: 0, examples: [] }));
  bucket.count++;
  if (bucket.examples.length < limit) bucket.examples.push(`${id}@${location ?? "unknown"}`);
}
