/** The screening tables on PostgreSQL: the transaction adapter for ../screening.ts. */
import type pg from "pg";
import { screeningStore, type Query, type ScreeningStore, type WriteQuery } from "../screening.js";
import { changed } from "./queries.js";

/** `?` placeholders (the shared SQL's) to PostgreSQL's `$n`. */
const dollars = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters a statement. */
const CHUNK = 1000;

function queryOn(db: pg.Pool | pg.PoolClient): Query {
  return {
    all: async <R>(sql: string, params: readonly unknown[] = []) =>
      (await db.query(dollars(sql), params as unknown[])).rows as R[],
  };
}

export function postgresScreening(
  live: () => pg.Pool,
  tx: <T>(fn: (db: pg.PoolClient) => Promise<T>) => Promise<T>,
): ScreeningStore {
  return screeningStore({
    read: (fn) => fn(queryOn(live())),
    write: (fn) =>
      tx((db) => {
        const q: WriteQuery = {
          ...queryOn(db),
          run: async (sql, params = []) => (await db.query(dollars(sql), params as unknown[])).rowCount ?? 0,
          // Transaction-scoped: released at COMMIT or ROLLBACK, so no path can leave one held.
          lock: async (key) =>
            void (await db.query(
              "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || $1, 0))",
              [key],
            )),
          insertMany: async (table, columns, rows) => {
            for (let i = 0; i < rows.length; i += CHUNK) {
              const chunk = rows.slice(i, i + CHUNK);
              let n = 0;
              const values = chunk.map((r) => `(${r.map(() => `$${++n}`).join(", ")})`).join(", ");
              await db.query(
                `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values}`,
                chunk.flat() as unknown[],
              );
            }
          },
          changed: (actor, action, object, details) =>
            changed(db, new Date().toISOString(), { actor, action, object, details }),
        };
        return fn(q);
      }),
  });
}
