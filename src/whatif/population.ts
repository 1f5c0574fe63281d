/**
 * What-if over the population: every principal × every model × every action, at their country of
 * residence and at the locations they were seen at, decided under the scheme in force and under
 * the candidate with the pure policy (`decideOutcome`: decide()'s outcome, reason and served model
 * without the explanation).
 *
 * A million principals × 20 models × 4 actions is 80 million cells, twice: too many to decide one
 * by one. But a decision's outcome depends on a principal only through the few facts the two
 * schemes can tell apart (see Projection), so principals with the same projected facts form a
 * class, decided once per location, model and action (cells.ts, in worker threads as well when
 * asked); only the decisions that change are then counted into the report's groups (location,
 * nationality, organization) of the class's members.
 */
import { heldAt } from "../policy/facts.js";
import type { Decision, Principal } from "../policy/types.js";
import { ACTIONS } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { buildClasses, Projection, type Class, type Classes } from "./classes.js";
import { CodeBuffer, decideShare, OutcomeCodes, type Share } from "./cells.js";
import { direction, resultOf, type GroupEntry, type Side, type WhatIfPart } from "./result.js";

export { organizationOf, Projection, type Bucket, type Class } from "./classes.js";

export interface PopulationInput {
  readonly active: CompiledScheme;
  readonly candidate: CompiledScheme;
  readonly principals: Iterable<Principal>;
  /** Locations each principal (by id) was seen at in the log, besides its residence. */
  readonly seen?: ReadonlyMap<string, ReadonlySet<string | null>>;
  /** Milliseconds since the epoch: the moment both schemes are judged at (license periods). */
  readonly time: number;
  /** Tokens used per license, as the quota counters have them now (under the active scheme's periods). */
  readonly usage?: Readonly<Record<string, { readonly tokens: number }>>;
  /**
   * The same, counted over the candidate's quota periods (a license's quota_period may change, or
   * the license be new); default: `usage`.
   */
  readonly candidateUsage?: Readonly<Record<string, { readonly tokens: number }>>;
  /** Named examples per group (default 5). */
  readonly examples?: number;
  /** populationWhatIfYielding: threads to decide in, this one included (default 1). */
  readonly threads?: number;
  /** Fewest classes worth a thread of their own (default 2,000; tests lower it). */
  readonly minClassesPerThread?: number;
  /** Principals grouped so far, of how many (when `principals` is an array). */
  readonly onProgress?: (done: number, total: number) => void;
}

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

type PopulationResult = WhatIfPart & { readonly principals: number; readonly classes: number };

/** Runs a generator to its end; its yields are only turns offered to the event loop. */
function finish<T>(steps: Generator<undefined, T, undefined>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * Runs a generator to its end, giving the event loop a turn at every yield; `check` runs after each
 * turn, and what it throws leaves the rest undone.
 */
async function finishYielding<T>(
  steps: Generator<undefined, T, undefined>,
  check: () => void = () => undefined,
): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
    check();
  }
}

const classesOf = (input: PopulationInput) => {
  const total = Array.isArray(input.principals) ? input.principals.length : 0;
  const report = input.onProgress;
  // Judged at one time: a nationality acquired after it is not held yet (as decide() reads it).
  return buildClasses(
    input.active,
    input.candidate,
    heldEach(input.principals, input.time),
    input.seen,
    input.examples ?? 5,
    report === undefined ? undefined : (done) => report(done, Math.max(total, done)),
  );
};

function* heldEach(principals: Iterable<Principal>, time: number): Generator<Principal> {
  for (const p of principals) yield heldAt(p, time);
}

/** The what-if on this thread, without pause (tests, benchmarks of one core, small populations). */
export function populationWhatIf(input: PopulationInput): PopulationResult {
  const built = finish(classesOf(input));
  const models = modelsOf(input);
  const out = new CodeBuffer();
  finish(decideShare(input.active, input.candidate, shareOf(input, built.classes, models, 0, 1), out));
  return finish(counted(input, built, models, [out.done()]));
}

/**
 * The same, giving the event loop a turn every few milliseconds (inside a gateway, a what-if over a
 * large population must not hold up the requests it serves meanwhile), and with `threads` > 1
 * deciding the classes in worker threads as well as this one.
 */
export async function populationWhatIfYielding(input: PopulationInput): Promise<PopulationResult> {
  const built = await finishYielding(classesOf(input));
  const models = modelsOf(input);
  const perThread = input.minClassesPerThread ?? MIN_CLASSES_PER_THREAD;
  const threads = Math.max(1, Math.min(input.threads ?? 1, Math.floor(built.classes.length / perThread)));
  // Classes dealt round-robin (each share a mix of large and small); share 0 is decided here.
  const shares = Array.from({ length: threads }, (_, k) => shareOf(input, built.classes, models, k, threads));
  const stop = new AbortController();
  const others =
    threads > 1
      ? import("./workers.js").then(({ decideInWorkers }) =>
          decideInWorkers(input.active, input.candidate, shares.slice(1), stop.signal),
        )
      : Promise.resolve([]);
  // Awaited only once this thread's share is decided: a worker failing before then (out of memory,
  // its time limit) would otherwise be an unhandled rejection, which ends the process. It fails the
  // what-if at once: this thread's share stops at its next turn.
  let failure: { readonly err: unknown } | null = null;
  others.catch((err: unknown) => void (failure = { err }));
  const out = new CodeBuffer();
  try {
    await finishYielding(decideShare(input.active, input.candidate, shares[0] as Share, out), () => {
      if (failure !== null) throw failure.err;
    });
  } catch (err) {
    stop.abort(err); // the workers' shares are of no use without this one
    throw err;
  }
  const outputs = [out.done(), ...(await others)];
  const result = await finishYielding(counted(input, built, models, outputs));
  input.onProgress?.(built.principals, built.principals);
  return result;
}

/** Below this many classes per thread, starting workers costs more than it saves. */
const MIN_CLASSES_PER_THREAD = 2_000;

const modelsOf = (input: PopulationInput) => [
  ...new Set([...input.active.models.keys(), ...input.candidate.models.keys()]),
];

/** Classes k, k + n, k + 2n, …: their representatives and locations. */
function shareOf(
  input: PopulationInput,
  classes: readonly Class[],
  models: readonly string[],
  k: number,
  n: number,
): Share {
  const reps: Principal[] = [];
  const locations: (string | null)[][] = [];
  for (let i = k; i < classes.length; i += n) {
    const c = classes[i] as Class;
    reps.push(c.rep);
    locations.push([...c.places.keys()]);
  }
  return {
    reps,
    locations,
    models,
    time: input.time,
    usage: input.usage,
    candidateUsage: input.candidateUsage ?? input.usage,
  };
}

/**
 * The changed cells (from each share's output, class by class in the order the classes were found)
 * counted into the report's groups: every report group of the class at that location gets each
 * change, with its members' count and examples. Groups are found by number: the transition (cell,
 * old and new outcome), then the report group.
 */
function* counted(
  input: PopulationInput,
  built: Classes,
  models: readonly string[],
  outputs: readonly Int32Array[],
): Generator<undefined, PopulationResult, undefined> {
  const { classes, buckets } = built;
  const limit = input.examples ?? 5;
  const codes = new OutcomeCodes(models);
  const cells = models.length * ACTIONS.length;
  const size = codes.size;
  const transitionIds = new Map<number, number>();
  const transitions: {
    readonly g: Omit<GroupEntry["g"], "location" | "nationality" | "organization">;
    readonly groups: Map<number, GroupEntry>;
  }[] = [];
  const entries: GroupEntry[] = [];
  const cursors = outputs.map(() => 0);
  const changes: number[] = [];
  let compared = 0;
  for (let i = 0; i < classes.length; i++) {
    if (i % 1000 === 999) yield;
    const share = i % outputs.length;
    const out = outputs[share] as Int32Array;
    let at = cursors[share] as number;
    for (const [location, members] of (classes[i] as Class).places) {
      const n = out[at++] as number;
      changes.length = 0;
      for (let c = 0; c < n; c++, at += 3) {
        const cell = out[at] as number;
        const from = out[at + 1] as number;
        const to = out[at + 2] as number;
        // Below 2^53 for up to ~9,000 models.
        const key = (cell * size + from) * size + to;
        let id = transitionIds.get(key);
        if (id === undefined) {
          id = transitions.length;
          transitionIds.set(key, id);
          const fromSide = codes.side(from);
          const toSide = codes.side(to);
          transitions.push({
            g: {
              direction: direction(fromSide, toSide) ?? "change",
              model: models[Math.floor(cell / ACTIONS.length)] as string,
              action: ACTIONS[cell % ACTIONS.length] as string,
              from: fromSide,
              to: toSide,
            },
            groups: new Map(),
          });
        }
        changes.push(id);
      }
      const where = location ?? "unknown";
      for (const bucket of members) {
        compared += bucket.count * cells;
        for (const id of changes) {
          const t = transitions[id] as (typeof transitions)[number];
          let entry = t.groups.get(bucket.id);
          if (entry === undefined) {
            entry = {
              // The fields in the order history's groups have them (and JSON shows).
              g: {
                direction: t.g.direction,
                location: where,
                nationality: buckets.nationality[bucket.id] as string,
                organization: buckets.organization[bucket.id] as string,
                model: t.g.model,
                action: t.g.action,
                from: t.g.from,
                to: t.g.to,
              },
              count: 0,
              examples: [],
            };
            t.groups.set(bucket.id, entry);
            entries.push(entry);
          }
          entry.count += bucket.count;
          for (const id of bucket.ids) {
            if (entry.examples.length >= limit) break;
            entry.examples.push(`${id}@${where}`);
          }
        }
      }
    }
    cursors[share] = at;
  }
  const { summary, groups } = resultOf(input.active.digest, input.candidate.digest, compared, entries);
  const { principals } = built;
  return {
    kind: "population",
    summary,
    groups,
    principals,
    classes: classes.length,
    notes: [
      `${principals} principals (${classes.length} classes of principals with the same facts) × ${models.length} models × ${ACTIONS.length} actions, ` +
        `at their residence and the locations the log saw them at, judged at ${new Date(input.time).toISOString()}`,
      "principals are those the store holds (federated principals once their identity provider has vouched for them); " +
        "a request's purpose is not known in advance, so licenses limited to purposes do not count here",
    ],
  };
}
