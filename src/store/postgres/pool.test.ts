/**
 * The request path's queries against a busy store: admin writes queued on a lock must neither take
 * the connections an audit append or a version poll needs, nor wait without end. A second session
 * holds store_meta's row lock (as one long change transaction on another node does). Skipped
 * without PostgreSQL.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { STATUS_OF_KIND } from "../../http/index.js";
import { StoreError } from "../index.js";
import { blackhole } from "../../testing/blackhole.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openPostgresStore, type PostgresStore } from "./index.js";

if (skipReason !== undefined) console.warn(`src/store/postgres/pool.test.ts: SKIPPED, ${skipReason}`);

const stores: PostgresStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  await dropSchemas();
});

/** Another session's change transaction, holding the version row until released. */
async function holdVersionRow(schema: string) {
  const x = await adminPool().connect();
  await x.query("BEGIN");
  const { rows } = await x.query<{ pid: number }>(
    `UPDATE ${schema}.store_meta SET version = version + 1 WHERE id = 1 RETURNING pg_backend_pid() AS pid`,
  );
  const pid = rows[0]!.pid;
  return Object.assign(
    async () => {
      await x.query("COMMIT");
      x.release();
    },
    {
      /**
       * The sessions waiting behind this transaction, as the server sees them: for the row, or for
       * a session that waits for it.
       */
      blocked: async () =>
        (
          await adminPool().query<{ n: number }>(
            `WITH RECURSIVE behind(pid) AS (
               SELECT $1::int
               UNION SELECT a.pid FROM pg_stat_activity a, behind WHERE behind.pid = ANY(pg_blocking_pids(a.pid))
             )
             SELECT count(*)::int - 1 AS n FROM behind`,
            [pid],
          )
        ).rows[0]!.n,
    },
  );
}

/** Another session's transaction, holding `LOCK TABLE <lock>` (or running `sql`) until released. */
async function holdLock(sql: string) {
  const x = await adminPool().connect();
  await x.query("BEGIN");
  await x.query(sql);
  return async () => {
    await x.query("COMMIT");
    x.release();
  };
}

/**
 * What `p` rejected with, "resolved", or "still waiting" after `guardMs` (a hang guard, far above the
 * bounds under test: the assertion is on the outcome, never on how long it took).
 */
async function outcome(p: Promise<unknown>, guardMs = 20_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise((r) => (timer = setTimeout(() => r("still waiting"), guardMs)));
  const result = await Promise.race([
    p.then(
      () => "resolved",
      (e: unknown) => e,
    ),
    guard,
  ]);
  clearTimeout(timer);
  return result;
}

/** Short bounds: a statement is cancelled by the server after 300 ms, given up by the client at 500. */
const SHORT = { lockTimeoutMs: 100, queryTimeoutMs: 200 } as const;

/** Bounds far above how long a test waits on a lock before it ends the waiting session. */
const SHORT_LOCKLESS = { lockTimeoutMs: 60_000, queryTimeoutMs: 60_000 } as const;

describe.skipIf(skipReason !== undefined)("the PostgreSQL store's connections", () => {
  it("an audit append and a version poll go through while admin writes hold every admin connection", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, { max: 3 });
    stores.push(store);
    await store.sharedAudit.append([Buffer.from("warm")]);
    const release = await holdVersionRow(schema);
    const writes = Array.from({ length: 6 }, (_, i) =>
      store.principals.put({ id: `p-${i}` }, "admin").catch((e: unknown) => e),
    );
    // Every admin connection (3) waits on the row, as the server sees it.
    await vi.waitFor(async () => expect(await release.blocked(), "admin writes waiting").toBe(3), {
      timeout: 30_000,
      interval: 10,
    });
    // The append and the poll go through while they wait (they would wait as long, were they behind).
    const [append, version] = await Promise.all([
      outcome(store.sharedAudit.append([Buffer.from("a request's entry")])),
      outcome(store.version()),
    ]);
    expect(await release.blocked()).toBe(3);
    await release();
    await Promise.all(writes);
    expect(append).toBe("resolved");
    expect(version).toBe("resolved");
  });

  it("an admin write waiting on a lock past lockTimeoutMs fails as busy, and nothing of it is kept", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, { lockTimeoutMs: 300 });
    stores.push(store);
    const release = await holdVersionRow(schema);
    const t0 = Date.now();
    const put = await store.principals.put({ id: "p-late" }, "admin").catch((e: unknown) => e);
    const took = Date.now() - t0;
    await release();
    expect(put).toBeInstanceOf(StoreError);
    expect((put as StoreError).code).toBe("busy");
    expect(took).toBeLessThan(2_000);
    expect(await store.principals.get("p-late")).toBeUndefined();
    // The connection is fine afterwards: the next write goes through.
    await store.principals.put({ id: "p-next" }, "admin");
    expect(await store.principals.get("p-next")).toMatchObject({ id: "p-next" });
  });

  it("an admin read behind another session's table lock fails as timeout (503), not waiting for ever", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, SHORT);
    stores.push(store);
    await store.principals.put({ id: "p-1" }, "admin");
    const release = await holdLock(`LOCK TABLE ${schema}.principals IN ACCESS EXCLUSIVE MODE`);
    const got = await outcome(store.principals.get("p-1"));
    await release();
    expect(got).toBeInstanceOf(StoreError);
    expect(got).toMatchObject({ code: "timeout", kind: "unavailable" });
    expect(STATUS_OF_KIND[(got as StoreError).kind]).toBe(503);
    // The store is fine afterwards.
    expect(await store.principals.get("p-1")).toMatchObject({ id: "p-1" });
  });

  it("an autocommit write behind a row lock is cancelled by the server, and not applied once the lock goes", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, SHORT);
    stores.push(store);
    const delta = {
      principalId: "p-1",
      organizationId: null,
      licenseId: null,
      model: "m",
      inputTokens: 10,
      outputTokens: 5,
      requests: 1,
      at: "2026-06-01T00:00:00.000Z",
    };
    await store.usage.add([delta]);
    const before = await store.usage.totals();
    const release = await holdLock(`UPDATE ${schema}.usage_daily SET requests = requests`);
    const got = await outcome(store.usage.add([delta]));
    await release();
    expect(got).toMatchObject({ code: "timeout", kind: "unavailable" });
    expect((got as Error).message).toMatch(/nothing was changed/);
    expect(await store.usage.totals()).toEqual(before);
  });

  it("admin calls finding every admin connection taken past the wait fail as timeout (503), changing nothing", async () => {
    const { schema, url } = await freshSchema();
    // One admin connection, a short wait for it; the lock bounds far above it (the write holding the
    // connection must not give it back while the others wait).
    const store = await openPostgresStore(url, {
      max: 1,
      connectTimeoutMs: 300,
      lockTimeoutMs: 15_000,
      queryTimeoutMs: 5_000,
    });
    stores.push(store);
    await store.principals.put({ id: "p-1" }, "admin"); // the one connection, connected and idle
    const release = await holdVersionRow(schema);
    // Takes the idle connection and holds it, waiting for the version row.
    const holder = store.principals.put({ id: "p-holder" }, "admin");
    const read = await outcome(store.principals.get("p-1"));
    const put = await outcome(store.principals.put({ id: "p-waiting" }, "admin"));
    const record = await outcome(
      store.records.put("setting", "s", { v: 1 }, 0, { actor: "admin", action: "setting.put" }),
    );
    await release();
    await holder;
    for (const got of [read, put, record]) {
      expect(got).toBeInstanceOf(StoreError);
      expect(got).toMatchObject({ code: "timeout", kind: "unavailable" });
      expect(STATUS_OF_KIND[(got as StoreError).kind]).toBe(503);
      expect((got as Error).message).toMatch(/no admin connection.*nothing was changed/);
    }
    expect(await store.principals.get("p-waiting")).toBeUndefined();
    expect(await store.records.get("setting", "s")).toBeUndefined();
    expect(await store.principals.get("p-holder")).toMatchObject({ id: "p-holder" });
  });

  it("an admin call whose new connection does not connect within the wait fails as timeout (503)", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url);
    try {
      const store = await openPostgresStore(link.url, { ...SHORT, connectTimeoutMs: 300 });
      stores.push(store);
      // Opening migrated on a session of its own: the pool holds no connection yet.
      link.cut();
      const read = await outcome(store.principals.get("p-1"));
      const put = await outcome(store.principals.put({ id: "p-2" }, "admin"));
      link.mend();
      for (const got of [read, put]) {
        expect(got).toMatchObject({ code: "timeout", kind: "unavailable" });
        expect((got as Error).message).toMatch(/could not connect.*nothing was changed/);
      }
      expect(await store.principals.get("p-2")).toBeUndefined();
    } finally {
      await link.close();
    }
  });

  it("a store that stops answering fails admin reads and changes as timeout, the change not kept", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url);
    try {
      const store = await openPostgresStore(link.url, SHORT);
      stores.push(store);
      await store.principals.put({ id: "p-1" }, "admin");
      // Two pooled connections, one for each call below (a new one would wait for its connect).
      await Promise.all([store.principals.get("p-1"), store.principals.get("p-1")]);
      link.cut();
      const read = await outcome(store.principals.get("p-1"));
      const put = await outcome(store.principals.put({ id: "p-2" }, "admin"));
      link.mend();
      expect(read).toMatchObject({ code: "timeout", kind: "unavailable" });
      expect(put).toMatchObject({ code: "timeout", kind: "unavailable" });
      expect((put as Error).message).toMatch(/did not answer.*nothing was changed/);
      // New connections, once the link carries packets again: the change was rolled back.
      expect(await store.principals.get("p-2")).toBeUndefined();
      expect(await store.principals.get("p-1")).toMatchObject({ id: "p-1" });
    } finally {
      await link.close();
    }
  });

  /** The pid of the store's admin session waiting on a lock, once it waits (the store's own name). */
  async function waitingSession(): Promise<number> {
    for (;;) {
      const { rows } = await adminPool().query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'clearance' AND wait_event_type = 'Lock'",
      );
      if (rows[0] !== undefined) return rows[0].pid;
      await new Promise((r) => setImmediate(r));
    }
  }

  it("a session the server ends in the middle of a change fails the change clearly (503), the process going on", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, SHORT_LOCKLESS);
    stores.push(store);
    await store.records.put("partner", "g", { a: 1 }, 0, { actor: "t", action: "partner.put" });
    const v = await store.version();
    // The change waits on a guarded record's lock, mid-transaction, when its session is ended (an
    // operator's pg_terminate_backend, a failover, the server's idle-in-transaction timeout).
    const release = await holdLock(`SELECT 1 FROM ${schema}.records WHERE id = 'g' FOR UPDATE`);
    const guard = { record: { collection: "partner", id: "g", revision: 1 } } as const;
    const change = outcome(
      store.records.put("partner", "w", { a: 1 }, 0, { actor: "t", action: "partner.put" }, guard),
    );
    await adminPool().query("SELECT pg_terminate_backend($1)", [await waitingSession()]);
    const err = await change;
    await release();
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: "disconnected", kind: "unavailable" });
    expect(STATUS_OF_KIND[(err as StoreError).kind]).toBe(503);
    expect((err as Error).message).toMatch(
      /connection to the store was lost.*nothing was changed, try again/,
    );
    // Nothing of the change was kept, and the next change goes through on a new connection.
    expect(await store.records.get("partner", "w")).toBeUndefined();
    expect(await store.version()).toBe(v);
    await store.principals.put({ id: "p" }, "admin");
    expect(await store.version()).toBe(v + 1);
  });

  it("a session the server ends in the middle of an outbox drain fails the drain, the process going on", async () => {
    const { schema, url } = await freshSchema();
    const store = await openPostgresStore(url, SHORT_LOCKLESS);
    stores.push(store);
    await store.principals.put({ id: "p" }, "admin");
    // The drain waits on the outbox's lock, which another session's transaction holds.
    const release = await holdLock(`LOCK TABLE ${schema}.audit_outbox IN ACCESS EXCLUSIVE MODE`);
    const drain = outcome(store.sharedAudit.drainOutbox(() => Buffer.from("entry"), 10));
    await adminPool().query("SELECT pg_terminate_backend($1)", [await waitingSession()]);
    const err = await drain;
    await release();
    expect(err).toBeInstanceOf(Error);
    expect(await store.outbox.list(0, 10)).toHaveLength(1);
    expect(await store.sharedAudit.drainOutbox(() => Buffer.from("entry"), 10)).toBe(1);
  });
});
