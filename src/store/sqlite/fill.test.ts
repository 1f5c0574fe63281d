/**
 * The filter columns' fill at open (schema version 14) in SQLite, where other processes share the
 * file: a chunk at a time, each its own write, and a principal another process puts meanwhile keeps
 * its own columns.
 */
import Database from "better-sqlite3";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../index.js";
import { DB_FILE, fillSearchColumns } from "./index.js";
import { migrate, MIGRATIONS } from "./migrations.js";

const root = mkdtempSync(join(tmpdir(), "clearance-fill-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A store as release 13 left it, with these principals, migrated to the current version unfilled. */
function unfilledStore(principals: { id: string; name: string; organization: string }[]) {
  const dataDir = mkdtempSync(join(root, "d"));
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, DB_FILE));
  migrate(
    db,
    MIGRATIONS.filter((m) => m.version <= 13),
  );
  const put = db.prepare(
    "INSERT INTO principals (id, document, created_at, updated_at) VALUES (?, ?, 'then', 'then')",
  );
  db.transaction(() => {
    for (const p of principals) put.run(p.id, JSON.stringify(p));
  })();
  migrate(db);
  return { dataDir, db };
}

describe("sqlite fill of the filter columns", () => {
  it("a principal another process puts between chunks, or between a chunk's read and its update, keeps its own columns", async () => {
    // Two chunks: p-0001 is in the first (read when the other process writes), p-1200 in the second.
    const { dataDir, db } = unfilledStore(
      Array.from({ length: 1_500 }, (_, i) => ({
        id: `p-${String(i).padStart(4, "0")}`,
        name: `Anna ${i}`,
        organization: "org-old",
      })),
    );
    let other: Store | undefined;
    let reads = 0;
    try {
      await fillSearchColumns(db, async () => {
        reads += 1;
        if (other !== undefined) return;
        // Another gateway (or the CLI) opens the file and an officer renames two principals through
        // it: it can write at all because this fill holds no write lock between its chunks.
        other = await openStore({ dataDir });
        for (const id of ["p-0001", "p-1200"])
          await other.principals.put({ id, name: "Ivan Petrov", organization: "org-new" });
      });
      expect(reads).toBeGreaterThanOrEqual(1);
      const ids = async (q: object) =>
        (await other!.principals.page({ limit: 2_000, ...q })).map((p) => p.id);
      expect(await ids({ prefix: "ivan" })).toEqual(["p-0001", "p-1200"]);
      expect(await ids({ organization: "org-new" })).toEqual(["p-0001", "p-1200"]);
      expect(await ids({ prefix: "anna 1200" })).toEqual([]);
      expect((await ids({ organization: "org-old" })).length).toBe(1_498);
    } finally {
      db.close();
      await other?.close();
    }
  });

  it("fills every principal of a store larger than one chunk, one chunk a write", async () => {
    const principals = Array.from({ length: 2_500 }, (_, i) => ({
      id: `p-${String(i).padStart(4, "0")}`,
      name: `Person ${i}`,
      organization: `org-${i % 3}`,
    }));
    const { dataDir, db } = unfilledStore(principals);
    const filledAtRead: number[] = [];
    const count = db
      .prepare<[], number>("SELECT count(*) FROM principals WHERE id_folded IS NOT NULL")
      .pluck();
    await fillSearchColumns(db, () => {
      filledAtRead.push(count.get()!);
      return Promise.resolve();
    });
    db.close();
    // Each chunk's update was committed before the next read: a thousand more each time.
    expect(filledAtRead).toEqual([0, 1_000, 2_000]);
    const store = await openStore({ dataDir });
    try {
      const page = async (q: object) =>
        (await store.principals.page({ limit: 3_000, ...q })).map((p) => p.id);
      expect(await page({ prefix: "person" })).toEqual(principals.map((p) => p.id));
      expect((await page({ organization: "org-1" })).length).toBe(833);
      expect(await page({ prefix: "PERSON 2499" })).toEqual(["p-2499"]);
    } finally {
      await store.close();
    }
  });
});
