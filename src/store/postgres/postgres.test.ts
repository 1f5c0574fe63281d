/**
 * The PostgreSQL driver against a real server: DATABASE_URL, else the local default. Every store
 * gets a fresh schema (clearance_test_<random>), dropped afterwards, so concurrent runs never collide.
 * Without a reachable server the whole file is skipped, and the skip says why.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openStore, StoreError, type Store } from "../index.js";
import { MIGRATIONS as SQLITE_MIGRATIONS } from "../sqlite/migrations.js";
import { storeSuite } from "../suite.js";
import { openPostgresStore } from "./index.js";
import { migrate, MIGRATION_LOCK, MIGRATIONS, type Migration } from "./migrations.js";
import { eventually } from "../../testing/admin.js";
import { DATABASE_URL, skipReason } from "../../testing/postgres.js";

const DATABASE = DATABASE_URL;
const fail = (err: unknown) => {
  throw err;
};
const skip = skipReason;
// Also said outside the describe title, which the default reporter does not print for skipped files.
if (skip !== undefined) console.warn(`src/store/postgres: SKIPPED, ${skip}`);

describe.skipIf(skip !== undefined)(skip === undefined ? "postgres" : `postgres: SKIPPED, ${skip}`, () => {
  let adminPool: pg.Pool | undefined;
  const admin = () => (adminPool ??= new pg.Pool({ connectionString: DATABASE, max: 2 }));
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await admin().query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await adminPool?.end();
  });

  /** A fresh schema's name; created unless `create` is false (to test the driver creating it). */
  async function freshSchema(create = true): Promise<string> {
    const name = `clearance_test_${randomBytes(6).toString("hex")}`;
    schemas.push(name);
    if (create) await admin().query(`CREATE SCHEMA ${name}`);
    return name;
  }
  /** DATABASE with the schema as search_path: how a deployment picks a schema by URL alone. */
  const urlFor = (schema: string) => {
    const url = new URL(DATABASE);
    url.searchParams.set("options", `-c search_path=${schema}`);
    return url.toString();
  };
  const count = async (sql: string) => Number((await admin().query<{ n: string }>(sql)).rows[0]?.n);

  async function withStores<T>(schema: string, n: number, fn: (stores: Store[]) => Promise<T>): Promise<T> {
    const stores = await Promise.all(
      Array.from({ length: n }, () => openPostgresStore(DATABASE, { schema })),
    );
    try {
      return await fn(stores);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }

  storeSuite("postgres", async () =>
    openStore({ driver: "postgres", dataDir: "(unused)", url: urlFor(await freshSchema()) }),
  );

  describe("postgres driver", () => {
    it("creates the schema given as an option, and keeps its tables there", async () => {
      const schema = await freshSchema(false);
      await withStores(schema, 1, async ([s]) => void (await s!.principals.put({ id: "p" })));
      expect(await count(`SELECT count(*) AS n FROM ${schema}.principals`)).toBe(1);
    });

    it("shares one schema between processes: a write by one is seen by the other's version and snapshot", async () => {
      await withStores(await freshSchema(), 2, async ([gateway, cli]) => {
        const v = await gateway!.version();
        await cli!.principals.put({ id: "p" });
        const { record } = await cli!.keys.create("p");
        expect(await gateway!.version()).toBe(v + 2);
        expect((await gateway!.snapshot()).keys).toEqual([record]);
        await gateway!.keys.revoke(record.id);
        expect(await cli!.version()).toBe(v + 3);
        expect((await cli!.keys.list())[0]?.revokedAt).toEqual(expect.any(String));
      });
    });

    it("announces a committed change to every store watching the same schema, and to no other", async () => {
      const schema = await freshSchema();
      const other = await freshSchema();
      await withStores(schema, 2, async ([a, b]) =>
        withStores(other, 1, async ([elsewhere]) => {
          const heard = { b: 0, elsewhere: 0 };
          let resolve = () => {};
          const watching = [
            await b!.watch!(() => {
              heard.b++;
              resolve();
            }, fail),
            await elsewhere!.watch!(() => heard.elsewhere++, fail),
          ];
          // Each watch announces once on connecting (changes may have come before it listened).
          expect(heard).toEqual({ b: 1, elsewhere: 1 });
          const notified = new Promise<void>((r) => (resolve = r));
          await a!.principals.put({ id: "p1" });
          await notified;
          const again = new Promise<void>((r) => (resolve = r));
          await a!.keys.create("p1");
          await again;
          expect(heard).toEqual({ b: 3, elsewhere: 1 });
          for (const w of watching) await w.close();
        }),
      );
    });

    it("listens again after losing its connection, and announces that it may have missed changes", async () => {
      const schema = await freshSchema();
      const name = `watch_test_${randomBytes(4).toString("hex")}`;
      const url = new URL(urlFor(schema));
      url.searchParams.set("application_name", name);
      const a = await openPostgresStore(DATABASE, { schema });
      const b = await openPostgresStore(url.toString());
      try {
        const heard: number[] = [];
        let next = () => {};
        const watch = await b.watch(
          () => {
            heard.push(Date.now());
            next();
          },
          () => undefined,
        );
        const announced = () => new Promise<void>((r) => (next = r));
        expect(heard).toHaveLength(1);
        // The server drops the listening connection (a restart, a failover, an idle timeout).
        const reconnected = announced();
        const killed = await admin().query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
          [name],
        );
        expect(killed.rowCount).toBeGreaterThan(0);
        await reconnected;
        const changed = announced();
        await a.principals.put({ id: "after-reconnect" });
        await changed;
        expect(heard).toHaveLength(3);
        await watch.close();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it("keeps everything across a reopen", async () => {
      const schema = await freshSchema();
      const before = await withStores(schema, 1, async ([s]) => {
        await s!.principals.put({ id: "p", residence: "DE" });
        await s!.keys.create("p", "laptop");
        await s!.records.put("setting", "x", { b: 1, a: [2] }, 0, { actor: "t", action: "setting.put" });
        return s!.snapshot();
      });
      await withStores(schema, 1, async ([s]) => expect(await s!.snapshot()).toStrictEqual(before));
    });

    it("lets exactly one of several concurrent writers of the same revision win", async () => {
      await withStores(await freshSchema(), 4, async (stores) => {
        const change = { actor: "t", action: "license.approve" };
        for (const expected of [0, 1, 2]) {
          const v = await stores[0]!.version();
          const results = await Promise.allSettled(
            stores.map((s, i) => s.records.put("license", "L", { writer: i }, expected, change)),
          );
          const won = results.filter((r) => r.status === "fulfilled");
          expect(won).toHaveLength(1);
          for (const r of results.filter((r) => r.status === "rejected")) {
            expect(r.reason).toBeInstanceOf(StoreError);
            expect(r.reason).toMatchObject({ code: "conflict" });
          }
          const stored = await stores[1]!.records.get("license", "L");
          expect(stored).toEqual(won[0]?.value);
          expect(stored?.revision).toBe(expected + 1);
          expect(await stores[2]!.version()).toBe(v + 1);
        }
        expect(await stores[3]!.outbox.list(0, 100)).toHaveLength(3);
      });
    });

    it("a guarded write waits for a revocation in flight on a guarded record, then is refused", async () => {
      const schema = await freshSchema();
      await withStores(schema, 1, async ([s]) => {
        const t = { actor: "t", action: "t" };
        await s!.records.put("identity", "a1", { revoked_at: null }, 0, t);
        await s!.records.put("identity", "a2", { revoked_at: null }, 0, t);
        await s!.records.put("license", "L", { approvals: ["a1"] }, 0, t);
        // Another node's revocation of a1, not yet committed.
        const other = await admin().connect();
        try {
          await other.query("BEGIN");
          const { rows } = await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
          await other.query(
            `UPDATE ${schema}.records SET revision = revision + 1, document = '{"revoked_at":"x"}'
             WHERE collection = 'identity' AND id = 'a1'`,
          );
          const approval = s!.records.put("license", "L", { approvals: ["a1", "a2"] }, 1, t, [
            { record: { collection: "identity", id: "a2", revision: 1 } },
            { record: { collection: "identity", id: "a1", revision: 1 } },
          ]);
          let early: unknown = null;
          const settled = approval.then(
            () => (early = "written"),
            (e: unknown) => (early = e),
          );
          // The approval's check is blocked by the revocation's row lock (not decided on the old row).
          const blocked = `SELECT count(*) AS n FROM pg_stat_activity WHERE ${rows[0]!.pid} = ANY(pg_blocking_pids(pid))`;
          await eventually(
            async () => ({ early, blocked: await count(blocked) }),
            (now) => now.early !== null || now.blocked > 0,
          );
          expect(early).toBeNull();
          await other.query("COMMIT");
          expect(await settled).toMatchObject({
            code: "conflict",
            message: expect.stringContaining("identity a1"),
          });
        } finally {
          other.release();
        }
        expect((await s!.records.get("license", "L"))?.revision).toBe(1);
      });
    });

    it("answers an expected revision no record can have with a conflict, as SQLite does", async () => {
      await withStores(await freshSchema(), 1, async ([s]) => {
        const change = { actor: "t", action: "license.apply" };
        for (const expected of [1.5, -1, 2 ** 40])
          await expect(s!.records.put("license", "L", {}, expected, change)).rejects.toMatchObject({
            code: "conflict",
          });
      });
    });

    it("migrates once when several stores open a fresh schema together", async () => {
      const schema = await freshSchema();
      await withStores(schema, 4, async () => undefined);
      const { rows } = await admin().query<{ version: number }>(
        `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
      );
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await count(`SELECT count(*) AS n FROM ${schema}.store_meta`)).toBe(1);
    });

    it("finds principals stored before schema version 14 by organization and prefix once reopened", async () => {
      const schema = await freshSchema();
      const client = new pg.Client({ connectionString: urlFor(schema) });
      await client.connect();
      try {
        await migrate(client, MIGRATIONS.slice(0, 13));
        const put =
          "INSERT INTO principals (id, document, created_at, updated_at) VALUES ($1, $2, 'then', 'then')";
        await client.query(put, [
          "p-1",
          JSON.stringify({ id: "p-1", name: "Ölaf", organization: { id: "org-a" } }),
        ]);
        await client.query(put, ["p-2", JSON.stringify({ id: "p-2", organization: "org-b" })]);
      } finally {
        await client.end();
      }
      await withStores(schema, 1, async ([s]) => {
        expect((await s!.principals.page({ limit: 10, prefix: "öl" })).map((p) => p.id)).toEqual(["p-1"]);
        expect((await s!.principals.page({ limit: 10, organization: "org-b" })).map((p) => p.id)).toEqual([
          "p-2",
        ]);
      });
    });

    it("refuses a schema written by a newer clearance, and leaves it untouched", async () => {
      const schema = await freshSchema();
      await withStores(schema, 1, async ([s]) => void (await s!.principals.put({ id: "p" })));
      await admin().query(
        `INSERT INTO ${schema}.schema_migrations (version, applied_at) VALUES (999, 'later')`,
      );
      const err = await openPostgresStore(DATABASE, { schema }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: "schema-too-new" });
      expect((err as Error).message).toMatch(/schema version 999.*versions up to \d+/s);
      expect(await count(`SELECT max(version) AS n FROM ${schema}.schema_migrations`)).toBe(999);
      expect(await count(`SELECT count(*) AS n FROM ${schema}.principals`)).toBe(1);
    });

    it("returns BIGINT counters as numbers, past 32 bits", async () => {
      await withStores(await freshSchema(), 1, async ([s]) => {
        const big = { principalId: "p", organizationId: null, licenseId: "L", model: "m", requests: 1 };
        const at = "2030-01-01T12:00:00Z";
        await s!.usage.add([{ ...big, inputTokens: 3e9, outputTokens: 1, at }]);
        await s!.usage.add([{ ...big, inputTokens: 3e9, outputTokens: 0, at }]);
        expect((await s!.usage.totals()).byLicense).toStrictEqual({ L: 6e9 + 1 });
        expect(await s!.usage.byLicenseDay("2030-01-01")).toStrictEqual([
          { licenseId: "L", day: "2030-01-01", tokens: 6e9 + 1 },
        ]);
        expect(typeof (await s!.version())).toBe("number");
      });
    });

    it("adds up usage flushed concurrently by several gateways, in any row order, without deadlock", async () => {
      await withStores(await freshSchema(), 3, async (stores) => {
        const at = "2030-01-01T00:00:00Z";
        const delta = (licenseId: string) => ({
          principalId: "p",
          organizationId: "o",
          licenseId,
          model: "m",
          inputTokens: 1,
          outputTokens: 1,
          requests: 1,
          at,
        });
        const ids = ["a", "b", "c", "d", "e"];
        await Promise.all(
          stores.flatMap((s, i) =>
            Array.from({ length: 10 }, (_, j) => {
              const order = (i + j) % 2 === 0 ? ids : [...ids].reverse();
              return s.usage.add([...order.map(delta), delta("a")]);
            }),
          ),
        );
        expect((await stores[0]!.usage.totals()).byLicense).toStrictEqual({
          a: 120,
          b: 60,
          c: 60,
          d: 60,
          e: 60,
        });
      });
    });

    it("openStore needs a URL, from its options or DATABASE_URL", async () => {
      vi.stubEnv("DATABASE_URL", "");
      try {
        await expect(openStore({ driver: "postgres", dataDir: "" })).rejects.toThrow(/DATABASE_URL/);
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  describe("postgres migrations", () => {
    // No IF NOT EXISTS: running a migration twice would fail.
    const v1: Migration = { version: 1, sql: "CREATE TABLE a (x INTEGER)" };
    const v2: Migration = { version: 2, sql: "CREATE TABLE b (x INTEGER)" };
    async function withClient<T>(fn: (c: pg.PoolClient, schema: string) => Promise<T>): Promise<T> {
      const schema = await freshSchema();
      const pool = new pg.Pool({ connectionString: urlFor(schema), max: 1 });
      const client = await pool.connect();
      try {
        return await fn(client, schema);
      } finally {
        client.release();
        await pool.end();
      }
    }

    it("applies only what is missing, in order", () =>
      withClient(async (c) => {
        expect(await migrate(c, [v1])).toEqual([1]);
        expect(await migrate(c, [v1, v2])).toEqual([2]);
        expect(await migrate(c, [v1, v2])).toEqual([]);
      }));

    it("rolls back every migration of a run when one fails", () =>
      withClient(async (c, schema) => {
        await expect(migrate(c, [v1, { version: 2, sql: "CREATE TABLE broken (" }])).rejects.toThrow();
        const tables = await c.query("SELECT 1 FROM pg_tables WHERE schemaname = $1", [schema]);
        expect(tables.rowCount).toBe(0);
      }));

    /** Another session's transaction, having run `sql` (taking its locks) until released. */
    async function holding(sql: string, params: unknown[] = []) {
      const x = await admin().connect();
      await x.query("BEGIN");
      await x.query(sql, params);
      return async () => {
        await x.query("COMMIT");
        x.release();
      };
    }

    it("fails a migration waiting past lockTimeoutMs on another session's lock, naming it, applying nothing", () =>
      withClient(async (c, schema) => {
        await migrate(c, [v1]);
        // A long read of `a` elsewhere (another node's transaction): ALTER TABLE must wait for it.
        const release = await holding(`LOCK TABLE ${schema}.a IN ACCESS SHARE MODE`);
        const v3: Migration = { version: 3, sql: "ALTER TABLE a ADD COLUMN y INTEGER" };
        const err = await migrate(c, [v1, v2, v3], { lockTimeoutMs: 200 }).catch((e: unknown) => e);
        await release();
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ code: "busy", kind: "unavailable" });
        expect((err as Error).message).toMatch(
          /migration 3 waited over 200 ms for a lock.*nothing was migrated/,
        );
        // The whole run rolled back: v2's table is not there, the schema is still at 1.
        expect(await count(`SELECT max(version) AS n FROM ${schema}.schema_migrations`)).toBe(1);
        expect(await count(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = '${schema}'`)).toBe(2);
        // The lock gone, the same run goes through.
        expect(await migrate(c, [v1, v2, v3], { lockTimeoutMs: 200 })).toEqual([2, 3]);
      }));

    it("waits for another process's migration lock without a limit, then finds the schema migrated", async () => {
      const schema = await freshSchema();
      // Another node migrating (a long migration): this start queues on the lock however long it takes.
      const release = await holding("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      // Its own application_name: only its sessions are counted, never another test file's opening.
      const name = `migrate_wait_${randomBytes(4).toString("hex")}`;
      const url = new URL(DATABASE);
      url.searchParams.set("application_name", name);
      const opening = openPostgresStore(url.toString(), { schema, lockTimeoutMs: 50 });
      const failed = opening.then(
        () => null,
        (e: unknown) => e,
      );
      // Seen waiting on the lock (not timed: the server's own lock table says so). Polled for as long
      // as it takes: the test's own timeout is what catches a start that never queues.
      const waiting = async () =>
        Number(
          (
            await admin().query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks JOIN pg_stat_activity USING (pid)
                WHERE application_name = $1 AND locktype = 'advisory' AND objid = $2 AND NOT granted`,
              [name, MIGRATION_LOCK],
            )
          ).rows[0]?.n,
        );
      await eventually(waiting, (n) => n > 0);
      await release();
      expect(await failed).toBeNull();
      await (await opening).close();
      expect(await count(`SELECT max(version) AS n FROM ${schema}.schema_migrations`)).toBe(
        MIGRATIONS.at(-1)!.version,
      );
    });

    it("rejects a list out of order", () =>
      withClient(async (c) => {
        await expect(migrate(c, [v2, v1])).rejects.toThrow(/out of order/);
        await expect(migrate(c, [v1, v1])).rejects.toThrow(/out of order/);
      }));

    it("shipped migrations have SQLite's version numbers", () => {
      expect(MIGRATIONS.map((m) => m.version)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    });
  });
});
