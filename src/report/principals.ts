/**
 * Joining the audit log with the store: the log names a principal by id, or by a keyed hash of it
 * when the gateway pseudonymises (audit.pseudonym_key_env). The operator holding that key can hash
 * every principal in the store and so recognise them; without it, pseudonyms stay unknown.
 */
import { pseudonymizer } from "../audit/entry.js";
import { relevantNationalities } from "../policy/facts.js";
import type { Principal } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";

export type PrincipalIndex = ReadonlyMap<string, Principal>;

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
