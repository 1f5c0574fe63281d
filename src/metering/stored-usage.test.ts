/**
 * The store's usage as the quota counters are seeded with it at start (a real embedded store, the
 * real counters): a license's figure past 2^53 — its days summed, or one day's row grown past it by
 * an upstream's impossible counts — is a quota used up, never a quota handed back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { openUsageLimits } from "../counters/limits.js";
import { openStore, type Store, type UsageDelta } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { storedUsage } from "./index.js";

const MAX = Number.MAX_SAFE_INTEGER;
const NOW = Date.parse("2026-12-05T12:00:00Z");

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "clearance-stored-usage-"));
  store = await openStore({ driver: "sqlite", dataDir: dir });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const row = (day: string, license: string, inputTokens: number, model = "m"): UsageDelta => ({
  principalId: "erik",
  organizationId: null,
  licenseId: license,
  model,
  inputTokens,
  outputTokens: 0,
  requests: 1,
  at: `${day}T10:00:00.000Z`,
});

/** A license's tokens in each period as the memory counters have them once seeded from the store. */
async function seeded(license: string, store_ = store) {
  const limits = await openUsageLimits({
    driver: "memory",
    onUnavailable: "fail_closed",
    store: store_,
    onError: (err) => {
      throw err;
    },
  });
  try {
    const used = (period: "month" | "quarter" | "total") => limits.licenseUsage(license, period, NOW);
    return { month: await used("month"), quarter: await used("quarter"), total: await used("total") };
  } finally {
    await limits.close();
  }
}

describe("storedUsage", () => {
  it("saturates a license's days summed past 2^53 instead of seeding its quota with nothing", async () => {
    // Each day's row is a count the Meter takes (at most 2^53 - 1); their sum is past it.
    await store.usage.add([row("2026-12-01", "L", MAX), row("2026-12-02", "L", MAX)]);
    await store.usage.add([row("2026-12-03", "small", 1_000)]);
    const usage = await storedUsage(store, new Date(NOW));
    expect(usage.month.get("L")).toBe(MAX);
    expect(usage.quarter.get("L")).toBe(MAX);
    expect(usage.total.get("L")).toBe(MAX);
    expect(await seeded("L")).toEqual({ month: MAX, quarter: MAX, total: MAX });
    expect(await seeded("small")).toEqual({ month: 1_000, quarter: 1_000, total: 1_000 });
  });

  it("saturates one day's row the store summed past 2^53", async () => {
    // Two batches into the same row (day, principal, license, model): the store adds them up.
    await store.usage.add([row("2026-11-20", "L", MAX)]);
    await store.usage.add([row("2026-11-20", "L", MAX)]);
    expect(await seeded("L")).toEqual({ month: 0, quarter: MAX, total: MAX });
  });
});

/**
 * A usage row no Meter could have written — a negative count, or (SQLite keeps any value) not a
 * number — put there by hand or by a faulty tool: summed in, or read as none, it lowered the figure
 * and handed the license its quota back. It reads as used up now.
 */
describe("an impossible usage row", () => {
  it("SQLite: a negative or non-number count reads as the quota used up, not as tokens handed back", async () => {
    await store.usage.add([row("2026-12-01", "L", 1_000), row("2026-12-01", "T", 1_000)]);
    const db = new Database(join(dir, DB_FILE));
    const insert = db.prepare(
      `INSERT INTO usage_daily (day, principal_id, organization_id, license_id, model, input_tokens, output_tokens, requests)
       VALUES ('2026-12-01', 'erik', '', ?, 'other', ?, 0, 1)`,
    );
    insert.run("L", -5_000);
    insert.run("T", "a lot");
    db.close();
    expect(await seeded("L")).toEqual({ month: MAX, quarter: MAX, total: MAX });
    expect(await seeded("T")).toEqual({ month: MAX, quarter: MAX, total: MAX });
    expect((await store.usage.totals()).byPrincipal.erik).toBe(MAX);
  });

  describe.skipIf(skipReason !== undefined)("PostgreSQL with the memory counters", () => {
    afterAll(() => dropSchemas());

    it("a negative count reads as the quota used up, in every period", async () => {
      const { url, schema } = await freshSchema();
      const pg = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      try {
        await pg.usage.add([row("2026-12-01", "L", 1_000)]);
        await adminPool().query(
          `INSERT INTO ${schema}.usage_daily (day, principal_id, organization_id, license_id, model, input_tokens, output_tokens, requests)
           VALUES ('2026-12-01', 'erik', '', 'L', 'other', 0, -5000, 1)`,
        );
        expect(await seeded("L", pg)).toEqual({ month: MAX, quarter: MAX, total: MAX });
      } finally {
        await pg.close();
      }
    });
  });
});
