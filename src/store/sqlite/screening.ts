/**
 * The screening tables on SQLite: the transaction adapter for ../screening.ts. A transaction is
 * BEGIN IMMEDIATE … COMMIT around work whose awaits all resolve at once (no I/O in between); the
 * store's gate (gate.ts) keeps every other call off the connection until it has ended.
 */
import type Database from "better-sqlite3";
import { screeningStore, type Query, type ScreeningStore, type WriteQuery } from "../screening.js";
import { StoreError } from "../index.js";
import type { WriteGate } from "./gate.js";

export function sqliteScreening(db: Database.Database, gate: WriteGate): ScreeningStore {
  const cache = new Map<string, Database.Statement>();
  const prepare = (source: string) => {
    let s = cache.get(source);
    if (s === undefined) cache.set(source, (s = db.prepare(source)));
    return s;
  };
  const live = () => {
    if (!db.open) throw new StoreError("closed", "the store is closed");
  };
  const query: Query = {
    all: async <R>(source: string, params: readonly unknown[] = []) => prepare(source).all(...params) as R[],
  };
  let bumped = false;
  const write: WriteQuery = {
    ...query,
    run: async (source, params = []) => prepare(source).run(...params).changes,
    // BEGIN IMMEDIATE and the gate already give each write transaction the database to itself.
    lock: async () => undefined,
    insertMany: async (table, columns, rows) => {
      const s = prepare(
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      for (const r of rows) s.run(...r);
    },
    changed: async (actor, action, object, details) => {
      if (!bumped) prepare("UPDATE store_meta SET version = version + 1 WHERE id = 1").run();
      bumped = true;
      prepare(
        "INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES (?, ?, ?, ?, ?, ?)",
      ).run(new Date().toISOString(), actor, action, object.kind, object.id, JSON.stringify(details));
    },
  };
  return screeningStore({
    read: (fn) =>
      gate.pass(() => {
        live();
        return fn(query);
      }),
    write: (fn) =>
      gate.hold(async () => {
        live();
        db.exec("BEGIN IMMEDIATE");
        bumped = false;
        try {
          const out = await fn(write);
          db.exec("COMMIT");
          return out;
        } catch (err) {
          if (db.inTransaction) db.exec("ROLLBACK");
          throw err;
        }
      }),
  });
}
