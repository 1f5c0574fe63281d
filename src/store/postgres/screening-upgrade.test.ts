/**
 * Screening matches resolved with their entry's removal before migration 10, in PostgreSQL (as
 * ../sqlite/screening-upgrade.test.ts).
 */
import pg from "pg";
import { afterAll, describe, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openStore } from "../index.js";
import { OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain } from "../screening-suite.js";
import { migrate, MIGRATIONS } from "./migrations.js";

describe.skipIf(skipReason !== undefined)(
  `postgres screening upgrade${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("matches resolved with their entry's removal before migration 10, their entry listed again", async () => {
      const { url } = await freshSchema();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const client = await pool.connect();
      try {
        await migrate(
          client,
          MIGRATIONS.filter((m) => m.version <= 9),
        );
        for (const row of OLD_RESOLVED_ROWS)
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
        await oldResolvedRowsListedAgain(store);
      } finally {
        await store.close();
      }
    });
  },
);
