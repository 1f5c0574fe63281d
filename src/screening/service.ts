/**
 * Screening inside a running gateway: the engine over the store's active lists, rebuilt off the
 * request path when a list version changes, and new or changed principals and organizations
 * screened as they appear in the data plane's snapshot (whichever way they came: admin API, CLI,
 * scheme seed, partner identity federation). Work runs in batches that yield to the event loop, so
 * requests keep being served.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { PartnerDocument } from "../control/types.js";
import type { Principal } from "../policy/types.js";
import type { FederatedPrincipalRecord, StoredRecord, Store } from "../store/index.js";
import { ScreeningEngine, setScreeningEngine } from "./engine.js";
import { RESCREEN_HOLD_MS } from "../store/screening.js";
import { finishRescreens, screenSubjects, type RescreenSummary } from "./rescreen.js";
import { subjectsOf, type Subject } from "./subjects.js";

export interface ScreeningServiceOptions {
  readonly store: Store;
  readonly threshold: number;
  /** Most entries an imported list may hold (config `screening.max_list_entries`). */
  readonly maxListEntries: number;
  /** Screen changed subjects automatically (one node of several is enough). */
  readonly background: boolean;
  readonly onError: (err: unknown) => void;
  /** A failed background pass's next try: after `first` ms, doubled at each failure up to `max`. */
  readonly retryMs?: { readonly first: number; readonly max: number };
}

/** A failed background pass is tried again after 1 s, then 2 s, 4 s, … and every minute at most. */
export const SCREENING_RETRY_MS = { first: 1000, max: 60_000 };

/** New or changed subjects the background pass has failed to screen, while it is failing. */
export interface ScreeningBacklog {
  /** Subjects waiting (new or changed since they were last screened on this node). */
  readonly subjects: number;
  /** When the first of the failures since the last pass that succeeded happened (ms since the epoch). */
  readonly since: number;
}

const subjectKey = (s: Subject) => `${s.kind}:${s.id}`;

export class ScreeningService {
  #engine: ScreeningEngine | null = null;
  /** Loads started, and the number of the one whose engine is installed (see load()). */
  #loadsStarted = 0;
  #installedLoad = 0;
  /** Subject key → the facts last screened, so only changes are screened again. */
  readonly #seen = new Map<string, string>();
  #running: Promise<void> = Promise.resolve();
  #closed = false;
  /**
   * New or changed subjects not yet screened, by key, as last seen: kept until a pass screens them,
   * so that one failing (a store blip, a query timeout) leaves them to the retry, not to the next change.
   */
  readonly #waiting = new Map<string, Subject>();
  /** The background pass's failures since it last succeeded (null: it did, or never ran). */
  #failing: { readonly since: number; readonly attempts: number } | null = null;
  /** The next try of a failed background pass. */
  #retry: NodeJS.Timeout | null = null;
  /** The next look at an import's unfinished rescreen held by another process. */
  #recheck: NodeJS.Timeout | null = null;

  constructor(readonly options: ScreeningServiceOptions) {}

  get engine(): ScreeningEngine | null {
    return this.#engine;
  }

  /**
   * The engine over the active lists, rebuilding it when they changed. Loads may overlap (a pass, an
   * admin screening): one that started earlier read older lists, so it never replaces the engine a
   * later one installed, whichever finishes last; its caller gets the newer engine.
   */
  async load(): Promise<ScreeningEngine> {
    const started = ++this.#loadsStarted;
    const engine = await ScreeningEngine.load(this.options.store, this.options.threshold, this.#engine);
    if (started < this.#installedLoad && this.#engine !== null) return this.#engine;
    // A later load that found the lists unchanged counts as installing them too.
    this.#installedLoad = started;
    if (engine !== this.#engine) {
      this.#engine = engine;
      setScreeningEngine(engine);
      // New lists: what was screened before was screened against other lists. The import itself
      // rescreened against what changed, so only subjects not yet seen need a pass.
    }
    return engine;
  }

  /** Screens some subjects now and records the outcome (the admin API, for the principal it just wrote). */
  async screen(subjects: readonly Subject[], actor: string): Promise<RescreenSummary> {
    const engine = await this.load();
    const r = await screenSubjects(this.options.store, engine, subjects, actor);
    const stale = new Set(r.stale.map((s) => `${s.kind}:${s.id}`));
    for (const s of subjects) {
      const k = subjectKey(s);
      const facts = JSON.stringify(s.facts);
      // Not recorded (changed or deleted meanwhile): not seen either, whoever changed it screens it.
      if (stale.has(k)) continue;
      this.#seen.set(k, facts);
      if (JSON.stringify(this.#waiting.get(k)?.facts) === facts) this.#waiting.delete(k);
    }
    return r;
  }

  /** After a snapshot reload: in the background, screen what is new or changed. Never awaited by requests. */
  onSnapshot(
    principals: Iterable<Principal>,
    partnerRecords: readonly StoredRecord<PartnerDocument>[],
  ): void {
    if (this.#closed) return;
    // Every node keeps its engine over the active lists (a federated principal's first token is
    // screened with it: federated.ts); only a background node screens the subjects.
    if (!this.options.background) return this.#queue(() => this.#pass());
    const partners = partnerRecords.map((r) => r.document);
    this.#queue(async () => {
      // In slices that yield: with many principals, finding the changed ones is itself work. Found
      // before anything is read from the store, so that a pass failing there still has them to retry.
      const all = [...principals];
      for (let i = 0; i < all.length; i += 5000) {
        const slice = subjectsOf(all.slice(i, i + 5000), i === 0 ? partners : []);
        for (const s of slice) {
          const k = subjectKey(s);
          if (this.#seen.get(k) !== JSON.stringify(s.facts)) this.#waiting.set(k, s);
          else this.#waiting.delete(k); // changed back to what was screened
        }
        await yieldToLoop();
      }
      await this.#pass();
    });
  }

  /**
   * Subjects waiting on a background pass that has failed since it last succeeded (what /readyz and
   * the metrics say), or null when it has not failed.
   */
  get backlog(): ScreeningBacklog | null {
    return this.#failing === null ? null : { subjects: this.#waiting.size, since: this.#failing.since };
  }

  /** One background pass: the engine, then unfinished import rescreens and the subjects waiting. */
  async #pass(): Promise<void> {
    const engine = await this.load();
    if (!this.options.background) return this.#succeeded();
    // An unfinished rescreen failing (a step of it, or one version's) holds back no new subject.
    const rescreens = await this.#finishRescreens(engine).then(
      () => null,
      (err: unknown) => ({ err }),
    );
    // No lists: nothing to screen against (an import screens every stored subject).
    if (engine.index.entries.length === 0) this.#waiting.clear();
    const subjects = [...this.#waiting.values()];
    const stale = new Set(
      subjects.length === 0
        ? []
        : (await screenSubjects(this.options.store, engine, subjects, "screening")).stale.map(
            (s) => `${s.kind}:${s.id}`,
          ),
    );
    for (const s of subjects) {
      const k = subjectKey(s);
      // Not recorded: the store no longer holds these facts (changed or deleted since the snapshot
      // this pass screened). Not seen, so that the snapshot bringing the change screens what is current.
      if (stale.has(k)) this.#seen.delete(k);
      else this.#seen.set(k, JSON.stringify(s.facts));
      if (this.#waiting.get(k) === s) this.#waiting.delete(k);
    }
    if (rescreens !== null) throw rescreens.err;
    this.#succeeded();
  }

  #succeeded(): void {
    this.#failing = null;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
  }

  /** Background work, in turn; a failure is logged and the pass tried again later (bounded backoff). */
  #queue(work: () => Promise<void>): void {
    this.#running = this.#running.then(work).catch((err: unknown) => {
      this.#failed();
      this.options.onError(err);
    });
  }

  #failed(): void {
    const attempts = (this.#failing?.attempts ?? 0) + 1;
    this.#failing = { since: this.#failing?.since ?? Date.now(), attempts };
    if (this.#closed || this.#retry !== null) return;
    const { first, max } = this.options.retryMs ?? SCREENING_RETRY_MS;
    const delay = Math.min(max, first * 2 ** Math.min(attempts - 1, 30));
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (!this.#closed) this.#queue(() => this.#pass());
    }, delay);
    this.#retry.unref();
  }

  /**
   * An import's rescreen left unfinished (its process killed or failed part way: the new entries
   * never matched against stored subjects) is finished here once its importer's hold has run out;
   * one still held (or one that failed here) is looked at again later, in case its holder stops.
   */
  async #finishRescreens(engine: ScreeningEngine): Promise<void> {
    try {
      await finishRescreens(this.options.store, "screening", {
        force: false,
        threshold: this.options.threshold,
        engine,
      });
    } finally {
      // Failed too (the store unreachable part way): looked at again, not left until the next change.
      const pending = await this.options.store.screening.versions(undefined, "unfinished").then(
        (vs) => vs.length > 0,
        () => true,
      );
      if (pending) this.#lookAgain();
    }
  }

  #lookAgain(): void {
    if (this.#closed || this.#recheck !== null) return;
    this.#recheck = setTimeout(() => {
      this.#recheck = null;
      if (this.#closed) return;
      this.#running = this.#running
        .then(async () => this.#finishRescreens(await this.load()))
        .catch(this.options.onError);
    }, RESCREEN_HOLD_MS / 2);
    this.#recheck.unref();
  }

  /** Federated principals as the store last recorded them, screened by their display names. */
  onFederated(records: readonly FederatedPrincipalRecord[]): void {
    if (!this.options.background) return;
    const named = records.flatMap((r) =>
      r.display_name === null ? [] : [{ ...r.principal, name: r.display_name }],
    );
    if (named.length > 0) this.onSnapshot(named, []);
  }

  /** Waits for background work in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#recheck !== null) clearTimeout(this.#recheck);
    if (this.#retry !== null) clearTimeout(this.#retry);
    await this.#running;
    setScreeningEngine(null);
  }
}
