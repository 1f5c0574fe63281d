/**
 * Test support: a principal written into a store as a release that took any text but NUL did (a
 * name or id holding a C1 control or a bidirectional override). principals.put refuses such text
 * now, but a store written before holds it, and everything reading the store must still show it
 * (escaped). Written past the store, as its own put wrote the row: the document and the filter
 * columns, the store's version moved (a running gateway reloads), no change recorded.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import pg from "pg";
import type { Principal } from "../policy/types.js";
import { searchColumns } from "../store/principal-search.js";
import { DB_FILE } from "../store/sqlite/index.js";

/** The row as principals.put writes it, in the SQLite store under `dataDir` (open or not). */
export function putPrincipalAsBefore(dataDir: string, p: Principal): void {
  const db = new Database(join(dataDir, DB_FILE));
  try {
    const now = new Date().toISOString();
    db.prepare(
      `INSERT INTO principals (id, document, created_at, updated_at, organization_id, id_folded, name_folded)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at,
         organization_id = excluded.organization_id, id_folded = excluded.id_folded,
         name_folded = excluded.name_folded`,
    ).run(p.id, JSON.stringify(p), now, now, ...searchColumns(p));
    // The store's version moved, as a put moves it: a running gateway reloads its principals.
    db.prepare("UPDATE store_meta SET version = version + 1 WHERE id = 1").run();
  } finally {
    db.close();
  }
}

/** The same in a PostgreSQL store at `url` (its schema on the search path). */
export async function putPrincipalAsBeforePostgres(url: string, p: Principal): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const now = new Date().toISOString();
    await client.query(
      `INSERT INTO principals (id, document, created_at, updated_at, organization_id, id_folded, name_folded)
       VALUES ($1, $2, $3, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at,
         organization_id = excluded.organization_id, id_folded = excluded.id_folded,
         name_folded = excluded.name_folded`,
      [p.id, JSON.stringify(p), now, ...searchColumns(p)],
    );
    await client.query("UPDATE store_meta SET version = version + 1 WHERE id = 1");
  } finally {
    await client.end();
  }
}
