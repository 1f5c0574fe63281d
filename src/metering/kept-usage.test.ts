/**
 * Usage the store refuses when the gateway stops (a real embedded store, locked by another
 * connection) is kept in the data directory and written at the next start, before the memory
 * counters are seeded from the store: the license's quota is not handed back, and the reports see it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openUsageLimits } from "../counters/limits.js";
import { openStore, type Store } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { KEPT_USAGE_FILE, Meter, UsageKeptError, writeKeptUsage } from "./index.js";

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
  it("is kept in the data directory and written at the next start, before the counters are seeded", async () => {
    const file = join(dir, KEPT_USAGE_FILE);
    const errors: unknown[] = [];
    const meter = new Meter(store, (err) => errors.push(err), file);
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
    expect(errors.some((e) => e instanceof UsageKeptError)).toBe(true);
    expect(existsSync(file)).toBe(true);
    expect(await seededTotal()).toBe(0); // not in the store yet

    // The next start writes it before seeding the counters, and removes the file.
    expect(await writeKeptUsage(store, file)).toBe(1);
    expect(existsSync(file)).toBe(false);
    expect(await seededTotal()).toBe(1000);
    expect((await store.usage.totals()).byLicense).toEqual({ "lic-1": 1000 });
    // Nothing kept: nothing written again.
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
