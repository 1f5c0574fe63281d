/**
 * Screening subjects and recording what was found: a full pass (every subject against every active
 * list), the incremental pass after an import (every subject against only the added and changed
 * entries; matches on removed entries resolved), and single subjects as they are created or changed.
 * Work is done in batches that yield to the event loop, so a gateway keeps serving meanwhile.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { ListVersionRow, Store } from "../store/index.js";
import {
  RESCREEN_HOLD_MS,
  type FoundMatch,
  type SubjectScreening,
  type Successor,
} from "../store/screening.js";
import { ScreeningEngine, DEFAULT_THRESHOLD } from "./engine.js";
import { ScreeningIndex } from "./index.js";
import { HOLD_LIST, holdReason } from "./indistinct.js";
import { currentFacts, factsDigest, loadSubjects, type Subject } from "./subjects.js";
import type { ListEntry } from "./types.js";

export interface RescreenSummary {
  /** Subjects screened. */
  readonly subjects: number;
  /** Listed entries screened against. */
  readonly entries: number;
  /** Matches at or above the threshold found in this pass. */
  readonly potential: number;
  /** Matches resolved (entry removed, or no longer matching). */
  readonly resolved: number;
  /** Match rows written (new, changed or resolved). */
  readonly changed: number;
}

export interface RescreenOptions {
  readonly actor: string;
  readonly threshold?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /** Subjects per store transaction (and between yields to the event loop). */
  readonly batch?: number;
  /** Called after each batch is recorded (an import's rescreen renews its hold there). */
  readonly afterBatch?: () => Promise<void>;
}

const key = (kind: string, id: string) => `${kind}:${id}`;

/** Subjects whose screening was not recorded: changed or deleted in the store since they were read. */
type Stale = readonly SubjectScreening["subject"][];

/**
 * Screens `subjects` with `engine` and records the outcome under `scope`: for principals, only
 * while the store still holds them with the facts screened (whoever changed them screens the new
 * ones; one deleted gets nothing), the others are returned as stale.
 */
async function screenAndRecordAll(
  store: Store,
  engine: ScreeningEngine,
  subjects: readonly Subject[],
  scope: SubjectScreening["scope"],
  mustRecord: ReadonlySet<string>,
  options: RescreenOptions,
): Promise<Omit<RescreenSummary, "entries"> & { readonly stale: Stale }> {
  const batch = options.batch ?? 500;
  let potential = 0;
  let changed = 0;
  let resolved = 0;
  const stale: SubjectScreening["subject"][] = [];
  for (let i = 0; i < subjects.length; i += batch) {
    const screenings: SubjectScreening[] = [];
    for (const s of subjects.slice(i, i + batch)) {
      const found: FoundMatch[] = engine.find(s.facts).map((m) => ({
        list: m.list,
        entryId: m.entry_id,
        entryDigest: engine.entryDigest(m.list, m.entry_id) ?? "",
        score: m.score,
        explanation: m,
        ...(m.list === HOLD_LIST ? { reason: holdReason(s.facts.name), hold: true } : {}),
      }));
      potential += found.length;
      if (found.length > 0 || mustRecord.has(key(s.kind, s.id)))
        screenings.push({ subject: { kind: s.kind, id: s.id }, found, facts: factsDigest(s.facts), scope });
    }
    if (screenings.length > 0) {
      const r = await store.screening.record(screenings, options.actor, currentFacts);
      changed += r.changed;
      resolved += r.resolved;
      stale.push(...r.stale);
    }
    options.onProgress?.(Math.min(i + batch, subjects.length), subjects.length);
    await options.afterBatch?.();
    await yieldToLoop();
  }
  return { subjects: subjects.length, potential, resolved, changed, stale };
}

/** Every subject against every active list (`clearance screening rescreen`). */
export async function rescreenAll(
  store: Store,
  options: RescreenOptions & { engine?: ScreeningEngine },
): Promise<RescreenSummary> {
  const engine =
    options.engine ?? (await ScreeningEngine.load(store, options.threshold ?? DEFAULT_THRESHOLD));
  const subjects = await loadSubjects(store);
  const open = new Set(
    (await store.screening.matches({ status: "potential" })).map((m) => key(m.subject_kind, m.subject_id)),
  );
  // Resolved: what this pass resolved (a count of resolved rows before and after went down, even
  // below zero, when a resolved match came back).
  const { stale: _, ...r } = await screenAndRecordAll(store, engine, subjects, "all", open, options);
  // The rescreens imports left unfinished, of versions up to those screened against here: this pass
  // found what their added and changed entries match; what their removed ones (not listed again)
  // matched is resolved as an import's rescreen resolves it (a confirmation carried over, or kept
  // to be restored), and they are finished.
  let resolved = 0;
  const screened = new Map(engine.index.lists.map((l) => [l.list, l.version ?? 0]));
  for (const version of await unfinished(store)) {
    if (version.version > (screened.get(version.list) ?? 0)) continue;
    if (!(await store.screening.holdRescreen(version.list, version.version, true))) continue;
    const gone = version.diff.removed.filter((id) => engine.index.entry(version.list, id) === undefined);
    const n = await resolveRemoved(store, version, gone, options.actor);
    await store.screening.rescreened(version.list, version.version, options.actor, { resolved: n });
    resolved += n;
  }
  return {
    ...r,
    resolved: r.resolved + resolved,
    changed: r.changed + resolved,
    entries: engine.index.entries.length,
  };
}

/** The versions whose rescreen after their import has not finished, oldest first in each list. */
const unfinished = async (store: Store): Promise<ListVersionRow[]> =>
  (await store.screening.versions(undefined, "unfinished")).sort((a, b) =>
    a.list === b.list ? a.version - b.version : a.list < b.list ? -1 : 1,
  );

/** The matches on these entries the version removed resolved (carried over to their successors). */
const resolveRemoved = async (
  store: Store,
  version: ListVersionRow,
  removed: readonly string[],
  actor: string,
): Promise<number> =>
  store.screening.resolveRemoved(version.list, removed, actor, await successors(store, version));

/**
 * After an import: every subject against the added and changed entries only, and the matches on
 * removed entries resolved.
 */
export async function rescreenAfterImport(
  store: Store,
  version: ListVersionRow,
  actor: string,
  options: Omit<RescreenOptions, "actor"> & { engine?: ScreeningEngine } = {},
): Promise<RescreenSummary> {
  const resolved = await resolveRemoved(store, version, version.diff.removed, actor);
  const touched = new Set([...version.diff.added, ...version.diff.changed]);
  if (touched.size === 0) return { subjects: 0, entries: 0, potential: 0, resolved, changed: resolved };
  // Scored as a full screening scores them: an index of the touched entries alone, but with the
  // token weights of the index over every active list (a name's rare tokens weigh what they weigh
  // there). Weighed on its own it made every token rare, so an open match could score under the
  // threshold here and be resolved, only to come back at the next full rescreen; searching the
  // whole index instead cost a full rescreen (16.8 s against 1.8 s for 100,000 principals).
  const full = await ScreeningEngine.load(
    store,
    options.threshold ?? options.engine?.threshold ?? DEFAULT_THRESHOLD,
    options.engine,
  );
  const entries = (await store.screening.entries(version.list, version.version))
    .filter((e) => touched.has(e.id))
    .map((e) => ({ entry: JSON.parse(e.document) as ListEntry, digest: e.digest }));
  const index = ScreeningIndex.build([{ list: version.list, version: version.version, entries }], full.index);
  const engine = new ScreeningEngine(index, full.threshold);
  const subjects = await loadSubjects(store);
  // Subjects with an open match on a changed entry are recorded even when nothing is found now.
  const open = new Set(
    (await store.screening.matches({ status: "potential" }))
      .filter((m) => m.list === version.list && touched.has(m.entry_id))
      .map((m) => key(m.subject_kind, m.subject_id)),
  );
  const { stale: _, ...r } = await screenAndRecordAll(
    store,
    engine,
    subjects,
    { list: version.list, entryIds: touched },
    open,
    { ...options, actor },
  );
  return { ...r, entries: touched.size, resolved: resolved + r.resolved, changed: r.changed + resolved };
}

/** A version whose rescreen after its import had not finished, and what finishing it did. */
export interface FinishedRescreen {
  readonly version: ListVersionRow;
  readonly summary: RescreenSummary;
}

/**
 * Runs the rescreens imports left unfinished (every version not `rescreened`: its importer was
 * killed or failed part way, or is still at it), each under a hold it renews as it goes, and records
 * each as finished. In each list oldest first, so that a version superseded before its rescreen ran
 * is rescreened before the one that replaced it (whose diff is against it). `force`: also those
 * whose importer may still be at it (an operator's import: at worst the work is done twice);
 * without it, only those whose hold has run out (a background gateway). Returns those it finished.
 */
export async function finishRescreens(
  store: Store,
  actor: string,
  options: Omit<RescreenOptions, "actor" | "afterBatch"> & { engine?: ScreeningEngine; force: boolean },
): Promise<FinishedRescreen[]> {
  const { force, ...rest } = options;
  const out: FinishedRescreen[] = [];
  // A list with a version another process holds: its later versions wait for it.
  const held = new Set<string>();
  for (const version of await unfinished(store)) {
    if (held.has(version.list)) continue;
    if (!(await store.screening.holdRescreen(version.list, version.version, force))) {
      if (!force) held.add(version.list);
      continue;
    }
    let renewed = Date.now();
    const summary = await rescreenAfterImport(store, version, actor, {
      ...rest,
      afterBatch: async () => {
        if (Date.now() - renewed < RESCREEN_HOLD_MS / 4) return;
        renewed = Date.now();
        await store.screening.holdRescreen(version.list, version.version, true);
      },
    });
    await store.screening.rescreened(version.list, version.version, actor, { ...summary });
    out.push({ version: { ...version, rescreened: true }, summary });
  }
  return out;
}

/** Text compared loosely: letters and digits, case and accents folded, runs of the rest one space. */
const folded = (text: string): string =>
  text
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();

/**
 * Who a listed entry is, beyond its id: its primary name and addresses (and its type, compared in
 * `sameType`). Null without an address (a name alone does not say it is the same party).
 */
function party(entry: ListEntry): { readonly key: string; readonly type: ListEntry["type"] } | null {
  const name = entry.names[0]?.name;
  const addresses = [...new Set(entry.addresses.map(folded).filter((a) => a !== ""))].sort();
  if (name === undefined || folded(name) === "" || addresses.length === 0) return null;
  return { key: JSON.stringify([folded(name), addresses]), type: entry.type };
}

/**
 * The same kind of party. `unknown` agrees with either: a list may stop telling people from
 * organizations (the BIS DPL's entries became `unknown` when its loader stopped guessing), and a
 * confirmation must not lapse over that.
 */
const sameType = (a: ListEntry["type"], b: ListEntry["type"]): boolean =>
  a === b || a === "unknown" || b === "unknown";

/**
 * For each entry this version removed, the entries it added for the same party (same type, name
 * and addresses): a list that renews an entry under a new id (the BIS DPL does) replaces it, and a
 * confirmation on the old entry carries over to the new one instead of being resolved.
 */
async function successors(store: Store, version: ListVersionRow): Promise<Map<string, readonly Successor[]>> {
  const out = new Map<string, Successor[]>();
  if (version.diff.removed.length === 0 || version.diff.added.length === 0 || version.version < 2) return out;
  const read = async (v: number, ids: readonly string[]) => {
    const wanted = new Set(ids);
    return (await store.screening.entries(version.list, v))
      .filter((e) => wanted.has(e.id))
      .map((e) => {
        const { id, ...listed } = JSON.parse(e.document) as ListEntry;
        return { id, digest: e.digest, party: party({ id, ...listed }), listed: JSON.stringify(listed) };
      });
  };
  const added = new Map<
    string,
    (Successor & { readonly type: ListEntry["type"]; readonly listed: string })[]
  >();
  for (const e of await read(version.version, version.diff.added)) {
    if (e.party === null) continue;
    const heir = { id: e.id, digest: e.digest, type: e.party.type, listed: e.listed };
    added.set(e.party.key, [...(added.get(e.party.key) ?? []), heir]);
  }
  // The diff is against the version before (versions of a list are consecutive).
  for (const e of await read(version.version - 1, version.diff.removed)) {
    if (e.party === null) continue;
    const { type } = e.party;
    const heirs = (added.get(e.party.key) ?? []).filter((h) => sameType(h.type, type));
    if (heirs.length > 0)
      out.set(
        e.id,
        heirs.map((h) => ({ id: h.id, digest: h.digest, unchanged: h.listed === e.listed })),
      );
  }
  return out;
}

/**
 * Some subjects (just created or changed) against every active list; `stale`: those not recorded,
 * changed or deleted in the store since the caller read them.
 */
export async function screenSubjects(
  store: Store,
  engine: ScreeningEngine,
  subjects: readonly Subject[],
  actor: string,
): Promise<RescreenSummary & { readonly stale: Stale }> {
  // Recorded: subjects with something found, and subjects with an open match (which may now resolve).
  const open = new Set(
    (await store.screening.matches({ status: "potential" })).map((m) => key(m.subject_kind, m.subject_id)),
  );
  const r = await screenAndRecordAll(store, engine, subjects, "all", open, { actor });
  return { ...r, entries: engine.index.entries.length };
}
