/**
 * Alerts stored before migration 9, in PostgreSQL (as ../sqlite/alerts.test.ts): after the upgrade
 * they are listed as before and never taken for suspensions still due.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
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
import { countQuery, listQuery, type AlertFilter, type AlertPage } from "../alerts.js";
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

    it("lists and counts by severity walk an index, with or without a state: no scan and sort of every alert", async () => {
      const { url } = await freshSchema();
      await (await openStore({ driver: "postgres", dataDir: "(unused)", url })).close();
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        // 20,000 alerts, a tenth open; low, medium, high and critical as 10:6:3:1; seven detectors.
        await db.query(`INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id,
            delivery_state, next_delivery_at, document)
          SELECT 'alr_' || lpad(i::text, 12, '0'), 'plan-' || i,
            CASE WHEN i % 10 = 0 THEN 'open' WHEN i % 10 = 1 THEN 'acknowledged' ELSE 'resolved' END,
            'detector-' || (i % 7), 'principal', 'p' || (i % 2000), 'none', NULL,
            json_build_object('severity', CASE WHEN i % 20 < 10 THEN 'low' WHEN i % 20 < 16 THEN 'medium'
              WHEN i % 20 < 19 THEN 'high' ELSE 'critical' END)::text
          FROM generate_series(1, 20000) i`);
        await db.query("ANALYZE alerts");
        const explain = async ({ sql, values }: { sql: string; values: unknown[] }) =>
          (await db.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, values)).rows
            .map((r) => r["QUERY PLAN"])
            .join("\n");
        const list = (f: AlertFilter, page: AlertPage = {}) =>
          explain(listQuery(f, { limit: 101, ...page }, (i) => `$${i}`));
        const count = (f: AlertFilter) => explain(countQuery(f, (i) => `$${i}`));
        const critical = { severities: ["critical"] } as const;
        const severe = { severities: ["high", "critical"] } as const;
        // [what, its plan, the index read (its name), read in the index's order (no sort)]. A sort
        // left is of the alerts the index found for the filter, never of every alert.
        const read = [
          // Every alert most severe first: a scan and a sort of them all before migration 19.
          ["every alert most severe first", await list({}, { mostSevere: true }), "alerts_by_rank", true],
          // One severity, any state: each alert's row was read for its rank, counted by a scan. (A
          // twentieth of all alerts: PostgreSQL walks the ids backwards for a page of 101, each row's
          // rank checked.)
          ["critical, newest first", await list(critical, { newest: true }), "alerts_pkey", true],
          ["critical, counted", await count(critical), "alerts_by_rank", false],
          [
            "high or critical, most severe first",
            await list(severe, { mostSevere: true }),
            "alerts_by_rank",
            true,
          ],
          // With a state: alerts_by_severity (migration 17).
          [
            "open, most severe first",
            await list({ state: "open" }, { mostSevere: true }),
            "alerts_by_severity",
            true,
          ],
          [
            "open high or critical, most severe first",
            await list({ state: "open", ...severe }, { mostSevere: true }),
            "alerts_by_severity",
            true,
          ],
          [
            "open critical, newest first",
            await list({ state: "open", ...critical }, { newest: true }),
            "alerts_by_severity",
            false,
          ],
        ] as const;
        for (const [what, plan, index, walked] of read) {
          expect(plan, what).toMatch(new RegExp(` (on|using) ${index} `));
          expect(plan, what).not.toContain("Seq Scan");
          if (walked) expect(plan, what).not.toContain("Sort");
        }
      } finally {
        await db.end();
      }
    });
  },
);
