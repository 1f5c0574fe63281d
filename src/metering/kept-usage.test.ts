/**
 * Usage the store refuses when the gateway stops (a real embedded store, locked by another
 * connection) is kept in the data directory's usage journal and written at the next start, before
 * the memory counters are seeded from the store: the license's quota is not handed back, and the
 * reports see it. Saying so is a notice in the gateway's log, not a store error in its metrics. A
 * file an earlier release kept (usage-unwritten.json) is still written at a start.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openUsageLimits } from "../counters/limits.js";
import { openStore, type Store } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { startTestGateway } from "../testing/gateway.js";
import { journalDir, KEPT_USAGE_FILE, Meter, replayJournal, UsageJournal, writeKeptUsage } from "./index.js";

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "clearance-kept-usage-"));
  store = await openStore({ driver: "sqlite", dataDir: dir });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const erik = { principalId: "erik", organizationId: "acme", licenseId: "lic-1", model: "m" };

/** The license's total as the memory counters have it once seeded from the store (at a start). */
async function seededTotal(): Promise<number> {
  const limits = await openUsageLimits({
    driver: "memory",
    onUnavailable: "fail_closed",
    store,
    onError: (err) => {
      throw err;
    },
  });
  try {
    return await limits.licenseUsage("lic-1", "total", Date.now());
  } finally {
    await limits.close();
  }
}

describe("usage the store refuses at the stop", () => {
  it("is kept in the data directory's journal and written at the next start, before the counters are seeded", async () => {
    const errors: unknown[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dir, ""), (err) => errors.push(err));
    const meter = new Meter(
      store,
      (err) => errors.push(err),
      journal,
      (line) => notices.push(line),
    );
    meter.record({ ...erik, inputTokens: 700, outputTokens: 300 }, Date.now());
    // Another process holds the database's write lock: the last flush is refused (SQLITE_BUSY).
    const other = new Database(join(dir, DB_FILE));
    other.exec("BEGIN EXCLUSIVE");
    try {
      await meter.close();
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    // The refusal is the error; that the rows were kept, a notice.
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/locked|busy/i);
    expect(notices).toEqual([
      `usage the store did not take before the stop (1 row) is kept in ${journal.dir}, and written to the store at the next start`,
    ]);
    expect(readdirSync(journal.dir)).toHaveLength(1);
    expect(await seededTotal()).toBe(0); // not in the store yet

    // The next start writes it before seeding the counters, and removes the segment.
    const replay = () =>
      replayJournal(
        store,
        journal.dir,
        () => {},
        (err) => errors.push(err),
      );
    expect(await replay()).toBe(1);
    expect(readdirSync(journal.dir)).toEqual([]);
    expect(await seededTotal()).toBe(1000);
    expect((await store.usage.totals()).byLicense).toEqual({ "lic-1": 1000 });
    // Nothing kept: nothing written again.
    expect(await replay()).toBe(0);
    expect(await seededTotal()).toBe(1000);
    expect(errors).toHaveLength(1);
  });

  it("an earlier release's usage-unwritten.json is written at a start, and removed", async () => {
    const file = join(dir, KEPT_USAGE_FILE);
    const at = new Date().toISOString();
    writeFileSync(file, JSON.stringify([{ ...erik, inputTokens: 700, outputTokens: 300, requests: 1, at }]));
    expect(await writeKeptUsage(store, file)).toBe(1);
    expect(existsSync(file)).toBe(false);
    expect(await seededTotal()).toBe(1000);
    expect(await writeKeptUsage(store, file)).toBe(0);
    expect(await seededTotal()).toBe(1000);
  });

  it("a kept file that cannot be read stops the start, naming the file, and is left for the operator", async () => {
    const file = join(dir, KEPT_USAGE_FILE);
    writeFileSync(file, JSON.stringify([{ ...erik, inputTokens: -1, outputTokens: 0, requests: 1 }]));
    await expect(writeKeptUsage(store, file)).rejects.toThrow(
      /usage kept at the last stop, in .*cannot be read/,
    );
    expect(readFileSync(file, "utf8")).toContain("erik");
  });
});

describe("a gateway stopping while the store refuses its usage", () => {
  it("says that the usage was kept as a notice in its log, not counted as a store error", async () => {
    const logs: string[] = [];
    let down = false;
    const t = await startTestGateway({
      // No flush but the one at the stop: each refused flush is a store error, counted once.
      extra: "metering: { flush_ms: 3600000 }",
      log: (line) => void logs.push(line),
      wrapStore: (s) => {
        const usage = new Proxy(s.usage, {
          get(obj, prop) {
            if (prop === "add" && down) return () => Promise.reject(new Error("connection refused"));
            const value = Reflect.get(obj, prop, obj) as unknown;
            return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
          },
        });
        return new Proxy(s, {
          get(obj, prop) {
            if (prop === "usage") return usage;
            const value = Reflect.get(obj, prop, obj) as unknown;
            return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
          },
        });
      },
    });
    const storeErrors = async (): Promise<string | undefined> =>
      /^clearance_errors_total\{source="store"\} (\d+)$/m.exec(
        (await t.gateway.monitoring.metrics!.expose()).text,
      )?.[1];
    try {
      t.gateway.meter.record({ ...erik, inputTokens: 700, outputTokens: 300 }, Date.now());
      down = true;
    } finally {
      await t.gateway.close();
    }
    // The one refused flush at the stop; before, the notice counted a second.
    expect(await storeErrors()).toBe("1");
    const kept = journalDir(t.dataDir, "");
    expect(readdirSync(kept)).toHaveLength(1);
    expect(logs).toContain(
      `clearance: usage the store did not take before the stop (1 row) is kept in ${kept}, and written to the store at the next start`,
    );
    // Said as information, not as an error with its stack.
    expect(logs.filter((l) => l.includes("is kept in"))).toHaveLength(1);
    rmSync(t.dataDir, { recursive: true, force: true });
  });
});
