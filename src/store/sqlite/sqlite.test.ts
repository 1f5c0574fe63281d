import Database from "better-sqlite3";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, StoreError, type KeyQuery, type Store } from "../index.js";
import { keyWhere } from "../key-search.js";
import { KEY_COLUMNS } from "../rows.js";
import { storeSuite } from "../suite.js";
import { MIGRATIONS, migrate, type Migration } from "./migrations.js";
import { DB_FILE } from "./index.js";
import { fold, searchColumns, type PrincipalQuery } from "../principal-search.js";
import type { Principal } from "../../policy/types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`);

storeSuite("sqlite", () => openStore({ driver: "sqlite", dataDir: freshDir() }));

/** A raw connection to a store's file, for looking underneath the interface. */
function raw(dataDir: string): Database.Database {
  return new Database(join(dataDir, DB_FILE));
}

async function withStore<T>(dataDir: string, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

describe("sqlite driver", () => {
  it.skipIf(process.platform === "win32")("creates the data dir 0700 and the database 0600", async () => {
    const dataDir = join(freshDir(), "nested", "data");
    await withStore(dataDir, async (s) => {
      await s.principals.put({ id: "p" }); // so that the -wal file exists
      const mode = (path: string) => statSync(path).mode & 0o777;
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(join(dataDir, DB_FILE))).toBe(0o600);
      expect(mode(join(dataDir, `${DB_FILE}-wal`))).toBe(0o600);
    });
  });

  it("create: false opens only an existing store: none is no-store, and nothing is created", async () => {
    const missing = join(freshDir(), "typo");
    await expect(openStore({ dataDir: missing, create: false })).rejects.toMatchObject({
      code: "no-store",
      message: `no store at ${missing} (it has no ${DB_FILE})`,
    });
    expect(existsSync(missing)).toBe(false);
    const empty = freshDir();
    mkdirSync(empty);
    await expect(openStore({ dataDir: empty, create: false })).rejects.toBeInstanceOf(StoreError);
    expect(readdirSync(empty)).toEqual([]);
    // An empty file is no store: not taken as an empty database and migrated into one.
    writeFileSync(join(empty, DB_FILE), "");
    await expect(openStore({ dataDir: empty, create: false })).rejects.toMatchObject({
      code: "no-store",
      message: `no store at ${empty} (its ${DB_FILE} is empty)`,
    });
    expect(readdirSync(empty)).toEqual([DB_FILE]);
    expect(statSync(join(empty, DB_FILE)).size).toBe(0);
    await withStore(empty, (s) => s.principals.put({ id: "p" }));
    const existing = await openStore({ dataDir: empty, create: false });
    try {
      expect((await existing.principals.list()).map((p) => p.id)).toEqual(["p"]);
    } finally {
      await existing.close();
    }
  });

  it("uses WAL, which persists in the file", async () => {
    const dataDir = freshDir();
    await withStore(dataDir, async () => undefined);
    const db = raw(dataDir);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("keeps everything across a reopen", async () => {
    const dataDir = freshDir();
    const before = await withStore(dataDir, async (s) => {
      await s.principals.put({ id: "p", residence: "DE" });
      const { key } = await s.keys.create("p", "laptop");
      await s.usage.add([
        {
          principalId: "p",
          organizationId: null,
          licenseId: "lic",
          model: "m",
          inputTokens: 3,
          outputTokens: 4,
          requests: 1,
          at: "2030-01-01T00:00:00Z",
        },
      ]);
      return { key, snapshot: await s.snapshot() };
    });
    await withStore(dataDir, async (s) => {
      expect(await s.snapshot()).toStrictEqual(before.snapshot);
      expect(before.snapshot.version).toBeGreaterThan(0);
      expect((await s.usage.totals()).byLicense).toEqual({ lic: 7 });
    });
  });

  it("shares one file between processes: a write by one is seen by the other's version and snapshot", async () => {
    const dataDir = freshDir();
    await withStore(dataDir, async (gateway) => {
      await withStore(dataDir, async (cli) => {
        const v = await gateway.version();
        await cli.principals.put({ id: "p" });
        const { record } = await cli.keys.create("p");
        expect(await gateway.version()).toBe(v + 2);
        expect((await gateway.snapshot()).keys).toEqual([record]);
      });
    });
  });

  it("applies migrations once: a reopen applies nothing", async () => {
    const dataDir = freshDir();
    await withStore(dataDir, async () => undefined);
    const db = raw(dataDir);
    const rows = () => db.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all();
    const first = rows();
    expect(first.map((r) => (r as { version: number }).version)).toEqual(MIGRATIONS.map((m) => m.version));
    db.close();
    await withStore(dataDir, async () => undefined);
    const again = raw(dataDir);
    expect(again.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all()).toEqual(
      first,
    );
    expect(migrate(again)).toEqual([]);
    again.close();
  });

  it("finds principals stored before schema version 14 by organization and prefix once reopened", async () => {
    const dataDir = freshDir();
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, DB_FILE));
    migrate(db, MIGRATIONS.slice(0, 13));
    const put = db.prepare(
      "INSERT INTO principals (id, document, created_at, updated_at) VALUES (?, ?, 'then', 'then')",
    );
    put.run("p-1", JSON.stringify({ id: "p-1", name: "Ölaf", organization: { id: "org-a" } }));
    put.run("p-2", JSON.stringify({ id: "p-2", organization: "org-b" }));
    db.close();
    await withStore(dataDir, async (s) => {
      expect((await s.principals.page({ limit: 10, prefix: "öl" })).map((p) => p.id)).toEqual(["p-1"]);
      expect((await s.principals.page({ limit: 10, organization: "org-b" })).map((p) => p.id)).toEqual([
        "p-2",
      ]);
    });
  });

  it("reads a page of keys through an index, whatever the filters: never the whole table, never sorted", async () => {
    const dataDir = freshDir();
    await withStore(dataDir, async () => undefined);
    const db = raw(dataDir);
    try {
      const filters: KeyQuery[] = [
        { limit: 10 },
        { limit: 10, after: "k" },
        { limit: 10, principal: "p" },
        { limit: 10, principal: "p", after: "k", status: "active" },
        { limit: 10, principal: "p", status: "revoked" },
        { limit: 10, status: "active", after: "k" },
        { limit: 10, status: "revoked" },
      ];
      for (const query of filters) {
        // The statement the driver runs for the page.
        const { where, params } = keyWhere(query, () => "?");
        const plan = db
          .prepare<unknown[], { detail: string }>(
            `EXPLAIN QUERY PLAN SELECT ${KEY_COLUMNS} FROM api_keys ${where} ORDER BY id LIMIT ?`,
          )
          .all(...params, query.limit)
          .map((r) => r.detail);
        const wanted =
          query.principal !== undefined
            ? /USING INDEX api_keys_by_principal_id \(principal_id=\?/
            : query.status === "active"
              ? /USING INDEX api_keys_live\b/
              : query.status === "revoked"
                ? /USING INDEX api_keys_revoked\b/
                : /USING INDEX sqlite_autoindex_api_keys_1/;
        expect(plan, JSON.stringify(query)).toEqual([expect.stringMatching(wanted)]);
      }
    } finally {
      db.close();
    }
  });

  // A prefixed page reads the next principals in id order first, then (too few of them match) the
  // prefix's ranges: the same pages either way, through more principals than the first read holds.
  it("pages a prefix alike whether its principals come first in id order or far after", async () => {
    const dataDir = freshDir();
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, DB_FILE));
    migrate(db);
    const people: Principal[] = [
      ...Array.from({ length: 2_500 }, (_, i) => ({
        id: `a-${String(i).padStart(4, "0")}`,
        name: `Person ${i}`,
        organization: `org-${i % 3}`,
      })),
      { id: "m-1", name: "Zed", organization: "org-1" },
      { id: "z-1", name: "Anna" },
      { id: "z-2", name: "Anna B", organization: "org-1" },
      { id: "z-3", name: "Person Z", organization: "org-2" },
    ];
    db.transaction(() => {
      const put = db.prepare(
        `INSERT INTO principals (id, document, created_at, updated_at, organization_id, id_folded, name_folded)
         VALUES (?, ?, 'then', 'then', ?, ?, ?)`,
      );
      for (const p of people) put.run(p.id, JSON.stringify(p), ...searchColumns(p));
    })();
    db.close();
    await withStore(dataDir, async (s) => {
      const everyPage = async (query: Omit<PrincipalQuery, "limit">, limit: number) => {
        const found: string[] = [];
        for (let after = query.after; ;) {
          const page = await s.principals.page({
            ...query,
            limit,
            ...(after === undefined ? {} : { after }),
          });
          found.push(...page.map((p) => p.id));
          if (page.length < limit) return found;
          after = found[found.length - 1];
        }
      };
      const expected = (q: Omit<PrincipalQuery, "limit">) =>
        people
          .filter((p) =>
            [p.id, p.name].some((t) => typeof t === "string" && fold(t).startsWith(fold(q.prefix!))),
          )
          .filter((p) => q.organization === undefined || searchColumns(p)[0] === q.organization)
          .filter((p) => q.after === undefined || p.id > q.after)
          .map((p) => p.id)
          .sort();
      for (const query of [
        { prefix: "A-" },
        { prefix: "person" },
        { prefix: "person 2", organization: "org-2" },
        { prefix: "a-", after: "a-2490" },
        { prefix: "z" },
        { prefix: "ANNA" },
        { prefix: "anna", organization: "org-1" },
        { prefix: "person z" },
        { prefix: "person", after: "a-2499" },
        { prefix: "a-24", after: "a-2450" },
        { prefix: "nobody" },
      ])
        for (const limit of [1, 7, 1_000])
          expect([query, limit, await everyPage(query, limit)]).toEqual([query, limit, expected(query)]);
    });
  });

  it("refuses a database written by a newer clearance, and leaves it untouched", async () => {
    const dataDir = freshDir();
    await withStore(dataDir, async (s) => void (await s.principals.put({ id: "p" })));
    const db = raw(dataDir);
    db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'later')").run();
    db.close();
    const err = await openStore({ dataDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: "schema-too-new" });
    expect((err as Error).message).toMatch(/schema version 999.*versions up to \d+/s);
    const after = raw(dataDir);
    expect(after.prepare("SELECT max(version) FROM schema_migrations").pluck().get()).toBe(999);
    expect(after.prepare("SELECT count(*) FROM principals").pluck().get()).toBe(1);
    after.close();
  });
});

describe("sqlite: a screening transaction held across awaits has the connection to itself", () => {
  /** A list version; an id given twice makes the import fail late, after several awaits. */
  const list = (name: string, ids: readonly string[]) => ({
    list: name,
    format: "ofac-csv",
    published: null,
    digest: `${name}:${ids.join(",")}`,
    files: ["sdn.csv"],
    counts: { entries: ids.length },
    entries: ids.map((id) => ({ id, digest: `d${id}`, document: "{}" })),
  });
  const failing = (s: Store) =>
    s.screening.importList(list("bad", ["1", "2", "1"]), "officer").then(
      () => "imported",
      () => "rolled back",
    );
  /** Lets `n` rounds of already-queued promise callbacks run: the import is part-way through. */
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await Promise.resolve();
  };

  it("a write made meanwhile is not rolled back with it", async () => {
    await withStore(freshDir(), async (s) => {
      for (const n of [1, 2, 3, 5, 8]) {
        const importing = failing(s);
        await turns(n);
        await s.principals.put({ id: `p${n}` });
        await s.usage.add([
          {
            principalId: `p${n}`,
            organizationId: null,
            licenseId: null,
            model: "m",
            inputTokens: 1,
            outputTokens: 1,
            requests: 1,
            at: "2026-12-06T10:00:00Z",
          },
        ]);
        expect(await importing).toBe("rolled back");
      }
      expect((await s.principals.list()).map((p) => p.id).sort()).toEqual(["p1", "p2", "p3", "p5", "p8"]);
      expect((await s.usage.totals()).byPrincipal).toMatchObject({ p1: 2, p2: 2, p3: 2, p5: 2, p8: 2 });
    });
  });

  it("a read made meanwhile does not see its uncommitted rows", async () => {
    await withStore(freshDir(), async (s) => {
      const importing = failing(s);
      const seen: number[] = [];
      for (let n = 0; n < 10; n++) {
        seen.push((await s.screening.versions()).length);
        await turns(1);
      }
      expect(await importing).toBe("rolled back");
      expect(seen).toEqual(Array(10).fill(0));
    });
  });

  it("two screening writes begun together both succeed, one after the other", async () => {
    await withStore(freshDir(), async (s) => {
      const [a, b] = await Promise.all([
        s.screening.importList(list("a", ["1"]), "officer"),
        s.screening.importList(list("b", ["1"]), "officer"),
      ]);
      expect([a.version.list, b.version.list]).toEqual(["a", "b"]);
      expect((await s.screening.versions()).map((v) => v.list).sort()).toEqual(["a", "b"]);
    });
  });
});

describe("sqlite migrations", () => {
  const memory = () => new Database(":memory:");
  const v1: Migration = { version: 1, sql: "CREATE TABLE a (x INTEGER)" };
  // No IF NOT EXISTS: running a migration twice would fail.
  const v2: Migration = { version: 2, sql: "CREATE TABLE b (x INTEGER)" };

  it("applies only what is missing, in order", () => {
    const db = memory();
    expect(migrate(db, [v1])).toEqual([1]);
    expect(migrate(db, [v1, v2])).toEqual([2]);
    expect(migrate(db, [v1, v2])).toEqual([]);
    db.close();
  });

  it("rolls back every migration of a run when one fails", () => {
    const db = memory();
    expect(() => migrate(db, [v1, { version: 2, sql: "CREATE TABLE broken (" }])).toThrow();
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).not.toContain("a");
    db.close();
  });

  it("rejects a list out of order", () => {
    const db = memory();
    expect(() => migrate(db, [v2, v1])).toThrow(/out of order/);
    expect(() => migrate(db, [v1, v1])).toThrow(/out of order/);
    db.close();
  });

  it("shipped migrations are numbered 1, 2, 3, ...", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});
