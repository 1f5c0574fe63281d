/**
 * The API keys list, filtered and paged in the store (both drivers): a keyset on the key id, with
 * the principal and the status as conditions each page's range is read through an index for, so
 * that a page reads the keys it answers with, not every key.
 */
import { sqlParameters } from "./principal-search.js";

/** One page of keys, ordered by id (code point order, as the id columns sort). */
export interface KeyQuery {
  /** At most this many. */
  readonly limit: number;
  /** Only ids after this one (the last id of the previous page). */
  readonly after?: string;
  /** Only this principal's keys. */
  readonly principal?: string;
  /** Only live keys (not revoked), or only revoked ones. */
  readonly status?: "active" | "revoked";
}

/**
 * The WHERE clause and its parameters for a page (`placeholder(n)` the n-th parameter, from 1).
 * Text PostgreSQL cannot hold (a NUL) is left to the caller.
 */
export function keyWhere(
  q: KeyQuery,
  placeholder: (n: number) => string,
): { where: string; params: string[] } {
  const { params, param } = sqlParameters(placeholder);
  const conditions: string[] = [];
  if (q.principal !== undefined) conditions.push(`principal_id = ${param(q.principal)}`);
  // Spelt as the partial indexes' conditions are: a planner takes such an index only for them.
  if (q.status === "active") conditions.push("revoked_at IS NULL");
  if (q.status === "revoked") conditions.push("revoked_at IS NOT NULL");
  if (q.after !== undefined) conditions.push(`id > ${param(q.after)}`);
  return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params };
}

/**
 * Schema version 15: a principal's keys by id (a principal has a few: its page reads them whatever
 * their status), and every principal's live keys and revoked keys, each by id: in a long-lived store
 * the live keys are few among many revoked ones (or, young, the other way round), and a page of the
 * few must not read past the many. Keys are written seldom: the indexes cost little.
 */
export const KEY_PAGE_INDEXES = `
  CREATE INDEX api_keys_by_principal_id ON api_keys (principal_id, id);
  CREATE INDEX api_keys_live ON api_keys (id) WHERE revoked_at IS NULL;
  CREATE INDEX api_keys_revoked ON api_keys (id) WHERE revoked_at IS NOT NULL;
`;
