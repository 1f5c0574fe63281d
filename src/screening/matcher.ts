/**
 * Scoring one subject against one listed name: tokens aligned by Jaro-Winkler similarity (with a
 * consonant-skeleton fallback for transliteration variants), the whole name compared joined (for
 * "XiJinPing" and "AL-ZAWAHIRI"), then birth date, nationality, entity type and alias strength raise
 * or lower the score. Every factor is kept, so that a match explains itself.
 */
import { normaliseName, PARTICLES, phonetic, skeleton } from "./normalise.js";
import type { EntityType, ListEntry, ListedName } from "./types.js";

/** Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, up to 4 characters). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return 1;
  const la = a.length;
  const lb = b.length;
  if (la === 0 || lb === 0) return 0;
  const range = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  const ma = new Uint8Array(la);
  const mb = new Uint8Array(lb);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - range);
    const hi = Math.min(lb - 1, i + range);
    for (let j = lo; j <= hi; j++) {
      if (mb[j] === 0 && a.charCodeAt(i) === b.charCodeAt(j)) {
        ma[i] = 1;
        mb[j] = 1;
        matches++;
        break;
      }
    }
  }
  if (matches === 0) return 0;
  let t = 0;
  for (let i = 0, j = 0; i < la; i++) {
    if (ma[i] === 0) continue;
    while (mb[j] === 0) j++;
    if (a.charCodeAt(i) !== b.charCodeAt(j)) t++;
    j++;
  }
  const jaro = (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
  let prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

/** A name ready to compare: tokens, their skeletons and weights, the joined form. */
export interface PreparedName {
  readonly tokens: readonly string[];
  readonly skeletons: readonly string[];
  readonly phonetics: readonly string[];
  readonly weights: readonly number[];
  readonly joined: string;
  /**
   * The name joined with its last token moved to the front, and with its first moved to the end:
   * "jicheng zhang" (as "ZHANG, Jicheng" is put in order) is also "zhangjicheng", the order the
   * Chinese or Korean family name comes in, so that "Zhang Ji Cheng" (any-ascii of 张继成, a syllable
   * a token) compares whole with it.
   */
  readonly rotations: readonly string[];
  readonly legalForms: readonly string[];
}

function rotations(tokens: readonly string[]): string[] {
  if (tokens.length < 2) return [];
  const last = [tokens.at(-1)!, ...tokens.slice(0, -1)].join("");
  const first = [...tokens.slice(1), tokens[0]!].join("");
  return last === first ? [last] : [last, first];
}

export type TokenWeight = (token: string) => number;
const UNIFORM: TokenWeight = () => 1;

export function prepare(name: string, type: EntityType, weight: TokenWeight = UNIFORM): PreparedName {
  const n = normaliseName(name, type);
  return {
    tokens: n.tokens,
    skeletons: n.tokens.map(skeleton),
    phonetics: n.tokens.map(phonetic),
    weights: n.tokens.map((t) => (PARTICLES.has(t) || t.length === 1 ? 0.25 : weight(t))),
    joined: n.tokens.join(""),
    rotations: rotations(n.tokens),
    legalForms: n.legalForms,
  };
}

/** The name's first `count` tokens, prepared as the whole was (weights, legal forms taken off). */
export function firstTokens(p: PreparedName, count: number): PreparedName {
  if (count >= p.tokens.length) return p;
  const tokens = p.tokens.slice(0, count);
  return {
    tokens,
    skeletons: p.skeletons.slice(0, count),
    phonetics: p.phonetics.slice(0, count),
    weights: p.weights.slice(0, count),
    joined: tokens.join(""),
    rotations: rotations(tokens),
    legalForms: p.legalForms,
  };
}

/** Two tokens count as the same below this similarity only as initials. */
const TOKEN_MIN = 0.82;

export function tokenSimilarity(a: string, b: string, sa: string, sb: string, pa = a, pb = b): number {
  if (a === b) return 1;
  // An initial stands for any name it begins.
  if (a.length === 1 || b.length === 1) return a[0] === b[0] ? 0.9 : 0;
  // Spelling variants of one transliteration count almost as the same ("aiman", "ayman").
  const jw =
    pa === pb ? 0.96 : Math.max(jaroWinkler(a, b), pa === a && pb === b ? 0 : jaroWinkler(pa, pb) * 0.98);
  // Short tokens differ by a letter too easily ("un", "jung"): only near-exact counts — or, for a
  // vowel-less abjad transliteration of three consonants ("hsn"), the same consonants ("hasan").
  if (Math.min(a.length, b.length) <= 3) {
    if (sa.length >= 3 && sa === sb && (!VOWEL.test(a) || !VOWEL.test(b))) return Math.max(jw, 0.9);
    return jw >= 0.9 ? jw : 0;
  }
  // Transliterations that agree on every consonant ("zavakhiri", "zawahiri").
  if (jw < 0.92 && sa.length >= 4 && sa === sb) return 0.92;
  // An abjad transliteration has no vowels ("hsyn" for Hussein): compare the consonants.
  if (jw < 0.97 && sa.length >= 3 && sb.length >= 3 && (!VOWEL.test(a) || !VOWEL.test(b)))
    return Math.max(jw, sa === sb ? 0.9 : 0.9 * jaroWinkler(sa, sb));
  return jw;
}

const VOWEL = /[aeiou]/;

export interface TokenPair {
  readonly query: string;
  readonly listed: string;
  readonly similarity: number;
}

export interface NameComparison {
  readonly score: number;
  readonly pairs: readonly TokenPair[];
  readonly unmatchedQuery: readonly string[];
  readonly unmatchedListed: readonly string[];
  /** "tokens" or "joined" (the names compared without spaces). */
  readonly method: "tokens" | "joined";
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Per search: a listed token's similarity to each query token. Many listed names share tokens, so
 * this saves most of the string comparisons of a search.
 */
export type SimilarityCache = Map<string, Float64Array>;

/** Greedy alignment of the best pairs first, each token used once. */
export function compareNames(q: PreparedName, a: PreparedName, cache?: SimilarityCache): NameComparison {
  const nq = q.tokens.length;
  const na = a.tokens.length;
  if (nq === 0 || na === 0)
    return { score: 0, pairs: [], unmatchedQuery: q.tokens, unmatchedListed: a.tokens, method: "tokens" };
  const sims: { i: number; j: number; s: number }[] = [];
  for (let j = 0; j < na; j++) {
    const listed = a.tokens[j]!;
    let row = cache?.get(listed);
    if (row === undefined) {
      row = new Float64Array(nq);
      for (let i = 0; i < nq; i++)
        row[i] = tokenSimilarity(
          q.tokens[i]!,
          listed,
          q.skeletons[i]!,
          a.skeletons[j]!,
          q.phonetics[i]!,
          a.phonetics[j]!,
        );
      cache?.set(listed, row);
    }
    for (let i = 0; i < nq; i++) if (row[i]! >= TOKEN_MIN) sims.push({ i, j, s: row[i]! });
  }
  sims.sort((x, y) => y.s - x.s);
  const usedQ = new Uint8Array(nq);
  const usedA = new Uint8Array(na);
  const pairs: TokenPair[] = [];
  let mq = 0;
  let ma = 0;
  let strong = 0;
  for (const { i, j, s } of sims) {
    if (usedQ[i] || usedA[j]) continue;
    usedQ[i] = 1;
    usedA[j] = 1;
    pairs.push({ query: q.tokens[i]!, listed: a.tokens[j]!, similarity: round(s) });
    mq += q.weights[i]! * s;
    ma += a.weights[j]! * s;
    // Substantive on either side, so that the score does not depend on which name is the query.
    if ((q.weights[i]! > 0.3 && q.tokens[i]!.length > 1) || (a.weights[j]! > 0.3 && a.tokens[j]!.length > 1))
      strong++;
  }
  // A particle or initial that found no partner says nothing ("al zawahiri", "az zavakhiri").
  const total = (p: PreparedName, used: Uint8Array) =>
    p.weights.reduce((x, w, k) => x + (used[k] || w > 0.3 ? w : 0), 0) || 1;
  const tq = total(q, usedQ);
  const ta = total(a, usedA);
  const cq = mq / tq;
  const ca = ma / ta;
  let score = 0.7 * Math.max(cq, ca) + 0.3 * Math.min(cq, ca);
  // One name in common is not a match when either side has more to say ("PETROV" vs "IVAN PETROV").
  const substantive = (p: PreparedName) =>
    p.tokens.filter((t, k) => p.weights[k]! > 0.3 && t.length > 1).length;
  if (strong < 2 && Math.max(substantive(q), substantive(a)) >= 2) score *= 0.7;
  let method: NameComparison["method"] = "tokens";
  // Only when the token counts differ: a split or joined name ("XiJinPing", "ALZAWAHIRI"), in
  // either name's order or with the family name rotated to the other end ("Zhang Ji Cheng" for
  // "ZHANG, Jicheng"). Each side's rotations against the other's order: the same whichever is the query.
  if (q.joined.length >= 6 && a.joined.length >= 6 && nq !== na) {
    let joined = jaroWinkler(q.joined, a.joined);
    // Rotated, the same letters split differently: of about the same length ("martinraj" is not
    // "martin" however well Jaro-Winkler rewards the prefix).
    if (Math.abs(q.joined.length - a.joined.length) <= 2) {
      for (const r of a.rotations) joined = Math.max(joined, jaroWinkler(q.joined, r));
      for (const r of q.rotations) joined = Math.max(joined, jaroWinkler(r, a.joined));
    }
    if (joined >= 0.93 && joined * 0.97 > score) {
      score = joined * 0.97;
      method = "joined";
    }
  }
  return {
    score,
    pairs,
    unmatchedQuery: q.tokens.filter((_, i) => !usedQ[i]),
    unmatchedListed: a.tokens.filter((_, j) => !usedA[j]),
    method,
  };
}

/** What is known about the subject being screened. */
export interface SubjectFacts {
  readonly name: string;
  readonly type?: "person" | "organization" | "unknown";
  /** YYYY, YYYY-MM or YYYY-MM-DD. */
  readonly birth_date?: string | null;
  /** ISO 3166-1 alpha-2 codes: citizenships, or an organization's country. */
  readonly nationalities?: readonly string[];
}

export interface Factor {
  readonly field: "alias" | "type" | "birth_date" | "nationality";
  /** Added to the score (negative: lowered it). */
  readonly effect: number;
  readonly detail: string;
}

export interface MatchExplanation {
  readonly list: string;
  readonly entry_id: string;
  readonly entry_type: EntityType;
  readonly primary_name: string;
  readonly matched_name: string;
  readonly name_kind: string;
  readonly strength: ListedName["strength"];
  readonly score: number;
  readonly name_score: number;
  readonly method: NameComparison["method"];
  readonly tokens: readonly TokenPair[];
  readonly unmatched_query: readonly string[];
  readonly unmatched_listed: readonly string[];
  readonly legal_forms: { readonly query: readonly string[]; readonly listed: readonly string[] };
  readonly factors: readonly Factor[];
}

/** A name scoring this much or more (weak alias counted) is a strong name match. */
export const STRONG_NAME = 0.95;
/**
 * What the subject's other facts (entity type, birth date, nationality) may take off a strong name
 * match, in all: a name at 0.95 stays at 0.86, the default threshold. A listing's type is often a
 * guess, and its birth dates approximate; a reviewer sees the disagreement in the factors and
 * decides, instead of the match never reaching one.
 */
export const STRONG_NAME_MAX_DISCOUNT = 0.09;

/** The fields that corroborate a name (or not); an alias's strength is about the name itself. */
const CORROBORATING = new Set<Factor["field"]>(["type", "birth_date", "nationality"]);

/**
 * The score adjustments from everything but the name. With `nameScore` given, a strong name match
 * loses at most STRONG_NAME_MAX_DISCOUNT to disagreeing facts: their effects are scaled down to that,
 * and say so.
 */
export function factors(
  facts: SubjectFacts,
  entry: ListEntry,
  strength: ListedName["strength"],
  nameScore?: number,
): Factor[] {
  const out: Factor[] = [];
  if (strength === "weak")
    out.push({ field: "alias", effect: -0.08, detail: "a weak alias (low quality, per the list)" });
  const t = facts.type ?? "unknown";
  if (t !== "unknown" && entry.type !== "unknown") {
    const same = t === entry.type;
    if (!same)
      out.push({ field: "type", effect: -0.15, detail: `a ${t} screened against a listed ${entry.type}` });
  }
  const dob = facts.birth_date ?? null;
  if (dob !== null && entry.birth_dates.length > 0 && (t === "person" || t === "unknown")) {
    const year = Number(dob.slice(0, 4));
    const exact = entry.birth_dates.some((d) => d.length >= 7 && dob.length >= d.length && dob.startsWith(d));
    const sameYear = entry.birth_dates.some((d) => d.slice(0, 4) === dob.slice(0, 4));
    const near = entry.birth_dates.some((d) => Math.abs(Number(d.slice(0, 4)) - year) <= 1);
    const listed = describeDates(entry.birth_dates);
    if (exact) out.push({ field: "birth_date", effect: 0.06, detail: `born ${dob}; listed ${listed}` });
    else if (sameYear)
      out.push({ field: "birth_date", effect: 0.03, detail: `born ${dob}, same year as listed ${listed}` });
    else if (near)
      out.push({
        field: "birth_date",
        effect: -0.03,
        detail: `born ${dob}, within a year of listed ${listed}`,
      });
    else out.push({ field: "birth_date", effect: -0.2, detail: `born ${dob}; listed ${listed}` });
  }
  const nats = facts.nationalities ?? [];
  const listedCountries = [...entry.nationalities, ...entry.countries].filter((c) => /^[A-Z]{2}$/.test(c));
  if (nats.length > 0 && listedCountries.length > 0) {
    const common = nats.filter((n) => listedCountries.includes(n));
    if (common.length > 0)
      out.push({
        field: "nationality",
        effect: 0.04,
        detail: `${common.join(", ")} in common with the listing`,
      });
    else if (entry.nationalities.length > 0)
      out.push({
        field: "nationality",
        effect: -0.06,
        detail: `${nats.join(", ")}; listed ${[...new Set(listedCountries)].join(", ")}`,
      });
  }
  return nameScore === undefined ? out : capDiscount(out, nameScore);
}

/** Listed dates for an explanation, runs of years (a range, an approximate year) as "1962–1968". */
function describeDates(dates: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < dates.length;) {
    let j = i;
    while (
      /^\d{4}$/.test(dates[i]!) &&
      j + 1 < dates.length &&
      /^\d{4}$/.test(dates[j + 1]!) &&
      Number(dates[j + 1]) === Number(dates[j]) + 1
    )
      j++;
    out.push(j - i >= 2 ? `${dates[i]}–${dates[j]}` : dates.slice(i, j + 1).join(", "));
    i = j + 1;
  }
  return out.join(", ");
}

/** Disagreeing facts scaled down so that a strong name match loses at most STRONG_NAME_MAX_DISCOUNT. */
function capDiscount(fs: Factor[], nameScore: number): Factor[] {
  const name = nameScore + fs.reduce((x, f) => x + (f.field === "alias" ? f.effect : 0), 0);
  const against = fs.reduce((x, f) => x + (CORROBORATING.has(f.field) && f.effect < 0 ? -f.effect : 0), 0);
  if (name < STRONG_NAME || against <= STRONG_NAME_MAX_DISCOUNT) return fs;
  const k = STRONG_NAME_MAX_DISCOUNT / against;
  return fs.map((f) =>
    CORROBORATING.has(f.field) && f.effect < 0
      ? {
          ...f,
          // Rounded toward zero, so that the scaled effects never add up to more than the cap.
          effect: -Math.floor(-f.effect * k * 1000) / 1000,
          detail: `${f.detail} (${f.effect} scaled down: the name alone scores ${round(name)})`,
        }
      : f,
  );
}

/** The subject against one listed name of an entry, fully explained. */
export function explain(
  list: string,
  entry: ListEntry,
  name: ListedName,
  query: PreparedName,
  listed: PreparedName,
  facts: SubjectFacts,
  comparison: NameComparison = compareNames(query, listed),
): MatchExplanation {
  const fs = factors(facts, entry, name.strength, comparison.score);
  const score = Math.min(1, Math.max(0, comparison.score + fs.reduce((x, f) => x + f.effect, 0)));
  return {
    list,
    entry_id: entry.id,
    entry_type: entry.type,
    primary_name: entry.names[0]?.name ?? "",
    matched_name: name.name,
    name_kind: name.kind,
    strength: name.strength,
    score: round(score),
    name_score: round(comparison.score),
    method: comparison.method,
    tokens: comparison.pairs,
    unmatched_query: comparison.unmatchedQuery,
    unmatched_listed: comparison.unmatchedListed,
    legal_forms: { query: query.legalForms, listed: listed.legalForms },
    factors: fs,
  };
}
