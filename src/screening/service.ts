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
}

export class ScreeningService {
  #engine: ScreeningEngine | null = null;
  /** Subject key → the facts last screened, so only changes are screened again. */
  readonly #seen = new Map<string, string>();
  #running: Promise<void> = Promise.resolve();
  #closed = false;
  /** The next look at an import's unfinished rescreen held by another process. */
  #recheck: NodeJS.Timeout | null = null;

  constructor(readonly options: ScreeningServiceOptions) {}

  get engine(): ScreeningEngine | null {
    return this.#engine;
  }

  /** The engine over the active lists, rebuilding it when they changed. */
  async load(): Promise<ScreeningEngine> {
    const engine = await ScreeningEngine.load(this.options.store, this.options.threshold, this.#engine);
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
    for (const s of subjects) this.#seen.set(`${s.kind}:${s.id}`, JSON.stringify(s.facts));
    return r;
  }

  /** After a snapshot reload: in the background, screen what is new or changed. Never awaited by requests. */
  onSnapshot(
    principals: Iterable<Principal>,
    partnerRecords: readonly StoredRecord<PartnerDocument>[],
  ): void {
    if (!this.options.background || this.#closed) return;
    const partners = partnerRecords.map((r) => r.document);
    this.#running = this.#running
      .then(async () => {
        const engine = await this.load();
        await this.#finishRescreens(engine);
        if (engine.index.entries.length === 0) return;
        // In slices that yield: with many principals, finding the changed ones is itself work.
        const all = [...principals];
        const changed: Subject[] = [];
        for (let i = 0; i < all.length; i += 5000) {
          const slice = subjectsOf(all.slice(i, i + 5000), i === 0 ? partners : []);
          for (const s of slice)
            if (this.#seen.get(`${s.kind}:${s.id}`) !== JSON.stringify(s.facts)) changed.push(s);
          await yieldToLoop();
        }
        if (changed.length === 0) return;
        await screenSubjects(this.options.store, engine, changed, "screening");
        for (const s of changed) this.#seen.set(`${s.kind}:${s.id}`, JSON.stringify(s.facts));
      })
      .catch(this.options.onError);
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
      const pending = await this.options.store.screening.versions().then(
        (vs) => vs.some((v) => !v.rescreened),
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
    await this.#running;
    setScreeningEngine(null);
  }
}
