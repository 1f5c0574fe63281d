/**
 * Joining the audit log with the store: the log names a principal by id, or by a keyed hash of it
 * when the gateway pseudonymises (audit.pseudonym_key_env). The operator holding that key can hash
 * every principal in the store and so recognise them; without it, pseudonyms stay unknown.
 */
import { pseudonymizer } from "../audit/entry.js";
import type { PrincipalBlock } from "../identity/schema.js";
import { relevantNationalities } from "../policy/facts.js";
import type { Principal } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import type { Store } from "../store/index.js";

export type PrincipalIndex = ReadonlyMap<string, Principal>;

export interface KnownPrincipals {
  /**
   * Everyone the log may name: the store's principals, then the people partners' identity providers
   * vouched for (`fed:<provider>:<subject>`, with the facts the provider was last believed for).
   */
  readonly all: readonly Principal[];
  /** Of those, the ones a request can come from now: a blocked federated principal is refused first. */
  readonly servable: readonly Principal[];
  /** How many of `all` are federated, and how many of those are blocked. */
  readonly federated: number;
  readonly blocked: number;
}

/** The store's principals and its federated ones (both drivers list them, ordered by id). */
export async function knownPrincipals(store: Store): Promise<KnownPrincipals> {
  const [own, federated, blocks] = await Promise.all([
    store.principals.list(),
    store.federated.list(),
    store.records.list<PrincipalBlock>("principal-block"),
  ]);
  const blocked = new Set(blocks.filter((b) => b.document.blocked).map((b) => b.id));
  const vouched = federated.map((r) => r.principal);
  const servable = vouched.filter((p) => !blocked.has(p.id));
  return {
    all: own.length === 0 ? vouched : [...own, ...vouched],
    servable: servable.length === 0 ? own : [...own, ...servable],
    federated: vouched.length,
    blocked: vouched.length - servable.length,
  };
}

/** The store's principals by the name the log gives them (their id, and their pseudonym with a key). */
export function principalIndex(principals: Iterable<Principal>, pseudonymKey: string | null): PrincipalIndex {
  const out = new Map<string, Principal>();
  const hash = pseudonymKey === null ? null : pseudonymizer(pseudonymKey);
  for (const p of principals) {
    out.set(p.id, p);
    if (hash !== null) out.set(hash(p.id), p);
  }
  return out;
}

/**
 * A principal's nationality as decisions see it: a home person's home country; a foreign person's
 * relevant nationalities under the scheme's rule ("CA", or "CN+CA" when several count); "none" when
 * nothing is on record.
 */
export function nationalityLabel(scheme: CompiledScheme, p: Principal): string {
  const citizenships = p.citizenships ?? [];
  const residencies = p.permanent_residencies ?? [];
  for (const list of [citizenships, residencies]) {
    for (const n of list) if (scheme.home.has(n.country)) return n.country;
  }
  const { relevant } = relevantNationalities(citizenships, residencies, scheme.nationalityRule === "all");
  return relevant.length === 0 ? "none" : [...relevant].sort().join("+");
}

export const UNKNOWN_PRINCIPAL = "unknown";
