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
import { openStore } from "../index.js";
import { DB_FILE } from "./index.js";
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
