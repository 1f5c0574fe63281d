/**
 * Compilation: a validated scheme file → lookup structures for `decide()` (maps, sets, bitmasks),
 * and its digest. Runs once per scheme version, so the hot path is a few look-ups. Reference
 * problems (unknown model or set, bad country, duplicate id, fallback cycle, dates) accumulate.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";
import { isCountryCode } from "../countries/index.js";
import type { Path, Problem } from "../errors/index.js";
import {
  ACTIONS,
  ASSURANCE_LEVELS,
  type Action,
  type Control,
  type LicenseStatus,
  type NationalityRule,
  type PartnerStatus,
} from "../policy/types.js";
import type { PrincipalFacts } from "../policy/facts.js";
import { modelPasses, type ModelPasses } from "../policy/passes.js";
import { instantOf } from "../policy/dates.js";
import { CONTROL, nameList, quoted } from "../policy/text.js";
import type { GrantRef, Principal } from "../policy/types.js";
import { modelId, type SchemeFile, type SchemeGrant, type SchemeLicense } from "./schema.js";
import { SetResolver } from "./sets.js";

export type Countries = ReadonlySet<string>;

/** Per model, the index of the first grant covering each action (ACTIONS order), or -1. */
export type GrantTable = ReadonlyMap<string, readonly number[]>;

export interface CompiledModel {
  readonly id: string;
  readonly control: Control;
  readonly fallback: string | null;
  /** null: available everywhere. */
  readonly availableIn: Countries | null;
  /** The checks this model passes whoever asks (shared by every decision). */
  readonly passes: ModelPasses;
  /** Per action (ACTIONS order): the country partners granted this model for it, in scheme order. */
  readonly countryGrants: readonly (readonly CountryGrant[])[];
}

export interface CountryGrant {
  /** The partner's position in `countryPartners`. */
  readonly at: number;
  readonly partner: CompiledCountryPartner;
  /** The partner's first grant covering model and action. */
  readonly index: number;
}

export interface CompiledCountryPartner {
  readonly id: string;
  readonly status: PartnerStatus;
  readonly countries: Countries;
  readonly assurance: number;
  readonly grants: GrantTable;
}

export interface CompiledOrganizationPartner {
  readonly id: string;
  readonly name: string;
  readonly country: string;
  readonly status: PartnerStatus;
  readonly assurance: number;
  readonly locations: Countries;
  readonly grants: GrantTable;
  readonly rateLimit: RateLimit | null;
}

export interface RateLimit {
  readonly requestsPerMinute: number | null;
  readonly tokensPerMinute: number | null;
}

/** An organization's rate limit as the counters enforce it. */
export interface OrganizationRateLimit extends RateLimit {
  /** The id its requests are counted under: one window for every spelling of the organization. */
  readonly counter: string;
}

export interface CompiledLicense {
  readonly id: string;
  readonly licensee: { readonly kind: "organization" | "principal"; readonly id: string };
  readonly status: LicenseStatus;
  readonly models: ReadonlySet<string>;
  /** Bit i set: ACTIONS[i] is covered. */
  readonly actions: number;
  readonly destinations: Countries;
  readonly purposes: ReadonlySet<string> | null;
  readonly nationalities: Countries | null;
  readonly validFrom: number;
  readonly validUntil: number;
  readonly quotaTokens: number | null;
  readonly quotaPeriod: "month" | "quarter" | "total";
  /** What a decision resting on this license names (one object, shared). */
  readonly grant: GrantRef;
}

export interface CompiledScheme {
  readonly name: string;
  /** `sha256:<hex>` of the RFC 8785 canonical JSON of the scheme as validated. */
  readonly digest: string;
  /** `{name, digest}`, as every decision reports it (one object, shared). */
  readonly ref: { readonly name: string; readonly digest: string };
  readonly source: SchemeFile;
  readonly home: Countries;
  readonly nationalityRule: NationalityRule;
  readonly embargoed: Countries;
  readonly restricted: Countries;
  readonly sets: ReadonlyMap<string, Countries>;
  readonly models: ReadonlyMap<string, CompiledModel>;
  readonly countryPartners: readonly CompiledCountryPartner[];
  readonly organizationPartners: ReadonlyMap<string, CompiledOrganizationPartner>;
  /**
   * Per organization id, its rate limit: its partner's, and also that of a partner left out of the
   * policy in force (control/effective.ts), whose members licenses may still serve.
   */
  readonly organizationRateLimits: ReadonlyMap<string, OrganizationRateLimit>;
  readonly licenses: ReadonlyMap<string, CompiledLicense>;
  readonly licensesByOrganization: ReadonlyMap<string, readonly CompiledLicense[]>;
  readonly licensesByPrincipal: ReadonlyMap<string, readonly CompiledLicense[]>;
  /**
   * Each principal's facts under this version (policy/facts.ts `factsOf`), worked out on first
   * sight: a principal is an immutable input, so the object is the key and nothing goes stale.
   */
  readonly principalFacts: WeakMap<Principal, PrincipalFacts>;
}

export type CompileResult =
  | { readonly ok: true; readonly scheme: CompiledScheme }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/**
 * Without a prototype: an action named like an Object member (`toString`, `constructor`) is looked
 * up by callers that did not validate it and must find nothing, not a function (1 << fn is 1: infer).
 */
export const ACTION_INDEX: Readonly<Record<Action, number>> = Object.assign(
  Object.create(null) as Record<Action, number>,
  Object.fromEntries(ACTIONS.map((a, i) => [a, i])),
);

export const assuranceRank = (level: string): number => ASSURANCE_LEVELS.indexOf(level as never);

export function schemeDigest(source: SchemeFile): string {
  return `sha256:${createHash("sha256").update(canonicalJson(source)).digest("hex")}`;
}

export function compileScheme(source: SchemeFile): CompileResult {
  const problems: Problem[] = [];
  const sets = new SetResolver(source.sets, problems);
  const userSets = sets.resolveUserSets();

  const before = problems.length;
  const home = sets.resolve(source.home, ["home"]);
  // However it is written ([], an empty set, {include, exclude} that cancel out): no home, no home person.
  if (home.size === 0 && problems.length === before) {
    const literal = Array.isArray(source.home) && source.home.length === 0;
    problems.push({
      code: "empty",
      path: ["home"],
      message: literal
        ? "home names at least one country"
        : "home resolves to no country (what it includes is excluded, or its sets are empty); it needs at least one",
    });
  }
  const embargoed = sets.resolve(source.embargoed, ["embargoed"]);
  const restricted = sets.resolve(source.restricted_nationalities, ["restricted_nationalities"]);

  const models = compileModels(source, sets, problems);
  const grants = (list: readonly SchemeGrant[], path: Path) => compileGrants(list, path, models, problems);

  // Partner ids in any case name one partner: the license workflow compares organizations without
  // regard to case, so uk-aisi and UK-AISI listed apart would be one organization granted twice.
  const partnerIds = new Map<string, { id: string; path: Path }>();
  const uniquePartner = (id: string, path: Path) => {
    const first = partnerIds.get(id.toLowerCase());
    if (first === undefined) partnerIds.set(id.toLowerCase(), { id, path });
    else
      problems.push({
        code: "duplicate_id",
        path,
        message:
          first.id === id
            ? `duplicate partner id ${quoted(id)} (first defined at ${first.path.join(".")})`
            : `partner id ${quoted(id)} names the same partner as ${quoted(first.id)} (first defined at ${first.path.join(".")}): partner and organization ids are compared without regard to case`,
      });
  };

  const countryPartners = source.partners.countries.map((p, i): CompiledCountryPartner => {
    const path = ["partners", "countries", i];
    uniquePartner(p.id, [...path, "id"]);
    return {
      id: p.id,
      status: p.status,
      countries: sets.resolve(p.countries, [...path, "countries"]),
      assurance: assuranceRank(p.assurance),
      grants: grants(p.grants, [...path, "grants"]),
    };
  });

  countryPartners.forEach((partner, at) => {
    for (const [model, row] of partner.grants) {
      const lists = models.get(model)?.countryGrants as CountryGrant[][] | undefined;
      row.forEach((index, action) => {
        if (index >= 0) lists?.[action]?.push({ at, partner, index });
      });
    }
  });

  const organizationPartners = new Map<string, CompiledOrganizationPartner>();
  source.partners.organizations.forEach((p, i) => {
    const path = ["partners", "organizations", i];
    uniquePartner(p.id, [...path, "id"]);
    if (!isCountryCode(p.country)) {
      problems.push({
        code: "invalid_country",
        path: [...path, "country"],
        message: `${quoted(p.country)} is not an ISO 3166-1 alpha-2 country code`,
      });
    }
    organizationPartners.set(p.id, {
      id: p.id,
      name: p.name ?? p.id,
      country: p.country,
      status: p.status,
      assurance: assuranceRank(p.assurance),
      locations: p.locations ? sets.resolve(p.locations, [...path, "locations"]) : new Set([p.country]),
      grants: grants(p.grants, [...path, "grants"]),
      rateLimit: p.rate_limit
        ? {
            requestsPerMinute: p.rate_limit.requests_per_minute ?? null,
            tokensPerMinute: p.rate_limit.tokens_per_minute ?? null,
          }
        : null,
    });
  });

  const licenses = new Map<string, CompiledLicense>();
  const licenseIds = new Map<string, Path>();
  source.licenses.forEach((l, i) => {
    const path = ["licenses", i];
    unique(licenseIds, l.id, [...path, "id"], "license", problems);
    licenses.set(l.id, compileLicense(l, path, sets, models, problems));
  });

  if (problems.length > 0) return { ok: false, problems };
  const digest = schemeDigest(source);
  return {
    ok: true,
    scheme: {
      name: source.name,
      digest,
      ref: { name: source.name, digest },
      source,
      home,
      nationalityRule: source.nationality_rule,
      embargoed,
      restricted,
      sets: userSets,
      models,
      countryPartners,
      organizationPartners,
      organizationRateLimits: new Map(
        [...organizationPartners.values()].flatMap((p) =>
          p.rateLimit === null ? [] : [[p.id, { ...p.rateLimit, counter: p.id }] as const],
        ),
      ),
      licenses,
      licensesByOrganization: groupLicenses(licenses, "organization"),
      licensesByPrincipal: groupLicenses(licenses, "principal"),
      principalFacts: new WeakMap(),
    },
  };
}

function compileModels(
  source: SchemeFile,
  sets: SetResolver,
  problems: Problem[],
): Map<string, CompiledModel> {
  const models = new Map<string, CompiledModel>();
  for (const [id, m] of Object.entries(source.models)) {
    const checked = modelId.safeParse(id);
    if (!checked.success) {
      problems.push({
        code: "invalid_id",
        path: ["models", id],
        message: `model id ${quoted(clip(id))}: ${checked.error.issues.map((i) => i.message).join("; ")}`,
      });
    }
    models.set(id, {
      id,
      control: m.control,
      fallback: m.fallback ?? null,
      availableIn: m.available_in ? sets.resolve(m.available_in, ["models", id, "available_in"]) : null,
      passes: modelPasses(id, m.control),
      countryGrants: ACTIONS.map(() => []),
    });
  }
  for (const m of models.values()) {
    if (m.fallback !== null && !models.has(m.fallback)) {
      problems.push(unknownModel(m.fallback, ["models", m.id, "fallback"], models));
    }
  }
  reportFallbackCycles(models, problems);
  reportLongFallbackChains(models, problems);
  return models;
}

/** Models a fallback cycle's message lists at most: the first ones, then the last. */
export const CYCLE_SHOWN = 10;

/**
 * Each cycle is reported once, at the model of the cycle that comes first in the file. Every model
 * has at most one fallback, so one walk with colours finds them all in O(models): a walk that meets
 * a model of its own (grey) path closes a cycle; one that meets a finished (black) model stops.
 */
function reportFallbackCycles(models: ReadonlyMap<string, CompiledModel>, problems: Problem[]): void {
  const order = new Map([...models.keys()].map((id, i) => [id, i]));
  const colour = new Map<string, "grey" | "black">();
  for (const start of models.keys()) {
    const path: string[] = [];
    let at: string | null = start;
    while (at !== null && models.has(at) && !colour.has(at)) {
      colour.set(at, "grey");
      path.push(at);
      at = models.get(at)?.fallback ?? null;
    }
    if (at !== null && colour.get(at) === "grey") {
      const cycle = path.slice(path.indexOf(at));
      const first = cycle.reduce((a, b) => ((order.get(b) ?? 0) < (order.get(a) ?? 0) ? b : a));
      const from = cycle.indexOf(first);
      const ordered = [...cycle.slice(from), ...cycle.slice(0, from)];
      const shown =
        ordered.length > CYCLE_SHOWN + 1
          ? [...ordered.slice(0, CYCLE_SHOWN), `… (${ordered.length - CYCLE_SHOWN - 1} more)`, ordered.at(-1)]
          : ordered;
      problems.push({
        code: "fallback_cycle",
        path: ["models", first, "fallback"],
        message: `fallback cycle: ${[...shown, first].join(" → ")}`,
      });
    }
    for (const m of path) colour.set(m, "black");
  }
}

/**
 * The most fallbacks a model's chain may follow (m → f1 → … → f16). A request is decided once per
 * model down its chain, and `GET /v1/models` decides every model: chains of thousands made each
 * denied request thousands of decisions and the list quadratic in the models. Real chains are one
 * to three long.
 */
export const MAX_FALLBACK_CHAIN = 16;

/**
 * Each chain longer than MAX_FALLBACK_CHAIN is reported once, at the model that heads it (one no
 * model falls back to: a model falling back to one whose chain is too long has a longer one). The
 * lengths are found in O(models), each model's once; a chain reaching a cycle is the cycle's
 * problem, reported there.
 */
function reportLongFallbackChains(models: ReadonlyMap<string, CompiledModel>, problems: Problem[]): void {
  // Fallbacks followed from each model (Infinity in or into a cycle), and the model its chain ends at.
  const length = new Map<string, number>();
  const last = new Map<string, string>();
  for (const start of models.keys()) {
    const path: string[] = [];
    const onPath = new Set<string>();
    let at: string | null = start;
    while (at !== null && models.has(at) && !length.has(at) && !onPath.has(at)) {
      onPath.add(at);
      path.push(at);
      at = models.get(at)?.fallback ?? null;
    }
    const reached = at === null ? undefined : length.get(at);
    let n = reached ?? (at !== null && onPath.has(at) ? Infinity : -1);
    const end = reached === undefined ? (path.at(-1) as string) : (last.get(at as string) as string);
    for (let i = path.length - 1; i >= 0; i--) {
      length.set(path[i]!, ++n);
      last.set(path[i]!, end);
    }
  }
  const fallenBackTo = new Set<string>();
  for (const m of models.values()) if (m.fallback !== null) fallenBackTo.add(m.fallback);
  for (const id of models.keys()) {
    const n = length.get(id) ?? 0;
    if (n <= MAX_FALLBACK_CHAIN || n === Infinity || fallenBackTo.has(id)) continue;
    // The first models of the chain, then its last (walked no further: heads may share a long tail).
    const shown: string[] = [];
    for (let at: string | null = id; at !== null && shown.length < CYCLE_SHOWN;) {
      shown.push(at);
      at = models.get(at)?.fallback ?? null;
    }
    // n > MAX_FALLBACK_CHAIN ≥ CYCLE_SHOWN: n + 1 models, of which CYCLE_SHOWN and the last are shown.
    shown.push(`… (${n - CYCLE_SHOWN} more)`, last.get(id) as string);
    problems.push({
      code: "fallback_chain_too_long",
      path: ["models", id, "fallback"],
      message:
        `model ${quoted(id)} falls back ${n} times (${shown.join(" → ")}), more than the ${MAX_FALLBACK_CHAIN} ` +
        "a chain may: each model is decided in turn for a denied request; shorten the chain",
    });
  }
}

function compileGrants(
  list: readonly SchemeGrant[],
  path: Path,
  models: ReadonlyMap<string, CompiledModel>,
  problems: Problem[],
): GrantTable {
  const table = new Map<string, number[]>();
  list.forEach((g, gi) => {
    g.models.forEach((model, mi) => {
      if (!models.has(model)) problems.push(unknownModel(model, [...path, gi, "models", mi], models));
      const row = table.get(model) ?? ACTIONS.map(() => -1);
      for (const action of g.actions) {
        const ai = ACTION_INDEX[action];
        if (row[ai] === -1) row[ai] = gi;
      }
      table.set(model, row);
    });
  });
  return table;
}

function compileLicense(
  l: SchemeLicense,
  path: Path,
  sets: SetResolver,
  models: ReadonlyMap<string, CompiledModel>,
  problems: Problem[],
): CompiledLicense {
  l.models.forEach((m, i) => {
    if (!models.has(m)) problems.push(unknownModel(m, [...path, "models", i], models));
  });
  const validFrom = instantOf(l.valid_from);
  const validUntil = instantOf(l.valid_until);
  if (!(validUntil > validFrom)) {
    problems.push({
      code: "invalid_period",
      path: [...path, "valid_until"],
      message: `valid_until (${l.valid_until}) must be after valid_from (${l.valid_from})`,
    });
  }
  const destinations = resolveListed(
    sets,
    l.destinations,
    [...path, "destinations"],
    problems,
    "be usable nowhere",
  );
  const nationalities =
    l.nationalities === undefined
      ? null
      : resolveListed(sets, l.nationalities, [...path, "nationalities"], problems, "cover no one", true);
  if (l.purposes?.length === 0) {
    problems.push({
      code: "empty",
      path: [...path, "purposes"],
      message: "purposes names none: the license would serve no request; leave purposes out for any purpose",
    });
  }
  l.purposes?.forEach((purpose, i) => {
    const problem = purposeProblem(purpose);
    if (problem !== null) problems.push({ ...problem, path: [...path, "purposes", i] });
  });
  const licensee =
    "organization" in l.licensee
      ? { kind: "organization" as const, id: l.licensee.organization }
      : { kind: "principal" as const, id: l.licensee.principal };
  return {
    id: l.id,
    licensee,
    status: l.status,
    models: new Set(l.models),
    actions: l.actions.reduce((bits, a) => bits | (1 << ACTION_INDEX[a]), 0),
    destinations,
    purposes: l.purposes ? new Set(l.purposes) : null,
    nationalities,
    validFrom,
    validUntil,
    quotaTokens: l.quota_tokens ?? null,
    quotaPeriod: l.quota_period,
    grant: { kind: "license", license: l.id },
  };
}

/**
 * A license's countries. An empty list (however written) would make it grant nothing while reading
 * as if it limited nothing ("where it names them"), so it is refused, as an empty home is; a list
 * that is empty because a name is unknown is reported for that name alone.
 */
function resolveListed(
  sets: SetResolver,
  expr: SchemeLicense["destinations"],
  path: Path,
  problems: Problem[],
  consequence: string,
  optional = false,
): Countries {
  const before = problems.length;
  const countries = sets.resolve(expr, path);
  if (countries.size === 0 && problems.length === before) {
    const field = String(path.at(-1));
    problems.push({
      code: "empty",
      path,
      message: `${field} resolve to no country: the license would ${consequence}; ${optional ? `leave ${field} out to cover any nationality` : "it needs at least one"}`,
    });
  }
  return countries;
}

/**
 * Why no request could declare a license's purpose, or null. The gateway reads an empty
 * `x-clearance-purpose` as none, HTTP trims a header's surrounding whitespace, and control
 * characters are refused in it: a license naming such a purpose would serve nobody for it.
 */
function purposeProblem(purpose: string): Omit<Problem, "path"> | null {
  if (purpose.trim() === "") {
    return {
      code: "empty",
      message: `purpose ${purpose === "" ? "is empty" : "is blank"}: a request declaring none is served only by a license without purposes; name the purpose, or leave purposes out for any purpose`,
    };
  }
  if (/^\s|\s$/.test(purpose)) {
    return {
      code: "invalid_purpose",
      message: `purpose ${quoted(purpose)} begins or ends with whitespace, which x-clearance-purpose cannot carry (HTTP trims it): no request could declare it`,
    };
  }
  if (CONTROL.test(purpose)) {
    return {
      code: "invalid_purpose",
      message: `purpose ${quoted(purpose)} has control characters, which x-clearance-purpose may not hold: no request could declare it`,
    };
  }
  return null;
}

function groupLicenses(
  licenses: ReadonlyMap<string, CompiledLicense>,
  kind: "organization" | "principal",
): Map<string, CompiledLicense[]> {
  const out = new Map<string, CompiledLicense[]>();
  for (const l of licenses.values()) {
    if (l.licensee.kind !== kind) continue;
    const list = out.get(l.licensee.id) ?? [];
    list.push(l);
    out.set(l.licensee.id, list);
  }
  return out;
}

function unique(seen: Map<string, Path>, id: string, path: Path, what: string, problems: Problem[]): void {
  const first = seen.get(id);
  if (first !== undefined) {
    problems.push({
      code: "duplicate_id",
      path,
      message: `duplicate ${what} id ${quoted(id)} (first defined at ${first.join(".")})`,
    });
  } else seen.set(id, path);
}

/** An id as a message quotes it: a long one is cut (ids are bounded, but the bound is what failed). */
const clip = (id: string): string => (id.length > 60 ? `${id.slice(0, 60)}… (${id.length} characters)` : id);

/** Names a message lists at most: a message per reference must not grow with the scheme's size. */
export const NAMES_SHOWN = 10;

/** The first NAMES_SHOWN names (the scheme's: quoted when not plain, see nameList), and how many more. */
const listed = (names: readonly string[]): string =>
  names.length > NAMES_SHOWN
    ? `${nameList(names.slice(0, NAMES_SHOWN))}, … (${names.length - NAMES_SHOWN} more)`
    : nameList(names);

function unknownModel(model: string, path: Path, models: ReadonlyMap<string, CompiledModel>): Problem {
  return {
    code: "unknown_model",
    path,
    message: `unknown model ${quoted(model)}; expected one of the models defined under models: ${listed([...models.keys()])}`,
  };
}
