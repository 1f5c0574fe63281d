/**
 * The shared sighting stream when Redis stops answering without closing anything (a partition, a
 * paused server), through a proxy that holds every byte: the feed sends one batch at a time, so
 * what it holds stays under its cap and `publish` drops past it, counted and reported, never
 * throwing; its reads and its batch time out and reconnect, and once the proxy forwards again,
 * sightings flow. Was: a batch sent every 50 ms, each unanswered inside the Redis client until TCP
 * gave up (about 15 minutes), the cap never reached, memory growing with every request, and the
 * reader waiting as long. Skipped, saying so, without Redis.
 *
 * The first test drives the time-outs' clock itself (setTimeout faked: ioredis's command time-outs
 * and reconnect back-off, the feed's waits), so a command times out when the test lets the link's
 * silence last, never because a loaded machine answered slowly: with a real 300 ms time-out, at
 * load 9 a healthy batch of 1,000 after the outage went unanswered that long, counted failed. The
 * flush interval, Date and the sockets stay real; the test waits on conditions, with no budget of
 * its own (vitest's test time-out catches a hang).
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
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

/**
 * Waits for a condition with eventually(), however long a loaded machine takes: the test's time-out
 * is the bound, and its error says what was awaited. eventually() pauses on node:timers/promises,
 * which faking the global setTimeout leaves real, so it asks on while the feed's clock stands still.
 */
const until = async (description: string, what: () => boolean) => {
  await eventually(
    async () => ({ waitingFor: description, met: what() }),
    (seen) => seen.met,
  );
};

const FLUSH_MS = 10;
const BLOCK_MS = 50;
const TIMEOUT_MS = 300;

let feed: RedisSightingFeed | undefined;
let proxy: StallProxy | undefined;
afterEach(async () => {
  proxy?.resume();
  await feed?.close();
  await proxy?.close();
  feed = undefined;
  proxy = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
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
      const proxyPort = Number(new URL(proxy.url).port);
      // The feed's two connections (writer, reader), to see them reconnecting.
      const connects = vi.spyOn(Redis.prototype, "connect");
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const links = () => [
        ...new Set((connects.mock.contexts as Redis[]).filter((c) => c.options.port === proxyPort)),
      ];
      const prefix = freshPrefix();
      const delivered: string[] = [];
      const errors: string[] = [];
      const f = await redisFeed({
        url: proxy.url,
        prefix,
        flushMs: FLUSH_MS,
        blockMs: BLOCK_MS,
        timeoutMs: TIMEOUT_MS,
        deliver: (s) => delivered.push(s.requestId),
        onError: (err) => errors.push((err as Error).message),
      });
      feed = f;
      expect(links()).toHaveLength(2);
      f.publish(sighting("before"));
      await until("the first sighting read back", () => delivered.includes("before"));

      proxy.pause();
      f.publish(sighting("unanswered"));
      await until("the batch sent", () => f.counts().sending === 1);
      const batches = f.counts().batches;

      // Far more than the cap, while the one batch sent waits: nothing thrown, nothing more sent.
      const many = 2 * MAX_PENDING + 20_000;
      for (let i = 0; i < many; i++) f.publish(sighting(`during-${i}`));
      let c = f.counts();
      expect(c.waiting + c.sending).toBe(MAX_PENDING);
      expect(c.dropped).toBe(many - (MAX_PENDING - 1));
      expect(c.batches).toBe(batches);

      // Silent for just under the time-out: the batch still waits for its answer.
      await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
      expect(f.counts()).toMatchObject({ sending: 1, failed: 0 });
      // Silent for the time-out, and the read's (its BLOCK time longer): the unanswered batch fails
      // (its connection is dropped), the reader's wait too; the drops are reported once, with their
      // number. No other batch goes out on the silent link.
      await vi.advanceTimersByTimeAsync(1 + BLOCK_MS);
      await until("the batch failed", () => f.counts().failed === 1);
      await until("the read failed", () =>
        errors.some((e) => e.startsWith("alert sighting stream: reading failed: ")),
      );
      await until("the drops reported", () =>
        errors.some((e) => e.startsWith("alert sighting stream: dropped ")),
      );
      expect(errors).toContain(
        "alert sighting stream: a batch of 1 sighting not appended: Command timed out",
      );
      expect(errors).toContain("alert sighting stream: reading failed: Command timed out");
      const dropReports = errors.filter((e) => e.startsWith("alert sighting stream: dropped "));
      expect(dropReports).toEqual([
        `alert sighting stream: dropped ${c.dropped} sightings, ${MAX_PENDING} waiting for Redis already (${c.dropped} since start)`,
      ]);
      c = f.counts();
      expect(c.batches).toBe(batches);
      expect(c.waiting).toBe(MAX_PENDING - 1);
      expect(c.sending).toBe(0);

      // Forwarding again: the dropped connections close, and reconnect after ioredis's back-off (the
      // clock moved by that, and no further: a batch sent from now on is never timed out).
      proxy.resume();
      await until("both connections reconnecting", () => links().every((l) => l.status === "reconnecting"));
      await vi.advanceTimersByTimeAsync(50); // ioredis's first back-off
      // What waited is appended, and read back by the reader's new connection; what is published now
      // flows too. Nothing is appended twice (a failed batch is not resent).
      await until("what waited sent", () => f.counts().waiting === 0 && f.counts().sending === 0);
      f.publish(sighting("after"));
      await until("the sighting published after read back", () => delivered.includes("after"));
      await until("the last that waited read back", () => delivered.includes(`during-${MAX_PENDING - 2}`));
      expect(delivered.filter((id) => id.startsWith("during-"))).toHaveLength(MAX_PENDING - 1);
      expect(new Set(delivered).size).toBe(delivered.length);
      // What another node appends reaches this one too: the reader is reading again.
      await redisAdmin().xadd(`${prefix}alerts:sightings`, "*", "s", JSON.stringify(sighting("other-node")));
      await until("another node's sighting read", () => delivered.includes("other-node"));
      c = f.counts();
      expect(c.appended).toBe(1 + (MAX_PENDING - 1) + 1);
      expect(c.failed).toBe(1);
      expect(links().every((l) => l.status === "ready")).toBe(true);
    });

    it("a silent link at close: close ends (bounded by the timeout), reporting what it could not send", async () => {
      proxy = await stallProxy(REDIS_URL);
      const errors: string[] = [];
      const f = await redisFeed({
        url: proxy.url,
        prefix: freshPrefix(),
        flushMs: FLUSH_MS,
        blockMs: BLOCK_MS,
        timeoutMs: TIMEOUT_MS,
        deliver: () => undefined,
        onError: (err) => errors.push((err as Error).message),
      });
      proxy.pause();
      f.publish(sighting("unanswered"));
      await until("the batch sent", () => f.counts().sending === 1);
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
