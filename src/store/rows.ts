/** The rows both drivers read (same columns in SQLite and PostgreSQL), and the records they make. */
import type { ApiKeyRecord, Collection, StoredRecord } from "./index.js";

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
