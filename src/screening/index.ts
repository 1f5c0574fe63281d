/**
 * The in-memory screening index, built once per set of list versions: every listed name normalised
 * and prepared, and posting lists from blocking keys (the token, its first and last four letters,
 * its consonant skeleton, the name's joined prefix) to names. A search looks up only the names that
 * share a key with the subject's, so it never scans the lists.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import {
  compareNames,
  explain,
  firstTokens,
  prepare,
  type MatchExplanation,
  type PreparedName,
  type SimilarityCache,
  type SubjectFacts,
} from "./matcher.js";
import { normaliseName, PARTICLES, phonetic, skeleton } from "./normalise.js";
import type { ListEntry, ListedName } from "./types.js";

export interface IndexedList {
  readonly list: string;
  readonly version?: number;
  readonly entries: readonly { readonly entry: ListEntry; readonly digest: string }[];
}

export interface IndexedEntry {
  readonly list: string;
  readonly entry: ListEntry;
  readonly digest: string;
}

export interface SearchOptions {
  /** Lowest score returned. */
  readonly threshold: number;
  /** Most candidates returned (best first). */
  readonly limit?: number;
}

/**
 * Tokens this long also have their one-letter deletions as keys ("amadou": "madou", "aadou", …,
 * "amado"), so that one letter added, dropped, changed or swapped in a short name ("Amaou",
 * "Mahi", "Saim") still shares a key with it: a change in the middle of a token of up to eight
 * letters breaks both its first-four and its last-four keys. Longer tokens keep one of them.
 */
const DELETION_KEYS = { min: 4, max: 8 };

function tokenKeys(t: string): string[] {
  if (t.length < 2 || PARTICLES.has(t)) return [];
  const keys = [`t:${t}`];
  // Its spelling variants folded, as the matcher compares them ("dzhuan", "juan"; "yusuf", "jusuf").
  const f = phonetic(t);
  if (f !== t && f.length >= 2) keys.push(`t:${f}`);
  if (t.length >= 4) keys.push(`p:${t.slice(0, 4)}`);
  if (t.length >= 5) keys.push(`x:${t.slice(-4)}`);
  const s = skeleton(t);
  if (s.length >= 2) keys.push(`s:${s}`);
  // A three-letter token is its own deletion key only: what "omar" becomes without a letter.
  if (t.length >= DELETION_KEYS.min - 1 && t.length <= DELETION_KEYS.max) keys.push(`d:${t}`);
  if (t.length >= DELETION_KEYS.min && t.length <= DELETION_KEYS.max)
    for (let i = 0; i < t.length; i++) keys.push(`d:${t.slice(0, i)}${t.slice(i + 1)}`);
  return keys;
}

/** A name's normalised tokens as a multiset: the same for the same tokens in any order. */
const sameNameKey = (tokens: readonly string[]): string => [...tokens].sort().join(" ");

const joinedKey = (joined: string) => (joined.length >= 6 ? `j:${joined.slice(0, 5)}` : null);

/**
 * The name joined in its order and rotated (matcher.ts, `rotations`), whole: the same letters in
 * the same order, split differently ("zhang ji cheng", "jicheng zhang"). Not a prefix: a rotated
 * name starts with what was its last token, and "tradingm…" would make every "… trading" reach
 * every other one.
 */
function rotationKeys(p: PreparedName): string[] {
  if (p.rotations.length === 0) return [];
  return [p.joined, ...p.rotations].filter((j) => j.length >= 6).map((j) => `r:${j}`);
}

/**
 * A query is compared on its first this many distinct tokens that have keys (particles and initials
 * between them kept): more than the longest listed name has (21: a Russian institute's name, SDN
 * 2024), so every listed name can still be matched exactly, while a 1 KB name of 140 frequent tokens
 * no longer costs a search 0.6 s of CPU. The tokens left out could not make a match anyway: against
 * names of at most 21 tokens, a query this long covers too little of itself to reach the threshold.
 */
export const MAX_QUERY_TOKENS = 24;
/**
 * What a search may compare, at most, counted as query tokens times names scored (a comparison's
 * cost grows with both): names beyond that are not scored, those that could score best (by their
 * bound, then the keys they share) first. A name of two or three common tokens ("Mohammad
 * Hashemi": 362 names to score) is never cut; 200 characters of the lists' most frequent tokens
 * (31 tokens compared, 1,650 names) are cut to 132.
 */
export const MAX_COMPARISONS = 4096;
/** Names scored per search, whatever the query's length: at least this many. */
export const MIN_SCORED = 64;

/**
 * How many of the query's tokens are compared: up to its MAX_QUERY_TOKENS-th distinct keyed token,
 * and twice that in all (a name of one token repeated, or of particles, is no longer).
 */
function queryLength(tokens: readonly string[]): number {
  const keyed = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    if (i === 2 * MAX_QUERY_TOKENS) return i;
    if (tokenKeys(tokens[i]!).length === 0) continue;
    keyed.add(tokens[i]!);
    if (keyed.size === MAX_QUERY_TOKENS) return i + 1;
  }
  return tokens.length;
}

export class ScreeningIndex {
  readonly entries: IndexedEntry[] = [];
  readonly lists: readonly { list: string; version?: number; entries: number }[];
  /** Per listed name: its entry (index into `entries`), the name, and its prepared form. */
  #nameEntry: Int32Array;
  /** Per listed name: how many of its tokens have blocking keys (what a search can reach it by). */
  #keyed: Uint8Array = new Uint8Array(0);
  readonly #names: ListedName[] = [];
  readonly #prepared: PreparedName[] = [];
  readonly #postings = new Map<string, Int32Array>();
  /** Listed names by their normalised tokens, sorted (`sameNameKey`): what `sameName` looks up. */
  readonly #byTokens = new Map<string, number[]>();
  readonly #df = new Map<string, number>();
  // Scratch for searches (single-threaded, not re-entrant).
  #stamp: Int32Array;
  #hits: Uint8Array;
  /** Per listed name: the weights of the query tokens that reached it, added (rare tokens weigh more). */
  #hitWeight: Float64Array;
  /** Per listed name: the last query token that reached it (a name counts once per token). */
  #seen: Int32Array;
  #generation = 0;
  #tokenGeneration = 0;

  /**
   * `weighedAs`: an index whose token weights this one uses instead of its own. An index of a few
   * entries (those an import changed) weighs every token as rare; weighed as the index over every
   * active list, its scores are the ones a full screening gives those entries.
   */
  private constructor(lists: readonly IndexedList[], weighedAs?: ScreeningIndex) {
    if (weighedAs !== undefined) this.weight = weighedAs.weight;
    this.lists = lists.map((l) => ({
      list: l.list,
      ...(l.version === undefined ? {} : { version: l.version }),
      entries: l.entries.length,
    }));
    this.#build = this.#steps(lists);
    this.#nameEntry = new Int32Array(0);
    this.#stamp = new Int32Array(0);
    this.#hits = new Uint8Array(0);
    this.#hitWeight = new Float64Array(0);
    this.#seen = new Int32Array(0);
  }

  readonly #build: Generator<void, void>;

  /** The build, in steps of about 2,000 names, so that an async build can yield between them. */
  *#steps(lists: readonly IndexedList[]): Generator<void, void> {
    const raw: { entry: number; name: ListedName; tokens: readonly string[] }[] = [];
    for (const l of lists) {
      for (const e of l.entries) {
        const at = this.entries.length;
        this.entries.push({ list: l.list, entry: e.entry, digest: e.digest });
        for (const n of e.entry.names) {
          const tokens = normaliseName(n.name, e.entry.type).tokens;
          if (tokens.length === 0) continue;
          raw.push({ entry: at, name: n, tokens });
          for (const t of new Set(tokens)) this.#df.set(t, (this.#df.get(t) ?? 0) + 1);
          if (raw.length % 2000 === 0) yield;
        }
      }
    }
    this.#nameEntry = new Int32Array(raw.length);
    this.#keyed = new Uint8Array(raw.length);
    const postings = new Map<string, number[]>();
    for (let i = 0; i < raw.length; i++) {
      const r = raw[i]!;
      this.#nameEntry[i] = r.entry;
      this.#names.push(r.name);
      const same = sameNameKey(r.tokens);
      const named = this.#byTokens.get(same);
      if (named === undefined) this.#byTokens.set(same, [i]);
      else named.push(i);
      const p = prepare(r.name.name, this.entries[r.entry]!.entry.type, this.weight);
      this.#prepared.push(p);
      const keys = new Set(p.tokens.flatMap(tokenKeys));
      this.#keyed[i] = Math.min(255, new Set(p.tokens.filter((t) => tokenKeys(t).length > 0)).size);
      const j = joinedKey(p.joined);
      if (j !== null) keys.add(j);
      for (const r of rotationKeys(p)) keys.add(r);
      for (const k of keys) {
        let list = postings.get(k);
        if (list === undefined) postings.set(k, (list = []));
        list.push(i);
      }
      if (i % 2000 === 1999) yield;
    }
    for (const [k, v] of postings) this.#postings.set(k, Int32Array.from(v));
    this.#stamp = new Int32Array(raw.length);
    this.#hits = new Uint8Array(raw.length);
    this.#hitWeight = new Float64Array(raw.length);
    this.#seen = new Int32Array(raw.length);
  }

  static build(lists: readonly IndexedList[], weighedAs?: ScreeningIndex): ScreeningIndex {
    const index = new ScreeningIndex(lists, weighedAs);
    while (!index.#build.next().done);
    return index;
  }

  /** The same index, built in steps that yield to the event loop (a gateway keeps serving). */
  static async buildAsync(lists: readonly IndexedList[]): Promise<ScreeningIndex> {
    const index = new ScreeningIndex(lists);
    while (!index.#build.next().done) await yieldToLoop();
    return index;
  }

  /** Rare tokens weigh more than common ones ("mohammed", "trading"). */
  readonly weight: (token: string) => number = (token) => {
    const df = this.#df.get(token) ?? 0;
    return 1 / (1 + Math.log10(1 + df / 50));
  };

  get size(): { entries: number; names: number; keys: number; postings: number } {
    let postings = 0;
    for (const v of this.#postings.values()) postings += v.length;
    return { entries: this.entries.length, names: this.#names.length, keys: this.#postings.size, postings };
  }

  /**
   * How much the last search looked at: names reached through the keys, those that could reach the
   * floor (candidates), and those scored; the query tokens compared, and those left out.
   */
  lastSearch = { reached: 0, scored: 0, candidates: 0, tokens: 0, tokensLeftOut: 0 };

  /** The subject's matches at or above the threshold, best first, one (the best name) per entry. */
  search(facts: SubjectFacts, options: SearchOptions): MatchExplanation[] {
    const type = facts.type ?? "unknown";
    const whole = prepare(facts.name, type, this.weight);
    const query = firstTokens(whole, queryLength(whole.tokens));
    if (query.tokens.length === 0) return [];
    const gen = ++this.#generation;
    const stamp = this.#stamp;
    const hits = this.#hits;
    const hitWeight = this.#hitWeight;
    const weightOf = new Map<string, number>();
    query.tokens.forEach((t, i) => weightOf.set(t, Math.max(weightOf.get(t) ?? 0, query.weights[i]!)));
    const touched: number[] = [];
    // Per query token, each name it reaches counts once.
    const seen = this.#seen;
    for (const t of new Set(query.tokens)) {
      // Stamps are Int32: start over before they would wrap (after 2^31 query tokens).
      if (this.#tokenGeneration === 0x7fffffff) {
        this.#seen.fill(0);
        this.#tokenGeneration = 0;
      }
      const tokenGen = ++this.#tokenGeneration;
      const w = weightOf.get(t)!;
      for (const k of tokenKeys(t)) {
        const list = this.#postings.get(k);
        if (list === undefined) continue;
        // The token itself (or its folded spelling) counts in full; a shared prefix, suffix,
        // skeleton or deletion half ("shkadarevich" and "mikhailovich" end alike). The token's own
        // keys come first, so a name reached by both counts in full.
        const kw = k.startsWith("t:") ? w : w / 2;
        for (let x = 0; x < list.length; x++) {
          const n = list[x]!;
          if (seen[n] === tokenGen) continue;
          seen[n] = tokenGen;
          if (stamp[n] !== gen) {
            stamp[n] = gen;
            hits[n] = 0;
            hitWeight[n] = 0;
            touched.push(n);
          }
          if (hits[n]! < 255) hits[n]!++;
          hitWeight[n]! += kw;
        }
      }
    }
    // The joined name; and, in either name's order or with the family name rotated to the other end,
    // the name joined ("zhangjicheng" for "ji cheng zhang", for "ZHANG, Jicheng").
    const joinedKeys = [joinedKey(query.joined), ...rotationKeys(query)];
    for (const j of new Set(joinedKeys)) {
      const joinedHits = j === null ? undefined : this.#postings.get(j);
      if (joinedHits !== undefined)
        for (const n of joinedHits) {
          if (stamp[n] !== gen) {
            stamp[n] = gen;
            hits[n] = 0;
            hitWeight[n] = 0;
            touched.push(n);
          }
          hits[n] = Math.max(hits[n]!, 2);
        }
    }
    const substantive = new Set(query.tokens.filter((t) => tokenKeys(t).length > 0)).size;
    const need = Math.min(2, Math.max(1, substantive));
    // A name reaching the floor shares at least about half of the shorter side's tokens (the score
    // weighs the better-covered side 0.7): fewer hits cannot get there, so they are not scored.
    const keyed = this.#keyed;
    // Factors add at most +0.1: a name scoring below this cannot reach the threshold.
    const floor = options.threshold - 0.1;
    const best = new Map<number, MatchExplanation>();
    // The names that could reach the floor, with what they could score at best.
    const candidates: { n: number; bound: number }[] = [];
    for (const n of touched) {
      const h = hits[n]!;
      if (h < need && this.#prepared[n]!.tokens.length >= need) continue;
      if (h < Math.ceil(0.5 * Math.min(substantive, keyed[n]!))) continue;
      // The best score h shared tokens could give (uniform weights), with 0.2 of slack: for the
      // weights, and for tokens that are alike without sharing a key (0.1 lost "Ibrahim Awwad
      // Ibrahim AL-SAMARRA'I" at the threshold that a search down to 0.6 scored 0.905).
      const a = Math.min(1, h / Math.max(1, substantive));
      const b = Math.min(1, h / Math.max(1, keyed[n]!));
      let bound = 0.7 * Math.max(a, b) + 0.3 * Math.min(a, b);
      // One name in common is not a match when either side has more (see compareNames).
      if (h < 2 && Math.max(substantive, keyed[n]!) >= 2) bound *= 0.7;
      if (bound + 0.2 < floor) continue;
      candidates.push({ n, bound });
    }
    // At most MAX_COMPARISONS, the likeliest first: a search's cost stays bounded whatever the name.
    // (Joined-name hits add no weight: they rank by their bound, after the names tokens reached.)
    const most = Math.max(MIN_SCORED, Math.floor(MAX_COMPARISONS / query.tokens.length));
    if (candidates.length > most)
      // By the weight of the query tokens that reached them first: "SHKADAREVICH, Alexei Petrovich"
      // is reached by "petrovich" and "shkadarevich" themselves; 1,500 other names by "aleksei",
      // "petrovich" and "shkadarevich" through prefixes and suffixes ("alek…", "…vich").
      candidates.sort(
        (x, y) =>
          hitWeight[y.n]! - hitWeight[x.n]! || y.bound - x.bound || hits[y.n]! - hits[x.n]! || x.n - y.n,
      );
    const cache: SimilarityCache = new Map();
    let scored = 0;
    for (const { n } of candidates.slice(0, most)) {
      scored++;
      const listed = this.#prepared[n]!;
      const c = compareNames(query, listed, cache);
      if (c.score < floor) continue;
      const e = this.#nameEntry[n]!;
      const { list, entry } = this.entries[e]!;
      const x = explain(list, entry, this.#names[n]!, query, listed, facts, c);
      if (x.score < options.threshold) continue;
      const prev = best.get(e);
      if (prev === undefined || x.score > prev.score) best.set(e, x);
    }
    this.lastSearch = {
      reached: touched.length,
      scored,
      candidates: candidates.length,
      tokens: query.tokens.length,
      tokensLeftOut: whole.tokens.length - query.tokens.length,
    };
    const out = [...best.values()].sort((a, b) => b.score - a.score || a.entry_id.localeCompare(b.entry_id));
    return options.limit === undefined ? out : out.slice(0, options.limit);
  }

  /**
   * The entries with a name whose normalised tokens are the subject's, all of them and no others (in
   * any order), scored and explained as `search` does: "A A TRADING FZCO" for "A A Trading FZCO",
   * but not for "Trading Co" (which `search` scores 1.0 against it, its tokens being a subset).
   */
  sameName(facts: SubjectFacts, options: SearchOptions): MatchExplanation[] {
    const type = facts.type ?? "unknown";
    const query = prepare(facts.name, type, this.weight);
    if (query.tokens.length === 0) return [];
    const best = new Map<number, MatchExplanation>();
    for (const n of this.#byTokens.get(sameNameKey(query.tokens)) ?? []) {
      const e = this.#nameEntry[n]!;
      const { list, entry } = this.entries[e]!;
      const x = explain(list, entry, this.#names[n]!, query, this.#prepared[n]!, facts);
      if (x.score < options.threshold) continue;
      const prev = best.get(e);
      if (prev === undefined || x.score > prev.score) best.set(e, x);
    }
    const out = [...best.values()].sort((a, b) => b.score - a.score || a.entry_id.localeCompare(b.entry_id));
    return options.limit === undefined ? out : out.slice(0, options.limit);
  }

  /** The indexed entry behind a match (for its digest). */
  entry(list: string, id: string): IndexedEntry | undefined {
    return this.#byId().get(`${list}\u0000${id}`);
  }

  #ids: Map<string, IndexedEntry> | undefined;
  #byId(): Map<string, IndexedEntry> {
    return (this.#ids ??= new Map(this.entries.map((e) => [`${e.list}\u0000${e.entry.id}`, e])));
  }
}
