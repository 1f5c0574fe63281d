/**
 * The control plane as the data plane sees it: the effective compiled scheme, the identities that
 * may use the admin API, and the records behind them — built from one consistent store snapshot.
 */
import { createHash } from "node:crypto";
import type { LicenseRecord } from "../licensing/types.js";
import type { CompiledScheme } from "../scheme/index.js";
import type { StoredRecord } from "../store/index.js";
import { compileFitting, type LeftOut } from "./effective.js";
import { readStoredVersionKept, readStoredVersionOffLoop } from "./read-version.js";
import type { ActiveScheme, Identity, PartnerDocument, SchemeVersion } from "./types.js";

export interface ControlState {
  /** The policy in force: the active version with the store's partners and licenses. */
  readonly scheme: CompiledScheme;
  /**
   * The active version as uploaded (its own partners and licenses only seed the store), less any of
   * them that no longer compiles (see `parseStoredVersion`).
   */
  readonly base: CompiledScheme;
  readonly active: StoredRecord<SchemeVersion>;
  readonly versions: readonly StoredRecord<SchemeVersion>[];
  /** Live identities by the hex SHA-256 of their token. */
  readonly identities: ReadonlyMap<string, Identity>;
  readonly identityRecords: readonly StoredRecord<Identity>[];
  readonly partners: readonly StoredRecord<PartnerDocument>[];
  readonly licenses: readonly StoredRecord<LicenseRecord>[];
  /**
   * Partners and licenses in the store that do not compile with the active version (a model or set
   * it lacks): left out of `scheme`, so what they would grant is denied (fail closed). Empty normally.
   */
  readonly leftOut: readonly LeftOut[];
  /** The policy records (ids and revisions) this state was compiled from. */
  readonly fingerprint: string;
  /**
   * Set when the store's latest records could not be loaded into a policy at all (no active
   * version): `scheme` is the one before, while keys, principals and identities are current.
   */
  readonly reloadFailure?: string;
  /**
   * With `reloadFailure`: the policy records (see `policyFingerprint`) whose policy was refused. A
   * policy is built from its records alone, so the same records are refused again without being
   * built: a reload finding them (each poll, while they stay in the store) keeps the refusal.
   */
  readonly refusedFingerprint?: string;
}

export const tokenHash = (token: string): string => createHash("sha256").update(token).digest("hex");

export class ControlStateError extends Error {
  override name = "ControlStateError";
}

/**
 * `buildState`, reusing the previous compiled policy when no record it depends on changed: a key
 * or principal change must not recompile a scheme with thousands of licenses on every node.
 */
export function updateState(previous: ControlState | null, records: readonly StoredRecord[]): ControlState {
  if (previous !== null && policyFingerprint(records) === previous.fingerprint) {
    const { reloadFailure: _failure, refusedFingerprint: _refused, ...kept } = previous;
    return { ...kept, ...identitiesOf(records) };
  }
  return buildState(records, previous);
}

/** Records the compiled policy does not depend on (admin identities, identity providers, blocks). */
const NOT_POLICY: ReadonlySet<StoredRecord["collection"]> = new Set([
  "identity",
  "identity-provider",
  "principal-block",
]);

/** Which policy records (and revisions) a state was compiled from. */
export function policyFingerprint(records: readonly StoredRecord[]): string {
  let out = "";
  for (const r of records) if (!NOT_POLICY.has(r.collection)) out += `${r.collection}/${r.id}@${r.revision};`;
  return out;
}

export function identitiesOf(records: readonly StoredRecord[]) {
  const identityRecords = records.filter((r) => r.collection === "identity") as StoredRecord<Identity>[];
  const identities = new Map<string, Identity>();
  for (const r of identityRecords)
    if (r.document.revoked_at === null) identities.set(r.document.token_hash, r.document);
  return { identities, identityRecords };
}

/** The active version's record among `records` (undefined: none, or not stored). */
function activeRecord(records: readonly StoredRecord[]): StoredRecord<SchemeVersion> | undefined {
  const pointer = records.find((r) => r.collection === "setting" && r.id === "active-scheme") as
    StoredRecord<ActiveScheme> | undefined;
  if (pointer === undefined) return undefined;
  return records.find(
    (r) => r.collection === "scheme" && (r.document as SchemeVersion).version === pointer.document.version,
  ) as StoredRecord<SchemeVersion> | undefined;
}

/**
 * Reads, before `updateState` (which cannot wait), the active version among `records` when it is
 * not `previous`'s: off the event loop when large, so that `buildState` finds it read. A version
 * activated through another node (or the CLI) is otherwise read on this node's event loop at its
 * next poll, holding up every request it serves. What the reading refuses is refused again, with
 * its problems, by `buildState`.
 */
export async function readActiveAhead(
  records: readonly StoredRecord[],
  previous: ControlState | null,
): Promise<void> {
  const active = activeRecord(records);
  if (active === undefined) return;
  if (previous?.active.id === active.id && previous.active.revision === active.revision) return;
  await readStoredVersionOffLoop(active.document).catch(() => undefined);
}

/**
 * `previous`: a state whose active version, parsed, is reused when it is the same record (id and
 * revision): parsing a large version's YAML takes seconds per MB on the event loop, and a change
 * to any partner or license reloads the policy on every node. Another version is found read when
 * this node has just read it (activating it: it was read off the event loop then).
 */
export function buildState(records: readonly StoredRecord[], previous?: ControlState | null): ControlState {
  const of = <T>(collection: StoredRecord["collection"]) =>
    records.filter((r) => r.collection === collection) as StoredRecord<T>[];
  const versions = of<SchemeVersion>("scheme").sort((a, b) => a.document.version - b.document.version);
  const pointer = of<ActiveScheme>("setting").find((r) => r.id === "active-scheme");
  const active = versions.find((v) => v.document.version === pointer?.document.version);
  if (active === undefined) throw new ControlStateError("no active scheme version in the store");
  const same = previous?.active.id === active.id && previous.active.revision === active.revision;
  // A version just activated (or read) through this node is found read (control/read-version.ts).
  const base = same ? previous.base : readStoredVersionKept(active.document).scheme;
  const partners = of<PartnerDocument>("partner");
  const licenses = of<LicenseRecord>("license");
  // What does not compile with the version is left out (and reported), never the whole reload:
  // a revocation or a key change made meanwhile must still take effect.
  const compiled = compileFitting(
    base.source,
    partners.map((p) => p.document),
    licenses.map((l) => l.document),
  );
  return {
    scheme: compiled.scheme,
    leftOut: compiled.leftOut,
    base,
    active,
    versions,
    ...identitiesOf(records),
    partners,
    licenses,
    fingerprint: policyFingerprint(records),
  };
}
