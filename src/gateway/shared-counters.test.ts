/**
 * Two gateway nodes over one PostgreSQL and one Redis: a license's quota used through node A is
 * seen by node B, the two together grant no more than the quota allows, and an organization's rate
 * limit counts requests on both. Skipped, saying so, without PostgreSQL or Redis.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { adminPost, chat, eventually, rateLimitedMember } from "../testing/admin.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { dropSchemas, freshSchema, skipReason as noPostgres } from "../testing/postgres.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisSkipReason as noRedis } from "../testing/redis.js";
import type { RunningGateway } from "./server.js";

const skip = noPostgres ?? noRedis;
if (skip !== undefined) console.warn(`src/gateway/shared-counters.test.ts: SKIPPED, ${skip}`);

const LICENSE = "BIS-2026-0001"; // erik's organization's, in examples/g7-trusted-partners.yaml
const QUOTA = 50_000_000;
/** Tokens left on the license when the nodes start: a few requests' worth. */
const LEFT = 200;

describe.skipIf(skip !== undefined)(
  skip === undefined
    ? "two nodes sharing Redis counters"
    : `two nodes sharing Redis counters: SKIPPED, ${skip}`,
  () => {
    let group: NodeGroup | undefined;
    let a: RunningGateway;
    let b: RunningGateway;
    afterAll(async () => {
      await group?.close();
      await dropSchemas();
      await dropPrefixes();
    });

    beforeAll(async () => {
      const { url } = await freshSchema();
      const prefix = freshPrefix();
      // Usage recorded before the nodes start: Redis (empty) is seeded with it.
      const store = await openStore({ driver: "postgres", url, dataDir: "unused" });
      await store.usage.add([
        {
          principalId: "erik",
          organizationId: "bw-cyber",
          licenseId: LICENSE,
          model: "fable-5",
          inputTokens: QUOTA - LEFT,
          outputTokens: 0,
          requests: 1,
          at: new Date().toISOString(),
        },
      ]);
      await store.close();
      group = nodeGroup(url, { REDIS_URL });
      const counters = `counters: { driver: redis, prefix: "${prefix}" }\nrefresh_ms: 100\n`;
      a = await group.start("node-a", counters);
      b = await group.start("node-b", counters);
    }, 30_000);

    const admin = adminPost(() => a.url, TOKEN);
    const keyFor = async (principal: string) =>
      ((await (await admin("/admin/v1/keys", { principal })).json()) as { key: string }).key;
    /** Waits until node B knows what node A was told (it polls the store every refresh_ms). */
    const knownOnB = (key: string, model: string, country: string) =>
      eventually(
        () =>
          fetch(`${b.url}/v1/models/${model}`, {
            headers: { authorization: `Bearer ${key}`, "x-test-country": country },
          }),
        (res) => res.status === 200,
      );
    const used = async (g: RunningGateway) =>
      (await g.limits.shared.usage([{ id: LICENSE, period: "total" }], Date.now()))[LICENSE]?.tokens;
    /** Tokens are added after the response has gone out: wait until the counter shows them. */
    const until = async (g: RunningGateway, tokens: number) => {
      await eventually(
        () => used(g),
        (n) => n === tokens,
      );
      return used(g);
    };

    it("quota used on node A is seen by node B; together they never grant past the quota", async () => {
      const principal = JSON.parse(
        readFileSync("examples/principals/bw-cyber-analyst.json", "utf8"),
      ) as unknown;
      expect((await admin("/admin/v1/principals", principal)).status).toBe(201);
      const key = await keyFor("erik");
      await knownOnB(key, "fable-5", "DE");
      const ask = (g: RunningGateway) =>
        fetch(`${g.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "x-test-country": "DE",
            "x-clearance-purpose": "cyber-defense",
          },
          body: JSON.stringify({ model: "fable-5", messages: [{ role: "user", content: "one two three" }] }),
        });

      // Seeded from the store before the first request.
      expect(await used(b)).toBe(QUOTA - LEFT);
      let total = QUOTA - LEFT;
      let granted = 0;
      let perRequest = 0;
      const order = [a, b];
      for (let i = 0; i < 100; i++) {
        const res = await ask(order[i % 2] as RunningGateway);
        expect(res.status).toBe(200);
        if (res.headers.get("x-clearance-reason") !== "license") {
          expect(res.headers.get("x-clearance-reason")).toBe("license-quota-exhausted");
          expect(res.headers.get("x-clearance-served-model")).toBe("fable-4");
          break;
        }
        granted++;
        perRequest = ((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
        total += perRequest;
        // What this node used, the other node reads.
        expect(await until(order[(i + 1) % 2] as RunningGateway, total)).toBe(total);
      }
      // Exactly as many grants as the quota allows in all: each node alone would have granted as many.
      expect(perRequest).toBeGreaterThan(0);
      expect(granted).toBe(Math.ceil(LEFT / perRequest));
      expect(granted).toBeGreaterThanOrEqual(2);
      expect(total).toBeGreaterThanOrEqual(QUOTA);
      expect(total - QUOTA).toBeLessThan(perRequest);
      // Used up for both nodes, and each node's admin API shows what both used.
      for (const g of [a, b]) {
        expect((await ask(g)).headers.get("x-clearance-reason")).toBe("license-quota-exhausted");
        const res = await fetch(`${g.url}/admin/v1/licenses/${LICENSE}/usage`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        expect(await res.json()).toMatchObject({ used_tokens: total, remaining_tokens: 0 });
      }
    });

    it("an organization's rate limit counts requests on both nodes", async () => {
      const key = await rateLimitedMember(admin);
      await knownOnB(key, "mythos-5", "GB");
      const ask = (g: RunningGateway) => chat(g.url, key);
      // Two requests a minute, alternating between the nodes: each node alone would allow two, so
      // four would pass; shared, the third is refused (the fourth if a minute ends in between).
      const statuses: number[] = [];
      for (let i = 0; i < 4 && !statuses.includes(429); i++) {
        const res = await ask(i % 2 === 0 ? a : b);
        statuses.push(res.status);
        if (res.status === 429) {
          expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
            "organization acme-lab is over its limit of 2 requests per minute",
          );
        } else expect(res.headers.get("x-clearance-reason")).toBe("partner-organization");
      }
      expect(statuses).toContain(429);
    });
  },
);
