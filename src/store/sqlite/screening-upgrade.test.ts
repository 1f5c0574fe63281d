/**
 * Screening matches resolved with their entry's removal before migration 10: a confirmation kept
 * behind a prefix of its reason is restored when the entry is listed again; an older review, whose
 * outcome the row never kept, opens again naming its reviewer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { it } from "vitest";
import { openStore } from "../index.js";
import { OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain } from "../screening-suite.js";
import { DB_FILE } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

it("matches resolved with their entry's removal before migration 10, their entry listed again", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-old-resolved-"));
  try {
    const db = new Database(join(dataDir, DB_FILE));
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 9),
    );
    const insert = db.prepare(
      `INSERT INTO screening_matches (id, subject_kind, subject_id, list, entry_id, entry_digest, subject_digest, score, status, explanation, reviewer, reason, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const row of OLD_RESOLVED_ROWS) insert.run(...row);
    db.close();
    const store = await openStore({ dataDir });
    try {
      await oldResolvedRowsListedAgain(store);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
