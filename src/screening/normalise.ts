/**
 * Names to comparable tokens: Unicode NFKD and case folding, transliteration of every script to
 * Latin (any-ascii, a maintained library), punctuation, honorifics, "SURNAME, Given" order,
 * initials, and organizations' legal forms by country (so that "CORP" alone never matches).
 */
import anyAscii from "any-ascii";
import { InvalidInputError } from "../errors/index.js";
import type { EntityType } from "./types.js";

export const MAX_NAME_BYTES = 1024;

/** Empty, over 1 KB, or with control characters: a clear error naming the field. */
export function checkName(name: unknown, field = "name"): string {
  const bad = (message: string): never => {
    throw new InvalidInputError([{ code: "invalid_name", path: [field], message }]);
  };
  if (typeof name !== "string") return bad("expected a name (a string)");
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES)
    bad(`the name is longer than ${MAX_NAME_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) bad("the name contains control characters");
  if (name.trim() === "") bad("the name is empty");
  return name;
}

/** Titles and honorifics: not part of who someone is. */
const HONORIFICS = new Set(
  (
    "mr mrs ms miss mx dr prof professor sir dame lord lady sheikh shaikh shaykh sheik haji hajji hadji alhaji " +
    "mullah mulla maulvi maulana mawlawi qari hafiz imam ayatollah hojatoleslam sayyed sayyid seyed " +
    "general gen colonel col major maj captain capt lieutenant lt commander admiral brigadier " +
    "sergeant sgt rev reverend father fr bishop jr sr junior senior ii iii iv esq engr eng"
  ).split(" "),
);

/**
 * Legal forms of organizations, by country (as written after transliteration, punctuation removed).
 * Multi-word forms first. Stripped from organization names before matching and shown in the explanation.
 */
export const LEGAL_FORMS: Readonly<Record<string, readonly string[]>> = {
  generic: [
    "and co",
    "and company",
    "co ltd",
    "company limited",
    "corporation",
    "corp",
    "company",
    "co",
    "incorporated",
    "inc",
    "limited",
    "ltd",
    "plc",
    "jsc",
    "ojsc",
    "cjsc",
    "pjsc",
  ],
  US: ["llc", "l l c", "llp", "lp", "pllc", "pc", "limited liability company"],
  GB: ["llp", "cic", "public limited company"],
  DE: [
    "gmbh and co kg",
    "gmbh co kg",
    "and co kg",
    "co kg",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "ohg",
    "ug",
    "gbr",
    "e v",
    "kgaa",
  ],
  FR: ["sarl", "sas", "sasu", "snc", "eurl", "sca", "sa"],
  ES: [
    "s de r l de c v",
    "s de rl de cv",
    "sa de cv",
    "s a de c v",
    "s a",
    "s l",
    "sl",
    "srl",
    "s r l",
    "sociedad anonima",
    "ltda",
    "sac",
    "saa",
    "eirl",
    "cv",
    "c v",
  ],
  IT: ["spa", "s p a", "srl", "sapa", "sas", "snc", "societa per azioni"],
  NL: ["bv", "b v", "nv", "n v", "vof"],
  RU: [
    "obshchestvo s ogranichennoi otvetstvennostyu",
    "obshchestvo s ogranichennoy otvetstvennostyu",
    "obshchestvo s ogranichennoj otvetstvennostju",
    "publichnoe aktsionernoe obshchestvo",
    "otkrytoe aktsionernoe obshchestvo",
    "zakrytoe aktsionernoe obshchestvo",
    "aktsionernoe obshchestvo",
    "limited liability company",
    "joint stock company",
    "open joint stock company",
    "closed joint stock company",
    "public joint stock company",
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "fgup",
    "gup",
    "nko",
  ],
  UA: ["tov", "pat", "prat", "tovarystvo z obmezhenoiu vidpovidalnistiu"],
  CN: ["youxian gongsi", "gufen youxian gongsi", "youxian zeren gongsi", "co ltd"],
  JP: ["kabushiki kaisha", "kk", "yugen kaisha", "godo kaisha"],
  KR: ["jusik hoesa", "chusik hoesa"],
  Nordic: ["ab", "as", "asa", "oy", "oyj", "aps", "a s", "hf"],
  PL: ["sp z o o", "spolka z ograniczona odpowiedzialnoscia", "s a"],
  TR: [
    "anonim sirketi",
    "as",
    "ltd sti",
    "limited sirketi",
    "san tic ltd sti",
    "san ve tic ltd sti",
    "san ve tic as",
  ],
  AE: ["fze", "fzco", "fzc", "fz llc", "fzllc", "llc", "wll", "spc", "psc", "pjsc", "est"],
  IN: ["pvt ltd", "private limited", "pvt"],
  BR: ["ltda", "eireli", "lda", "s a"],
};

/** Longest first, as token lists, so that "co ltd" is taken before "co". */
const FORMS: readonly (readonly string[])[] = [...new Set(Object.values(LEGAL_FORMS).flat())]
  .map((f) => f.split(" "))
  .sort((a, b) => b.length - a.length);

/** Name particles: kept, but they weigh little (half the lists' names have one). */
export const PARTICLES = new Set(
  "al el ul ad ud as az ash at ar an bin ben ibn bint abu abou de da di del della der den van von dos das la le the and of y e".split(
    " ",
  ),
);

/**
 * Words that say what an organization does or how far it reaches, not which one it is: with a
 * legal form, a name of these alone ("Trading Co", "General Trading LLC", "International Holdings
 * Ltd") reaches every listed company that trades or holds, and tells none of them apart.
 */
export const GENERIC_WORDS = new Set(
  (
    "trading trade traders general international intl global worldwide group holding holdings " +
    "industries industrial industry enterprise enterprises services service import export imports " +
    "exports commercial commerce investment investments company companies business"
  ).split(" "),
);

/**
 * The tokens that can tell one party from another: not a particle, not an initial, and for anything
 * but a person not a generic word. A name with none left ("LLC", "Trading Co", "A. B.") cannot be
 * screened: it would match nothing, or every listed company with the same generic word.
 */
export function distinctiveTokens(tokens: readonly string[], type: EntityType): string[] {
  return tokens.filter(
    (t) => t.length > 1 && !PARTICLES.has(t) && (type === "person" || !GENERIC_WORDS.has(t)),
  );
}

export interface NormalisedName {
  /** Tokens in order (given names first). */
  readonly tokens: readonly string[];
  /** Legal forms taken off (organizations). */
  readonly legalForms: readonly string[];
  /** Honorifics taken off. */
  readonly honorifics: readonly string[];
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;

const ARABIC = /[\u0600-\u06ff]/;

/**
 * Arabic script written the way the lists' Latin names are: any-ascii keeps the consonants alone
 * ("التكريتي" → "ltkryty", "حامد" → "hmd"), which the lists write "al-Tikriti", "Hamid". The
 * article is split off ("Allah" excepted), long vowels are kept (alef a; yeh and waw i and u after
 * a letter, y and w at a word's start, w after alef), hamza seats are the vowels they carry, ta marbuta is "a",
 * and an ayn that starts a word is the "a" the lists write for it ("Ali", "Abd").
 */
function arabicToLatinish(s: string): string {
  return s
    .replace(/الله/g, "allah")
    .replace(/(^|[\s\u200c])ال(?=\S)/g, "$1al-")
    .replace(/(^|[\s-])ع/g, "$1a")
    .replace(/(^|\s)([يیو])/g, (_, b: string, c: string) => `${b}${c === "و" ? "w" : "y"}`)
    .replace(/او/g, "aw")
    .replace(/[يیى]/g, "i")
    .replace(/و/g, "u")
    .replace(/[اآأ]/g, "a")
    .replace(/إ/g, "i")
    .replace(/ة/g, "a")
    .replace(/[ءعئؤ]/g, "");
}

/** Transliterates; CJK characters one syllable each, so that syllables stay tokens. */
export function transliterate(s: string): string {
  const nfkd = (ARABIC.test(s) ? arabicToLatinish(s.normalize("NFC")) : s).normalize("NFKD");
  if (!CJK.test(nfkd)) return anyAscii(nfkd);
  let out = "";
  for (const ch of nfkd) out += CJK.test(ch) ? ` ${anyAscii(ch)} ` : anyAscii(ch);
  return out;
}

export function normaliseName(raw: string, type: EntityType = "unknown"): NormalisedName {
  let s = transliterate(raw).toLowerCase();
  // "SALEK, ABDULHAI" → "abdulhai salek": the lists write surname first before a comma. Organizations
  // keep their order ("ACME TRADING, LTD." is not a reordering).
  if (type !== "organization" && type !== "vessel" && type !== "aircraft") {
    const comma = s.indexOf(",");
    if (comma > 0 && s.indexOf(",", comma + 1) < 0) s = `${s.slice(comma + 1)} ${s.slice(0, comma)}`;
  }
  s = s
    .replace(/&/g, " and ")
    .replace(/['`´’‘]/g, "") // O'Brien = OBrien
    .replace(/\b([a-z])\.(?=[a-z]\.)/g, "$1") // "s.a." → "sa."
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
  let tokens = s === "" ? [] : s.split(" ");
  const honorifics: string[] = [];
  if (type !== "organization") {
    tokens = tokens.filter((t) => {
      if (!HONORIFICS.has(t) || tokens.length <= 1) return true;
      honorifics.push(t);
      return false;
    });
  }
  const legalForms: string[] = [];
  if (type !== "person") tokens = stripLegalForms(tokens, legalForms);
  return { tokens, legalForms, honorifics };
}

/**
 * Removes legal forms at the end and at the start, repeatedly ("OOO ROMASHKA", "ACME TRADING CO.,
 * LTD."). What is left may be nothing ("CORP"): then the name has nothing to match on.
 */
function stripLegalForms(tokens: string[], removed: string[]): string[] {
  let t = tokens;
  for (let changed = true; changed && t.length > 0;) {
    changed = false;
    const end = FORMS.find(
      (f) => f.length <= t.length && f.every((x, k) => t[t.length - f.length + k] === x),
    );
    if (end !== undefined) {
      removed.unshift(end.join(" "));
      t = t.slice(0, t.length - end.length);
      changed = true;
      continue;
    }
    const start = FORMS.find((f) => f.length < t.length && f.every((x, k) => t[k] === x));
    if (start !== undefined) {
      removed.push(start.join(" "));
      t = t.slice(start.length);
      changed = true;
    }
  }
  return t;
}

/**
 * The spelling variants transliteration systems disagree on, folded ("yusuf"/"iusuf", "zhukov"/
 * "jukov", "khalid"/"halid", "mohammed"/"mohamed").
 */
export function phonetic(token: string): string {
  let t = token
    .replace(/dzh|dj|zh/g, "j")
    .replace(/kh|gh/g, "h")
    .replace(/ph/g, "f")
    .replace(/sch|sh/g, "s")
    .replace(/ou|oo/g, "u")
    .replace(/ee/g, "i")
    .replace(/[yj](?=[aeiou])/g, "j")
    .replace(/y/g, "i")
    .replace(/w/g, "v")
    .replace(/[qc]k?/g, "k");
  let out = "";
  for (const ch of t) if (out.at(-1) !== ch) out += ch;
  t = out;
  return t;
}

/** Consonant skeleton: vowels and doubled letters out ("hussein", "husayn", "hsyn" → "hsn"). */
export function skeleton(token: string): string {
  let out = "";
  const t = token
    .replace(/ph/g, "f")
    .replace(/[ck]h/g, "h")
    .replace(/[qc]/g, "k")
    .replace(/z/g, "s")
    .replace(/w/g, "v");
  for (const ch of t) {
    if ("aeiouy".includes(ch)) continue;
    if (out.at(-1) !== ch) out += ch;
  }
  return out;
}
