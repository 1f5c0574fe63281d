/**
 * The Redis driver against a real server: REDIS_URL, else 127.0.0.1:6379. Every run uses its own
 * key prefix (clearance-test-<random>:), deleted afterwards, so concurrent runs never collide.
 * Without a reachable server the contract tests are skipped, and the skip says why; the tests of
 * an unreachable Redis need no server and always run.
 */
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import {
  dropPrefixes,
  freshPrefix,
  REDIS_URL,
  redisAdmin,
  redisSkipReason as skip,
} from "../testing/redis.js";
import { eventually } from "../testing/admin.js";
import { CountersUnavailableError, openCounters, type Counters, type StoredSeed } from "./index.js";
import { countersSuite } from "./suite.js";

// Also said outside the describe title, which the default reporter does not print for skipped files.
if (skip !== undefined) console.warn(`src/counters/redis.test.ts: SKIPPED, ${skip}`);
const PREFIX = skip === undefined ? freshPrefix() : "unused:";

let runs = 0;
const open = (prefix: string, load?: () => Promise<StoredSeed>) =>
  openCounters({
    driver: "redis",
    url: REDIS_URL,
    prefix,
    timeoutMs: 1_000,
    ...(load === undefined ? {} : { load }),
  });

describe.skipIf(skip !== undefined)(skip === undefined ? "redis" : `redis: SKIPPED, ${skip}`, () => {
  const admin = redisAdmin;
  afterAll(dropPrefixes);

  // Each counters gets fresh state: a prefix of its own, under this run's prefix.
  const prefixes = new WeakMap<Counters, string>();
  countersSuite(
    "redis",
    async () => {
      const prefix = `${PREFIX}${runs++}:`;
      const c = await open(prefix);
      prefixes.set(c, prefix);
      return c;
    },
    (c) => open(prefixes.get(c) as string),
  );

  it("raises its counters to the store's usage when it connects, and again after a reconnection; what it missed is added", async () => {
    const prefix = `${PREFIX}seed:`;
    let loads = 0;
    // The store's figures; the 5 tokens metered during the outage reach it by the reconnection.
    let extra = 0;
    const c = await open(prefix, () => {
      loads++;
      const rows = [{ license: "L", month: 10 + extra, quarter: 20 + extra, total: 30 + extra }];
      return Promise.resolve({ rows, at: Date.now() });
    });
    try {
      const now = Date.now();
      expect(await c.usage([{ id: "L", period: "total" }], now)).toEqual({ L: { tokens: 30 } });
      expect(loads).toBe(1);
      // Redis loses everything (it keeps nothing on disk here) and drops the connection.
      await admin().del(...(await admin().keys(`${prefix}*`)));
      const id = await (c as unknown as { client: Redis }).client.client("ID");
      await admin().client("KILL", "ID", String(id));
      // Tokens metered while the connection is down are kept, and added once Redis answers again.
      await c.add({ organization: null, license: "L", tokens: 5, now: Date.now() }).catch(() => undefined);
      extra = 5;
      await eventually(
        async () => ({ loads, unavailable: c.unavailable }),
        (now) => now.loads >= 2 && now.unavailable === null,
      );
      expect(c.unavailable).toBeNull();
      expect(await c.usage([{ id: "L", period: "quarter" }], Date.now())).toEqual({ L: { tokens: 25 } });
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(skip !== undefined)("redis: a reconnection", () => {
  afterAll(dropPrefixes);

  it("counts the tokens metered while Redis was away once, whether or not the store has them yet", async () => {
    const prefix = `${freshPrefix()}outage:`;
    // The store's figures, as the Meter's flushes leave them.
    const stored = new Map<string, number>();
    const c = await open(prefix, () =>
      Promise.resolve({
        rows: [...stored].map(([license, n]) => ({ license, month: n, quarter: n, total: n })),
        at: Date.now(),
      }),
    );
    const client = (c as unknown as { client: Redis }).client;
    const all = async (id: string) =>
      Promise.all(
        (["month", "quarter", "total"] as const).map(
          async (period) => (await c.usage([{ id, period }], Date.now()))[id]?.tokens,
        ),
      );
    try {
      for (const license of ["flushed", "pending", "lost"]) {
        await c.add({ organization: null, license, tokens: 1_000, now: Date.now() });
        stored.set(license, 1_000);
      }
      const closed = new Promise((r) => client.once("close", r));
      await redisAdmin().client("KILL", "ID", String(await client.client("ID")));
      await closed;
      for (const license of ["flushed", "pending", "lost"]) {
        await expect(c.add({ organization: null, license, tokens: 300, now: Date.now() })).rejects.toThrow();
      }
      // The Meter flushed the outage's tokens for two licenses (not yet for "pending"), and Redis
      // lost "lost"'s counters meanwhile.
      stored.set("flushed", 1_300);
      stored.set("lost", 1_300);
      await redisAdmin().del(...(await redisAdmin().keys(`${prefix}license:lost:*`)));
      await eventually(
        async () => c.unavailable,
        (unavailable) => unavailable === null,
      );
      expect(c.unavailable).toBeNull();
      expect(await all("flushed")).toEqual([1_300, 1_300, 1_300]);
      expect(await all("pending")).toEqual([1_300, 1_300, 1_300]);
      expect(await all("lost")).toEqual([1_300, 1_300, 1_300]);
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(skip !== undefined)("redis: an add whose answer never came", () => {
  afterAll(dropPrefixes);

  /**
   * Counters whose next add fails on the client's side (a timeout, a dropped connection) after
   * Redis ran it (`ran`), or before it reached Redis.
   */
  async function failingOnce(ran: boolean) {
    const c = await open(`${freshPrefix()}lost:`);
    const client = (c as unknown as { client: Redis & { clearanceAdd(...a: unknown[]): Promise<number> } })
      .client;
    const real = client.clearanceAdd.bind(client);
    client.clearanceAdd = async (...args: unknown[]) => {
      client.clearanceAdd = real;
      if (ran) await real(...args);
      throw new Error("Command timed out");
    };
    const total = async () => (await c.usage([{ id: "L", period: "total" }], Date.now())).L?.tokens;
    const settled = async () => {
      const unsent = (c as unknown as { unsent: Map<string, unknown> }).unsent;
      await eventually(
        async () => ({ unavailable: c.unavailable, unsent: unsent.size }),
        (now) => now.unavailable === null && now.unsent === 0,
      );
      expect(c.unavailable).toBeNull();
    };
    return { c, client, total, settled };
  }

  for (const ran of [true, false]) {
    it(`${ran ? "ran on Redis" : "never reached Redis"}: counted once when Redis answers again`, async () => {
      const { c, total, settled } = await failingOnce(ran);
      try {
        await expect(
          c.add({ organization: null, license: "L", tokens: 1_000, now: Date.now() }),
        ).rejects.toThrow();
        await settled();
        // Any command that succeeds (or the probe's PING) sends what is left.
        await c.usage([{ id: "L", period: "total" }], Date.now());
        await settled();
        expect(await total()).toBe(1_000);
      } finally {
        await c.close();
      }
    });

    it(`${ran ? "ran on Redis" : "never reached Redis"}, then the connection dropped: counted once after reconnecting`, async () => {
      const { c, client, total, settled } = await failingOnce(ran);
      try {
        await expect(
          c.add({ organization: null, license: "L", tokens: 1_000, now: Date.now() }),
        ).rejects.toThrow();
        const closed = new Promise((r) => client.once("close", r));
        await redisAdmin().client("KILL", "ID", String(await client.client("ID")));
        await closed;
        await settled();
        expect(await total()).toBe(1_000);
      } finally {
        await c.close();
      }
    });
  }
});

describe.skipIf(skip !== undefined)("redis: tokens Redis refused", () => {
  afterAll(dropPrefixes);

  it("an entry Redis refuses for good is dropped and reported; the entries after it are still sent", async () => {
    const prefix = `${freshPrefix()}refused:`;
    const errors: unknown[] = [];
    const c = await openCounters({
      driver: "redis",
      url: REDIS_URL,
      prefix,
      timeoutMs: 1_000,
      onError: (err) => errors.push(err),
    });
    try {
      // Redis refuses to add to a counter that is not an integer (here, a value written by hand).
      await redisAdmin().set(`${prefix}license:bad:total`, "12.5");
      // What an outage left to send: the refused counter first, then a good one.
      const internals = c as unknown as {
        unsent: Map<string, { tokens: number; expiresAt: number }>;
        sendUnsent(): Promise<void>;
      };
      internals.unsent.set(`${prefix}license:bad:total`, { tokens: 5, expiresAt: Infinity });
      internals.unsent.set(`${prefix}license:good:total`, { tokens: 7, expiresAt: Infinity });
      await internals.sendUnsent();
      expect(internals.unsent.size).toBe(0);
      expect(await redisAdmin().get(`${prefix}license:good:total`)).toBe("7");
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toMatch(/not an integer/);
      expect(c.unavailable).toBeNull();
    } finally {
      await c.close();
    }
  });
});

describe.skipIf(skip !== undefined)("redis: counts past 2^53 − 1", () => {
  afterAll(dropPrefixes);

  it("a counter left past it (by an earlier version) reads as used up, not as −2^63, and still takes adds", async () => {
    const prefix = `${freshPrefix()}past:`;
    const c = await open(prefix);
    try {
      const now = Date.parse("2030-01-31T10:00:00.000Z");
      // Redis' largest integer, which Lua reads as 2^63 and answered as −2^63; and a count of 10^17,
      // which a script writing a double had written as "1e+17" (INCRBY refused it for good).
      await redisAdmin().set(`${prefix}license:L:total`, "9223372036854775807");
      await redisAdmin().set(`${prefix}license:L:2030-01`, "1e+17");
      const max = Number.MAX_SAFE_INTEGER;
      const read = async () =>
        Promise.all(
          (["month", "total"] as const).map(async (period) => (await c.usage([{ id: "L", period }], now)).L),
        );
      expect(await read()).toEqual([{ tokens: max }, { tokens: max }]);
      await c.add({ organization: null, license: "L", tokens: 5, now });
      expect(await read()).toEqual([{ tokens: max }, { tokens: max }]);
      expect(await redisAdmin().get(`${prefix}license:L:2030-01`)).toBe(String(max));
    } finally {
      await c.close();
    }
  });
});

describe("an unreachable Redis", () => {
  it("is noticed at once: every call fails saying so, and `unavailable` says why", async () => {
    const errors: unknown[] = [];
    const c = await openCounters({
      driver: "redis",
      url: "redis://127.0.0.1:1",
      timeoutMs: 200,
      onError: (err) => errors.push(err),
    });
    try {
      expect(c.unavailable).toMatch(/^Redis at 127\.0\.0\.1:1 is not connected/);
      const now = Date.now();
      await expect(c.admit({ organization: null, licenses: [], now })).rejects.toBeInstanceOf(
        CountersUnavailableError,
      );
      await expect(c.add({ organization: null, license: "L", tokens: 1, now })).rejects.toThrow(
        /Redis at 127\.0\.0\.1:1/,
      );
      expect(errors.length).toBe(1);
    } finally {
      await c.close();
    }
  });
});
