/** The screening store contract on both drivers (PostgreSQL skips, saying so, without a server). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe } from "vitest";
import { eventually } from "../testing/admin.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openStore } from "./index.js";
import { screeningSuite } from "./screening-suite.js";
import { DB_FILE } from "./sqlite/index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-screening-store-"));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The data directory of the SQLite store last opened: the one a test writes to past the store. */
const dataDir = () => join(root, `d${dirs}`);

screeningSuite(
  "sqlite",
  () => openStore({ driver: "sqlite", dataDir: join(root, `d${++dirs}`) }),
  async (statement, params) => {
    const db = new Database(join(dataDir(), DB_FILE));
    try {
      db.prepare(statement).run(...params);
    } finally {
      db.close();
    }
  },
);

if (skipReason !== undefined) console.warn(`screening store on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("postgres", () => {
  afterAll(dropSchemas);
  let schema = "";
  screeningSuite(
    "postgres",
    async () => {
      const fresh = await freshSchema();
      schema = fresh.schema;
      return openStore({ driver: "postgres", dataDir: root, url: fresh.url });
    },
    async (statement, params) => {
      const x = await adminPool().connect();
      try {
        await x.query(`SET search_path TO ${schema}`);
        await x.query(toPostgres(statement), params as unknown[]);
      } finally {
        await x.query("RESET search_path");
        x.release();
      }
    },
    async (statement, params) => {
      const x = await adminPool().connect();
      await x.query("BEGIN");
      await x.query(`SET LOCAL search_path TO ${schema}`);
      await x.query(toPostgres(statement), params as unknown[]);
      const { rows } = await x.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const holder = rows[0]!.pid;
      return {
        // Asked of another session (the holder's is in its transaction) until enough wait.
        queued: async (count) => {
          await eventually(
            async () => (await adminPool().query<Waiting>(WAITING, [holder])).rows,
            (waiting) => waiting.length >= count,
          );
        },
        release: async () => {
          await x.query("COMMIT");
          x.release();
        },
      };
    },
  );
});

interface Waiting {
  pid: number;
  query: string;
}

/**
 * The sessions waiting behind session `$1`'s locks: blocked by it, or by a session so waiting (a
 * second statement for a locked row queues behind the first one waiting for it, not the holder).
 */
const WAITING = `WITH RECURSIVE waiting(pid) AS (
    SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
  UNION
    SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid))
  )
  SELECT a.pid, a.query FROM pg_stat_activity a JOIN waiting USING (pid) ORDER BY a.pid`;

/** `?` placeholders as PostgreSQL's `$1`, `$2`, …. */
function toPostgres(statement: string): string {
  let n = 0;
  return statement.replace(/\?/g, () => `$${++n}`);
}
