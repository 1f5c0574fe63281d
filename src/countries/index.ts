/**
 * Country codes and built-in named country sets.
 *
 * Codes are ISO 3166-1 alpha-2 as known to i18n-iso-countries, upper case only. The library also knows the
 * user-assigned code XK (Kosovo); it is accepted because the EAR and sanctions lists treat Kosovo as a
 * destination of its own, and rejecting it would leave no way to name it.
 */
import { createRequire } from "node:module";
import type * as CountriesLib from "i18n-iso-countries";
import { SET_DATA, type SetData } from "./sets.js";

// The package is CommonJS without an `exports` map. Its main entry registers all ~80 locales; requiring
// index.js plus the English locale directly keeps start-up small and works the same under NodeNext.
const require = createRequire(import.meta.url);
const countries = require("i18n-iso-countries/index.js") as typeof CountriesLib;
countries.registerLocale(require("i18n-iso-countries/langs/en.json") as CountriesLib.LocaleData);

const ALPHA2 = /^[A-Z]{2}$/;
const KNOWN: ReadonlySet<string> = new Set(Object.keys(countries.getAlpha2Codes()));

/** True for an upper-case ISO 3166-1 alpha-2 code the library knows (XK included; "de", "UK", "ZZ" not). */
export function isCountryCode(code: string): boolean {
  return ALPHA2.test(code) && KNOWN.has(code);
}

/**
 * A code as written, in upper case ASCII: a-z alone are raised. `toUpperCase()` folds letters of
 * other scripts into ASCII ones (dotless `ı` into I, `ß` into SS, the ligature `ﬁ` into FI): `ır`
 * would read IR, `ß` SS. What is not an ASCII letter stays as it is, and no code matches it.
 */
export const asciiUpper = (text: string): string => text.replace(/[a-z]+/g, (s) => s.toUpperCase());

/** Every known code, sorted (for reports that cover the world). */
export function allCountryCodes(): string[] {
  return [...KNOWN].sort();
}

/**
 * The alpha-2 code of an ISO 3166-1 numeric code ("250" or "004"; "4" → AF), as map data sets key
 * countries. One to three digits only: the library keeps a code's last three characters, which made
 * "1250" and " 250" France.
 */
export function alpha2OfNumeric(numeric: string): string | undefined {
  if (!/^\d{1,3}$/.test(numeric)) return undefined;
  const a2 = countries.numericToAlpha2(numeric);
  return a2 !== undefined && isCountryCode(a2) ? a2 : undefined;
}

/**
 * Alpha-3 codes for XK beside the library's XKK: XKX is the one the European Commission and the IMF
 * use. Kosovo has no ISO alpha-3 code; a claim naming it either way names Kosovo.
 */
const ALPHA3_ALIASES: ReadonlyMap<string, string> = new Map([["XKX", "XK"]]);

/** The alpha-2 code of an upper-case ISO 3166-1 alpha-3 code ("IRN" → IR), as some identity providers write them. */
export function alpha2OfAlpha3(code: string): string | undefined {
  if (!/^[A-Z]{3}$/.test(code)) return undefined;
  const a2 = ALPHA3_ALIASES.get(code) ?? countries.alpha3ToAlpha2(code);
  return a2 !== undefined && isCountryCode(a2) ? a2 : undefined;
}

/** English short name, e.g. "Germany" for DE; undefined for anything that is not a valid code. */
export function countryName(code: string): string | undefined {
  return isCountryCode(code) ? countries.getName(code, "en") : undefined;
}

export interface NamedSet {
  readonly name: string;
  readonly description: string;
  /** Citation: regulation or organisation and a textual reference. */
  readonly source: string;
  /** YYYY-MM-DD: the date the membership reflects. */
  readonly asOf: string;
  /** Sorted, upper-case ISO 3166-1 alpha-2 codes. */
  readonly members: readonly string[];
}

/**
 * The EAR does not list Hong Kong: since the BIS rule of 23 December 2020 (E.O. 13936) it is treated as
 * China. Deriving HK from CN, instead of typing it into each table, keeps the two from drifting apart.
 */
function applyHongKongRule(members: ReadonlySet<string>): Set<string> {
  const out = new Set(members);
  if (out.has("CN")) out.add("HK");
  else out.delete("HK");
  return out;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Validates one data entry; a bad legal table must fail at load, not answer wrongly at request time. */
function build(data: SetData): NamedSet {
  const problems: string[] = [];
  const unique = new Set<string>();
  for (const code of data.members) {
    if (!isCountryCode(code)) problems.push(`"${code}" is not an ISO 3166-1 alpha-2 code`);
    if (unique.has(code)) problems.push(`"${code}" is listed twice`);
    unique.add(code);
  }
  const date = new Date(`${data.asOf}T00:00:00Z`);
  if (
    !ISO_DATE.test(data.asOf) ||
    Number.isNaN(date.getTime()) ||
    !date.toISOString().startsWith(data.asOf)
  ) {
    problems.push(`asOf "${data.asOf}" is not a YYYY-MM-DD date`);
  }
  if (data.source.trim() === "") problems.push("source is empty");
  if (problems.length > 0) throw new Error(`built-in country set ${data.name}: ${problems.join("; ")}`);

  const members = data.ear ? applyHongKongRule(unique) : unique;
  return Object.freeze({
    name: data.name,
    description: data.description,
    source: data.source,
    asOf: data.asOf,
    members: Object.freeze([...members].sort()),
  });
}

export const BUILTIN_SETS: ReadonlyMap<string, NamedSet> = new Map(SET_DATA.map((d) => [d.name, build(d)]));

export function builtinSet(name: string): NamedSet | undefined {
  return BUILTIN_SETS.get(name);
}
