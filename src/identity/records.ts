/** The identity providers and principal blocks in force, read from one store snapshot. */
import type { StoredRecord } from "../store/index.js";
import type { PrincipalBlock, ProviderRecord } from "./schema.js";

export interface FederationRecords {
  /** Registered and not removed. */
  readonly providers: readonly StoredRecord<ProviderRecord>[];
  /** Blocked federated principals, by principal id. */
  readonly blocked: ReadonlyMap<string, PrincipalBlock>;
}

export function federationRecords(records: readonly StoredRecord[]): FederationRecords {
  const providers: StoredRecord<ProviderRecord>[] = [];
  const blocked = new Map<string, PrincipalBlock>();
  for (const r of records) {
    if (r.collection === "identity-provider") {
      const p = r as StoredRecord<ProviderRecord>;
      if (p.document.removed === null) providers.push(p);
    } else if (r.collection === "principal-block") {
      const b = r as StoredRecord<PrincipalBlock>;
      if (b.document.blocked) blocked.set(b.id, b.document);
    }
  }
  return { providers, blocked };
}
