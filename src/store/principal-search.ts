/**
 * What the principals list is filtered by, as columns beside the document (both drivers): the
 * organization's id, and the id and name case-folded by JavaScript (`caseFold`). Folded here rather than
 * by SQL's lower(): SQLite's folds ASCII only and PostgreSQL's follows the database's locale, and the
 * admin API's "letter case aside" was JavaScript's before the filter moved into the store.
 */
import type { Principal } from "../policy/types.js";
import { organizationIdOf } from "../policy/index.js";
import { caseFold } from "./fold.js";

/** One page of principals, ordered by id (code point order, as the id columns sort). */
export interface PrincipalQuery {
  /** At most this many. */
  readonly limit: number;
  /** Only ids after this one (the last id of the previous page). */
  readonly after?: string;
  /** Only principals of this organization (its id). */
  readonly organization?: string;
  /** Only principals whose id, or name, starts with this, letter case aside. */
  readonly prefix?: string;
}

/** Letter case aside, fully (ß as ss, any sigma as σ): see fold.ts. */
export const fold = caseFold;

/** The filter columns' values for a principal, in column order. */
export function searchColumns(p: Principal): [organization: string | null, id: string, name: string | null] {
  return [organizationIdOf(p.organization), fold(p.id), typeof p.name === "string" ? fold(p.name) : null];
}

/**
 * The least string above every string starting with `prefix`, in code point order (SQLite's BINARY,
 * PostgreSQL's "C"): its last code point moved up one. Null when there is none (every code point the
 * highest): the range is then open above.
 */
export function prefixEnd(prefix: string): string | null {
  const points = [...prefix];
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Surrogates are no characters of their own: the code point after U+D7FF is U+E000.
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return points.join("") + String.fromCodePoint(next);
    }
  }
  return null;
}

/**
 * A statement's parameters as they are added, each named by `placeholder(n)` (from 1: `?` in
 * SQLite, `$n` in PostgreSQL), for the WHERE clauses of the store's paged lists.
 */
export function sqlParameters(placeholder: (n: number) => string): {
  params: string[];
  param: (value: string) => string;
} {
  const params: string[] = [];
  return {
    params,
    param: (value) => {
      params.push(value);
      return placeholder(params.length);
    },
  };
}

/**
 * The WHERE clause and its parameters for a page (with `placeholder(n)` for the n-th parameter, from
 * 1, and `unindexed(column)` the column as the dialect keeps an index from being used for it), each
 * filter a range over an indexed column: a page reads the principals it answers with, not every one.
 * Text PostgreSQL cannot hold (a NUL) is left to the caller. `folded`: the folded columns the prefix
 * is looked for in (either matching).
 */
export function principalWhere(
  q: PrincipalQuery,
  placeholder: (n: number) => string,
  unindexed: (column: string) => string = (column) => column,
  folded: readonly FoldedColumn[] = FOLDED_COLUMNS,
): { where: string; params: string[] } {
  const { params, param } = sqlParameters(placeholder);
  const conditions: string[] = [];
  // With a prefix, its ranges are what to read: a planner without statistics (SQLite's) otherwise
  // reads every id after the cursor, or the whole organization, to find a page of them.
  const other = q.prefix === undefined ? (column: string) => column : unindexed;
  if (q.after !== undefined) conditions.push(`${other("id")} > ${param(q.after)}`);
  if (q.organization !== undefined) conditions.push(`${other("organization_id")} = ${param(q.organization)}`);
  if (q.prefix !== undefined) {
    const from = fold(q.prefix);
    const to = prefixEnd(from);
    const range = (column: string) =>
      `(${column} >= ${param(from)}${to === null ? "" : ` AND ${column} < ${param(to)}`})`;
    conditions.push(`(${folded.map(range).join(" OR ")})`);
  }
  return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params };
}

/** The columns a prefix is looked for in. */
export const FOLDED_COLUMNS = ["id_folded", "name_folded"] as const;
export type FoldedColumn = (typeof FOLDED_COLUMNS)[number];

/**
 * Schema version 14: the filter columns and their indexes (`text`: the id columns' type, with
 * PostgreSQL's "C" collation). Rows written before it are filled by the driver at open (fill below).
 */
export const PRINCIPAL_SEARCH_COLUMNS = (text: string) => `
  ALTER TABLE principals ADD COLUMN organization_id ${text};
  ALTER TABLE principals ADD COLUMN id_folded ${text};
  ALTER TABLE principals ADD COLUMN name_folded ${text};
  CREATE INDEX principals_by_organization ON principals (organization_id, id);
  CREATE INDEX principals_by_id_folded ON principals (id_folded, id);
  CREATE INDEX principals_by_name_folded ON principals (name_folded, id);
`;
