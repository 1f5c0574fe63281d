/**
 * The shared sighting stream, on a real Redis: a node reads on from the last entry it saw, so an
 * entry appended while no read is waiting (between one read's end and the next one's start) still
 * reaches its detectors. Skipped, saying so, without Redis.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { eventually } from "../testing/admin.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisAdmin, redisSkipReason } from "../testing/redis.js";
import { plainSighting } from "../testing/sightings.js";
import type { Sighting } from "./detectors.js";
import { redisFeed, type SightingFeed } from "./feed.js";

/** Sightings dated now, as a node with a sound clock dates them (one far ahead is redated: see feed.ts). */
const NOW = Date.now();
const sighting = (requestId: string) => plainSighting(requestId, { t: NOW });

if (redisSkipReason !== undefined) console.warn(`src/alerts/feed.test.ts: SKIPPED, ${redisSkipReason}`);

let feed: SightingFeed | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await feed?.close();
  feed = undefined;
});
afterAll(async () => {
  await dropPrefixes();
});

describe.skipIf(redisSkipReason !== undefined)(
  redisSkipReason === undefined
    ? "the shared sighting feed"
    : `the shared sighting feed: SKIPPED, ${redisSkipReason}`,
  () => {
    it("an entry appended between an empty read and the next read is delivered (was: lost)", async () => {
      const prefix = freshPrefix();
      const key = `${prefix}alerts:sightings`;
      const xread = Redis.prototype.xread as (...args: unknown[]) => Promise<unknown>;
      let injected = false;
      let readsAfter = 0;
      // Right after a read comes back empty, before the next is sent, another node appends.
      vi.spyOn(Redis.prototype, "xread").mockImplementation(async function (this: Redis, ...args: unknown[]) {
        const got = await xread.apply(this, args);
        if (injected) readsAfter++;
        else if (got === null) {
          await redisAdmin().xadd(key, "*", "s", JSON.stringify(sighting("from-another-node")));
          injected = true;
        }
        return got;
      } as never);
      const delivered: string[] = [];
      feed = await redisFeed({
        url: REDIS_URL,
        prefix,
        blockMs: 20,
        deliver: (s) => delivered.push(s.requestId),
        onError: (err) => {
          throw err;
        },
      });
      // Three reads after the append: the first of them is where it must have been read.
      await eventually(
        async () => readsAfter,
        (n) => n >= 3,
      );
      expect(readsAfter).toBeGreaterThanOrEqual(3);
      expect(delivered).toEqual(["from-another-node"]);
    });

    it("delivers what is published after it starts, its own and others', not what was there before", async () => {
      const prefix = freshPrefix();
      const key = `${prefix}alerts:sightings`;
      await redisAdmin().xadd(key, "*", "s", JSON.stringify(sighting("before")));
      const delivered: string[] = [];
      feed = await redisFeed({
        url: REDIS_URL,
        prefix,
        blockMs: 20,
        flushMs: 10,
        deliver: (s) => delivered.push(s.requestId),
        onError: (err) => {
          throw err;
        },
      });
      await redisAdmin().xadd(key, "*", "s", JSON.stringify(sighting("other-node")));
      feed.publish(sighting("own"));
      await eventually(
        async () => delivered.length,
        (n) => n >= 2,
      );
      expect(delivered.sort()).toEqual(["other-node", "own"]);
    });

    it("an entry that is not a sighting (another node's version, a stray writer) is skipped and reported; the rest are delivered", async () => {
      const prefix = freshPrefix();
      const key = `${prefix}alerts:sightings`;
      const delivered: unknown[] = [];
      const errors: string[] = [];
      feed = await redisFeed({
        url: REDIS_URL,
        prefix,
        blockMs: 20,
        deliver: (s) => delivered.push(s),
        onError: (err) => errors.push((err as Error).message),
      });
      const { t: _t, ...untimed } = sighting("no-time");
      const entries: string[][] = [
        ["s", "not json"],
        ["s", "null"],
        ["s", JSON.stringify({ ...sighting("iso-time"), t: "2030-01-01T00:00:00Z" })],
        ["s", JSON.stringify(untimed)],
        ["s", JSON.stringify({ ...sighting("bad-decision"), decision: "maybe" })],
        ["s", JSON.stringify({ ...sighting("no-reason"), reason: undefined })],
        ["other", "x"],
        // A newer version with a field of its own before "s": the sighting is still read.
        ["v", "2", "s", JSON.stringify(sighting("with-a-version"))],
        ["s", JSON.stringify(sighting("well-formed"))],
      ];
      const pipe = redisAdmin().pipeline();
      for (const fields of entries) pipe.xadd(key, "*", ...fields);
      await pipe.exec();
      await eventually(
        async () => delivered.length,
        (n) => n >= 2,
      );
      expect(delivered).toEqual([sighting("with-a-version"), sighting("well-formed")]);
      // Reported once per read (the entries may have come in more than one).
      const skipped = errors.map((e) => Number(/^alert sighting stream: skipped (\d+) entr/.exec(e)?.[1]));
      expect(skipped.reduce((a, b) => a + b, 0)).toBe(7);
    });

    it("a sighting dated far ahead of this node's clock (another node's clock wrong) is taken as of now, counted and reported", async () => {
      const prefix = freshPrefix();
      const key = `${prefix}alerts:sightings`;
      const YEAR = 365 * 86_400_000;
      // In the stream before this node starts (its backlog), and after (its live reads).
      await redisAdmin().xadd(
        key,
        "*",
        "s",
        JSON.stringify(plainSighting("old-ahead", { t: Date.now() + YEAR })),
      );
      const delivered: Sighting[] = [];
      const errors: string[] = [];
      const f = await redisFeed({
        url: REDIS_URL,
        prefix,
        blockMs: 20,
        deliver: (s) => delivered.push(s),
        onError: (err) => errors.push((err as Error).message),
      });
      feed = f;
      const before = Date.now();
      const ahead = before + YEAR;
      const pipe = redisAdmin().pipeline();
      pipe.xadd(key, "*", "s", JSON.stringify(plainSighting("a-year-ahead", { t: ahead })));
      // Within the skew clocks in step have: as it came.
      pipe.xadd(key, "*", "s", JSON.stringify(plainSighting("a-little-ahead", { t: before + 30_000 })));
      pipe.xadd(key, "*", "s", JSON.stringify(plainSighting("in-step", { t: before })));
      await pipe.exec();
      await eventually(
        async () => delivered.length,
        (n) => n >= 3,
      );
      const backlog: Sighting[] = [];
      for await (const page of f.backlog(before - 60_000)) backlog.push(...page);
      const after = Date.now();
      const [redated, ...rest] = delivered;
      expect(redated?.requestId).toBe("a-year-ahead");
      expect(redated?.t).toBeGreaterThanOrEqual(before);
      expect(redated?.t).toBeLessThanOrEqual(after);
      expect(rest.map((s) => [s.requestId, s.t])).toEqual([
        ["a-little-ahead", before + 30_000],
        ["in-step", before],
      ]);
      expect(backlog.map((s) => s.requestId)).toEqual(["old-ahead"]);
      expect(backlog[0]?.t).toBeLessThanOrEqual(after);
      expect(f.counts().redated).toBe(2);
      // Reported at most once per 10 s, saying how many and the first of them.
      const told = () =>
        errors.reduce(
          (n, e) =>
            n +
            Number(/^alert sighting stream: (\d+) sightings? dated more than 60 s ahead/.exec(e)?.[1] ?? 0),
          0,
        );
      await eventually(
        async () => told(),
        (n) => n >= 2,
      );
      expect(told()).toBe(2);
      expect(errors[0]).toMatch(
        /ahead of this node's clock, taken as of when Redis received them \(the deciding node's clock is wrong\?\); the first: request a-year-ahead dated /,
      );
    });

    it("a sighting dated far ahead is dated when Redis received it, in the backlog and in live reads: not as of the restart", async () => {
      const prefix = freshPrefix();
      const key = `${prefix}alerts:sightings`;
      const YEAR = 365 * 86_400_000;
      const start = Date.now();
      // Appended ten minutes before this node starts (its backlog: it was taken as of the restart, an
      // embargoed attempt ten minutes old counting in the last minute's window).
      const tenMinutesAgo = start - 10 * 60_000;
      await redisAdmin().xadd(
        key,
        `${tenMinutesAgo}-0`,
        "s",
        JSON.stringify(plainSighting("backlog-ahead", { t: start + YEAR })),
      );
      const delivered: Sighting[] = [];
      feed = await redisFeed({
        url: REDIS_URL,
        prefix,
        blockMs: 20,
        deliver: (s) => delivered.push(s),
        onError: () => undefined,
      });
      const backlog: Sighting[] = [];
      for await (const page of feed.backlog(start - 20 * 60_000)) backlog.push(...page);
      expect(backlog.map((s) => [s.requestId, s.t])).toEqual([["backlog-ahead", tenMinutesAgo]]);
      // Live: an entry Redis dates five minutes ago (a Redis clock behind this node's), then one it
      // dates an hour ahead (a Redis clock ahead: taken as of now, never later).
      const fiveMinutesAgo = start - 5 * 60_000;
      await redisAdmin().xadd(
        key,
        `${fiveMinutesAgo}-0`,
        "s",
        JSON.stringify(plainSighting("live-ahead", { t: start + YEAR })),
      );
      await redisAdmin().xadd(
        key,
        `${start + 3_600_000}-0`,
        "s",
        JSON.stringify(plainSighting("redis-ahead", { t: start + YEAR })),
      );
      await eventually(
        async () => delivered.length,
        (n) => n >= 2,
      );
      const after = Date.now();
      expect(delivered.map((s) => s.requestId)).toEqual(["live-ahead", "redis-ahead"]);
      expect(delivered[0]?.t).toBe(fiveMinutesAgo);
      expect(delivered[1]?.t).toBeGreaterThanOrEqual(start);
      expect(delivered[1]?.t).toBeLessThanOrEqual(after);
    });
  },
);
