/**
 * The policy in force: the active scheme version, with its partners and licenses replaced by the
 * store's (the store is the source of truth once running; a scheme file only seeds them). Compiled
 * by the same `compileScheme` as any scheme file, so the same validation applies to every change.
 */
import { formatProblem, type Problem } from "../errors/index.js";
import type { LicenseRecord } from "../licensing/types.js";
import {
  compileScheme,
  type CompiledScheme,
  type CompileResult,
  type OrganizationRateLimit,
  type RateLimit,
} from "../scheme/compile.js";
import { parseSchemeWith, type SchemeCompiler } from "../scheme/load.js";
import type { SchemeFile, SchemeLicense } from "../scheme/schema.js";
import type { PartnerDocument, SchemeVersion } from "./types.js";
import { quoted } from "../policy/text.js";

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

/** Names a left-out entry across compilations (one compiled under another version, say). */
export const leftOutKey = (l: LeftOut): string => `${l.kind}\u0000${l.id}`;

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
  const fitted = compileLeavingOut(effectiveSource(scheme, partners, licenses));
  if (fitted.ok) return fitted;
  const { remaining } = fitted;
  const problems = fitted.problems.filter((p) => p.path[0] !== "licenses" && p.path[0] !== "partners");
  const leftOut = [...fitted.leftOut];
  for (const p of [...remaining.partners.countries, ...remaining.partners.organizations])
    leftOut.push({ kind: "partner", id: p.id, problems });
  for (const l of remaining.licenses) leftOut.push({ kind: "license", id: l.id, problems });
  const bare = compileEffective(scheme, [], []);
  // The version itself compiled when it was uploaded: this cannot fail but would be a bug.
  if (!bare.ok) throw new Error(`the active scheme version does not compile: ${bare.problems[0]?.message}`);
  const organizations = partners.flatMap((p) => (p.kind === "organization" ? [p.partner] : []));
  return { scheme: keepingRateLimits(bare.scheme, organizations), leftOut };
}

type Fitted =
  | { readonly ok: true; readonly scheme: CompiledScheme; readonly leftOut: readonly LeftOut[] }
  | {
      readonly ok: false;
      /** Those of the last round, one at least naming no partner or license. */
      readonly problems: readonly Problem[];
      readonly leftOut: readonly LeftOut[];
      /** The source without what was left out before that round. */
      readonly remaining: SchemeFile;
    };

type OrganizationEntry = SchemeFile["partners"]["organizations"][number];
type PartnerEntry = SchemeFile["partners"]["countries"][number] | OrganizationEntry;

/**
 * Compiles a scheme, leaving out each partner and license a problem names (and reporting it), until
 * the rest compiles or a problem names neither. A partner listed under two spellings of its id is
 * left out under both: which one a request meets would decide whether a suspension holds.
 */
export function compileLeavingOut(source: SchemeFile): Fitted {
  let current = source;
  const leftOut: LeftOut[] = [];
  const organizationsLeftOut: OrganizationEntry[] = [];
  // Each round leaves out at least one entry, so this ends.
  for (;;) {
    const result = compileScheme(current);
    if (result.ok)
      return { ok: true, scheme: keepingRateLimits(result.scheme, organizationsLeftOut), leftOut };
    const { countries, organizations } = current.partners;
    const allPartners: readonly PartnerEntry[] = [...countries, ...organizations];
    const bad = new Map<object, LeftOut & { problems: Problem[] }>();
    const leave = (entry: { id: string }, kind: LeftOut["kind"], problem: Problem) => {
      const out = bad.get(entry) ?? { kind, id: entry.id, problems: [] };
      out.problems.push(problem);
      bad.set(entry, out);
    };
    const spelledTwice = new Set<string>();
    let unattributed = false;
    for (const problem of result.problems) {
      const [top, sub, index] = problem.path;
      if (top === "licenses" && typeof sub === "number" && current.licenses[sub] !== undefined) {
        leave(current.licenses[sub], "license", { ...problem, path: problem.path.slice(2) });
        continue;
      }
      const partner =
        top === "partners" && (sub === "countries" || sub === "organizations") && typeof index === "number"
          ? current.partners[sub][index]
          : undefined;
      if (partner === undefined) unattributed = true;
      else if (problem.code === "duplicate_id") spelledTwice.add(partner.id.toLowerCase());
      else leave(partner, "partner", { ...problem, path: problem.path.slice(3) });
    }
    for (const key of spelledTwice) {
      const same = allPartners.filter((p) => p.id.toLowerCase() === key);
      const spellings = [...new Set(same.map((p) => quoted(p.id)))];
      const problem: Problem = {
        code: "duplicate_id",
        path: ["id"],
        message:
          (spellings.length === 1
            ? `partner id ${spellings[0]} is listed ${same.length} times`
            : `partner ids ${spellings.join(" and ")} name one partner (ids are compared without regard to case)`) +
          ": they may not be in force together, or what the status of one withholds another would grant",
      };
      for (const p of same) leave(p, "partner", problem);
    }
    if (unattributed || bad.size === 0)
      return { ok: false, problems: result.problems, leftOut, remaining: current };
    leftOut.push(...bad.values());
    organizationsLeftOut.push(...organizations.filter((p) => bad.has(p)));
    current = {
      ...current,
      partners: {
        countries: countries.filter((p) => !bad.has(p)),
        organizations: organizations.filter((p) => !bad.has(p)),
      },
      licenses: current.licenses.filter((l) => !bad.has(l)),
    };
  }
}

/**
 * The scheme with the rate limits of organization partners left out of it kept in force. Leaving a
 * partner out withholds what it grants, but licenses held by the organization need no partner and
 * go on serving its members: without its rate limit they would be served unlimited (and, with the
 * shared counters down, unrefused). An organization listed under several spellings of its id gets
 * the strictest of their limits under each, counted in one window however its members spell it.
 */
function keepingRateLimits(scheme: CompiledScheme, leftOut: readonly OrganizationEntry[]): CompiledScheme {
  if (!leftOut.some((p) => p.rate_limit !== undefined)) return scheme;
  const limits = new Map(scheme.organizationRateLimits);
  const groups = new Map<string, OrganizationEntry[]>();
  for (const p of leftOut) groups.set(p.id.toLowerCase(), [...(groups.get(p.id.toLowerCase()) ?? []), p]);
  for (const [key, same] of groups) {
    const spellings = [...new Set(same.map((p) => p.id))];
    const counter = spellings.length === 1 ? spellings[0]! : key;
    let kept: OrganizationRateLimit | null = null;
    for (const { rate_limit: r } of same) {
      if (r === undefined) continue;
      const limit = {
        requestsPerMinute: r.requests_per_minute ?? null,
        tokensPerMinute: r.tokens_per_minute ?? null,
      };
      kept = kept === null ? { ...limit, counter } : { ...stricter(kept, limit), counter };
    }
    if (kept === null) continue;
    for (const id of spellings) {
      const compiled = limits.get(id);
      limits.set(
        id,
        compiled === undefined ? kept : { ...stricter(compiled, kept), counter: compiled.counter },
      );
    }
  }
  return { ...scheme, organizationRateLimits: limits };
}

/** Per figure, the lower of two limits (null: no limit). */
function stricter(a: RateLimit, b: RateLimit): RateLimit {
  const lower = (x: number | null, y: number | null) => (x === null ? y : y === null ? x : Math.min(x, y));
  return {
    requestsPerMinute: lower(a.requestsPerMinute, b.requestsPerMinute),
    tokensPerMinute: lower(a.tokensPerMinute, b.tokensPerMinute),
  };
}

/**
 * A version already stored, for use (the active one, the one a change is checked against). What a
 * release refuses in a new version that an older one stored (an empty list in a license, a partner
 * under two spellings of its id) must not stop it loading — start-up would fail, and no new version
 * could be activated to mend it. So its partners and licenses that do not compile are left out;
 * they only seed the store, whose own are compiled and reported by `compileFitting`. A problem
 * anywhere else refuses the version, placed at its line.
 */
export function parseStoredVersion(version: Pick<SchemeVersion, "version" | "text">): CompiledScheme {
  return readStoredVersion(version).scheme;
}

/** `parseStoredVersion`, with what of the version it left out (for those reading the version). */
export function readStoredVersion(version: Pick<SchemeVersion, "version" | "text">): StoredVersionRead {
  return parseSchemeWith(
    version.text,
    storedVersionFile(version),
    compileStored,
    // Tags an upload is now refused for were read as if absent when it was stored: still so.
    { tags: "as-stored" },
  );
}

/** A stored version as read: compiled, and what of it was left out (see `readStoredVersion`). */
export interface StoredVersionRead {
  readonly scheme: CompiledScheme;
  readonly leftOut: readonly LeftOut[];
}

/** What a stored version's problems name as their file. */
export const storedVersionFile = (version: Pick<SchemeVersion, "version">): string =>
  `scheme version ${version.version}`;

/** How `readStoredVersion` compiles a version's validated source. */
export const compileStored: SchemeCompiler<StoredVersionRead> = (source) => {
  const fitted = compileLeavingOut(source);
  if (fitted.ok) return { ok: true, scheme: { scheme: fitted.scheme, leftOut: fitted.leftOut } };
  // Placed against the version as stored (the last round's paths index what was left of it).
  const strict = compileScheme(source);
  return strict.ok
    ? { ok: true, scheme: { scheme: strict.scheme, leftOut: [] } }
    : { ok: false, problems: strict.problems };
};

/**
 * A stored version as activating it (a rollback) compiles it: with every check a new version passes,
 * so what newer checks refuse in it is refused, naming the field; but its text read as stored, as
 * start-up reads it — tags a release before took (read as if absent) change nothing it says, and
 * refusing them would only keep a rollback to it from being made. New text (an upload, the scheme
 * file) is still refused for them.
 */
export function parseVersionToActivate(text: string, file: string): CompiledScheme {
  return parseSchemeWith(text, file, compileScheme, { tags: "as-stored" });
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
