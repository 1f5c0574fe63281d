/**
 * Claim mapping (pure): a verified token's claims → the facts they state (citizenships with dates,
 * permanent residencies, residence, organization, display name, assurance). Unreadable values are
 * set aside with the reason, never guessed at; whether the provider may vouch for a fact is decided
 * afterwards (scope.ts).
 */
import { isCountryCode } from "../countries/index.js";
import type { Assurance, Nationality, SetAsideClaim } from "../policy/types.js";
import { assuranceRank, type ProviderInput } from "./schema.js";

type Path = string | readonly (string | number)[];

/** At most this many values per fact: a token cannot make a decision loop over thousands. */
const MAX_VALUES = 16;
const MAX_TEXT = 200;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export interface ClaimedFacts {
  readonly citizenships: readonly Claimed<Nationality>[];
  readonly permanent_residencies: readonly Claimed<Nationality>[];
  readonly residence: Claimed<string> | null;
  readonly organization: Claimed<string> | null;
  readonly display_name: string | null;
  readonly assurance: { readonly level: Assurance; readonly why: string };
  readonly unreadable: readonly SetAsideClaim[];
}

export interface Claimed<T> {
  readonly value: T;
  readonly claim: string;
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

/** Short, printable text of a claim value for explanations. */
export function shown(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  const clean = text.replace(CONTROL, "?");
  return clean.length > 60 ? `${clean.slice(0, 57)}...` : clean;
}

function country(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const upper = value.toUpperCase();
  return isCountryCode(upper) ? upper : null;
}

function date(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value === "number" && Number.isFinite(value)) {
    // Seconds since the epoch, as JWT dates are.
    const d = new Date(value * 1000);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString().slice(0, 10);
  }
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)))
    return value.slice(0, 10);
  return undefined;
}

export function mapClaims(provider: ProviderInput, claims: Readonly<Record<string, unknown>>): ClaimedFacts {
  const m = provider.claims;
  const unreadable: SetAsideClaim[] = [];
  const bad = (fact: string, claim: string, value: unknown, why: string) =>
    unreadable.push({ fact, claim, value: shown(value), why });

  const nationalities = (fact: string, path: Path | undefined): Claimed<Nationality>[] => {
    if (path === undefined) return [];
    const claim = pathText(path);
    const raw = readClaim(claims, path);
    if (raw === undefined || raw === null) return [];
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length > MAX_VALUES) {
      bad(fact, claim, `${items.length} values`, `more than ${MAX_VALUES} values`);
      return [];
    }
    const out: Claimed<Nationality>[] = [];
    for (const item of items) {
      const isObject = typeof item === "object" && item !== null && !Array.isArray(item);
      const code = country(isObject ? (item as Record<string, unknown>)[m.country_member] : item);
      if (code === null) {
        bad(fact, claim, item, "not an ISO 3166-1 alpha-2 country code");
        continue;
      }
      const since = isObject ? date((item as Record<string, unknown>)[m.since_member]) : null;
      if (since === undefined) {
        bad(fact, claim, item, `${m.since_member} is not a date`);
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
      bad(fact, claim, raw, fact === "residence" ? "not an ISO 3166-1 alpha-2 country code" : "not a name");
      return null;
    }
    return { value, claim };
  };
  const text = (v: unknown): string | null =>
    typeof v === "string" && v !== "" && v.length <= MAX_TEXT && !CONTROL.test(v) ? v : null;

  const name = single("display name", m.display_name, text);
  return {
    citizenships: nationalities("citizenships", m.citizenships),
    permanent_residencies: nationalities("permanent residencies", m.permanent_residencies),
    residence: single("residence", m.residence, country),
    organization: single("organization", m.organization, text),
    display_name: name?.value ?? null,
    assurance: assuranceOf(provider, claims),
    unreadable,
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
