/**
 * The shared sighting stream when Redis stops answering without closing anything (a partition, a
 * paused server), through a proxy that holds every byte: the feed sends one batch at a time, so
 * what it holds stays under its cap and `publish` drops past it, counted and reported, never
 * throwing; its reads and its batch time out and reconnect, and once the proxy forwards again,
 * sightings flow. Was: a batch sent every 50 ms, each unanswered inside the Redis client until TCP
 * gave up (about 15 minutes), the cap never reached, memory growing with every request, and the
 * reader waiting as long. Skipped, saying so, without Redis.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisAdmin, redisSkipReason } from "../testing/redis.js";
import { plainSighting } from "../testing/sightings.js";
import { stallProxy, type StallProxy } from "../testing/stall.js";
import { MAX_PENDING, redisFeed, type RedisSightingFeed } from "./feed.js";

/** Sightings dated now, as a node with a sound clock dates them (one far ahead is redated: see feed.ts). */
const NOW = Date.now();
const sighting = (requestId: string) => plainSighting(requestId, { t: NOW });

if (redisSkipReason !== undefined)
  console.warn(`src/alerts/feed-silent.test.ts: SKIPPED, ${redisSkipReason}`);

/** Waits for a condition, not a duration: generous, as a loaded machine may be slow. */
const until = async (what: () => boolean) => {
  await eventually(async () => what(), Boolean, 1_500);
  expect(what()).toBe(true);
};

let feed: RedisSightingFeed | undefined;
let proxy: StallProxy | undefined;
afterEach(async () => {
  proxy?.resume();
  await feed?.close();
  await proxy?.close();
  feed = undefined;
  proxy = undefined;
});
afterAll(async () => {
  await dropPrefixes();
});

describe.skipIf(redisSkipReason !== undefined)(
  redisSkipReason === undefined
    ? "the shared sighting feed on a silent link"
    : `the shared sighting feed on a silent link: SKIPPED, ${redisSkipReason}`,
  () => {
    it("holds at most its cap while Redis is silent, drops past it (counted, reported, never thrown), and flows again after", async () => {
      proxy = await stallProxy(REDIS_URL);
      const prefix = freshPrefix();
      const delivered: string[] = [];
      const errors: string[] = [];
      const f = await redisFeed({
        url: proxy.url,
        prefix,
        flushMs: 10,
        blockMs: 50,
        timeoutMs: 300,
        deliver: (s) => delivered.push(s.requestId),
        onError: (err) => errors.push((err as Error).message),
      });
      feed = f;
      f.publish(sighting("before"));
      await until(() => delivered.includes("before"));

      proxy.pause();
      f.publish(sighting("unanswered"));
      await until(() => f.counts().sending === 1);
      const batches = f.counts().batches;

      // Far more than the cap, while the one batch sent waits: nothing thrown, nothing more sent.
      const many = 2 * MAX_PENDING + 20_000;
      for (let i = 0; i < many; i++) f.publish(sighting(`during-${i}`));
      let c = f.counts();
      expect(c.waiting + c.sending).toBe(MAX_PENDING);
      expect(c.dropped).toBe(many - (MAX_PENDING - 1));
      expect(c.batches).toBe(batches);

      // The unanswered batch fails (its connection is dropped), the reader's wait too; the drops are
      // reported once, with their number. No other batch goes out on the silent link.
      await until(() => f.counts().failed === 1);
      await until(() => errors.some((e) => e.startsWith("alert sighting stream: reading failed: ")));
      await until(() => errors.some((e) => e.startsWith("alert sighting stream: dropped ")));
      expect(errors).toContain(
        "alert sighting stream: a batch of 1 sighting not appended: Command timed out",
      );
      const dropReports = errors.filter((e) => e.startsWith("alert sighting stream: dropped "));
      expect(dropReports).toEqual([
        `alert sighting stream: dropped ${c.dropped} sightings, ${MAX_PENDING} waiting for Redis already (${c.dropped} since start)`,
      ]);
      c = f.counts();
      expect(c.batches).toBe(batches);
      expect(c.waiting).toBe(MAX_PENDING - 1);
      expect(c.sending).toBe(0);

      // Forwarding again: what waited is appended, and read back by the reader's new connection;
      // what is published now flows too. Nothing is appended twice (a failed batch is not resent).
      proxy.resume();
      await until(() => f.counts().waiting === 0 && f.counts().sending === 0);
      f.publish(sighting("after"));
      await until(() => delivered.includes("after"));
      await until(() => delivered.includes(`during-${MAX_PENDING - 2}`));
      expect(delivered.filter((id) => id.startsWith("during-"))).toHaveLength(MAX_PENDING - 1);
      expect(new Set(delivered).size).toBe(delivered.length);
      // What another node appends reaches this one too: the reader is reading again.
      await redisAdmin().xadd(`${prefix}alerts:sightings`, "*", "s", JSON.stringify(sighting("other-node")));
      await until(() => delivered.includes("other-node"));
      c = f.counts();
      expect(c.appended).toBe(1 + (MAX_PENDING - 1) + 1);
      expect(c.failed).toBe(1);
    });

    it("a silent link at close: close ends (bounded by the timeout), reporting what it could not send", async () => {
      proxy = await stallProxy(REDIS_URL);
      const errors: string[] = [];
      const f = await redisFeed({
        url: proxy.url,
        prefix: freshPrefix(),
        flushMs: 10,
        blockMs: 50,
        timeoutMs: 300,
        deliver: () => undefined,
        onError: (err) => errors.push((err as Error).message),
      });
      proxy.pause();
      f.publish(sighting("unanswered"));
      await until(() => f.counts().sending === 1);
      f.publish(sighting("waiting"));
      feed = undefined;
      await f.close();
      expect(f.counts()).toMatchObject({ waiting: 0, sending: 0, failed: 1, dropped: 1 });
      expect(errors).toContain(
        "alert sighting stream: a batch of 1 sighting not appended: Command timed out",
      );
      expect(errors).toContain(
        "alert sighting stream: 1 sighting not sent at close, the connection to Redis not usable",
      );
    });
  },
);
