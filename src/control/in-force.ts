/**
 * Checking a change against the policy as the store holds it now — not against a node's snapshot,
 * which may be a moment behind (another node, or an activation still in flight, may have changed
 * the active version) — and telling the caller when a change that was stored is not in force.
 *
 * A check and the write it allows are tied by a compare-and-swap (a store `PutGuard`): a license
 * or partner is written only if the active version is still the one it was checked against, and an
 * activation only if nothing at all changed since it was checked against every partner and license.
 */
import { ClearanceError, type Problem } from "../errors/index.js";
import type { LicenseRecord } from "../licensing/types.js";
import type { SchemeFile } from "../scheme/schema.js";
import type { PutGuard, Store, StoredRecord } from "../store/index.js";
import { describeLeftOut, type LeftOut } from "./effective.js";
import { readStoredVersionOffLoop } from "./read-version.js";
import type { ControlState } from "./state.js";
import type { ActiveScheme, PartnerDocument, SchemeVersion } from "./types.js";

export const ACTIVE_SCHEME = { collection: "setting", id: "active-scheme" } as const;

/** The active version and the partners and licenses, as the store holds them now. */
export interface StorePolicy {
  readonly version: number;
  /** The guard of a write checked against this version: it must still be the active one. */
  readonly guard: PutGuard;
  readonly scheme: SchemeFile;
  readonly partners: readonly StoredRecord<PartnerDocument>[];
  readonly licenses: readonly StoredRecord<LicenseRecord>[];
}

/** The store's pointer to its active scheme version, as it is now. */
export async function activePointer(store: Store): Promise<StoredRecord<ActiveScheme>> {
  const pointer = await store.records.get<ActiveScheme>(ACTIVE_SCHEME.collection, ACTIVE_SCHEME.id);
  if (pointer === undefined)
    throw new ClearanceError("unavailable", "no_active_scheme", "the store has no active scheme version");
  return pointer;
}

/** `cached`: a state whose parsed version is reused when it is the store's active one. */
export async function storePolicy(store: Store, cached?: ControlState): Promise<StorePolicy> {
  const pointer = await activePointer(store);
  const version = pointer.document.version;
  let scheme: SchemeFile;
  if (cached !== undefined && cached.active.document.version === version) scheme = cached.base.source;
  else {
    const record = await store.records.get<SchemeVersion>("scheme", String(version));
    if (record === undefined)
      throw new ClearanceError(
        "unavailable",
        "no_active_scheme",
        `the store lacks scheme version ${version}`,
      );
    // Off the event loop when large, or as read already (control/read-version.ts).
    scheme = (await readStoredVersionOffLoop(record.document)).scheme.source;
  }
  const [partners, licenses] = await Promise.all([
    store.records.list<PartnerDocument>("partner"),
    store.records.list<LicenseRecord>("license"),
  ]);
  return {
    version,
    guard: { record: { ...ACTIVE_SCHEME, revision: pointer.revision } },
    scheme,
    partners,
    licenses,
  };
}

/**
 * A scheme version by id: this node's snapshot's, else the store's. A version uploaded through
 * another node (or the CLI, or just now) is in the store before this node has reloaded: activating,
 * reading or previewing it must not answer 404 meanwhile. Versions are never changed once stored.
 */
export async function schemeVersion(
  store: Store,
  state: ControlState,
  id: string,
): Promise<StoredRecord<SchemeVersion>> {
  const held = state.versions.find((r) => r.id === id);
  if (held !== undefined) return held;
  const stored = await store.records.get<SchemeVersion>("scheme", id);
  if (stored === undefined) throw new ClearanceError("not-found", "not_found", `no scheme version ${id}`);
  return stored;
}

/**
 * A collection's records as the store holds them now, as by-id reads are: this node's snapshot's
 * (`held`) while it is in step with the store (`heldVersion`, the store version it was loaded at, is
 * the store's: nothing changed since), else read from the store — a change made through another
 * node (or the CLI), or one this node could not reload after, is there before this node has it. The
 * in-step case costs one row read; a full read of every license takes about 0.6 s at 10,000 on
 * SQLite, too much for each page of a list. A version check that fails reads the store too.
 */
export async function currentRecords<T>(
  store: Store,
  collection: StoredRecord["collection"],
  held: readonly StoredRecord<T>[],
  heldVersion: number | undefined,
): Promise<readonly StoredRecord<T>[]> {
  if (heldVersion !== undefined) {
    const version = await store.version().catch(() => undefined);
    if (version === heldVersion) return held;
  }
  return store.records.list<T>(collection);
}

/** Problems naming each left-out entry by id: `licenses.<id>.models[0]`, `partners.<id>.grants…`. */
export function leftOutProblems(leftOut: readonly LeftOut[]): Problem[] {
  return leftOut.flatMap((l) =>
    l.problems.map((p) => ({
      ...p,
      path: [l.kind === "license" ? "licenses" : "partners", l.id, ...p.path],
    })),
  );
}

/**
 * After a change has been stored and this node has reloaded: refuses (an error for the caller, not
 * a success) when the entry changed is left out of the policy because it does not compile with the
 * active version (what it would grant is denied). A node that could not load the policy at all
 * refuses nothing here: the change stands and will be loaded with it, and the answer says it is not
 * yet in force (`notYetInForce`, `policy_not_loaded`) — an error there had a retry refused as a
 * duplicate, or done twice. What the policy before leaves out says nothing of this change.
 */
export function requireInForce(state: ControlState, kind: LeftOut["kind"], id: string): void {
  if (state.reloadFailure !== undefined) return;
  const mine = state.leftOut.filter((l) => l.kind === kind && l.id === id);
  if (mine.length === 0) return;
  throw new ClearanceError(
    "conflict",
    "not_in_force",
    `${kind} ${id} was stored but is left out of the policy in force, as it does not compile with ` +
      `scheme version ${state.active.document.version}: ${describeLeftOut(mine)}; what it would grant is denied`,
    { problems: leftOutProblems(mine) },
  );
}

/**
 * A change that was stored and answered as done, but that this node has not yet put in force: its
 * reload right after the write failed. The change stands (it is durable and audited, and takes
 * effect at the node's next successful reload, as on every other node at its next poll), so the
 * answer stays a success, saying so: asked again, it would be refused or done twice.
 */
export interface NotYetInForce {
  /** `reload_failed`: the store's version check or read failed; `policy_not_loaded`: no policy built. */
  readonly code: "reload_failed" | "policy_not_loaded";
  readonly message: string;
  /**
   * The node that answered, which does not hold the change (its `audit.node`): behind a load
   * balancer, only this node's own /readyz (which names it too) can say it has reloaded since.
   */
  readonly node: string;
}

/**
 * What a change is in force with: `policy` for what the policy is built from (the active version,
 * partners, licenses), which a node that cannot build a policy holds back; `records` for the rest
 * (keys, principals, identities, identity providers, blocks, screening), which it takes even then.
 */
export type InForceScope = "policy" | "records";

/** Whether this node has taken in a change: the data plane's snapshot (gateway/snapshot.ts) says. */
export interface Reloads {
  /** A write's mark, taken once the store committed it: a reload begun from then on reads it. */
  readonly mark: () => number;
  /** Whether a reload begun at or after `mark` took in the records, or (`policy`) built the policy. */
  readonly holds: (mark: number, scope: InForceScope) => boolean;
  /** Why this node's last reload failed (null: it succeeded). */
  readonly failure: () => { readonly code: string; readonly message: string } | null;
  /** This node's name, as its audit entries and /readyz give it (audit.node, else the host name). */
  readonly node: string;
}

/**
 * What to tell the caller of a change `subject` ("license BIS-2026-0001", "API key k1") that this
 * node (named `node`) does not hold (`held` false), else null. `policyFailure`: why this node could
 * not build the policy (ControlState.reloadFailure); `failure`: why its last reload failed.
 */
export function notYetInForce(
  subject: string,
  held: boolean,
  policyFailure: string | undefined,
  scope: InForceScope,
  failure: { readonly code: string; readonly message: string } | null,
  node: string,
): NotYetInForce | null {
  if (held) return null;
  const noPolicy = scope === "policy" && policyFailure !== undefined;
  const why = noPolicy
    ? `the policy could not be loaded from the store (${policyFailure})`
    : failure !== null
      ? `it could not reload from the store (${failure.code}: ${failure.message})`
      : "it has not reloaded since";
  return {
    code: noPolicy ? "policy_not_loaded" : "reload_failed",
    // The node by name, not "this node": behind a load balancer the reader cannot tell which answered.
    message:
      `${subject} was changed in the store, but is not yet in force on node ${node}: ${why}; ` +
      `it takes effect on ${node} at its next successful reload, and on other nodes at their next ` +
      `poll (see ${node}'s /readyz)`,
    node,
  };
}

/**
 * After an activation: refuses when anything is left out of the policy it brought into force. Not
 * when no policy could be loaded: the answer says so instead (see requireInForce).
 */
export function requireAllInForce(state: ControlState): void {
  if (state.reloadFailure !== undefined) return;
  if (state.leftOut.length === 0) return;
  throw new ClearanceError(
    "conflict",
    "not_in_force",
    `scheme version ${state.active.document.version} is active, but these are left out of the policy ` +
      `in force, as they do not compile with it: ${describeLeftOut(state.leftOut)}; what they would grant is denied`,
    { problems: leftOutProblems(state.leftOut) },
  );
}
