/**
 * The labelled evaluation set, built from the public lists themselves (never copied into the
 * repository): positives are names of a listed entry as another list or version writes them, or as
 * a person would type them — aliases from another list version, the same entry on the trade.gov
 * CSL, original Arabic script, Cyrillic transliterations, reorderings, typos, missing middle names,
 * legal-form variants; negatives are common names and different people built from listed names.
 * Deterministic for a seed.
 */
import type { ScreeningIndex } from "./index.js";
import type { SubjectFacts } from "./matcher.js";
import { normaliseName, phonetic } from "./normalise.js";
import type { ListEntry } from "./types.js";

export interface EvalCase {
  readonly category: string;
  readonly query: SubjectFacts;
  /** The listed entry the query names, or null (a negative: no entry should match). */
  readonly expected: { readonly list: string; readonly id: string } | null;
}

export interface EvalSources {
  /** The indexed lists (what is screened against). */
  readonly indexed: readonly { readonly list: string; readonly entries: readonly ListEntry[] }[];
  /** Another version of the SDN list (with alt.csv aliases), linked by OFAC ent_num. */
  readonly otherSdn?: readonly ListEntry[];
  /** trade.gov CSL entries (id "SDN-<ent_num>" links to OFAC). */
  readonly csl?: readonly ListEntry[];
}

/** mulberry32: a small seeded generator, so the set is the same on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Latin to Cyrillic, for generating test queries only (the normaliser goes the other way with any-ascii). */
const TO_CYRILLIC: readonly [string, string][] = [
  ["shch", "щ"],
  ["kh", "х"],
  ["zh", "ж"],
  ["ch", "ч"],
  ["sh", "ш"],
  ["ts", "ц"],
  ["yu", "ю"],
  ["ya", "я"],
  ["a", "а"],
  ["b", "б"],
  ["v", "в"],
  ["g", "г"],
  ["d", "д"],
  ["e", "е"],
  ["z", "з"],
  ["i", "и"],
  ["y", "й"],
  ["k", "к"],
  ["l", "л"],
  ["m", "м"],
  ["n", "н"],
  ["o", "о"],
  ["p", "п"],
  ["r", "р"],
  ["s", "с"],
  ["t", "т"],
  ["u", "у"],
  ["f", "ф"],
  ["h", "х"],
  ["c", "к"],
  ["j", "дж"],
  ["q", "к"],
  ["w", "в"],
  ["x", "кс"],
];

export function toCyrillic(latin: string): string {
  let s = latin.toLowerCase();
  let out = "";
  while (s.length > 0) {
    const hit = TO_CYRILLIC.find(([l]) => s.startsWith(l));
    if (hit === undefined) {
      out += s[0];
      s = s.slice(1);
    } else {
      out += hit[1];
      s = s.slice(hit[0].length);
    }
  }
  return out;
}

const COMMON_GIVEN =
  "james mary john patricia robert jennifer michael linda david elizabeth maria jose juan carlos luis ana wei li hui jun yan xin hiroshi yuki sakura ahmed fatima mohamed aisha omar hassan ivan olga sergei natalia dmitri anna peter hans klaus petra pierre marie jean sophie giovanni giulia marco raj priya amit sunita kwame amara chen min-jun seo-yeon lars ingrid".split(
    " ",
  );
const COMMON_FAMILY =
  "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wang li zhang liu chen yang huang sato suzuki takahashi tanaka kim lee park nguyen tran silva santos oliveira muller schmidt schneider fischer weber martin bernard dubois rossi russo ferrari kowalski nowak novak horvat ivanov smirnov kuznetsov popov sokolov patel sharma singh kumar cohen levi mensah okafor".split(
    " ",
  );
const ORG_WORDS =
  "global pacific atlantic northern united general advanced integrated consolidated summit pioneer horizon meridian crescent evergreen sterling harbor coastal alpine royal".split(
    " ",
  );
const ORG_KINDS =
  "trading logistics consulting software foods textiles energy pharma shipping holdings".split(" ");
const ORG_FORMS = ["LLC", "Ltd.", "GmbH", "S.A.", "Inc.", "Co., Ltd.", "B.V.", "OOO"];

function typo(name: string, r: () => number): string {
  const tokens = name.split(" ");
  const long = tokens.map((t, i) => [t, i] as const).filter(([t]) => t.length >= 5);
  if (long.length === 0) return name;
  const [t, i] = long[Math.floor(r() * long.length)]!;
  const p = 1 + Math.floor(r() * (t.length - 2));
  const kind = Math.floor(r() * 3);
  const edited =
    kind === 0
      ? t.slice(0, p) + t.slice(p + 1) // deletion
      : kind === 1
        ? t.slice(0, p) + t[p + 1] + t[p] + t.slice(p + 2) // transposition
        : t.slice(0, p) + "aeiou"[Math.floor(r() * 5)] + t.slice(p + 1); // substitution
  tokens[i] = edited;
  return tokens.join(" ");
}

/** "SURNAME, Given Middle" → "Given Middle SURNAME"; other names as they are. */
const natural = (name: string) => {
  const c = name.indexOf(",");
  return c > 0 && name.indexOf(",", c + 1) < 0
    ? `${name.slice(c + 1).trim()} ${name.slice(0, c).trim()}`
    : name;
};

/** A name's tokens, spelling variants folded, in any order: two names with one key are the same name. */
const key = (name: string, type: ListEntry["type"]) =>
  normaliseName(name, type).tokens.map(phonetic).sort().join(" ");
const tokensOf = (name: string, type: ListEntry["type"]) =>
  new Set(
    normaliseName(name, type)
      .tokens.filter((t) => t.length > 2)
      .map(phonetic),
  );

export function buildEvaluation(sources: EvalSources, perCategory = 300, seed = 20261205): EvalCase[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const sample = <T>(xs: readonly T[], n: number): T[] => {
    const copy = [...xs];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, n);
  };
  const cases: EvalCase[] = [];
  const sdn = sources.indexed.find((l) => l.list === "ofac-sdn");
  const byId = new Map((sdn?.entries ?? []).map((e) => [e.id, e]));
  const known = new Set(
    sources.indexed.flatMap((l) => l.entries.flatMap((e) => e.names.map((n) => key(n.name, e.type)))),
  );
  const typeOf = (e: ListEntry): SubjectFacts["type"] =>
    e.type === "person" ? "person" : e.type === "organization" ? "organization" : "unknown";
  const facts = (name: string, e: ListEntry, withDob: boolean): SubjectFacts => ({
    name,
    type: typeOf(e),
    ...(withDob && e.type === "person" && e.birth_dates[0] !== undefined
      ? { birth_date: e.birth_dates[0] }
      : {}),
  });
  const add = (category: string, query: SubjectFacts, list: string, id: string) =>
    cases.push({ category, query, expected: { list, id } });

  // Aliases from another version of the SDN list that the indexed version does not carry, spelt
  // differently from its names but sharing a name with them (a nickname with nothing in common is a
  // question of list coverage, not of matching).
  if (sources.otherSdn !== undefined && sdn !== undefined) {
    const aliases: { name: string; e: ListEntry }[] = [];
    for (const old of sources.otherSdn) {
      const now = byId.get(old.id);
      if (now === undefined) continue;
      const have = new Set(now.names.map((n) => key(n.name, now.type)));
      const tokens = new Set(now.names.flatMap((n) => [...tokensOf(n.name, now.type)]));
      for (const n of old.names) {
        if (have.has(key(n.name, now.type)) || n.strength !== "strong") continue;
        if ([...tokensOf(n.name, now.type)].some((t) => tokens.has(t)))
          aliases.push({ name: n.name, e: now });
      }
    }
    for (const a of sample(aliases, perCategory))
      add("alias variant from another list version", facts(a.name, a.e, r() < 0.5), "ofac-sdn", a.e.id);
  }
  // The same entry as the trade.gov CSL writes it (its own layout and aliases).
  if (sources.csl !== undefined) {
    const linked = sources.csl.filter((c) => c.id.startsWith("SDN-") && byId.has(c.id.slice(4)));
    for (const c of sample(linked, perCategory)) {
      const e = byId.get(c.id.slice(4))!;
      for (const n of c.names.slice(0, 2))
        add("same entry on another list (CSL)", facts(n.name, e, false), "ofac-sdn", e.id);
    }
  }
  // Original script (Arabic and others) against an index without the original-script names.
  for (const l of sources.indexed) {
    const scripts = l.entries.flatMap((e) =>
      e.names.filter((n) => n.kind === "original-script").map((n) => ({ n, e })),
    );
    for (const { n, e } of sample(scripts, perCategory))
      add("original script", facts(n.name, e, false), l.list, e.id);
  }
  const persons = (sdn?.entries ?? []).filter((e) => e.type === "person" && e.names[0] !== undefined);
  const orgs = (sdn?.entries ?? []).filter((e) => e.type === "organization" && e.names[0] !== undefined);
  for (const e of sample(persons, perCategory))
    add(
      "Cyrillic transliteration",
      facts(toCyrillic(natural(e.names[0]!.name)), e, r() < 0.5),
      "ofac-sdn",
      e.id,
    );
  for (const e of sample(persons, perCategory)) {
    const tokens = natural(e.names[0]!.name).split(/\s+/);
    const shuffled = sample(tokens, tokens.length).join(" ");
    add("reordering", facts(shuffled, e, false), "ofac-sdn", e.id);
  }
  for (const e of sample(persons, perCategory))
    add("typo", facts(typo(natural(e.names[0]!.name), r), e, r() < 0.5), "ofac-sdn", e.id);
  const long = persons.filter((e) => natural(e.names[0]!.name).split(/\s+/).length >= 3);
  for (const e of sample(long, perCategory)) {
    const tokens = natural(e.names[0]!.name).split(/\s+/);
    tokens.splice(1 + Math.floor(r() * (tokens.length - 2)), 1);
    add("missing middle name", facts(tokens.join(" "), e, r() < 0.5), "ofac-sdn", e.id);
  }
  for (const e of sample(orgs, perCategory)) {
    const base = normaliseName(e.names[0]!.name, "organization");
    if (base.tokens.length === 0) continue;
    add(
      "organization legal form",
      {
        name: `${e.names[0]!.name.replace(/[,.]?\s+(LLC|LTD\.?|LIMITED|CO\.?,? LTD\.?|S\.A\.?|GMBH|INC\.?)$/i, "")} ${pick(ORG_FORMS)}`,
        type: "organization",
      },
      "ofac-sdn",
      e.id,
    );
  }

  // Negatives: common names, people made of two listed people's names, ordinary companies.
  const negative = (category: string, query: SubjectFacts) => {
    if (!known.has(key(query.name, query.type === "organization" ? "organization" : "person")))
      cases.push({ category, query, expected: null });
  };
  for (let i = 0; i < perCategory * 2; i++)
    negative("common name", {
      name: `${pick(COMMON_GIVEN)} ${r() < 0.3 ? `${pick(COMMON_GIVEN)} ` : ""}${pick(COMMON_FAMILY)}`,
      type: "person",
      ...(r() < 0.5 ? { birth_date: String(1950 + Math.floor(r() * 50)) } : {}),
    });
  for (let i = 0; i < perCategory; i++) {
    const a = natural(pick(persons).names[0]!.name).split(/\s+/);
    const b = natural(pick(persons).names[0]!.name).split(/\s+/);
    negative("different person, listed names mixed", { name: `${a[0]} ${b.at(-1)}`, type: "person" });
  }
  for (let i = 0; i < perCategory; i++)
    negative("ordinary company", {
      name: `${pick(ORG_WORDS)} ${pick(ORG_KINDS)} ${pick(ORG_FORMS)}`,
      type: "organization",
    });
  return cases;
}

export interface CaseScore {
  readonly c: EvalCase;
  /** The expected entry's score (0 when not found); for negatives, 0. */
  readonly expected: number;
  /** The best score of any other entry. */
  readonly other: number;
}

/** Each case searched once, down to `floor`; metrics at any threshold above it come from these. */
export function scoreCases(index: ScreeningIndex, cases: readonly EvalCase[], floor = 0.6): CaseScore[] {
  return cases.map((c) => {
    const found = index.search(c.query, { threshold: floor });
    let expected = 0;
    let other = 0;
    for (const m of found) {
      if (c.expected !== null && m.list === c.expected.list && m.entry_id === c.expected.id)
        expected = Math.max(expected, m.score);
      else other = Math.max(other, m.score);
    }
    return { c, expected, other };
  });
}

export interface Metrics {
  readonly threshold: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

/** A positive is found when its entry scores at least the threshold; a negative is a false alert when anything does. */
export function metricsAt(scores: readonly CaseScore[], threshold: number): Metrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const s of scores) {
    if (s.c.expected === null) {
      if (s.other >= threshold) fp++;
    } else if (s.expected >= threshold) tp++;
    else fn++;
  }
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return { threshold, precision: r3(precision), recall: r3(recall), f1: r3(f1), tp, fp, fn };
}

/** Recall per positive category, false-alert rate per negative category. */
export function byCategory(
  scores: readonly CaseScore[],
  threshold: number,
): Record<string, { cases: number; rate: number }> {
  const out: Record<string, { cases: number; hits: number }> = {};
  for (const s of scores) {
    const o = (out[s.c.category] ??= { cases: 0, hits: 0 });
    o.cases++;
    if (s.c.expected === null ? s.other >= threshold : s.expected >= threshold) o.hits++;
  }
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [
      k,
      { cases: v.cases, rate: Math.round((v.hits / v.cases) * 1000) / 1000 },
    ]),
  );
}
