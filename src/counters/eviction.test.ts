/**
 * Redis's eviction policy, read at every connection against a real server: a policy that may evict
 * the counters (allkeys-*, volatile-*) is warned about once in the gateway's log and exposed
 * (evictionRisk); noeviction is silent; a Redis refusing CONFIG is read through INFO, and one
 * refusing both is said to be unchecked, once. The server's policy is changed for a moment and
 * restored in a finally block (other tests share this Redis; its maxmemory is 0 here, so nothing
 * is evicted meanwhile). Skipped, saying so, when no Redis answers.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway } from "../testing/gateway.js";
import {
  dropPrefixes,
  freshPrefix,
  REDIS_URL,
  redisAdmin,
  redisSkipReason as skip,
} from "../testing/redis.js";
import { openCounters, type Counters } from "./index.js";

if (skip !== undefined) console.warn(`src/counters/eviction.test.ts: SKIPPED, ${skip}`);
/** The server as the log names it (host and port, never the URL: it may carry a password). */
const WHERE = `${new URL(REDIS_URL).hostname}:${new URL(REDIS_URL).port || "6379"}`;

/** Runs `body` with the server's maxmemory-policy set to `policy`, restoring the one it had. */
async function withPolicy<T>(policy: string, body: () => Promise<T>): Promise<T> {
  const [, before] = (await redisAdmin().config("GET", "maxmemory-policy")) as [string, string];
  try {
    await redisAdmin().config("SET", "maxmemory-policy", policy);
    return await body();
  } finally {
    await redisAdmin().config("SET", "maxmemory-policy", before);
  }
}

function open(lines: string[], url = REDIS_URL, onLoad?: () => void): Promise<Counters> {
  return openCounters({
    driver: "redis",
    url,
    prefix: freshPrefix(),
    timeoutMs: 1_000,
    load: () => {
      onLoad?.();
      return Promise.resolve({ rows: [], at: Date.now() });
    },
    log: (line) => lines.push(line),
  });
}

/** Drops the counters' connection and returns once they have reconnected and are usable again. */
async function reconnect(c: Counters, loads: () => number): Promise<void> {
  const before = loads();
  const id = await (c as unknown as { client: Redis }).client.client("ID");
  await redisAdmin().client("KILL", "ID", String(id));
  // No time limit of its own: the test's timeout is what catches a reconnection that never comes.
  await eventually(
    async () => ({ loads: loads(), unavailable: c.unavailable }),
    (now) => now.loads !== before && now.unavailable === null,
  );
}

describe.skipIf(skip !== undefined)(
  skip === undefined ? "Redis's eviction policy" : `Redis's eviction policy: SKIPPED, ${skip}`,
  () => {
    afterAll(dropPrefixes);

    it("noeviction: nothing said, nothing at risk", async () => {
      const lines: string[] = [];
      await withPolicy("noeviction", async () => {
        const c = await open(lines);
        try {
          expect(c.unavailable).toBeNull();
          expect(c.evictionRisk).toBeNull();
          expect(lines).toEqual([]);
        } finally {
          await c.close();
        }
      });
    });

    it("volatile-lru: warned once, naming the policy and what it resets; again at a reconnection only when the policy changed", async () => {
      const lines: string[] = [];
      let loads = 0;
      await withPolicy("volatile-lru", async () => {
        const c = await open(lines, REDIS_URL, () => loads++);
        try {
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/^clearance: warning: Redis at \S+ has maxmemory-policy volatile-lru:/);
          expect(lines[0]).toContain(`Redis at ${WHERE} `);
          expect(lines[0]).toContain("month and quarter tokens");
          expect(lines[0]).toContain("resetting that quota or rate limit");
          expect(lines[0]).toContain("set maxmemory-policy noeviction");
          expect(c.evictionRisk).toBe(lines[0]?.replace("clearance: warning: ", ""));
          // The same policy at a reconnection: not said again.
          await reconnect(c, () => loads);
          expect(lines).toHaveLength(1);
          // Changed meanwhile (a failover to a server configured otherwise): read again at the reconnection.
          await redisAdmin().config("SET", "maxmemory-policy", "allkeys-lfu");
          await reconnect(c, () => loads);
          expect(lines).toHaveLength(2);
          expect(lines[1]).toContain("has maxmemory-policy allkeys-lfu");
          expect(lines[1]).toContain("any quota or rate-limit counter");
          expect(c.evictionRisk).toContain("allkeys-lfu");
          // Set right: said once, and nothing is at risk any more.
          await redisAdmin().config("SET", "maxmemory-policy", "noeviction");
          await reconnect(c, () => loads);
          expect(lines.slice(2)).toEqual([
            `clearance: Redis at ${WHERE} now has maxmemory-policy noeviction: no counter is evicted`,
          ]);
          expect(c.evictionRisk).toBeNull();
        } finally {
          await c.close();
        }
      });
    });

    it("read through INFO where CONFIG is refused (managed Redis); said to be unchecked, once, where both are", async () => {
      const user = `clearance-test-${randomBytes(6).toString("hex")}`;
      const password = randomBytes(12).toString("hex");
      const as = new URL(REDIS_URL);
      as.username = user;
      as.password = password;
      const admin = redisAdmin();
      try {
        await admin.call("ACL", "SETUSER", user, "on", `>${password}`, "~*", "+@all", "-config");
        await withPolicy("volatile-ttl", async () => {
          const lines: string[] = [];
          const c = await open(lines, as.toString());
          try {
            expect(c.unavailable).toBeNull();
            expect(lines).toHaveLength(1);
            expect(lines[0]).toContain("has maxmemory-policy volatile-ttl");
            expect(c.evictionRisk).toContain("volatile-ttl");
          } finally {
            await c.close();
          }
          // Neither CONFIG nor INFO: the counters still work; the log says the policy is unknown.
          await admin.call("ACL", "SETUSER", user, "-info");
          const unchecked: string[] = [];
          let loads = 0;
          const d = await open(unchecked, as.toString(), () => loads++);
          try {
            expect(d.unavailable).toBeNull();
            expect(await d.usage([{ id: "L", period: "total" }], Date.now())).toEqual({ L: { tokens: 0 } });
            expect(d.evictionRisk).toBeNull();
            expect(unchecked).toHaveLength(1);
            expect(unchecked[0]).toMatch(
              /^clearance: warning: could not check the eviction policy of Redis at \S+ \(CONFIG GET and INFO refused: NOPERM/,
            );
            expect(unchecked[0]).toContain("need maxmemory-policy noeviction");
            await reconnect(d, () => loads);
            expect(unchecked).toHaveLength(1);
          } finally {
            await d.close();
          }
        });
      } finally {
        await admin.call("ACL", "DELUSER", user);
      }
    });

    it("a gateway over such a Redis says so in its log at start", async () => {
      const lines: string[] = [];
      await withPolicy("allkeys-lru", async () => {
        const t = await startTestGateway({
          extra: `counters: { driver: redis, prefix: "${freshPrefix()}" }`,
          env: { REDIS_URL },
          log: (line) => lines.push(line),
        });
        try {
          const warned = lines.filter((l) => l.includes("maxmemory-policy"));
          expect(warned).toHaveLength(1);
          expect(warned[0]).toMatch(/^clearance: warning: Redis at \S+ has maxmemory-policy allkeys-lru:/);
          expect(t.gateway.limits.evictionRisk).toContain("allkeys-lru");
          // Said where operators look: /readyz's warnings (still ready) and a gauge to alert on.
          // Anyone (a load balancer asks without a token) is told of the risk, not which Redis it is.
          const ready = await fetch(`${t.url}/readyz`);
          expect(ready.status).toBe(200);
          const anyone = JSON.stringify(await ready.json());
          expect(anyone).toContain("counters' Redis has a maxmemory-policy that may evict them");
          expect(anyone).not.toContain(WHERE);
          expect(anyone).not.toContain("allkeys-lru");
          // A reader's token is told which Redis, and its policy.
          const read = await fetch(`${t.url}/readyz`, {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          });
          const body = (await read.json()) as { warnings?: string[] };
          expect(
            body.warnings?.some((w) => w.includes(`Redis at ${WHERE} has maxmemory-policy allkeys-lru`)),
          ).toBe(true);
          const metrics = await fetch(`${t.url}/metrics`, {
            headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          });
          expect(await metrics.text()).toMatch(/^clearance_counters_eviction_risk 1$/m);
        } finally {
          await t.gateway.close();
        }
      });
    });
  },
);
