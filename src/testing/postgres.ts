/**
 * PostgreSQL for tests: DATABASE_URL, else the local default; a fresh schema per use, dropped by
 * `dropSchemas()`. `skipReason` is set when no server answers, and tests skip saying so.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    const shown = DATABASE_URL.replace(/:[^:@/]*@/, ":***@"); // never print a password
    return `no PostgreSQL at ${shown} (${(err as Error).message}); set DATABASE_URL to run these tests`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const skipReason = await probe();

const created: string[] = [];
let pool: pg.Pool | undefined;

/** A pool for the test's own queries (any schema, by qualified name). */
export function adminPool(): pg.Pool {
  return (pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 2 }));
}

/** Creates a fresh schema; returns its name and a connection string whose search_path selects it. */
export async function freshSchema(): Promise<{ schema: string; url: string }> {
  const schema = `clearance_test_${randomBytes(6).toString("hex")}`;
  created.push(schema);
  await adminPool().query(`CREATE SCHEMA ${schema}`);
  const url = new URL(DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return { schema, url: url.toString() };
}

export async function dropSchemas(): Promise<void> {
  for (const s of created.splice(0)) await adminPool().query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await pool?.end();
  pool = undefined;
}
