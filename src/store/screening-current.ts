/**
 * A principal subject as the store holds it while a screening of it is recorded: read in the
 * recording transaction, so that a screening of an older snapshot (a background pass, an admin
 * screening that lost a race with another write) does not record older facts over a fresher
 * outcome, nor anything for a principal deleted meanwhile (see `ScreeningStore.record`).
 */
import type { Principal } from "../policy/types.js";
import type { Query } from "./screening.js";

/** Both absent: no such principal (deleted, or never stored). */
export interface StoredPrincipal {
  readonly principal?: Principal;
  /** A partner's federated principal of that id: screened by its display name. */
  readonly federated?: { readonly principal: Principal; readonly display_name: string | null };
}

/** The facts digests a principal the store holds now is screened on (none: deleted, or no name). */
export type CurrentFacts = (stored: StoredPrincipal) => readonly string[];

export async function storedPrincipal(q: Query, id: string): Promise<StoredPrincipal> {
  // PostgreSQL's text cannot even be asked with a NUL: no principal is named so.
  if (id.includes("\u0000")) return {};
  const [p] = await q.all<{ document: string }>("SELECT document FROM principals WHERE id = ?", [id]);
  const [f] = await q.all<{ document: string }>("SELECT document FROM federated_principals WHERE id = ?", [
    id,
  ]);
  return {
    ...(p === undefined ? {} : { principal: JSON.parse(p.document) as Principal }),
    ...(f === undefined ? {} : { federated: JSON.parse(f.document) as StoredPrincipal["federated"] }),
  };
}
