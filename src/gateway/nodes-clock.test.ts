/**
 * Two gateway nodes over one PostgreSQL, node B's link to it cut (a partition: its version checks
 * time out) while a key is revoked through node A, and then B's wall clock stepped back an hour (NTP
 * correcting a clock that ran ahead, an operator's `date -s`). How long B's snapshot has gone
 * unconfirmed is measured on the monotonic clock, so B still refuses controlled models once past
 * freshness_ms: a wall clock gone back must not keep the revoked key served for the hour it stepped.
 * Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { blackhole, type Blackhole } from "../testing/blackhole.js";
import { eventually } from "../testing/admin.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import type { RunningGateway } from "./server.js";

if (skipReason !== undefined) console.warn(`src/gateway/nodes-clock.test.ts: SKIPPED, ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "a node's wall clock stepped back" : `clock: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    let link: Blackhole | undefined;
    afterAll(async () => {
      vi.restoreAllMocks();
      await group?.close();
      await link?.close();
      await dropSchemas();
    });
    // A bound of a second; version checks that time out quickly once the link is cut; usage written
    // only at the end (a write trying to connect while cut would wait its 30 s to give up).
    const NODE =
      "refresh_ms: 100\nfreshness_ms: 1000\nmetering: { flush_ms: 600000 }\n" +
      "store: { driver: postgres, query_timeout_ms: 300, lock_timeout_ms: 1000 }\n";

    const call = (g: RunningGateway, path: string, body: unknown) =>
      fetch(`${g.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const readyz = async (g: RunningGateway) => {
      const res = await fetch(`${g.url}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, body: (await res.json()) as { reload?: { failed: boolean } } };
    };

    it(
      "a node cut off from the store refuses a key revoked elsewhere once past freshness_ms, its clock stepped back",
      { timeout: 60_000 },
      async () => {
        const { url } = await freshSchema();
        link = await blackhole(url);
        group = nodeGroup(url);
        const a = await group.start("node-a", NODE);
        // B reaches the store through the link that is cut below.
        const b = await group.start("node-b", NODE, link.url);
        try {
          await call(a, "/admin/v1/principals", { id: "zed", citizenships: [{ country: "US" }] });
          const made = (await (await call(a, "/admin/v1/keys", { principal: "zed" })).json()) as {
            key: string;
            id: string;
          };
          const ask = (g: RunningGateway) =>
            fetch(`${g.url}/v1/chat/completions`, {
              method: "POST",
              headers: {
                authorization: `Bearer ${made.key}`,
                "content-type": "application/json",
                "x-test-country": "US",
              },
              body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
            });
          // Node B serves the new key.
          await eventually(
            async () => (await ask(b)).status,
            (s) => s === 200,
          );

          // B is cut off, then the key is revoked through A: B cannot hear of it.
          link.cut();
          expect((await call(a, `/admin/v1/keys/${made.id}/revoke`, {})).status).toBe(200);
          expect((await ask(a)).status).toBe(401);
          // A version check of B's has failed since the cut: its last confirmation was before it.
          // Node B's reload fails.
          await eventually(
            () => readyz(b),
            (r) => r.body.reload?.failed === true,
          );

          // B's wall clock goes back an hour.
          const wall = Date.now.bind(Date);
          vi.spyOn(Date, "now").mockImplementation(() => wall() - 3_600_000);

          // Before, B counted the hour as time in hand: ready, and the revoked key served, for an hour.
          // Node B is not ready.
          await eventually(
            () => readyz(b),
            (r) => r.status === 503,
          );
          const ready = await readyz(b);
          expect(ready.body).toMatchObject({
            reasons: ["the policy has not been confirmed with the store for over 1000 ms"],
            reload: { failed: true, within_freshness: false },
          });
          const refused = await ask(b);
          expect(refused.status).toBe(503);
          expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
            "policy_unconfirmed",
          );
          const metrics = await (
            await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
          ).text();
          const age = Number(/^clearance_snapshot_age_seconds (\S+)$/m.exec(metrics)?.[1]);
          expect(age).toBeGreaterThan(1);

          // The link back, B hears of the revocation: refused for what it is.
          link.mend();
          // Node B refuses the revoked key.
          await eventually(
            async () => (await ask(b)).status,
            (s) => s === 401,
          );
          expect((await readyz(b)).status).toBe(200);
        } finally {
          vi.restoreAllMocks();
          link.mend();
        }
      },
    );
  },
);
