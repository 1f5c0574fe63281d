/**
 * Screening matches resolved with their entry's removal before migration 10, and after it by a node
 * of release 4faae71 sharing the database, in PostgreSQL (as ../sqlite/screening-upgrade.test.ts).
 */
import pg from "pg";
import { afterAll, describe, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openStore, type Store } from "../index.js";
import { OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain, prefixRowListedAgain } from "../screening-suite.js";
import { migrate, MIGRATIONS } from "./migrations.js";

/** A store whose schema was migrated up to `version` and then given `rows` (migration 8's columns). */
async function withRows(version: number, rows: unknown[][], check: (store: Store) => Promise<void>) {
  const { url } = await freshSchema();
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  try {
    await migrate(
      client,
      MIGRATIONS.filter((m) => m.version <= version),
    );
    for (const row of rows)
      await client.query(
        `INSERT INTO screening_matches (id, subject_kind, subject_id, list, entry_id, entry_digest, subject_digest, score, status, explanation, reviewer, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
        row,
      );
  } finally {
    client.release();
    await pool.end();
  }
  const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
  try {
    await check(store);
  } finally {
    await store.close();
  }
}

describe.skipIf(skipReason !== undefined)(
  `postgres screening upgrade${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("matches resolved with their entry's removal before migration 10, their entry listed again", () =>
      withRows(9, OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain));

    // A node of release 4faae71 still running beside newer ones, after migration 10 (a shared
    // database): its INSERT and UPDATE leave the new column null and keep the prefix.
    it("a confirmation resolved with the prefix after migration 10 (a node of an older release), its entry listed again", () =>
      withRows(10, OLD_RESOLVED_ROWS.slice(0, 1), prefixRowListedAgain));
  },
);
