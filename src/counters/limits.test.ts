/**
 * Seeding the counters from the store (limits.ts): the figures are written under the periods of the
 * time they were computed for, and the Meter's pending usage is in the store before it is read.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { Store } from "../store/index.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisSkipReason } from "../testing/redis.js";
import { openUsageLimits } from "./limits.js";

const JAN_END = Date.parse("2030-01-31T23:59:59.900Z");
const FEB = Date.parse("2030-02-01T00:00:00.100Z");

/** A store holding 900,000 tokens of January's for license L, whose read of the days takes until February. */
function slowStore(): Store {
  return {
    usage: {
      byLicenseWindows: () => {
        vi.setSystemTime(FEB); // the clock passes midnight while the store answers
        // January's quarter and month: 900,000 tokens on 15 January.
        return Promise.resolve([{ licenseId: "L", total: 900_000, windows: [900_000, 900_000] }]);
      },
    },
  } as unknown as Store;
}

afterEach(() => {
  vi.useRealTimers();
});
afterAll(dropPrefixes);

describe("seeding from the store across a month's end", () => {
  for (const driver of ["memory", "redis"] as const) {
    it.skipIf(driver === "redis" && redisSkipReason !== undefined)(
      `${driver}: January's usage stays January's, February starts at zero`,
      async () => {
        vi.useFakeTimers({ toFake: ["Date"] });
        vi.setSystemTime(JAN_END);
        const limits = await openUsageLimits(
          Object.assign(
            { driver, onUnavailable: "fail_closed" as const, store: slowStore(), onError: () => {} },
            driver === "redis" ? { url: REDIS_URL, prefix: freshPrefix() } : {},
          ),
        );
        try {
          expect(await limits.licenseUsage("L", "month", FEB)).toBe(0);
          expect(await limits.licenseUsage("L", "quarter", FEB)).toBe(900_000);
          expect(await limits.licenseUsage("L", "month", JAN_END)).toBe(900_000);
        } finally {
          await limits.close();
        }
      },
    );
  }
});

describe("seeding from the store", () => {
  it("writes the Meter's pending usage to the store before reading it", async () => {
    const calls: string[] = [];
    const store = {
      usage: {
        byLicenseWindows: () => {
          calls.push("read");
          return Promise.resolve([]);
        },
      },
    } as unknown as Store;
    const limits = await openUsageLimits({
      driver: "memory",
      onUnavailable: "fail_closed",
      store,
      flush: () => {
        calls.push("flush");
        return Promise.resolve();
      },
      onError: () => {},
    });
    await limits.close();
    expect(calls).toEqual(["flush", "read"]);
  });
});
