/** The rows both drivers read (same columns in SQLite and PostgreSQL), and the records they make. */
import type { ApiKeyRecord, Collection, FederatedPrincipalRecord, StoredRecord } from "./index.js";

export const KEY_COLUMNS = "id, principal_id, label, created_at, revoked_at, hash";

export interface KeyRow {
  id: string;
  principal_id: string;
  label: string | null;
  created_at: string;
  revoked_at: string | null;
  hash: string;
}

export interface RecordRow {
  collection: Collection;
  id: string;
  revision: number;
  /** JSON text: documents come back exactly as written, key order included. */
  document: string;
  updated_at: string;
}

export const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  principalId: r.principal_id,
  label: r.label,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  hash: r.hash,
});

export const toStored = <T>(r: RecordRow): StoredRecord<T> => ({
  collection: r.collection,
  id: r.id,
  revision: r.revision,
  document: JSON.parse(r.document) as T,
  updatedAt: r.updated_at,
});

/** A federated principal's row: the record as JSON, with the columns that change on refresh. */
export interface FederatedRow {
  document: string;
  first_seen: string;
  last_seen: string;
  issued_at: number | string;
}

export const FEDERATED_COLUMNS = "document, first_seen, last_seen, issued_at";

export const toFederated = (r: FederatedRow): FederatedPrincipalRecord => ({
  ...(JSON.parse(r.document) as FederatedPrincipalRecord),
  first_seen: r.first_seen,
  last_seen: r.last_seen,
  issued_at: Number(r.issued_at),
});
