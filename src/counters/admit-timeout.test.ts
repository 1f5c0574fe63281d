/**
 * A request's place in its organization's shared minute when Redis answers late, or not at all:
 * counted once if it is served, not at all if it is not, on every path. Redis is reached through a
 * proxy that can hold its replies (the commands still reach it and run: an admit that timed out
 * after Redis ran it). Skipped without Redis.
 */
import net from "node:net";
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { CompiledScheme } from "../scheme/index.js";
import { eventually } from "../testing/admin.js";
import {
  dropPrefixes,
  freshPrefix,
  REDIS_URL,
  redisAdmin,
  redisSkipReason as skip,
} from "../testing/redis.js";
import { openCounters, type Counters, type RateLimit } from "./index.js";
import { UsageLimits } from "./limits.js";
import { MemoryCounters } from "./memory.js";
import { windowStart } from "./windows.js";

if (skip !== undefined) console.warn(`src/counters/admit-timeout.test.ts: SKIPPED, ${skip}`);

/** A TCP proxy to Redis whose replies can be held back (and then let through, in order). */
async function replyHold(url: string) {
  const target = new URL(url);
  let holding = false;
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    track(upstream);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => (holding ? held.push(() => client.write(d)) : client.write(d)));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    hold: () => void (holding = true),
    flush: () => {
      holding = false;
      for (const write of held.splice(0)) write();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const LIMIT: RateLimit = { requestsPerMinute: 5, tokensPerMinute: null };
const SCHEME = {
  organizationRateLimits: new Map([["acme", { ...LIMIT, counter: "acme" }]]),
  licensesByPrincipal: new Map(),
  licensesByOrganization: new Map(),
} as unknown as CompiledScheme;

describe.skipIf(skip !== undefined)("redis: a request's place in its organization's minute", () => {
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closing) await close();
    await dropPrefixes();
  });

  /** Shared counters through the proxy, this node's view beside them; `local` to start from. */
  async function setUp(local = new MemoryCounters()) {
    const link = await replyHold(REDIS_URL);
    const prefix = freshPrefix();
    const shared = await openCounters({ driver: "redis", url: link.url, prefix, timeoutMs: 300 });
    const limits = new UsageLimits(shared, local, "fail_closed", () => {});
    closing.push(async () => {
      await limits.close();
      await link.close();
    });
    const now = Date.now();
    /** The organization's requests in Redis' window, once the counters have settled. */
    const inRedis = async () => {
      await settled(shared);
      return Number((await redisAdmin().hget(`${prefix}rate:acme:${windowStart(now)}`, "requests")) ?? 0);
    };
    return { link, shared, limits, now, inRedis };
  }

  /** Redis answers again, and nothing this node holds back is left to send. */
  async function settled(c: Counters) {
    const pending = () => (c as unknown as { releases?: unknown[] }).releases?.length ?? 0;
    await eventually(
      async () => ({ unavailable: c.unavailable, pending: pending() }),
      (now) => now.unavailable === null && now.pending === 0,
    );
    expect(c.unavailable).toBeNull();
    expect(pending()).toBe(0);
    // A command on the counters' connection: what this node sent before it has run.
    await c.usage([], Date.now());
  }

  it("admits that timed out after Redis counted them: the denied one is not counted in Redis, the served one once", async () => {
    const { link, limits, now, inRedis } = await setUp();
    link.hold();
    const served = await limits.admit(SCHEME, "p", "acme", now);
    const denied = await limits.admit(SCHEME, "p", "acme", now);
    expect(denied.unavailable).not.toBeNull(); // this node's view stood in
    expect(denied.rate).toEqual({ ok: true });
    denied.release();
    link.flush();
    expect(await inRedis()).toBe(1);
    expect(served.unavailable).not.toBeNull();
  });

  it("an admit that timed out after Redis counted it, then served: counted once in Redis", async () => {
    const { link, limits, now, inRedis } = await setUp();
    link.hold();
    const counted = await limits.admit(SCHEME, "p", "acme", now);
    expect(counted.unavailable).not.toBeNull();
    link.flush();
    expect(await inRedis()).toBe(1);
  });

  it("an admit that timed out after Redis counted it, over the limit in this node's view (429): not counted in Redis", async () => {
    const local = new MemoryCounters();
    const now = Date.now();
    const full = { id: "acme", limits: LIMIT };
    for (let i = 0; i < 5; i++) await local.admit({ organization: full, licenses: [], now });
    const { link, limits, inRedis } = await setUp(local);
    link.hold();
    const counted = await limits.admit(SCHEME, "p", "acme", now);
    expect(counted.rate).toMatchObject({ ok: false });
    link.flush();
    expect(await inRedis()).toBe(0);
  });

  it("a release that could not be sent (the connection dropped) is sent once Redis is back", async () => {
    const { shared, limits, now, inRedis } = await setUp();
    const counted = await limits.admit(SCHEME, "p", "acme", now);
    expect(counted.unavailable).toBeNull();
    const client = (shared as unknown as { client: Redis }).client;
    const closed = new Promise((r) => client.once("close", r));
    await redisAdmin().client("KILL", "ID", String(await client.client("ID")));
    await closed;
    counted.release();
    expect(await inRedis()).toBe(0);
  });
});
