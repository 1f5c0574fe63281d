/**
 * The data directory's gateway lock (`<data_dir>/gateway.lock`), in one process: a second gateway on
 * the same embedded store is refused as `data_dir_in_use` before it opens anything, naming the data
 * directory and the holder; the first is untouched; a stop (or a refused start) lets it go. The
 * same across processes, and after kill -9, is src/cli/one-gateway.test.ts.
 */
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ClearanceError, SetupError } from "../errors/index.js";
import { startTestGateway } from "../testing/gateway.js";
import { LOCK_FILE, lockDataDir } from "./data-dir-lock.js";

const fresh = () => mkdtempSync(join(tmpdir(), "clearance-lock-"));

describe("lockDataDir", () => {
  it("refuses a second holder, naming the first (pid, host, start time); a release lets the next in", () => {
    const dataDir = fresh();
    const first = lockDataDir(dataDir, { now: () => new Date("2026-01-02T03:04:05.678Z") });
    expect(statSync(join(dataDir, LOCK_FILE)).mode & 0o777).toBe(0o600);
    let refused: unknown;
    try {
      lockDataDir(dataDir);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ClearanceError);
    expect(refused).toMatchObject({
      kind: "conflict",
      code: "data_dir_in_use",
      message: `another gateway (pid ${process.pid} on ${hostname()}, started 2026-01-02T03:04:05.678Z) is running on the data directory ${dataDir}: only one gateway may serve an embedded (SQLite) store and its audit log. Stop that one first, or, for several gateways on one store, use the postgres store driver (each node with its own data directory)`,
    });
    first.release();
    first.release(); // twice: nothing more
    lockDataDir(dataDir).release();
  });

  it("over a PostgreSQL store, says each node needs a data directory of its own, and why", () => {
    const dataDir = fresh();
    const first = lockDataDir(dataDir, { shared: true });
    expect(() => lockDataDir(dataDir, { shared: true })).toThrow(
      `is running on the data directory ${dataDir}: each node of a PostgreSQL store needs a data directory of its own: ` +
        "its copy of the audit log (audit/, rebuilt at each start) and, by default, the audit signing key live there. " +
        "Stop that one first, or give this node its own data directory (data_dir or --data-dir)",
    );
    first.release();
  });

  it("discard removes the lock file it made, and keeps one it found", () => {
    const dataDir = fresh();
    lockDataDir(dataDir).discard();
    expect(readdirSync(dataDir)).toEqual([]);
    lockDataDir(dataDir).release();
    lockDataDir(dataDir).discard(); // found there: kept
    expect(readdirSync(dataDir)).toEqual([LOCK_FILE]);
  });

  it("a start that opened the lock file just before its holder removed it takes the file at the name", () => {
    const dataDir = fresh();
    const first = lockDataDir(dataDir);
    // The first start fails, and removes the file it made, while this one has it open.
    const second = lockDataDir(dataDir, { beforeLock: () => first.discard() });
    // Without the check the second held the removed file, and a third took a new one beside it.
    expect(() => lockDataDir(dataDir)).toThrow(/is running on the data directory/);
    second.discard();
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("refuses a lock file that is not SQLite's, naming it, rather than failing raw", () => {
    const dataDir = fresh();
    writeFileSync(
      join(dataDir, LOCK_FILE),
      "not a database, but long enough to be read as a header".repeat(4),
    );
    expect(() => lockDataDir(dataDir)).toThrow(SetupError);
    expect(() => lockDataDir(dataDir)).toThrow(
      `${join(dataDir, LOCK_FILE)} is not the gateway's lock (file is not a database): remove it (it is made again at start)`,
    );
  });
});

describe("a second gateway on one embedded store, in one process", () => {
  it("is refused before it starts; the first serves on; once it stops, the next starts", async () => {
    const first = await startTestGateway();
    try {
      const second = startTestGateway({ dataDir: first.dataDir });
      await expect(second).rejects.toMatchObject({
        code: "data_dir_in_use",
        message: expect.stringContaining(`is running on the data directory ${first.dataDir}:`) as unknown,
      });
      const res = await fetch(`${first.url}/v1/models`, {
        headers: { authorization: `Bearer ${first.keys.get("alice")}`, "x-test-country": "US" },
      });
      expect(res.status).toBe(200);
      await res.text();
    } finally {
      await first.gateway.close();
    }
    const next = await startTestGateway({ dataDir: first.dataDir });
    await next.gateway.close();
  });
});

describe("a stop that fails in a step before the ordered ones", () => {
  it("still lets both locks go, and says the failure: a gateway starts next on the directory", async () => {
    // The store's change listener (PostgreSQL's LISTEN connection) will not close.
    const listener = async () => ({
      close: () => Promise.reject(new Error("the store's change listener did not close")),
    });
    const first = await startTestGateway({
      wrapStore: (s) =>
        new Proxy(s, {
          get(obj, prop) {
            if (prop === "watch") return listener;
            const value = Reflect.get(obj, prop, obj) as unknown;
            return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
          },
        }),
    });
    await expect(first.gateway.close()).rejects.toThrow("the store's change listener did not close");
    // Before: the locks were held until the process ended, and this start was refused (data_dir_in_use).
    const next = await startTestGateway({ dataDir: first.dataDir });
    await next.gateway.close();
  });
});

describe("a start that fails once its server listens", () => {
  /** A port free a moment ago (the gateway is given it: a start that fails returns no address). */
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
  const answers = (port: number) =>
    new Promise<boolean>((resolve) => {
      const c = createConnection(port, "127.0.0.1");
      c.once("connect", () => (c.destroy(), resolve(true)));
      c.once("error", () => resolve(false));
    });

  it("closes its server with the locks it discards: nothing answers, and the next gateway starts alone", async () => {
    const port = await freePort();
    const dataDir = fresh();
    // The store's change listener (PostgreSQL's LISTEN) refused, after the server listens.
    const refused = startTestGateway({
      dataDir,
      listen: `{ host: 127.0.0.1, port: ${port} }`,
      wrapStore: (s) =>
        new Proxy(s, {
          get(obj, prop) {
            if (prop === "watch") return () => Promise.reject(new Error("LISTEN refused"));
            const value = Reflect.get(obj, prop, obj) as unknown;
            return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
          },
        }),
    });
    await expect(refused).rejects.toThrow("LISTEN refused");
    expect(readdirSync(dataDir)).not.toContain(LOCK_FILE);
    // Before: the server still answered (/healthz 200) with both lock files gone, so a second gateway
    // started on the data directory beside it.
    expect(await answers(port)).toBe(false);
    const next = await startTestGateway({ dataDir, listen: `{ host: 127.0.0.1, port: ${port} }` });
    await next.gateway.close();
  });
});
