/**
 * The screening engine: the index over the active list versions and the threshold a potential
 * match starts at. `screenPrincipal` is what the rest of the product calls (admin changes, seeds,
 * federated principals).
 */
import type { Store } from "../store/index.js";
import { ScreeningIndex, type IndexedList } from "./index.js";
import { activeLists } from "./lists.js";
import type { MatchExplanation, SubjectFacts } from "./matcher.js";
import { checkName } from "./normalise.js";
import { countryCode } from "./loaders/index.js";
import { InvalidInputError } from "../errors/index.js";
import { quoted } from "../policy/text.js";
import { HOLD_DIGEST, HOLD_ENTRY, HOLD_LIST, indistinctName } from "./indistinct.js";

/**
 * A potential match from this score up. Chosen on the evaluation set (README, "Denied-party
 * screening"): the best F1, leaning to recall, since a reviewer clears what is not a match.
 */
export const DEFAULT_THRESHOLD = 0.86;

export interface ScreeningResult {
  readonly status: "clear" | "potential";
  /** Best first, one per listed entry. */
  readonly matches: readonly MatchExplanation[];
  readonly threshold: number;
  /** The list versions screened against. */
  readonly lists: readonly { readonly list: string; readonly version?: number }[];
}

export class ScreeningEngine {
  constructor(
    readonly index: ScreeningIndex,
    readonly threshold: number = DEFAULT_THRESHOLD,
    /** Which list versions the index holds ("list@version,…"): rebuilt only when it changes. */
    readonly key: string = "",
  ) {}

  static fromLists(lists: readonly IndexedList[], threshold = DEFAULT_THRESHOLD): ScreeningEngine {
    return new ScreeningEngine(ScreeningIndex.build(lists), threshold, listsKey(lists));
  }

  /** The engine over the store's active lists; `previous` is reused when they have not changed. */
  static async load(
    store: Store,
    threshold = DEFAULT_THRESHOLD,
    previous?: ScreeningEngine | null,
  ): Promise<ScreeningEngine> {
    const versions = await store.screening.versions(undefined, "active");
    const key = versions.map((v) => `${v.list}@${v.version}`).join(",");
    if (
      previous !== undefined &&
      previous !== null &&
      previous.key === key &&
      previous.threshold === threshold
    )
      return previous;
    const lists = await activeLists(store);
    // Built in steps that yield: a gateway loads the lists beside the requests it serves.
    return new ScreeningEngine(
      await ScreeningIndex.buildAsync(
        lists.map((l) => ({ list: l.version.list, version: l.version.version, entries: l.entries })),
      ),
      threshold,
      key,
    );
  }

  /**
   * The subject's matches (facts already checked). A name with nothing distinctive to screen is
   * matched only to entries listed under the very same name (its generic words reach every trading
   * company otherwise), and held for review besides (indistinct.ts), once there are lists.
   */
  find(facts: SubjectFacts, options: { threshold?: number; limit?: number } = {}): MatchExplanation[] {
    const threshold = options.threshold ?? this.threshold;
    const search = { threshold, ...(options.limit === undefined ? {} : { limit: options.limit }) };
    const hold = this.index.entries.length === 0 ? null : indistinctName(facts, threshold);
    if (hold === null) return this.index.search(facts, search);
    // The hold is one of the `limit` items and never the one cut (it is what keeps the name in review),
    // last: an entry listed under this very name is the finding a reviewer reads first.
    const listed =
      options.limit === undefined ? search : { ...search, limit: Math.max(0, options.limit - 1) };
    return [...this.index.sameName(facts, listed), hold];
  }

  /** The version (content digest) of the entry a match is on; the hold's never changes. */
  entryDigest(list: string, id: string): string | undefined {
    if (list === HOLD_LIST && id === HOLD_ENTRY) return HOLD_DIGEST;
    return this.index.entry(list, id)?.digest;
  }

  screen(facts: SubjectFacts, options: { threshold?: number; limit?: number } = {}): ScreeningResult {
    const threshold = options.threshold ?? this.threshold;
    const matches = this.find(checkFacts(facts), { ...options, threshold });
    return {
      status: matches.length > 0 ? "potential" : "clear",
      matches,
      threshold,
      lists: this.index.lists,
    };
  }
}

const listsKey = (lists: readonly IndexedList[]) =>
  lists.map((l) => `${l.list}@${l.version ?? "-"}`).join(",");

/** Validates a subject's facts: a clear error for a bad name, birth date or nationality. */
export function checkFacts(facts: SubjectFacts): SubjectFacts {
  checkName(facts.name);
  const problems = [];
  if (facts.birth_date != null && !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(facts.birth_date))
    problems.push({
      code: "invalid_birth_date",
      path: ["birth_date"],
      message: "expected YYYY, YYYY-MM or YYYY-MM-DD",
    });
  const nationalities = (facts.nationalities ?? []).map((n, i) => {
    const code = typeof n === "string" ? countryCode(n) : undefined;
    if (code === undefined)
      problems.push({
        code: "invalid_nationality",
        path: ["nationality", i],
        message: `expected an ISO 3166-1 alpha-2 code or an English country name, found ${quoted(n)}`,
      });
    return code ?? "";
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return { ...facts, nationalities };
}

let current: ScreeningEngine | null = null;

/** Installs the engine `screenPrincipal` uses (the gateway does, once its lists are loaded). */
export function setScreeningEngine(engine: ScreeningEngine | null): void {
  current = engine;
}

export function screeningEngine(): ScreeningEngine | null {
  return current;
}

/**
 * Screens one principal (or organization) against every active list. Without lists loaded yet the
 * answer is "clear" with no lists named, so a caller can tell it was not screened.
 */
export function screenPrincipal(
  facts: SubjectFacts,
  engine: ScreeningEngine | null = current,
): ScreeningResult {
  if (engine === null) {
    checkFacts(facts);
    return { status: "clear", matches: [], threshold: DEFAULT_THRESHOLD, lists: [] };
  }
  return engine.screen(facts);
}
