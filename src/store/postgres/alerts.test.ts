/**
 * Alerts stored before migration 9, in PostgreSQL (as ../sqlite/alerts.test.ts): after the upgrade
 * they are listed as before and never taken for suspensions still due.
 */
import pg from "pg";
import { afterAll, describe, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import {
  BEFORE_SEVERITY_RANK,
  headsRestoredAfterOldRelease,
  INSERT_BEFORE_SEVERITY_RANK,
  OLD_ALERT_ROW,
  oldAlertStaysQuiet,
  PENDING_AT_UPGRADE,
  pendingGoInOrder,
  rankedAfterUpgrade,
} from "../alerts-suite.js";
import { openStore } from "../index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

describe.skipIf(skipReason !== undefined)(
  `postgres alerts${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("an alert stored before migration 9 is listed as before, and never suspended after the fact", async () => {
      const { url } = await freshSchema();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const client = await pool.connect();
      try {
        await migrate(
          client,
          MIGRATIONS.filter((m) => m.version <= 8),
        );
        await client.query(
          `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, document)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          OLD_ALERT_ROW,
        );
      } finally {
        client.release();
        await pool.end();
      }
      const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      try {
        await oldAlertStaysQuiet(store);
      } finally {
        await store.close();
      }
    });

    it("alerts pending delivery at the upgrade to migration 13 go one at a time per subject, oldest first", async () => {
      const { url } = await freshSchema();
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const client = await pool.connect();
      try {
        await migrate(
          client,
          MIGRATIONS.filter((m) => m.version <= 12),
        );
        for (const row of PENDING_AT_UPGRADE)
          await client.query(
            `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, response_state, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
            row,
          );
      } finally {
        client.release();
        await pool.end();
      }
      const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      try {
        await pendingGoInOrder(store);
      } finally {
        await store.close();
      }
    });

    it("a subject's held alerts get a head again after a node of the release before migration 13 delivered one", async () => {
      const { url } = await freshSchema();
      const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      // The old release's node: its own connection, writing what its delivery wrote (no delivery_held).
      const old = new pg.Client({ connectionString: url });
      await old.connect();
      try {
        await headsRestoredAfterOldRelease(store, async (a) => {
          await old.query(
            "UPDATE alerts SET state = $1, delivery_state = $2, next_delivery_at = $3, response_state = $4, document = $5 WHERE id = $6",
            [a.state, a.delivery.state, a.delivery.next_at, null, JSON.stringify(a), a.id],
          );
        });
      } finally {
        await old.end();
        await store.close();
      }
    });

    it("alerts stored before migration 17, or written by a node of the release before it, are listed most severe first", async () => {
      const { url } = await freshSchema();
      const old = new pg.Client({ connectionString: url });
      await old.connect();
      try {
        await migrate(
          old,
          MIGRATIONS.filter((m) => m.version <= 16),
        );
        for (const row of BEFORE_SEVERITY_RANK.slice(0, 2)) await old.query(INSERT_BEFORE_SEVERITY_RANK, row);
        const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
        try {
          for (const row of BEFORE_SEVERITY_RANK.slice(2)) await old.query(INSERT_BEFORE_SEVERITY_RANK, row);
          await rankedAfterUpgrade(store);
        } finally {
          await store.close();
        }
      } finally {
        await old.end();
      }
    });
  },
);
