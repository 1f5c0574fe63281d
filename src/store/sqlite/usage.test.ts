/**
 * SQLite's usage reads: the plans of the statements the store really runs (EXPLAIN QUERY PLAN over
 * what better-sqlite3's `verbose` hook sees), and the all-time roll-up (version 18) filled from rows
 * written before it and kept right by every writer, not only the flush.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Store, UsageDelta } from "../index.js";
import { DB_FILE, openSqliteStore, SqliteStore } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

const root = mkdtempSync(join(tmpdir(), "clearance-usage-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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

/** A migrated store on a connection that records every statement it runs, parameters bound. */
async function tracedStore() {
  const dataDir = mkdtempSync(join(root, "d"));
  await (await openSqliteStore(dataDir)).close();
  const ran: string[] = [];
  const db = new Database(join(dataDir, DB_FILE), { verbose: (sql) => ran.push(String(sql)) });
  return { db, store: new SqliteStore(db), ran };
}

/** The plan of each statement `call` runs against usage (one list of details per statement). */
async function plans(traced: Awaited<ReturnType<typeof tracedStore>>, call: (s: Store) => Promise<unknown>) {
  traced.ran.length = 0;
  await call(traced.store);
  return traced.ran
    .filter((sql) => /\busage_(daily|totals)\b/.test(sql))
    .map((sql) =>
      (traced.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail),
    );
}

describe("sqlite usage reads", () => {
  it("read over every usage row with the plans chosen for them: a scan and one sort, never an index walk", async () => {
    const traced = await tracedStore();
    try {
      await traced.store.usage.add([delta(), delta({ licenseId: "lic-2" })]);
      // The per-license reads scan the table and sort once (GROUP BY +license_id): walking the
      // license index instead looks each of 900,000 rows up in the table (~1.5x the CPU).
      expect(await plans(traced, (s) => s.usage.byLicenseWindows([{ from: "2030-01-01" }]))).toEqual([
        ["SCAN usage_daily", "USE TEMP B-TREE FOR GROUP BY"],
      ]);
      expect(await plans(traced, (s) => s.usage.byLicenseDay("2030-01-01"))).toEqual([
        ["SEARCH usage_daily USING PRIMARY KEY (day>?)", "USE TEMP B-TREE FOR GROUP BY"],
      ]);
      // All-time totals read the roll-up alone: no usage row is read, however many there are.
      expect(await plans(traced, (s) => s.usage.totals())).toEqual([["SCAN usage_totals"]]);
      // An applicant's totals read its own rows through the indexes (version 16).
      expect(
        await plans(traced, (s) => s.usage.scopedTotals({ organization: "org-1", licenses: ["lic-1"] })),
      ).toEqual([
        [
          "SEARCH usage_daily USING INDEX usage_daily_by_license (license_id=?)",
          "LIST SUBQUERY 1",
          "SCAN json_each VIRTUAL TABLE INDEX 1:",
        ],
        ["SEARCH usage_daily USING INDEX usage_daily_by_organization (organization_id=?)"],
      ]);
    } finally {
      traced.db.close();
    }
  });

  it("fills the roll-up from usage written before version 18, and every later writer keeps it", async () => {
    const dataDir = mkdtempSync(join(root, "d"));
    const db = new Database(join(dataDir, DB_FILE));
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 16),
    );
    const row = db.prepare(
      `INSERT INTO usage_daily (day, principal_id, organization_id, license_id, model, input_tokens, output_tokens, requests)
       VALUES (?, ?, ?, ?, 'm', ?, ?, 1)`,
    );
    row.run("2030-01-01", "p-1", "org-1", "lic-1", 100, 20);
    row.run("2030-01-02", "p-1", "org-1", "lic-1", 1, 2);
    row.run("2030-01-02", "p-2", "", "", 7, 0);
    // A row no Meter could have written counts as used up, in the roll-up as in the sums.
    row.run("2030-01-02", "p-3", "org-2", "lic-2", -5, 1);
    db.close();
    const store = await openSqliteStore(dataDir);
    const MAX = Number.MAX_SAFE_INTEGER;
    try {
      expect(await store.usage.totals()).toStrictEqual({
        byLicense: { "lic-1": 123, "lic-2": MAX },
        byPrincipal: { "p-1": 123, "p-2": 7, "p-3": MAX },
        byOrganization: { "org-1": 123, "org-2": MAX },
      });
      // Another process writing SQL by hand (an older node, an operator's repair): still the sums.
      const other = new Database(join(dataDir, DB_FILE));
      other.exec(`
        DELETE FROM usage_daily WHERE principal_id = 'p-3';
        UPDATE usage_daily SET license_id = 'lic-9', input_tokens = 50 WHERE principal_id = 'p-1' AND day = '2030-01-01';
        INSERT INTO usage_daily VALUES ('2030-01-03', 'p-2', 'org-1', 'lic-1', 'm', 4, 4, 1);
      `);
      other.close();
      await store.usage.add([delta({ principalId: "p-2", organizationId: null, licenseId: null })]);
      expect(await store.usage.totals()).toStrictEqual({
        byLicense: { "lic-1": 11, "lic-9": 70 },
        byPrincipal: { "p-1": 73, "p-2": 30 },
        byOrganization: { "org-1": 81 },
      });
      expect((await store.usage.byLicenseWindows([])).map((r) => [r.licenseId, r.total])).toEqual([
        ["lic-1", 11],
        ["lic-9", 70],
      ]);
    } finally {
      await store.close();
    }
  });
});
