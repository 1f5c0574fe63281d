/**
 * The audit outbox on PostgreSQL when writers and a drain interleave: no change may leave the outbox
 * without its entry in the log. Each test holds a writer's transaction open on a connection of its
 * own, and orders the other sessions around its COMMIT by what they wait on (pg_blocking_pids), not
 * by sleeping. Skipped without PostgreSQL.
 */
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { NewAlert } from "../alerts.js";
import { eventually } from "../../testing/admin.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { postgresAlerts } from "./alerts.js";
import { openPostgresStore, type PostgresStore } from "./index.js";

if (skipReason !== undefined) console.warn(`src/store/postgres/outbox.test.ts: SKIPPED, ${skipReason}`);

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await dropSchemas();
});

const ALERT: NewAlert = {
  dedupeKey: "key-sharing:key:k1:req-1",
  detector: "key-sharing",
  severity: "high",
  subject: { kind: "key", id: "k1" },
  summary: "key k1 used from 3 countries within 1 h",
  evidence: { audit_indexes: [], details: {} },
  raisedAt: "2030-01-02T03:04:05.000Z",
  deliver: false,
};

async function store(url: string): Promise<PostgresStore> {
  const s = await openPostgresStore(url);
  cleanup.push(() => s.close());
  return s;
}

/**
 * Transactions on one connection of their own, each kept open once `fn` has run until `commit()`.
 * Before waiting, each also locks the audit log's head row, which a drain updates when it appends:
 * a drain that has read the outbox then waits for this COMMIT before it can append, and so before
 * it deletes what it read. The COMMIT lands between the drain's read and its delete.
 */
async function heldWriter(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  cleanup.push(async () => {
    client.release();
    await pool.end();
  });
  const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  let wrote!: () => void;
  let commit!: () => void;
  const written = new Promise<void>((r) => (wrote = r));
  const committing = new Promise<void>((r) => (commit = r));
  const tx = async <T>(fn: (db: pg.PoolClient) => Promise<T>): Promise<T> => {
    await client.query("BEGIN");
    try {
      const out = await fn(client);
      await client.query("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE");
      wrote();
      await committing;
      await client.query("COMMIT");
      return out;
    } catch (err) {
      await client.query("ROLLBACK");
      throw err;
    }
  };
  return { pid: rows[0]!.pid, tx, written, commit };
}

/** How many sessions are waiting for a lock the backend `pid` holds. */
async function waitingOn(pid: number): Promise<number> {
  const { rows } = await adminPool().query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
    [pid],
  );
  return rows[0]!.n;
}

/** Polls `cond` until it holds (a condition to reach, not a timing to assert), bounded by the test. */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  await eventually(
    async () => ((await cond()) ? what : `not yet: ${what}`),
    (seen) => seen === what,
  );
}

/** A promise, and whether it has settled yet. */
function track<T>(promise: Promise<T>) {
  const t = { promise, done: false };
  promise.then(
    () => (t.done = true),
    () => (t.done = true),
  );
  return t;
}

/** The alert store's pool, for reads, which these tests do not make through it. */
const unused = (): pg.Pool => {
  throw new Error("not used by these tests");
};

/** One drain of the outbox into the log; returns how many it moved. */
const drain = (s: PostgresStore) =>
  s.sharedAudit.drainOutbox(
    (r) => Buffer.from(JSON.stringify({ type: "admin", change: r.id, action: r.action })),
    500,
  );

/** The actions the log holds, in log order. */
async function logged(s: PostgresStore): Promise<string[]> {
  const entries = await s.sharedAudit.read(0n, 1000);
  return entries.map((e) => (JSON.parse(e.toString("utf8")) as { action: string }).action);
}

describe.skipIf(skipReason !== undefined)("the PostgreSQL audit outbox, under concurrent writers", () => {
  it("loses no alert whose record commits between a drain's read and its delete", async () => {
    const { url } = await freshSchema();
    const s = await store(url);
    const writer = await heldWriter(url);
    const raising = postgresAlerts(unused, writer.tx).raise(ALERT, "detector:key-sharing");
    await writer.written;

    // An admin change meanwhile: it commits with the next id unless it must wait for the alert.
    const put = track(s.principals.put({ id: "p" }, "admin"));
    await until("the change commits or waits", async () => put.done || (await waitingOn(writer.pid)) >= 1);
    // A drain reads what has committed, then (having read anything) waits at its append.
    const draining = track(drain(s));
    const waiters = put.done ? 1 : 2;
    await until(
      "the drain ends or waits",
      async () => draining.done || (await waitingOn(writer.pid)) >= waiters,
    );

    writer.commit();
    await Promise.all([raising, put.promise, draining.promise]);
    while ((await drain(s)) > 0);
    expect((await logged(s)).sort()).toEqual(["alert.raise", "principal.put"]);
    expect(await s.outbox.list(0, 10)).toEqual([]);
  });

  it("deletes only the records a drain logged, even from a writer that skips the change lock", async () => {
    const { url } = await freshSchema();
    const s = await store(url);
    const writer = await heldWriter(url);
    // A record written as no change should be: without store_meta's lock, so its id (1) is drawn
    // before the change's below (2) yet commits after it.
    const writing = writer.tx((db) =>
      db.query(
        `INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details)
         VALUES ($1, 'test', 'test.unlocked', 'test', 't', '{}')`,
        [new Date().toISOString()],
      ),
    );
    await writer.written;
    await s.principals.put({ id: "p" }, "admin");

    const draining = track(drain(s));
    await until("the drain waits", async () => draining.done || (await waitingOn(writer.pid)) >= 1);
    expect(draining.done).toBe(false); // it read the change, and waits to append it
    writer.commit();
    await writing;
    expect(await draining.promise).toBe(1);
    // The late record stayed, and the next drain logs it.
    expect((await s.outbox.list(0, 10)).map((r) => r.action)).toEqual(["test.unlocked"]);
    expect(await drain(s)).toBe(1);
    expect(await logged(s)).toEqual(["principal.put", "test.unlocked"]);
  });

  it("orders an alert's record with every change: a change started while it is open commits after it", async () => {
    const { url } = await freshSchema();
    const s = await store(url);
    const { alert } = await s.alerts.raise(ALERT, "detector:key-sharing");
    const writer = await heldWriter(url);
    const acknowledging = postgresAlerts(unused, writer.tx).transition(
      alert.id,
      "acknowledged",
      "officer",
      null,
    );
    await writer.written;

    const put = track(s.principals.put({ id: "p" }, "admin"));
    await until("the change commits or waits", async () => put.done || (await waitingOn(writer.pid)) >= 1);
    expect(put.done).toBe(false); // it waits for the alert's transaction: ids follow commit order
    writer.commit();
    await Promise.all([acknowledging, put.promise]);
    const outbox = await s.outbox.list(0, 10);
    expect(outbox.map((r) => r.action)).toEqual(["alert.raise", "alert.acknowledge", "principal.put"]);
    expect(await s.version()).toBe(1); // an alert is no snapshot change: only the put bumped it
  });
});
