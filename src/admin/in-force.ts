/**
 * Whether this node holds an admin change it answers for. Every route that writes and then reloads
 * goes through here: `reloadAfter` marks the write (the store has committed it), reloads, and
 * `answer` adds `not_yet_in_force` when that reload failed — the change stands (stored, audited, in
 * force at the next successful reload here and at the next poll elsewhere), so the answer stays a
 * success, but it must not read as "in force now" (a revoked key still let through, say).
 */
import { activePointer, notYetInForce, type InForceScope, type NotYetInForce } from "../control/in-force.js";
import type { ControlState } from "../control/state.js";
import { ClearanceError } from "../errors/index.js";
import type { AdminDeps } from "./deps.js";

/** A change the store has committed, as `reloadAfter` marked it. */
export interface Written {
  /** What changed, as the caller knows it: "license BIS-2026-0001", "API key k1". */
  readonly subject: string;
  readonly scope: InForceScope;
  /** The mark taken right after the write (absent: this node does not say; see AdminDeps.reloads). */
  readonly mark: number | undefined;
}

/** Call once the store has committed the change `subject`: marks it, then reloads (deps.changed). */
export async function reloadAfter(
  deps: AdminDeps,
  subject: string,
  scope: InForceScope = "records",
): Promise<Written> {
  const written: Written = { subject, scope, mark: deps.reloads?.mark() };
  await deps.changed();
  return written;
}

/** The answer `body`, with `not_yet_in_force` when this node does not hold the change yet. */
export function answer<T extends object>(
  deps: AdminDeps,
  written: Written,
  body: T,
): T | (T & { readonly not_yet_in_force: NotYetInForce }) {
  const reloads = deps.reloads;
  if (reloads === undefined || written.mark === undefined) return body;
  const pending = notYetInForce(
    written.subject,
    reloads.holds(written.mark, written.scope),
    deps.state().reloadFailure,
    written.scope,
    reloads.failure(),
    reloads.node,
  );
  return pending === null ? body : { ...body, not_yet_in_force: pending };
}

/**
 * This node's state, once its active scheme version is the store's: a what-if, an activation's
 * impact or a version's diff describes a change from the version an activation would replace, not
 * from this node's snapshot a moment behind (another node activated meanwhile). A node behind
 * reloads first; one that still cannot take the store's version in refuses (`snapshot_behind`).
 */
export async function inStepWithStore(deps: AdminDeps): Promise<ControlState> {
  const stored = (await activePointer(deps.store)).document.version;
  if (deps.state().active.document.version === stored) return deps.state();
  await deps.changed();
  const state = deps.state();
  const now = (await activePointer(deps.store)).document.version;
  const mine = state.active.document.version;
  if (mine === now) return state;
  const failure = deps.reloads?.failure() ?? null;
  const why =
    state.reloadFailure !== undefined
      ? ` (the policy could not be loaded: ${state.reloadFailure})`
      : failure !== null
        ? ` (${failure.code}: ${failure.message})`
        : "";
  throw new ClearanceError(
    "conflict",
    "snapshot_behind",
    `this node's policy is of scheme version ${mine}, but the store's active version is ${now} and ` +
      `this node could not reload it${why}: what is measured against the version in force here would ` +
      "not describe the change; try again (see /readyz)",
  );
}
