/**
 * An import's rescreen cut short (the process killed, or a step failing part way): the new list
 * version is active but its added entries were never matched against the stored subjects, whose
 * API-key requests read the stored status. The rescreen is recorded as unfinished until it is done,
 * and is finished by the next import (the same file too), a rescreen, or a background gateway.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { Io } from "../cli/io.js";
import { run } from "../cli/program.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { importInput } from "./lists.js";
import { finishRescreens, rescreenAll } from "./rescreen.js";
import { ScreeningService } from "./service.js";
import type { ListEntry, ParsedList } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-interrupted-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

const ftm = (id: string, name: string) =>
  JSON.stringify({ id, schema: "Person", properties: { name: [name] }, datasets: ["test"] });

const person = (id: string, name: string): ListEntry => ({
  id,
  type: "person",
  names: [{ name, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});
const parsed = (entries: readonly ListEntry[], digest: string): ParsedList => ({
  list: "sdn",
  format: "ofac-csv",
  published: null,
  digest,
  files: ["sdn.csv"],
  entries,
});

if (skipReason !== undefined) console.warn(`interrupted rescreen on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("an import killed during its rescreen (postgres)", () => {
  afterAll(dropSchemas);

  it("is finished by importing the same file again: the new entry's match is recorded", async () => {
    const { schema, url } = await freshSchema();
    const config = join(root, "pg.yaml");
    writeFileSync(
      config,
      `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
        `store: { driver: postgres, url_env: CLEARANCE_INTERRUPTED_DATABASE }\n` +
        `providers: { demo: { type: demo } }\ndefault_provider: demo\n`,
    );
    process.env.CLEARANCE_INTERRUPTED_DATABASE = url;
    const v1 = join(root, "v1.jsonl");
    const v2 = join(root, "v2.jsonl");
    writeFileSync(v1, `${ftm("os-1", "Ivan Sergeyevich Petrov")}\n`);
    writeFileSync(v2, `${ftm("os-1", "Ivan Sergeyevich Petrov")}\n${ftm("os-2", "Wilhelmina Grootveld")}\n`);
    const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
    try {
      expect((await cli(["screening", "import", v1, "--list", "test", "--config", config])).code).toBe(0);
      await store.principals.put({ id: "willa", name: "Wilhelmina Grootveld", residence: "NL" }, "admin");
      // A second session holds Willa's screening lock: the child's rescreen stops at her batch,
      // after its import has committed.
      const holder = await adminPool().connect();
      const { rows: pid } = await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || $2::text, 0))", [
        schema,
        "screening-subject:principal:willa",
      ]);
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "src/cli/main.ts",
          "screening",
          "import",
          v2,
          "--list",
          "test",
          "--config",
          config,
        ],
        { stdio: "ignore", env: { ...process.env } },
      );
      const exited = new Promise((r) => child.once("exit", r));
      try {
        // Blocked on the lock: its import is in, its rescreen not. Only a wait on the holder's own
        // lock counts (other tests on this server take advisory locks of their own).
        await eventually(
          async () => {
            const { rows } = await adminPool().query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks w
                 JOIN pg_locks h ON h.locktype = 'advisory' AND h.granted AND h.pid = $1
                  AND w.classid = h.classid AND w.objid = h.objid AND w.objsubid = h.objsubid
                WHERE w.locktype = 'advisory' AND NOT w.granted`,
              [pid[0]!.pid],
            );
            return Number(rows[0]!.n);
          },
          (waiting) => waiting > 0,
        );
        child.kill("SIGKILL");
        await exited;
      } finally {
        await holder.query("ROLLBACK");
        holder.release();
      }
      const [active] = (await store.screening.versions("test")).filter((v) => v.active);
      expect(active).toMatchObject({ version: 2, rescreened: false });
      // The new entry was never matched: Willa's requests would be served.
      expect(await store.screening.statuses()).toEqual([]);
      expect((await cli(["screening", "lists", "--config", config])).out).toMatch(
        /test +2 +active, not rescreened/,
      );

      // The same file again: nothing new to import, but the rescreen it left is finished.
      const again = await cli(["screening", "import", v2, "--list", "test", "--config", config]);
      expect(again).toMatchObject({ code: 0 });
      expect(again.out).toContain("identical to active version 2; nothing imported");
      expect(again.out).toContain("finished the unfinished rescreen of test version 2");
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "willa", status: "potential" },
      ]);
      expect((await store.screening.versions("test")).find((v) => v.active)).toMatchObject({
        version: 2,
        rescreened: true,
      });
    } finally {
      delete process.env.CLEARANCE_INTERRUPTED_DATABASE;
      await store.close();
    }
  });
});

describe("an import whose rescreen failed part way (sqlite)", () => {
  let n = 0;
  const open = async () => {
    const dataDir = join(root, `s${++n}`);
    return { dataDir, store: await openStore({ dataDir }) };
  };
  /** The store, with recording failing for `subject` (a crash part way through the subjects). */
  const failing = (store: Store, subject: string): Store => {
    const screening = Object.create(store.screening) as Store["screening"];
    screening.record = async (s, actor) => {
      if (s.some((x) => x.subject.id === subject)) throw new Error("the process died here");
      return store.screening.record(s, actor);
    };
    return Object.assign(Object.create(store) as Store, { screening });
  };

  async function interrupted(store: Store) {
    for (let i = 0; i < 4; i++)
      await store.principals.put(
        { id: `p${i}`, name: `Unlisted Person${"abcd"[i]}`, residence: "NL" },
        "admin",
      );
    await store.principals.put({ id: "willa", name: "Wilhelmina Grootveld", residence: "NL" }, "admin");
    await store.screening.importList(importInput(parsed([person("1", "Ivan Petrov")], "v1")), "officer");
    await finishRescreens(store, "officer", { force: true });
    await store.screening.importList(
      importInput(parsed([person("1", "Ivan Petrov"), person("2", "Wilhelmina Grootveld")], "v2")),
      "officer",
    );
    await expect(
      finishRescreens(failing(store, "willa"), "officer", { force: true, batch: 2 }),
    ).rejects.toThrow("the process died here");
    expect(await store.screening.statuses()).toEqual([]);
    expect((await store.screening.versions("sdn"))[0]).toMatchObject({ version: 2, rescreened: false });
  }

  it("a full rescreen finishes it, and says so", async () => {
    const { store } = await open();
    try {
      await interrupted(store);
      await rescreenAll(store, { actor: "ops" });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "willa", status: "potential" },
      ]);
      expect((await store.screening.versions("sdn"))[0]).toMatchObject({ rescreened: true });
    } finally {
      await store.close();
    }
  });

  it("a background gateway takes it over once the importer's hold on it has run out", async () => {
    const { dataDir, store } = await open();
    const service = new ScreeningService({
      store,
      threshold: 0.86,
      maxListEntries: 100,
      background: true,
      onError: (err) => {
        throw err;
      },
    });
    try {
      await interrupted(store);
      // Within the hold, the importer may still be at it: left to it.
      service.onSnapshot([], []);
      await service.idle();
      expect(await store.screening.statuses()).toEqual([]);
      // The hold runs out (the importer is gone): the gateway finishes the rescreen.
      const db = new Database(join(dataDir, "clearance.db"));
      db.prepare("UPDATE screening_lists SET rescreen_due = ? WHERE rescreen_due IS NOT NULL").run(
        new Date(Date.now() - 1000).toISOString(),
      );
      db.close();
      service.onSnapshot([], []);
      await service.idle();
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "willa", status: "potential" },
      ]);
      expect((await store.screening.versions("sdn"))[0]).toMatchObject({ rescreened: true });
    } finally {
      await service.close();
      await store.close();
    }
  });
});
