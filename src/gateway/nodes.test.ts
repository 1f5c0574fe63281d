/**
 * Two gateway nodes over one PostgreSQL: a key revoked through node A is refused by node B as soon
 * as B hears of the change (LISTEN/NOTIFY: the nodes here poll only every 30 s, so a prompt denial
 * can only come from the notification). Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import type { RunningGateway } from "./server.js";

if (skipReason !== undefined) console.warn(`src/gateway/nodes.test.ts: SKIPPED, ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "two nodes on one PostgreSQL" : `two nodes: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    afterAll(async () => {
      await group?.close();
      await dropSchemas();
    });
    // Polling every 30 s: only the notification can bring a change over promptly.
    const SLOW_POLL = "refresh_ms: 30000\nfreshness_ms: 60000\n";

    it("a key revoked on node A is refused by node B within a second", { timeout: 30_000 }, async () => {
      const { url } = await freshSchema();
      group = nodeGroup(url);
      const a = await group.start("node-a", SLOW_POLL);
      const b = await group.start("node-b", SLOW_POLL);
      const call = (g: RunningGateway, path: string, body: unknown) =>
        fetch(`${g.url}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      await call(a, "/admin/v1/principals", { id: "zed", citizenships: [{ country: "US" }] });
      const { key, id } = (await (await call(a, "/admin/v1/keys", { principal: "zed" })).json()) as {
        key: string;
        id: string;
      };
      const ask = (g: RunningGateway) =>
        fetch(`${g.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "x-test-country": "US",
          },
          body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
        });
      const status = await eventually(
        async () => (await ask(b)).status,
        (s) => s === 200,
      );
      expect(status).toBe(200);

      expect((await call(a, `/admin/v1/keys/${id}/revoke`, {})).status).toBe(200);
      expect((await ask(a)).status).toBe(401);
      const revokedAt = Date.now();
      // The bound; the notification takes milliseconds (bench:propagation measures it).
      while ((await ask(b)).status === 200 && Date.now() - revokedAt < 1_000)
        await new Promise((r) => setTimeout(r, 20));
      expect((await ask(b)).status).toBe(401);
    });
  },
);
