/**
 * PostgreSQL for the multi-node benchmarks (`bench:propagation`, `bench:gateway -- --store postgres`):
 * the server from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test, as the tests), a
 * fresh schema per run named in the connection string's search_path (as src/gateway/nodes.test.ts
 * does), dropped at the end, and the CPU time of the server's processes when it runs on this machine.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { cpuSeconds } from "./gateway-procs.js";

export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";

export function databaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/** host:port/database, without user or password: what the results may name. */
export function describeDatabase(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
}

export interface FreshSchema {
  readonly schema: string;
  /** The connection string with `options=-c search_path=<schema>`: what each node gets as DATABASE_URL. */
  readonly url: string;
  readonly server: string;
  /** Drops the schema and everything in it; idempotent. */
  drop(): Promise<void>;
}

/** Connects (failing with a clear message within a few seconds), creates a new schema, returns it. */
export async function freshSchema(prefix = "clearance_bench"): Promise<FreshSchema> {
  const base = databaseUrl();
  const schema = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 3_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `no PostgreSQL at ${describeDatabase(base)} (${(err as Error).message}); set DATABASE_URL`,
    );
  }
  let server = "unknown";
  try {
    server = ((await admin.query("SHOW server_version")).rows[0] as { server_version: string })
      .server_version;
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema}`);
  let dropped = false;
  return {
    schema,
    url: url.toString(),
    server,
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: base, connectionTimeoutMillis: 3_000 });
      try {
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end().catch(() => undefined);
      }
    },
  };
}

/** Whether the server runs on this machine (its processes' CPU time can then be read from /proc). */
export function isLocal(url: string): boolean {
  return ["127.0.0.1", "localhost", "::1", "[::1]"].includes(new URL(url).hostname);
}

/** CPU seconds (user + system) used so far by every process named `postgres`; null without /proc. */
export function postgresCpuSeconds(): number | null {
  if (!existsSync("/proc/self/stat")) return null;
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (comm !== "postgres") continue;
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    total += cpuSeconds(Number(entry)) ?? 0;
  }
  return total;
}

/** Machine-wide busy and total jiffies from /proc/stat (all cores); null without /proc. */
export function machineCpu(): { busy: number; total: number } | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** The share of all cores' time that was busy between two `machineCpu` readings. */
export function busyShare(
  a: { busy: number; total: number } | null,
  b: { busy: number; total: number } | null,
): number | null {
  if (a === null || b === null || b.total <= a.total) return null;
  return Math.round((1000 * (b.busy - a.busy)) / (b.total - a.total)) / 1000;
}

/**
 * Connections of the server's current database whose last statement was a LISTEN: compared before
 * and after nodes start, it tells whether they listen for change notifications (other work on the
 * same server can skew it). Null when it cannot be read.
 */
export async function listeningConnections(): Promise<number | null> {
  const c = new pg.Client({ connectionString: databaseUrl(), connectionTimeoutMillis: 3_000 });
  try {
    await c.connect();
    const r = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen %'",
    );
    return r.rows[0]?.n ?? null;
  } catch {
    return null;
  } finally {
    await c.end().catch(() => undefined);
  }
}
