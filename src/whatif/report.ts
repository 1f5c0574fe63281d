/**
 * The what-if report: a candidate scheme version against the policy in force, over the population
 * (always) and over history (the last N days, or a range of log indexes, when asked), with the
 * digest of the population's summary — the digest an activation records as the impact it was shown.
 */
import type { LogSource } from "../audit/source.js";
import { compileLeavingOut, describeLeftOut, effectiveSource, leftOutKey } from "../control/effective.js";
import { leftOutProblems } from "../control/in-force.js";
import type { ControlState } from "../control/state.js";
import { InvalidInputError } from "../errors/index.js";
import type { Principal } from "../policy/types.js";
import { storedUsage } from "../metering/index.js";
import { quotaUsedUnder } from "../report/footprint.js";
import { checkedDecision, checkRange, readEntries, type RangeNames } from "../report/log.js";
import { lastDays, periodBounds, type Period } from "../report/period.js";
import { knownPrincipals, principalIndex, type PrincipalIndex } from "../report/principals.js";
import { compileScheme, type CompiledScheme } from "../scheme/compile.js";
import { parseScheme } from "../scheme/index.js";
import type { SchemeFile } from "../scheme/schema.js";
import type { Store } from "../store/index.js";
import { historyWhatIf } from "./history.js";
import { populationWhatIfYielding } from "./population.js";
import { summaryDigest, type WhatIfPart } from "./result.js";

export interface WhatIfReport {
  readonly report: "what-if";
  readonly generated_at: string;
  readonly active: { readonly name: string; readonly digest: string };
  readonly candidate: { readonly name: string; readonly digest: string };
  readonly population: WhatIfPart;
  readonly history: WhatIfPart | null;
  /**
   * The impact digest: `sha256:` over the population's summary (which depends on the store and the
   * candidate, not on a history window). Activation recomputes it and records it.
   */
  readonly digest: string;
}

/**
 * The candidate as activating it would leave the policy: its own rules, the store's partners and
 * licenses, and the partners and licenses it names that the store does not have yet (activation
 * seeds those). Problems in the file come with line and column; a candidate that does not fit the
 * partners and licenses in force is refused as activation would refuse it.
 */
export function candidateScheme(text: string, file: string, state: ControlState | null): CompiledScheme {
  return candidateOf(parseScheme(text, file), file, state);
}

/**
 * `candidateScheme` of a version already read (a stored one, as it loads). What the policy in force
 * already leaves out stays out of the candidate, as activation leaves it (it is not the candidate's
 * doing, and activation does not refuse it): only what the candidate would newly leave out refuses it.
 */
export function candidateOf(base: CompiledScheme, file: string, state: ControlState | null): CompiledScheme {
  if (state === null) return base;
  const store = effectiveSource(
    base.source,
    state.partners.map((p) => p.document),
    state.licenses.map((l) => l.document),
  );
  const have = new Set([...store.partners.countries, ...store.partners.organizations].map((p) => p.id));
  const licenses = new Set(store.licenses.map((l) => l.id));
  const source: SchemeFile = {
    ...store,
    partners: {
      countries: [
        ...store.partners.countries,
        ...base.source.partners.countries.filter((p) => !have.has(p.id)),
      ],
      organizations: [
        ...store.partners.organizations,
        ...base.source.partners.organizations.filter((p) => !have.has(p.id)),
      ],
    },
    licenses: [...store.licenses, ...base.source.licenses.filter((l) => !licenses.has(l.id))],
  };
  const refused = `${file} cannot be activated: the partners and licenses in force do not fit it`;
  const fitted = compileLeavingOut(source);
  if (!fitted.ok) {
    // A problem that names no partner or license: placed against the whole source.
    const strict = compileScheme(source);
    const problems = strict.ok ? fitted.problems : strict.problems;
    throw new InvalidInputError(
      problems.map((p) => ({ ...p, file })),
      refused,
    );
  }
  const already = new Set(state.leftOut.map(leftOutKey));
  const misfits = fitted.leftOut.filter((l) => !already.has(leftOutKey(l)));
  if (misfits.length === 0) return fitted.scheme;
  throw new InvalidInputError(
    leftOutProblems(misfits).map((p) => ({ ...p, file })),
    `${refused}: ${describeLeftOut(misfits)}`,
  );
}

/** Each principal's locations in the log (by principal id), for the population's "seen at". */
export async function seenLocations(
  source: LogSource,
  principals: PrincipalIndex,
  period: Period,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, Set<string | null>>> {
  const seen = new Map<string, Set<string | null>>();
  const { from, to } = periodBounds(period);
  const log = `the audit log at ${source.location}`;
  for await (const batch of readEntries(source, onProgress === undefined ? {} : { onProgress })) {
    let index = batch.first;
    for (const text of batch.entries) {
      // A damaged entry refuses the what-if (see historyWhatIf): its impact digest is made from this.
      const e = checkedDecision(text, index++, log);
      if (e === null || e.time < from || e.time >= to) continue;
      const p = principals.get(e.principal);
      if (p === undefined) continue;
      let set = seen.get(p.id);
      if (set === undefined) seen.set(p.id, (set = new Set()));
      set.add(e.location);
    }
  }
  return seen;
}

export interface WhatIfOptions {
  readonly store: Store;
  readonly source: LogSource;
  /** The policy compared against (default: the policy in force). */
  readonly active: CompiledScheme;
  readonly candidate: CompiledScheme;
  readonly pseudonymKey: string | null;
  readonly now: Date;
  /** Locations seen in the log over the last `seenDays` days join the population's (default 30). */
  readonly seenDays?: number;
  /** History: the last N days … */
  readonly days?: number;
  /** … or a range of log indexes. */
  readonly range?: { readonly from?: bigint; readonly to?: bigint };
  /** How the caller names the range's bounds in a refusal (default: the admin API's from_index, to_index). */
  readonly rangeNames?: RangeNames;
  readonly examples?: number;
  /** Worker threads for the population (default 1: this thread, yielding to the event loop). */
  readonly threads?: number;
  /** Principals instead of the store's own and federated ones (e.g. a population given as a file). */
  readonly principals?: readonly Principal[];
  /** Reading the log for where principals were seen (the command line's progress bar). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Every stage's progress, named (the admin API's progress lines). */
  readonly onStage?: (stage: string, done: number, total: number) => void;
}

/** The stages a what-if goes through, as its progress names them. */
export const WHAT_IF_STAGES = {
  seen: "reading where principals were seen in the audit log",
  population: "grouping and deciding the population",
  history: "re-deciding the logged decisions",
} as const;

export async function whatIfReport(o: WhatIfOptions): Promise<WhatIfReport> {
  // A range that holds no entries is refused before anything is computed, for the admin API and the
  // command line alike: read, it would say that nothing changes.
  if (o.range !== undefined) await checkRange(o.source, o.range, o.rangeNames);
  // The store's principals and the people partners' identity providers vouched for: the log names
  // both, and both are served. A blocked federated principal is refused before any decision, so it
  // is in the index (its logged decisions are re-decided) but not in the population.
  const known = o.principals === undefined ? await knownPrincipals(o.store) : null;
  const principals = o.principals ?? known?.servable ?? [];
  const index = principalIndex(known?.all ?? principals, o.pseudonymKey);
  const examples = o.examples ?? 5;
  const stage = (name: string) => (done: number, total: number) => o.onStage?.(name, done, total);
  const seenProgress = (done: number, total: number) => {
    o.onProgress?.(done, total);
    stage(WHAT_IF_STAGES.seen)(done, total);
  };
  const seen = await seenLocations(o.source, index, lastDays(o.seenDays ?? 30, o.now), seenProgress);
  // Quota usage as each scheme counts it: a candidate that changes a license's quota_period (total
  // to month, say) is judged on what was used in its own period, not the active one's. One read of
  // the store's usage serves both (it is synchronous on SQLite, and the admin API's what-if runs in
  // the gateway's event loop).
  const stored = await storedUsage(o.store, o.now);
  const quotaUnder = (scheme: CompiledScheme) =>
    Object.fromEntries([...quotaUsedUnder(scheme, stored)].map(([id, tokens]) => [id, { tokens }]));
  const population = await populationWhatIfYielding({
    active: o.active,
    candidate: o.candidate,
    principals,
    seen,
    time: o.now.getTime(),
    usage: quotaUnder(o.active),
    candidateUsage: quotaUnder(o.candidate),
    examples,
    threads: o.threads ?? 1,
    onProgress: stage(WHAT_IF_STAGES.population),
  });
  const wantHistory = o.days !== undefined || o.range !== undefined;
  const history = wantHistory
    ? await historyWhatIf({
        source: o.source,
        active: o.active,
        candidate: o.candidate,
        principals: index,
        ...(o.days === undefined ? {} : { period: lastDays(o.days, o.now) }),
        ...(o.range === undefined ? {} : { range: o.range }),
        examples,
        onProgress: stage(WHAT_IF_STAGES.history),
      })
    : null;
  return {
    report: "what-if",
    generated_at: o.now.toISOString(),
    active: o.active.ref,
    candidate: o.candidate.ref,
    population: {
      kind: population.kind,
      summary: population.summary,
      groups: population.groups,
      notes:
        known === null || known.federated === 0
          ? population.notes
          : [
              ...population.notes,
              `${known.federated - known.blocked} of them vouched for by partners' identity providers, with the facts ` +
                "last vouched for" +
                (known.blocked > 0 ? `; ${known.blocked} blocked by an administrator are left out` : ""),
            ],
    },
    history:
      history === null
        ? null
        : { kind: history.kind, summary: history.summary, groups: history.groups, notes: history.notes },
    digest: summaryDigest([population.summary]),
  };
}
