/**
 * The policy in force: the active scheme version, with its partners and licenses replaced by the
 * store's (the store is the source of truth once running; a scheme file only seeds them). Compiled
 * by the same `compileScheme` as any scheme file, so the same validation applies to every change.
 */
import type { LicenseRecord } from "../licensing/types.js";
import { compileScheme, type CompileResult } from "../scheme/compile.js";
import type { SchemeFile, SchemeLicense } from "../scheme/schema.js";
import type { PartnerDocument } from "./types.js";

export function licenseEntry(r: LicenseRecord): SchemeLicense {
  const t = r.terms;
  return {
    id: r.id,
    licensee: r.licensee,
    models: [...t.models],
    actions: [...t.actions],
    destinations: t.destinations,
    ...(t.purposes === undefined ? {} : { purposes: [...t.purposes] }),
    ...(t.nationalities === undefined ? {} : { nationalities: t.nationalities }),
    valid_from: t.valid_from,
    valid_until: t.valid_until,
    ...(t.quota_tokens === undefined ? {} : { quota_tokens: t.quota_tokens }),
    quota_period: t.quota_period,
    status: r.status,
  } as SchemeLicense;
}

export function effectiveSource(
  scheme: SchemeFile,
  partners: readonly PartnerDocument[],
  licenses: readonly LicenseRecord[],
): SchemeFile {
  const countries = [];
  const organizations = [];
  for (const p of partners) {
    if (p.kind === "country") countries.push(p.partner);
    else organizations.push(p.partner);
  }
  return { ...scheme, partners: { countries, organizations }, licenses: licenses.map(licenseEntry) };
}

export function compileEffective(
  scheme: SchemeFile,
  partners: readonly PartnerDocument[],
  licenses: readonly LicenseRecord[],
): CompileResult {
  return compileScheme(effectiveSource(scheme, partners, licenses));
}
