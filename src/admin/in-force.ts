/**
 * Whether this node holds an admin change it answers for. Every route that writes and then reloads
 * goes through here: `reloadAfter` marks the write (the store has committed it), reloads, and
 * `answer` adds `not_yet_in_force` when that reload failed — the change stands (stored, audited, in
 * force at the next successful reload here and at the next poll elsewhere), so the answer stays a
 * success, but it must not read as "in force now" (a revoked key still let through, say).
 */
import { notYetInForce, type InForceScope, type NotYetInForce } from "../control/in-force.js";
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
  );
  return pending === null ? body : { ...body, not_yet_in_force: pending };
}
