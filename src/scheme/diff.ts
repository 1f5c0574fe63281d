/**
 * Scheme diff: what changes if scheme version `to` replaces `from`, in sentences a compliance
 * officer reads before activating a version ("embargo adds RU (Russian Federation)").
 *
 * It compares the effective content: country sets are compared resolved, so a change to a set is
 * reported both as the set changing and as every embargo, partner, model or license it ripples
 * into; partner grants are compared as the (model, action) pairs they grant, so reordering or
 * regrouping grants changes nothing. Layout, comments and key order never show. Descriptive text
 * (descriptions, names, license conditions) is reported too, so an edit is never hidden.
 */
import { ACTIONS, ASSURANCE_LEVELS } from "../policy/types.js";
import type { CompiledScheme, GrantTable } from "./compile.js";
import { compareLicenses, firstById, licenses } from "./diff-licenses.js";
import { ChangeList, country, countryList, pairsPhrase, sorted, sortPairs, type Pair } from "./diff-text.js";
import { quoted } from "../policy/text.js";

export { formatDiff } from "./diff-format.js";
export type { Pair as GrantPair } from "./diff-text.js";

/** The areas of a scheme, in the order a diff lists them. */
export const CHANGE_AREAS = [
  "scheme",
  "home",
  "embargo",
  "restricted",
  "nationality-rule",
  "set",
  "model",
  "country-partner",
  "organization-partner",
  "grant",
  "license",
] as const;
export type ChangeArea = (typeof CHANGE_AREAS)[number];
export type ChangeKind = "added" | "removed" | "changed";

export interface SchemeChange {
  /**
   * added/removed: a whole subject appears or disappears, or a set or grant list only gains or only
   * loses members; changed: a value is replaced, or members are both gained and lost.
   */
  readonly kind: ChangeKind;
  readonly area: ChangeArea;
  /** What changes: "model mythos-5", "country partner g7-fvey", "set trusted", "embargo". */
  readonly subject: string;
  /** One sentence, e.g. "set trusted adds AU (Australia), removes NZ (New Zealand)". */
  readonly summary: string;
  /**
   * Machine-readable: `field` (the scheme file key) when a field of the subject changes; `from`/`to`
   * for a replaced value (or the whole subject's content when it is removed/added); `added`/`removed`
   * for members (country codes, models, actions, purposes, or {model, action} grant pairs).
   */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface SchemeRef {
  readonly name: string;
  readonly digest: string;
}

export interface SchemeDiff {
  readonly from: SchemeRef;
  readonly to: SchemeRef;
  /** Ordered by CHANGE_AREAS, then by subject id, then by field. */
  readonly changes: SchemeChange[];
  /** No effective change. The digests can still differ (a set expression or grants rewritten). */
  readonly identical: boolean;
}

export function diffSchemes(from: CompiledScheme, to: CompiledScheme): SchemeDiff {
  const c = new ChangeList();
  const text = (v: string | undefined) => (v === undefined ? "(none)" : quoted(v));
  c.value("scheme", "scheme", "name", from.name, to.name);
  c.value("scheme", "scheme", "description", from.source.description, to.source.description, text);
  c.members("home", "home", null, sorted(from.home), sorted(to.home), country);
  c.members("embargo", "embargo", null, sorted(from.embargoed), sorted(to.embargoed), country);
  c.members(
    "restricted",
    "restricted nationalities",
    null,
    sorted(from.restricted),
    sorted(to.restricted),
    country,
  );
  c.value("nationality-rule", "nationality rule", null, from.nationalityRule, to.nationalityRule);

  c.keyed(
    "set",
    "set",
    from.sets,
    to.sets,
    (s) => ({ text: countryList(sorted(s)), snapshot: sorted(s) }),
    (subject, a, b) => c.members("set", subject, null, sorted(a), sorted(b), country),
  );

  const models = (s: CompiledScheme) =>
    new Map(
      [...s.models.values()].map((m) => {
        const view: ModelView = {
          control: m.control,
          fallback: m.fallback,
          available_in: m.availableIn === null ? null : sorted(m.availableIn),
          description: s.source.models[m.id]?.description ?? null,
        };
        return [m.id, view] as const;
      }),
    );
  c.keyed("model", "model", models(from), models(to), describeModel, (subject, a, b) => {
    c.value("model", subject, "control", a.control, b.control);
    c.value("model", subject, "fallback", a.fallback, b.fallback, (v) => v ?? "(none)");
    c.members("model", subject, "available_in", a.available_in, b.available_in, country, "everywhere");
    c.value("model", subject, "description", a.description, b.description, (v) => text(v ?? undefined));
  });

  comparePartners(
    c,
    "country-partner",
    "country partner",
    partners(from, "country"),
    partners(to, "country"),
  );
  comparePartners(
    c,
    "organization-partner",
    "organization partner",
    partners(from, "organization"),
    partners(to, "organization"),
  );
  compareLicenses(c, licenses(from), licenses(to));

  const order = (change: SchemeChange) => CHANGE_AREAS.indexOf(change.area);
  // Array.prototype.sort is stable: within an area, changes keep the order they were found in.
  const changes = [...c.list].sort((a, b) => order(a) - order(b));
  return {
    from: { name: from.name, digest: from.digest },
    to: { name: to.name, digest: to.digest },
    changes,
    identical: changes.length === 0,
  };
}

interface ModelView {
  readonly control: string;
  readonly fallback: string | null;
  /** null: available everywhere. */
  readonly available_in: readonly string[] | null;
  readonly description: string | null;
}

function describeModel(m: ModelView): { text: string; snapshot: object } {
  const parts = [
    m.control,
    ...(m.fallback === null ? [] : [`fallback ${m.fallback}`]),
    m.available_in === null ? "available everywhere" : `available in ${countryList(m.available_in)}`,
  ];
  return { text: parts.join("; "), snapshot: m };
}

interface PartnerView {
  readonly name: string | null;
  /** Organization partners only: the organization's own country. */
  readonly country?: string;
  readonly status: string;
  readonly assurance: string;
  /** Country partners: the partner's countries; organization partners: its allowed locations. */
  readonly countries: readonly string[];
  readonly grants: readonly Pair[];
  /** Organization partners only: the limits the gateway enforces per organization (null: no limit). */
  readonly rate_limit?: RateLimitView;
}

interface RateLimitView {
  readonly requests_per_minute: number | null;
  readonly tokens_per_minute: number | null;
}

const RATE_LIMITS = ["requests_per_minute", "tokens_per_minute"] as const;
const perMinute = (n: number | null) => (n === null ? "unlimited" : n.toLocaleString("en-US"));

function grantPairs(table: GrantTable): Pair[] {
  const pairs: Pair[] = [];
  for (const [model, row] of table) {
    ACTIONS.forEach((action, i) => {
      if (row[i] !== -1) pairs.push({ model, action });
    });
  }
  return sortPairs(pairs);
}

function partners(s: CompiledScheme, kind: "country" | "organization"): Map<string, PartnerView> {
  const out = new Map<string, PartnerView>();
  const level = (rank: number) => ASSURANCE_LEVELS[rank] ?? String(rank);
  if (kind === "country") {
    const sources = firstById(s.source.partners.countries);
    for (const p of s.countryPartners) {
      const source = sources.get(p.id);
      out.set(p.id, {
        name: source?.name ?? null,
        status: p.status,
        assurance: level(p.assurance),
        countries: sorted(p.countries),
        grants: grantPairs(p.grants),
      });
    }
  } else {
    const sources = firstById(s.source.partners.organizations);
    for (const p of s.organizationPartners.values()) {
      const source = sources.get(p.id);
      out.set(p.id, {
        name: source?.name ?? null,
        country: p.country,
        status: p.status,
        assurance: level(p.assurance),
        countries: sorted(p.locations),
        grants: grantPairs(p.grants),
        // `rate_limit: {}` and none limit nothing alike.
        rate_limit: {
          requests_per_minute: p.rateLimit?.requestsPerMinute ?? null,
          tokens_per_minute: p.rateLimit?.tokensPerMinute ?? null,
        },
      });
    }
  }
  return out;
}

function comparePartners(
  c: ChangeList,
  area: "country-partner" | "organization-partner",
  noun: string,
  from: ReadonlyMap<string, PartnerView>,
  to: ReadonlyMap<string, PartnerView>,
): void {
  const where = area === "country-partner" ? "countries" : "locations";
  const describe = (p: PartnerView) => {
    const parts = [
      ...(p.name === null ? [] : [p.name]),
      ...(p.country === undefined ? [] : [`country ${country(p.country)}`]),
      p.status,
      `assurance ${p.assurance}`,
      `${where} ${countryList(p.countries)}`,
      `grants ${pairsPhrase(p.grants)}`,
      ...RATE_LIMITS.flatMap((field) => {
        const n = p.rate_limit?.[field] ?? null;
        const unit = field === "requests_per_minute" ? "requests" : "tokens";
        return n === null ? [] : [`rate limit ${perMinute(n)} ${unit} a minute`];
      }),
    ];
    return { text: parts.join("; "), snapshot: p };
  };
  c.keyed(area, noun, from, to, describe, (subject, a, b) => {
    c.value(area, subject, "name", a.name, b.name, (v) => (v === null ? "(none)" : quoted(v)));
    c.value(area, subject, "country", a.country, b.country, (v) => (v === undefined ? "(none)" : country(v)));
    c.value(area, subject, "status", a.status, b.status);
    c.value(area, subject, "assurance", a.assurance, b.assurance);
    c.members(area, subject, where, a.countries, b.countries, country);
    c.grants(subject, a.grants, b.grants);
    for (const field of RATE_LIMITS) {
      const limit = (p: PartnerView) => p.rate_limit?.[field] ?? null;
      c.value(area, subject, `rate_limit.${field}`, limit(a), limit(b), perMinute);
    }
  });
}
