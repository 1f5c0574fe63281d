/**
 * Claim mapping (pure): a verified token's claims → the facts they state (citizenships with dates,
 * permanent residencies, residence, organization, display name, assurance). Nothing is guessed at.
 * An unreadable organization or display name (a lone surrogate in it included: not Unicode, and
 * the audit log's RFC 8785 entries cannot hold one) is set aside with the reason; an unreadable
 * citizenship, permanent residency or residence is a refusal (`refused`): it may be the one fact
 * that denies (an embargoed nationality written "Iran"), so dropping it would fail open. A
 * nationality whose date is unreadable is kept undated; one dated after the token was issued is a
 * refusal too (below, `undue`). Whether the provider may vouch for a fact is decided afterwards
 * (scope.ts).
 */
import { alpha2OfAlpha3, asciiUpper, isCountryCode } from "../countries/index.js";
import { instantOf, isCalendarDate, isInstant } from "../policy/dates.js";
import { BIDI_CONTROL, CONTROL, CONTROL_OR_LONE_SURROGATE, LONE_SURROGATE } from "../policy/text.js";
import type { Assurance, Nationality, SetAsideClaim } from "../policy/types.js";
import { jsonPreview } from "./json.js";
import { assuranceRank, type ProviderInput } from "./schema.js";

type Path = string | readonly (string | number)[];

/** At most this many values per fact: a token cannot make a decision loop over thousands. */
const MAX_VALUES = 16;
const MAX_TEXT = 200;
/** What `shown` writes as `?`: controls, bidi controls and lone surrogates (every one: global). */
const UNPRINTABLE = new RegExp(`${CONTROL_OR_LONE_SURROGATE.source}|${BIDI_CONTROL.source}`, "gu");

/**
 * Whether a claim's text is Unicode: a lone surrogate is not, and RFC 8785, the audit log's
 * canonical JSON, refuses it (a strict verifier could not re-encode the entry holding it).
 */
export const isUnicode = (text: string): boolean => !LONE_SURROGATE.test(text);

export interface ClaimedFacts {
  readonly citizenships: readonly Claimed<Nationality>[];
  readonly permanent_residencies: readonly Claimed<Nationality>[];
  readonly residence: Claimed<string> | null;
  readonly organization: Claimed<string> | null;
  readonly display_name: string | null;
  readonly assurance: { readonly level: Assurance; readonly why: string };
  readonly unreadable: readonly SetAsideClaim[];
  /** Nationality or residence claims that could not be read: the token must be refused. */
  readonly refused: readonly RefusedClaim[];
}

/** A claim that refuses the token, with the refusal's message (401 token-claims). */
export interface RefusedClaim extends SetAsideClaim {
  readonly message: string;
}

export interface Claimed<T> {
  readonly value: T;
  readonly claim: string;
  /** What was read around the value (an unreadable date taken as unknown), for the explanation. */
  readonly note?: string;
}

export const pathText = (path: Path): string =>
  typeof path === "string" ? path : path.map((s) => (typeof s === "number" ? `[${s}]` : s)).join(".");

function segments(path: Path): (string | number)[] {
  if (typeof path !== "string") return [...path];
  const out: (string | number)[] = [];
  for (const part of path.split(".")) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (m === null) {
      out.push(part);
      continue;
    }
    if (m[1] !== "") out.push(m[1]!);
    for (const i of (m[2] ?? "").matchAll(/\[(\d+)\]/g)) out.push(Number(i[1]));
  }
  return out;
}

/** The value at a claim path (own members only), or undefined. A whole-name match wins (URL claim names). */
export function readClaim(claims: Readonly<Record<string, unknown>>, path: Path): unknown {
  if (typeof path === "string" && Object.hasOwn(claims, path)) return claims[path];
  let here: unknown = claims;
  for (const s of segments(path)) {
    if (typeof s === "number") {
      if (!Array.isArray(here) || s >= here.length) return undefined;
      here = here[s];
    } else {
      if (typeof here !== "object" || here === null || Array.isArray(here) || !Object.hasOwn(here, s))
        return undefined;
      here = (here as Record<string, unknown>)[s];
    }
  }
  return here;
}

/**
 * Short, printable text of a claim value for explanations: control characters and lone surrogates
 * (a pair cut in two by the shortening included) as `?`.
 */
export function shown(value: unknown): string {
  // Rendered only as far as shown: a value nested thousands deep would overflow JSON.stringify.
  const text = typeof value === "string" ? value : jsonPreview(value, 61);
  const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return short.replace(UNPRINTABLE, "?");
}

/**
 * A name or organization as a claim gives it, or null when it cannot be read: not a string, empty,
 * over 200 characters (never cut: a cut can split a surrogate pair), a control character, a lone
 * surrogate (not Unicode), or a bidirectional control (it would be stored, shown and screened
 * reading otherwise than it is).
 */
export const readableText = (v: unknown): string | null =>
  typeof v === "string" &&
  v !== "" &&
  v.length <= MAX_TEXT &&
  !CONTROL.test(v) &&
  !BIDI_CONTROL.test(v) &&
  isUnicode(v)
    ? v
    : null;

/** An ISO 3166-1 alpha-2 or alpha-3 code, any case of its ASCII letters, as its alpha-2 code. */
function country(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const upper = asciiUpper(value);
  if (isCountryCode(upper)) return upper;
  return alpha2OfAlpha3(upper) ?? null;
}

/**
 * A nationality's `since` as the instant it states: a date (00:00 UTC), or a date-time with its zone
 * written in UTC. Never cut to its day: held from its `since` (README), a day earlier than stated
 * (up to 24 h, more across zones) could reorder `most-recent` (DE 2010-03-06T01:00Z before IR
 * 2010-03-05T23:30-05:00 would become DE the latest) or count it held before it was. A date-time
 * with no zone, or one whose instant leaves the years 0000–9999, is unreadable (undated).
 */
function date(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  let at: number;
  if (typeof value === "number" && Number.isFinite(value)) {
    // Seconds since the epoch, as JWT dates are. A day past 9999 (milliseconds sent for seconds,
    // say) is written "+041969-09": no date, though Date.parse would read it as one millennia
    // ahead, a nationality not held yet (an embargo set aside). Unreadable, as a text would be.
    at = value * 1000;
  } else if (typeof value === "string" && isInstant(value)) {
    // A day the calendar has (Date.parse takes 2020-02-30 as March 1st), and a zone for a time
    // (read in the server's own zone it would be another instant on another server).
    at = instantOf(value);
  } else {
    return undefined;
  }
  const d = new Date(at);
  const text = Number.isNaN(d.getTime()) ? "" : d.toISOString();
  if (!isCalendarDate(text)) return undefined;
  // Midnight UTC is the day itself, written as a date (the same instant).
  return text.endsWith("T00:00:00.000Z") ? text.slice(0, 10) : text;
}

/**
 * Why a nationality's `since` cannot be vouched for, or null: it is later than the token was issued
 * (`iat`, plus the clock skew the verifier allows it), or, in a token without `iat`, than `at`. A
 * nationality is held from a date already past; kept, a future one would be "not yet held" at the
 * decision's time (policy's rule), so "national of an embargoed country since next year" would let
 * the person in as if they held no such nationality.
 */
function undue(
  since: string,
  provider: ProviderInput,
  claims: Readonly<Record<string, unknown>>,
  at: number,
): string | null {
  const iat = claims.iat;
  const issued = typeof iat === "number" && Number.isFinite(iat);
  const bound = issued ? (iat + provider.clock_skew_s) * 1000 : at;
  if (!(instantOf(since) > bound)) return null;
  const when = issued ? new Date(iat * 1000) : new Date(at);
  const what = Number.isNaN(when.getTime()) ? String(iat) : when.toISOString();
  return issued
    ? `is later than the token was issued (${what})`
    : `is later than the decision time (${what})`;
}

/**
 * The facts a verified token's claims state. `at` (ms) is the decision's time: a nationality's date
 * is judged against the token's `iat`, or against `at` when the token has none.
 */
export function mapClaims(
  provider: ProviderInput,
  claims: Readonly<Record<string, unknown>>,
  at: number,
): ClaimedFacts {
  const m = provider.claims;
  const unreadable: SetAsideClaim[] = [];
  const refused: RefusedClaim[] = [];
  const cannotRead = (fact: string, claim: string, value: string, why: string): RefusedClaim => ({
    fact,
    claim,
    value,
    why,
    message: `the token's ${fact} (claim ${claim}) cannot be read: ${value}: ${why}`,
  });
  const bad = (fact: string, claim: string, value: unknown, why: string) => {
    if (fact === "residence") refused.push(cannotRead(fact, claim, shown(value), why));
    else unreadable.push({ fact, claim, value: shown(value), why });
  };
  const refuse = (fact: string, claim: string, value: unknown, why: string) =>
    refused.push(cannotRead(fact, claim, shown(value), why));

  const nationalities = (fact: string, path: Path | undefined): Claimed<Nationality>[] => {
    if (path === undefined) return [];
    const claim = pathText(path);
    const raw = readClaim(claims, path);
    if (raw === undefined || raw === null) return [];
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length > MAX_VALUES) {
      refuse(fact, claim, `${items.length} values`, `more than ${MAX_VALUES} values`);
      return [];
    }
    const out: Claimed<Nationality>[] = [];
    for (const [i, item] of items.entries()) {
      const isObject = typeof item === "object" && item !== null && !Array.isArray(item);
      const code = country(isObject ? (item as Record<string, unknown>)[m.country_member] : item);
      if (code === null) {
        refuse(fact, claim, item, "not an ISO 3166-1 alpha-2 or alpha-3 country code");
        continue;
      }
      const since = isObject ? date((item as Record<string, unknown>)[m.since_member]) : null;
      if (since === undefined) {
        // Undated rather than dropped: the nationality still counts (nationality_rule's missing dates).
        const note = `${m.since_member} ${shown((item as Record<string, unknown>)[m.since_member])} is not a date, taken as unknown`;
        out.push({ value: { country: code, since: null }, claim, note });
        continue;
      }
      const late = since === null ? null : undue(since, provider, claims, at);
      if (since !== null && late !== null) {
        // Refused, never dropped nor kept undated: the partner vouches for a fact it cannot know.
        const member = `${claim}${Array.isArray(raw) ? `[${i}]` : ""}.${m.since_member}`;
        const held = fact === "citizenships" ? "a nationality" : "a permanent residency";
        const why = `${late}: ${held} is held from a date already past`;
        refused.push({ fact, claim: member, value: since, why, message: `${member} ${since} ${why}` });
        continue;
      }
      out.push({ value: { country: code, since }, claim });
    }
    return out;
  };

  const single = (fact: string, path: Path | undefined, read: (v: unknown) => string | null) => {
    if (path === undefined) return null;
    const claim = pathText(path);
    const raw = readClaim(claims, path);
    if (raw === undefined || raw === null) return null;
    const value = read(Array.isArray(raw) && raw.length === 1 ? raw[0] : raw);
    if (value === null) {
      // An unreadable residence is refused (bad), not set aside: a list [DE, IR] may hide an embargo.
      bad(
        fact,
        claim,
        raw,
        fact === "residence" ? "not one ISO 3166-1 alpha-2 or alpha-3 country code" : "not a name",
      );
      return null;
    }
    return { value, claim };
  };
  const name = single("display name", m.display_name, readableText);
  return {
    citizenships: nationalities("citizenships", m.citizenships),
    permanent_residencies: nationalities("permanent residencies", m.permanent_residencies),
    residence: single("residence", m.residence, country),
    organization: single("organization", m.organization, readableText),
    display_name: name?.value ?? null,
    assurance: assuranceOf(provider, claims),
    unreadable,
    refused,
  };
}

/** The highest level an acr or amr value maps to, else the fixed level; capped at the provider's maximum. */
export function assuranceOf(
  provider: ProviderInput,
  claims: Readonly<Record<string, unknown>>,
): { level: Assurance; why: string } {
  const a = provider.assurance;
  let level: Assurance = a.level;
  let why = `the provider's fixed level ${a.level}`;
  const consider = (candidate: Assurance | undefined, source: string) => {
    if (candidate !== undefined && assuranceRank(candidate) > assuranceRank(level)) {
      level = candidate;
      why = `${source} maps to ${candidate}`;
    }
  };
  const acr = claims.acr;
  if (typeof acr === "string" && a.acr !== undefined && Object.hasOwn(a.acr, acr))
    consider(a.acr[acr], `acr ${shown(acr)}`);
  const amr = claims.amr;
  if (Array.isArray(amr) && a.amr !== undefined) {
    for (const v of amr.slice(0, MAX_VALUES))
      if (typeof v === "string" && Object.hasOwn(a.amr, v)) consider(a.amr[v], `amr ${shown(v)}`);
  }
  if (assuranceRank(level) > assuranceRank(provider.max_assurance)) {
    return {
      level: provider.max_assurance,
      why: `${why}, capped at ${provider.max_assurance} (the most this provider may vouch for)`,
    };
  }
  return { level, why };
}
