/**
 * What-if over the population: every principal × every model × every action, at their country of
 * residence and at the locations they were seen at, decided under the scheme in force and under
 * the candidate with the pure `decide()`.
 *
 * A million principals × 20 models × 4 actions is 80 million cells, twice: too many to decide one
 * by one. But a decision depends on a principal only through a few facts (home person or not and
 * relevant nationalities under each scheme's rule, residence, organization, assurance, screening,
 * and the id only for licenses held personally), so principals with the same facts form a class,
 * decided once per location, model and action, and counted by the number of its members there.
 */
import { decide } from "../policy/decide.js";
import { relevantNationalities } from "../policy/facts.js";
import { ACTIONS, type Decision, type Nationality, type Principal } from "../policy/types.js";
import { nationalityLabel } from "../report/principals.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { ChangeCollector, type Side, type WhatIfPart } from "./result.js";

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
}

interface Place {
  count: number;
  examples: string[];
}

interface Class {
  readonly rep: Principal;
  readonly places: Map<string | null, Place>;
}

const NONE: readonly Nationality[] = [];
const SEP = "\u0000";

function homeOf(scheme: CompiledScheme, p: Principal): string {
  for (const n of p.citizenships ?? NONE) if (scheme.home.has(n.country)) return n.country;
  for (const n of p.permanent_residencies ?? NONE) if (scheme.home.has(n.country)) return n.country;
  return "";
}

function relevantKey(scheme: CompiledScheme, p: Principal): string {
  const r = relevantNationalities(
    p.citizenships ?? NONE,
    p.permanent_residencies ?? NONE,
    scheme.nationalityRule === "all",
  );
  return r.relevant.length <= 1 ? (r.relevant[0] ?? "") : [...r.relevant].sort().join(",");
}

/** The facts `decide()` reads from a principal, under both schemes: equal keys, equal decisions. */
export function classKey(active: CompiledScheme, candidate: CompiledScheme, p: Principal): string {
  const org = p.organization ?? null;
  const orgId = org === null ? "" : typeof org === "string" ? org : org.id;
  const orgCountry = org !== null && typeof org === "object" ? (org.country ?? "") : "";
  const orgScreening = org !== null && typeof org === "object" ? (org.screening ?? "clear") : "clear";
  const personal = active.licensesByPrincipal.has(p.id) || candidate.licensesByPrincipal.has(p.id);
  const homeA = homeOf(active, p);
  const homeB = homeOf(candidate, p);
  return (
    homeA +
    SEP +
    homeB +
    SEP +
    (homeA === "" ? relevantKey(active, p) : "") +
    SEP +
    (homeB === "" ? relevantKey(candidate, p) : "") +
    SEP +
    (p.residence ?? "") +
    SEP +
    orgId +
    SEP +
    orgCountry +
    SEP +
    orgScreening +
    SEP +
    (p.assurance ?? "none") +
    SEP +
    (p.screening ?? "clear") +
    SEP +
    (personal ? p.id : "")
  );
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

export function populationWhatIf(
  input: PopulationInput,
): WhatIfPart & { readonly principals: number; readonly classes: number } {
  const { active, candidate, time } = input;
  const limit = input.examples ?? 5;
  const classes = new Map<string, Class>();
  let principals = 0;
  for (const p of input.principals) {
    principals++;
    const key = classKey(active, candidate, p);
    let cls = classes.get(key);
    if (cls === undefined) {
      cls = { rep: p, places: new Map() };
      classes.set(key, cls);
    }
    const residence = p.residence ?? null;
    const seen = input.seen?.get(p.id);
    visit(cls, residence, p.id, limit);
    if (seen !== undefined) for (const loc of seen) if (loc !== residence) visit(cls, loc, p.id, limit);
  }

  const models = [...new Set([...active.models.keys(), ...candidate.models.keys()])];
  const collector = new ChangeCollector(limit);
  for (const { rep, places } of classes.values()) {
    const nationality = nationalityLabel(active, rep);
    const organization = organizationOf(rep);
    for (const [location, place] of places) {
      for (const model of models) {
        for (const action of ACTIONS) {
          const request = { model, action, location, time, ...(input.usage ? { usage: input.usage } : {}) };
          const a = decide(active, rep, request);
          const b = decide(candidate, rep, request);
          collector.compared += place.count;
          collector.add(
            location ?? "unknown",
            nationality,
            organization,
            model,
            action,
            sideOf(a),
            sideOf(b),
            place.count,
            place.examples,
          );
        }
      }
    }
  }
  const { summary, groups } = collector.result(active.digest, candidate.digest);
  return {
    kind: "population",
    summary,
    groups,
    principals,
    classes: classes.size,
    notes: [
      `${principals} principals (${classes.size} classes of principals with the same facts) × ${models.length} models × ${ACTIONS.length} actions, ` +
        `at their residence and the locations the log saw them at, judged at ${new Date(time).toISOString()}`,
      "principals are those the store holds (federated principals once their identity provider has vouched for them); " +
        "a request's purpose is not known in advance, so licenses limited to purposes do not count here",
    ],
  };
}

function visit(cls: Class, location: string | null, id: string, limit: number): void {
  let place = cls.places.get(location);
  if (place === undefined) {
    place = { count: 0, examples: [] };
    cls.places.set(location, place);
  }
  place.count++;
  if (place.examples.length < limit) place.examples.push(`${id}@${location ?? "unknown"}`);
}
