/**
 * Alerts stored before migration 9 (no intended response, no response_state): after the upgrade
 * they are listed as before and never taken for suspensions still due, even once the detector is
 * switched to `response: suspend`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
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
import type { AlertFilter, AlertPage } from "../alerts.js";
import { openStore } from "../index.js";
import { DB_FILE, SqliteStore } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

it("an alert stored before migration 9 is listed as before, and never suspended after the fact", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-old-alerts-"));
  const db = new Database(join(dataDir, DB_FILE));
  migrate(
    db,
    MIGRATIONS.filter((m) => m.version <= 8),
  );
  db.prepare(
    `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, document)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(...OLD_ALERT_ROW);
  db.close();
  const store = await openStore({ dataDir });
  try {
    await oldAlertStaysQuiet(store);
  } finally {
    await store.close();
  }
});

it("alerts pending delivery at the upgrade to migration 13 go one at a time per subject, oldest first", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-pending-alerts-"));
  const db = new Database(join(dataDir, DB_FILE));
  migrate(
    db,
    MIGRATIONS.filter((m) => m.version <= 12),
  );
  const insert = db.prepare(
    `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, response_state, document)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const row of PENDING_AT_UPGRADE) insert.run(...row);
  db.close();
  const store = await openStore({ dataDir });
  try {
    await pendingGoInOrder(store);
  } finally {
    await store.close();
  }
});

it("a subject's held alerts get a head again after a node of the release before migration 13 delivered one", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-old-release-"));
  const store = await openStore({ dataDir });
  // The old release's node: its own connection, writing what its delivery wrote (no delivery_held).
  const old = new Database(join(dataDir, DB_FILE));
  try {
    await headsRestoredAfterOldRelease(store, async (a) => {
      old
        .prepare(
          "UPDATE alerts SET state = ?, delivery_state = ?, next_delivery_at = ?, response_state = ?, document = ? WHERE id = ?",
        )
        .run(a.state, a.delivery.state, a.delivery.next_at, null, JSON.stringify(a), a.id);
    });
  } finally {
    old.close();
    await store.close();
  }
});

it("alerts stored before migration 17, or written by a node of the release before it, are listed most severe first", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-severity-"));
  const positional = INSERT_BEFORE_SEVERITY_RANK.replace(/\$\d+/g, "?");
  const db = new Database(join(dataDir, DB_FILE));
  migrate(
    db,
    MIGRATIONS.filter((m) => m.version <= 16),
  );
  for (const row of BEFORE_SEVERITY_RANK.slice(0, 2)) db.prepare(positional).run(...row);
  db.close();
  const store = await openStore({ dataDir });
  const old = new Database(join(dataDir, DB_FILE));
  try {
    for (const row of BEFORE_SEVERITY_RANK.slice(2)) old.prepare(positional).run(...row);
    await rankedAfterUpgrade(store);
    // The open alerts most severe first walk the index: no sort of every open alert.
    const plan = old
      .prepare(
        "EXPLAIN QUERY PLAN SELECT document FROM alerts WHERE state = ? ORDER BY severity_rank DESC, id DESC LIMIT 5",
      )
      .all("open") as { detail: string }[];
    expect(plan.map((p) => p.detail)).toEqual([expect.stringContaining("USING INDEX alerts_by_severity")]);
  } finally {
    old.close();
    await store.close();
  }
});

/**
 * The plans of the list and count statements the store really runs (EXPLAIN QUERY PLAN over what
 * better-sqlite3's `verbose` hook sees, parameters bound), by filter and order. SQLite keeps no
 * statistics here (no ANALYZE), so the plan is the same whatever the data.
 */
it("lists and counts by severity walk an index, with or without a state; the sorts left are of one filter's alerts", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-severity-plans-"));
  await (await openStore({ dataDir })).close();
  const ran: string[] = [];
  const db = new Database(join(dataDir, DB_FILE), { verbose: (sql) => ran.push(String(sql)) });
  const store = new SqliteStore(db);
  const plan = async (call: (s: SqliteStore) => Promise<unknown>) => {
    ran.length = 0;
    await call(store);
    const [sql, ...more] = ran.filter((s) => /\bFROM alerts\b/.test(s));
    expect(more).toEqual([]);
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
  };
  const list = (f: AlertFilter, page: AlertPage = {}) =>
    plan((s) => s.alerts.list(f, { limit: 101, ...page }));
  const count = (f: AlertFilter) => plan((s) => s.alerts.count(f));
  const critical = { severities: ["critical"] } as const;
  const severe = { severities: ["high", "critical"] } as const;
  const open = { state: "open" } as const;
  const bySeverity = "SEARCH alerts USING INDEX alerts_by_severity (state=? AND severity_rank=?)";
  const byRank = "SEARCH alerts USING INDEX alerts_by_rank (severity_rank=?)";
  try {
    // Every alert most severe first: alerts_by_rank (migration 19) walked backwards; it was a scan of
    // the table and a sort of every alert.
    expect(await list({}, { mostSevere: true })).toEqual(["SCAN alerts USING INDEX alerts_by_rank"]);
    // One severity, any state: its alerts in id order (they were every alert's row read for its
    // rank, in id order, and counted by a scan of the table).
    for (const page of [{}, { newest: true }, { mostSevere: true }])
      expect(await list(critical, page), JSON.stringify(page)).toEqual([byRank]);
    expect(await list({ ...critical, detector: "key-sharing" }, { newest: true })).toEqual([byRank]);
    expect(await count(critical)).toEqual([byRank]);
    // Several, most severe first: each one's alerts in turn; no sort.
    expect(await list(severe, { mostSevere: true })).toEqual([byRank]);
    // With a state (the console's Alerts page, the Overview): alerts_by_severity (migration 17), the
    // other filters checked on the rows it walks.
    for (const page of [{}, { newest: true }, { mostSevere: true }]) {
      expect(await list({ ...open, ...critical }, page), JSON.stringify(page)).toEqual([bySeverity]);
      expect(await list({ ...open, ...critical, detector: "key-sharing" }, page)).toEqual([bySeverity]);
    }
    expect(await list({ ...open, ...severe }, { mostSevere: true })).toEqual([bySeverity]);
    expect(await count({ ...open, ...critical })).toEqual([bySeverity]);
    expect(await list(open, { mostSevere: true })).toEqual([
      "SEARCH alerts USING INDEX alerts_by_severity (state=?)",
    ]);
    // The costs left, each of one filter's alerts, never of them all: several severities in id order
    // without a state sort those severities' alerts; with a state they walk its alerts in id order.
    expect(await list(severe, { newest: true })).toEqual([byRank, "USE TEMP B-TREE FOR ORDER BY"]);
    expect(await list({ ...open, ...severe }, { newest: true })).toEqual([
      "SEARCH alerts USING INDEX alerts_by_state (state=?)",
    ]);
    // A detector's (or a subject kind's, or a subject's) alerts most severe first, without a state:
    // that filter's alerts sorted.
    expect(await list({ detector: "key-sharing" }, { mostSevere: true })).toEqual([
      "SEARCH alerts USING INDEX alerts_by_detector (detector=?)",
      "USE TEMP B-TREE FOR ORDER BY",
    ]);
    expect(await list({ subjectKind: "key", subjectId: "k1" }, { mostSevere: true })).toEqual([
      "SEARCH alerts USING INDEX alerts_by_subject (subject_id=?)",
      "USE TEMP B-TREE FOR ORDER BY",
    ]);
    // One subject's open alerts most severe first: the open alerts walked most severe first, each
    // row's subject checked (no sort; at most every open alert read). PostgreSQL, with statistics,
    // reads the subject's alerts and sorts those.
    expect(await list({ ...open, subjectKind: "key", subjectId: "k1" }, { mostSevere: true })).toEqual([
      "SEARCH alerts USING INDEX alerts_by_severity (state=?)",
    ]);
  } finally {
    db.close();
  }
});
