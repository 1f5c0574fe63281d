/**
 * Screening matches resolved with their entry's removal before migration 10: a confirmation kept
 * behind a prefix of its reason is restored when the entry is listed again; an older review, whose
 * outcome the row never kept, opens again naming its reviewer. And after it: a confirmation a node
 * of release 4faae71 still running resolved (the column left null) is restored as well.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { it } from "vitest";
import { openStore, type Store } from "../index.js";
import { OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain, prefixRowListedAgain } from "../screening-suite.js";
import { DB_FILE } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

/** A store whose database was migrated up to `version` and then given `rows` (migration 8's columns). */
async function withRows(version: number, rows: unknown[][], check: (store: Store) => Promise<void>) {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-old-resolved-"));
  try {
    const db = new Database(join(dataDir, DB_FILE));
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= version),
    );
    const insert = db.prepare(
      `INSERT INTO screening_matches (id, subject_kind, subject_id, list, entry_id, entry_digest, subject_digest, score, status, explanation, reviewer, reason, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const row of rows) insert.run(...row);
    db.close();
    const store = await openStore({ dataDir });
    try {
      await check(store);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

it("matches resolved with their entry's removal before migration 10, their entry listed again", () =>
  withRows(9, OLD_RESOLVED_ROWS, oldResolvedRowsListedAgain));

// A node of release 4faae71 still running beside newer ones, after migration 10: its INSERT and
// UPDATE leave the new column null and keep the confirmation behind the prefix.
it("a confirmation resolved with the prefix after migration 10 (a node of an older release), its entry listed again", () =>
  withRows(10, OLD_RESOLVED_ROWS.slice(0, 1), prefixRowListedAgain));
