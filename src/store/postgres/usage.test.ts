/**
 * PostgreSQL's all-time usage roll-up (version 18): filled from rows written before it, kept by every
 * writer (an older node, SQL by hand, a TRUNCATE), and written by several nodes flushing at once
 * without deadlock whatever order their rows lock the totals in.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../../testing/admin.js";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import type { UsageDelta } from "../index.js";
import { openPostgresStore } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

const delta = (over: Partial<UsageDelta> = {}): UsageDelta => ({
  principalId: "p-1",
  organizationId: "org-1",
  licenseId: "lic-1",
  model: "m",
  inputTokens: 10,
  outputTokens: 5,
  requests: 1,
  at: "2030-01-02T03:04:05Z",
  ...over,
});

describe.skipIf(skipReason !== undefined)(
  `postgres usage totals${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("fills the roll-up from usage written before version 18, and every later writer keeps it", async () => {
      const { url } = await freshSchema();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const MAX = Number.MAX_SAFE_INTEGER;
      try {
        await migrate(
          client,
          MIGRATIONS.filter((m) => m.version <= 16),
        );
        await client.query(`INSERT INTO usage_daily VALUES
          ('2030-01-01', 'p-1', 'org-1', 'lic-1', 'm', 100, 20, 1),
          ('2030-01-02', 'p-1', 'org-1', 'lic-1', 'm', 1, 2, 1),
          ('2030-01-02', 'p-2', '', '', 'm', 7, 0, 1),
          ('2030-01-02', 'p-3', 'org-2', 'lic-2', 'm', -5, 1, 1)`);
        const store = await openPostgresStore(url);
        try {
          expect(await store.usage.totals()).toStrictEqual({
            byLicense: { "lic-1": 123, "lic-2": MAX },
            byPrincipal: { "p-1": 123, "p-2": 7, "p-3": MAX },
            byOrganization: { "org-1": 123, "org-2": MAX },
          });
          // Another session writing SQL by hand (an older node, an operator's repair): still the sums.
          await client.query(`
            DELETE FROM usage_daily WHERE principal_id = 'p-3';
            UPDATE usage_daily SET license_id = 'lic-9', input_tokens = 50 WHERE principal_id = 'p-1' AND day = '2030-01-01';
            INSERT INTO usage_daily VALUES ('2030-01-03', 'p-2', 'org-1', 'lic-1', 'm', 4, 4, 1)`);
          await store.usage.add([delta({ principalId: "p-2", organizationId: null, licenseId: null })]);
          expect(await store.usage.totals()).toStrictEqual({
            byLicense: { "lic-1": 11, "lic-9": 70 },
            byPrincipal: { "p-1": 73, "p-2": 30 },
            byOrganization: { "org-1": 81 },
          });
          await client.query("TRUNCATE usage_daily");
          expect(await store.usage.totals()).toStrictEqual({
            byLicense: {},
            byPrincipal: {},
            byOrganization: {},
          });
        } finally {
          await store.close();
        }
      } finally {
        await client.end();
      }
    });

    it("counts usage a writer commits while version 18 is being applied (a node of the release before, mid-flush)", async () => {
      const { url } = await freshSchema();
      const [migrating, older, watching] = [1, 2, 3].map(() => new pg.Client({ connectionString: url }));
      for (const c of [migrating, older, watching]) await c!.connect();
      try {
        await migrate(
          migrating!,
          MIGRATIONS.filter((m) => m.version <= 17),
        );
        // An older node's flush under way: its row written, not yet committed.
        await older!.query("BEGIN");
        await older!.query(
          `INSERT INTO usage_daily VALUES ('2030-01-02', 'p-1', 'org-1', 'lic-1', 'm', 40, 2, 1)`,
        );
        const applying = migrate(
          migrating!,
          MIGRATIONS.filter((m) => m.version <= 18),
        );
        // The migration waits on the flush's lock (before its fill, or, as it was, before its triggers).
        await eventually(
          async () => {
            const { rows } = await watching!.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'usage_daily'::regclass",
            );
            return Number(rows[0]!.n);
          },
          (waiting) => waiting > 0,
        );
        await older!.query("COMMIT");
        await applying;
        const store = await openPostgresStore(url);
        try {
          expect(await store.usage.totals()).toStrictEqual({
            byLicense: { "lic-1": 42 },
            byPrincipal: { "p-1": 42 },
            byOrganization: { "org-1": 42 },
          });
        } finally {
          await store.close();
        }
      } finally {
        for (const c of [migrating, older, watching]) await c!.end();
      }
    });

    it("adds up totals flushed by several nodes at once, their rows locking licenses in opposite orders", async () => {
      const { url } = await freshSchema();
      const stores = await Promise.all([0, 1, 2].map(() => openPostgresStore(url)));
      try {
        // Each node its own principals (no usage row is shared, only the totals): rows sort by day and
        // principal, so one batch reaches lic-x before lic-y and another lic-y before lic-x.
        // Each row's day differs, so that one statement both inserts rows and updates others: its
        // totals are then written by two triggers (inserted rows', updated rows'), one after the other.
        const batch = (node: number, flip: boolean, j: number) => {
          const [first, second] = flip ? ["x", "y"] : ["y", "x"];
          const at = (d: number) => `2030-01-0${1 + (d % 5)}T00:00:00Z`;
          return [
            delta({
              principalId: `p-a${node}`,
              licenseId: `lic-${first}`,
              organizationId: `org-${first}`,
              at: at(j),
            }),
            delta({
              principalId: `p-b${node}`,
              licenseId: `lic-${second}`,
              organizationId: `org-${second}`,
              at: at(j + 2),
            }),
          ];
        };
        await Promise.all(
          stores.flatMap((s, i) =>
            Array.from({ length: 20 }, (_, j) => s.usage.add(batch(i, (i + j) % 2 === 0, i + j))),
          ),
        );
        expect(await stores[0]!.usage.totals()).toStrictEqual({
          byLicense: { "lic-x": 900, "lic-y": 900 },
          byPrincipal: { "p-a0": 300, "p-a1": 300, "p-a2": 300, "p-b0": 300, "p-b1": 300, "p-b2": 300 },
          byOrganization: { "org-x": 900, "org-y": 900 },
        });
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  },
);
