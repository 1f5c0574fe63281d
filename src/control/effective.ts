/**
 * The policy in force: the active scheme version, with its partners and licenses replaced by the
 * store's (the store is the source of truth once running; a scheme file only seeds them). Compiled
 * by the same `compileScheme` as any scheme file, so the same validation applies to every change.
 */
import { formatProblem, type Problem } from "../errors/index.js";
import type { LicenseRecord } from "../licensing/types.js";
import { compileScheme, type CompiledScheme, type CompileResult } from "../scheme/compile.js";
import type { SchemeFile, SchemeLicense } from "../scheme/schema.js";
import type { PartnerDocument } from "./types.js";

export function licenseEntry(r: LicenseRecord): SchemeLicense {
  const t = r.terms;
  return {
    id: r.id,
    licensee: r.licensee,
    models: [...t.models],
    actions: [...t.actions],
    // The countries resolved when it was applied for; a license stored before they were recorded
    // resolves its set names against the active version.
    destinations: t.resolved === undefined ? t.destinations : [...t.resolved.destinations],
    ...(t.purposes === undefined ? {} : { purposes: [...t.purposes] }),
    ...(t.nationalities === undefined
      ? {}
      : { nationalities: t.resolved?.nationalities ? [...t.resolved.nationalities] : t.nationalities }),
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

/** A partner or license left out of the policy in force because it does not compile with it. */
export interface LeftOut {
  readonly kind: "partner" | "license";
  readonly id: string;
  /** Paths relative to the partner's or license's entry. */
  readonly problems: readonly Problem[];
}

/**
 * `compileEffective` that never fails on what the store holds: a partner or license that does not
 * compile with the version (an unknown model, an undefined set) is left out — failing closed: what
 * it would grant is denied — and reported, and the rest compiles. Should a problem name no partner
 * or license, every partner and license is left out (the version alone grants nothing to them).
 */
export function compileFitting(
  scheme: SchemeFile,
  partners: readonly PartnerDocument[],
  licenses: readonly LicenseRecord[],
): { readonly scheme: CompiledScheme; readonly leftOut: readonly LeftOut[] } {
  let ps = [...partners];
  let ls = [...licenses];
  const leftOut: LeftOut[] = [];
  // Each round leaves out at least one entry, so this ends.
  for (;;) {
    const result = compileEffective(scheme, ps, ls);
    if (result.ok) return { scheme: result.scheme, leftOut };
    const countries = ps.filter((p) => p.kind === "country");
    const organizations = ps.filter((p) => p.kind === "organization");
    const bad = new Map<object, LeftOut & { problems: Problem[] }>();
    let unattributed = false;
    for (const problem of result.problems) {
      const [top, sub, index] = problem.path;
      const hit =
        top === "licenses" && typeof sub === "number"
          ? { doc: ls[sub], kind: "license" as const, rest: problem.path.slice(2) }
          : top === "partners" &&
              (sub === "countries" || sub === "organizations") &&
              typeof index === "number"
            ? {
                doc: (sub === "countries" ? countries : organizations)[index],
                kind: "partner" as const,
                rest: problem.path.slice(3),
              }
            : undefined;
      if (hit?.doc === undefined) {
        unattributed = true;
        continue;
      }
      const id =
        hit.kind === "license" ? (hit.doc as LicenseRecord).id : (hit.doc as PartnerDocument).partner.id;
      const entry = bad.get(hit.doc) ?? { kind: hit.kind, id, problems: [] };
      entry.problems.push({ ...problem, path: hit.rest });
      bad.set(hit.doc, entry);
    }
    if (unattributed || bad.size === 0) {
      const problems = result.problems.filter((p) => p.path[0] !== "licenses" && p.path[0] !== "partners");
      for (const p of ps) leftOut.push({ kind: "partner", id: p.partner.id, problems });
      for (const l of ls) leftOut.push({ kind: "license", id: l.id, problems });
      const bare = compileEffective(scheme, [], []);
      // The version itself compiled when it was uploaded: this cannot fail but would be a bug.
      if (!bare.ok)
        throw new Error(`the active scheme version does not compile: ${bare.problems[0]?.message}`);
      return { scheme: bare.scheme, leftOut };
    }
    leftOut.push(...bad.values());
    ps = ps.filter((p) => !bad.has(p));
    ls = ls.filter((l) => !bad.has(l));
  }
}

/** One line naming what was left out and why, for logs and error messages. */
export function describeLeftOut(leftOut: readonly LeftOut[]): string {
  return leftOut
    .map(
      (l) =>
        `${l.kind} ${l.id} (${l.problems.map((p) => formatProblem(p)).join("; ") || "does not compile"})`,
    )
    .join(", ");
}
