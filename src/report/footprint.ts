/**
 * The jurisdiction footprint report: the served footprint (the audit log joined with the store) and
 * the policy footprint (the scheme in force), assembled in memory and only then rendered, so that a
 * failure part-way (an unreadable log, an empty period) never leaves a half-written report.
 */
import type { LogSource } from "../audit/source.js";
import { quotaWindows, usageByPeriod, type UsageByPeriod } from "../metering/index.js";
import type { CompiledScheme } from "../scheme/compile.js";
import type { Store } from "../store/index.js";
import { dayOf, type Period } from "./period.js";
import { policyFootprint, type PolicyFootprint } from "./policy.js";
import { knownPrincipals, principalIndex } from "./principals.js";
import { servedFootprint, type ServedFootprint, type UsageFacts } from "./served.js";

export interface FootprintReport {
  readonly report: "footprint";
  readonly generated_at: string;
  readonly scheme: { readonly name: string; readonly digest: string };
  readonly served: ServedFootprint;
  readonly policy: PolicyFootprint;
}

export interface FootprintOptions {
  readonly store: Store;
  readonly source: LogSource;
  /** The policy in force (active version with the store's partners and licenses). */
  readonly scheme: CompiledScheme;
  readonly period: Period;
  readonly pseudonymKey: string | null;
  readonly now: Date;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * What the store metered per license: in the period, and in each license's quota period now, in one
 * read of the store's sums (the period's days were read once for the period and again for the
 * quotas). The store meters tokens per UTC day, so the period's tokens are those of every UTC day it
 * touches (`days`, both included): a period that starts or ends inside a day counts that whole day.
 */
export async function usageFacts(
  store: Store,
  scheme: CompiledScheme,
  period: Period,
  now: Date,
): Promise<UsageFacts> {
  const days = { from: dayOf(period.from), to: dayOf(new Date(Date.parse(period.to) - 1).toISOString()) };
  // The quota periods' windows first (usageByPeriod reads those), then the period's.
  const quota = quotaWindows(now);
  const rows = await store.usage.byLicenseWindows([...quota, days]);
  const licenseTokens = new Map<string, number>();
  for (const r of rows) {
    const tokens = r.windows[quota.length]!;
    if (tokens > 0) licenseTokens.set(r.licenseId, tokens);
  }
  return { licenseTokens, days, quotaUsed: quotaUsedUnder(scheme, usageByPeriod(rows)) };
}

/**
 * Each license's tokens in its quota period as `scheme` sets it, from one read of the store's
 * usage (`storedUsage`, as the gateway's counters are seeded, or `usageByPeriod`): a what-if judges two schemes, whose
 * periods may differ, from the same figures without reading them twice.
 */
export function quotaUsedUnder(scheme: CompiledScheme, stored: UsageByPeriod): Map<string, number> {
  const used = new Map<string, number>();
  for (const l of scheme.licenses.values()) used.set(l.id, stored[l.quotaPeriod].get(l.id) ?? 0);
  return used;
}

export async function footprintReport(o: FootprintOptions): Promise<FootprintReport> {
  // The log names the store's principals and the people partners' identity providers vouched for.
  const principals = principalIndex((await knownPrincipals(o.store)).all, o.pseudonymKey);
  const served = await servedFootprint({
    source: o.source,
    scheme: o.scheme,
    principals,
    period: o.period,
    usage: await usageFacts(o.store, o.scheme, o.period, o.now),
    ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
  });
  return {
    report: "footprint",
    generated_at: o.now.toISOString(),
    scheme: o.scheme.ref,
    served,
    policy: policyFootprint(o.scheme, o.now.getTime()),
  };
}
