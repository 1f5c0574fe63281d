/**
 * The store's usage as the quota counters are seeded with it at start (a real embedded store, the
 * real counters): a license's figure past 2^53 — its days summed, or one day's row grown past it by
 * an upstream's impossible counts — is a quota used up, never a quota handed back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openUsageLimits } from "../counters/limits.js";
import { openStore, type Store, type UsageDelta } from "../store/index.js";
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
async function seeded(license: string) {
  const limits = await openUsageLimits({
    driver: "memory",
    onUnavailable: "fail_closed",
    store,
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
