/** Licenses in a scheme diff: every field, with countries resolved and dates compared as instants. */
import { ACTIONS } from "../policy/types.js";
import type { CompiledLicense, CompiledScheme, Countries } from "./compile.js";
import { type ChangeList, country, countryList, pairsPhrase, sorted, type Pair } from "./diff-text.js";
import { quoted } from "../policy/text.js";

type QuotaPeriod = CompiledLicense["quotaPeriod"];

export interface LicenseView {
  readonly licensee: string;
  readonly status: string;
  readonly models: readonly string[];
  readonly actions: readonly string[];
  readonly destinations: readonly string[];
  readonly nationalities: readonly string[] | null;
  readonly purposes: readonly string[] | null;
  readonly valid_from: { readonly text: string; readonly time: number };
  readonly valid_until: { readonly text: string; readonly time: number };
  readonly quota_tokens: number | null;
  readonly quota_period: QuotaPeriod;
  readonly conditions: string | null;
}

export function licenses(s: CompiledScheme): Map<string, LicenseView> {
  const out = new Map<string, LicenseView>();
  const codes = (set: Countries | null) => (set === null ? null : sorted(set));
  // By id once: a search per license made a large scheme's diff quadratic (60,000 licenses: minutes).
  const sources = firstById(s.source.licenses);
  for (const l of s.licenses.values()) {
    const source = sources.get(l.id);
    out.set(l.id, {
      licensee: `${l.licensee.kind} ${l.licensee.id}`,
      status: l.status,
      models: sorted(l.models),
      actions: ACTIONS.filter((_, i) => (l.actions & (1 << i)) !== 0),
      destinations: sorted(l.destinations),
      nationalities: codes(l.nationalities),
      purposes: l.purposes === null ? null : sorted(l.purposes),
      valid_from: { text: source?.valid_from ?? new Date(l.validFrom).toISOString(), time: l.validFrom },
      valid_until: { text: source?.valid_until ?? new Date(l.validUntil).toISOString(), time: l.validUntil },
      quota_tokens: l.quotaTokens,
      quota_period: l.quotaPeriod,
      conditions: source?.conditions ?? null,
    });
  }
  return out;
}

/** Each item by its id, the first of an id kept (as `find` would find it). */
export function firstById<T extends { readonly id: string }>(items: readonly T[]): Map<string, T> {
  const out = new Map<string, T>();
  for (const item of items) if (!out.has(item.id)) out.set(item.id, item);
  return out;
}

const tokens = (n: number | null) => (n === null ? "unlimited" : `${n.toLocaleString("en-US")} tokens`);

const PERIOD: Readonly<Record<QuotaPeriod, string>> = {
  month: "per calendar month",
  quarter: "per quarter",
  total: "for the whole license",
};
const period = (p: QuotaPeriod) => `${p} (${PERIOD[p]})`;
const quota = (l: LicenseView) =>
  l.quota_tokens === null ? tokens(null) : `${tokens(l.quota_tokens)} ${PERIOD[l.quota_period]}`;

function describeLicense(l: LicenseView): { text: string; snapshot: object } {
  const pairs = l.models.flatMap((model) => l.actions.map((action) => ({ model, action }) as Pair));
  const parts = [
    l.status,
    `licensee ${l.licensee}`,
    pairsPhrase(pairs),
    `destinations ${countryList(l.destinations)}`,
    ...(l.nationalities === null ? [] : [`nationalities ${countryList(l.nationalities)}`]),
    ...(l.purposes === null ? [] : [`purposes ${l.purposes.join(", ")}`]),
    `valid ${l.valid_from.text} to ${l.valid_until.text}`,
    `quota ${quota(l)}`,
  ];
  const snapshot = { ...l, valid_from: l.valid_from.text, valid_until: l.valid_until.text };
  return { text: parts.join("; "), snapshot };
}

export function compareLicenses(
  c: ChangeList,
  from: ReadonlyMap<string, LicenseView>,
  to: ReadonlyMap<string, LicenseView>,
): void {
  const plain = (v: string) => v;
  c.keyed("license", "license", from, to, describeLicense, (subject, a, b) => {
    c.value("license", subject, "licensee", a.licensee, b.licensee);
    c.value("license", subject, "status", a.status, b.status);
    c.members("license", subject, "models", a.models, b.models, plain);
    c.members("license", subject, "actions", a.actions, b.actions, plain);
    c.members("license", subject, "destinations", a.destinations, b.destinations, country);
    c.members("license", subject, "nationalities", a.nationalities, b.nationalities, country);
    c.members("license", subject, "purposes", a.purposes, b.purposes, plain);
    for (const field of ["valid_from", "valid_until"] as const) {
      // Compared as instants: 2026-07-01 and 2026-07-01T00:00:00Z are the same moment.
      const same = () => a[field].time === b[field].time;
      c.value("license", subject, field, a[field].text, b[field].text, String, same);
    }
    c.value("license", subject, "quota_tokens", a.quota_tokens, b.quota_tokens, tokens);
    // The same tokens a month instead of in total is a wider license; without a quota the period
    // limits nothing, so it changes nothing.
    if (a.quota_tokens !== null || b.quota_tokens !== null)
      c.value("license", subject, "quota_period", a.quota_period, b.quota_period, period);
    c.value("license", subject, "conditions", a.conditions, b.conditions, (v) =>
      v === null ? "(none)" : quoted(v),
    );
  });
}
