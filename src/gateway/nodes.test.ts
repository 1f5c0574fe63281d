/**
 * Two gateway nodes over one PostgreSQL: a key revoked through node A is refused by node B as soon
 * as B hears of the change (LISTEN/NOTIFY: the nodes here poll only every 30 s, so a prompt denial
 * can only come from the notification). Skipped without PostgreSQL.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../audit/note.js";
import { parseConfig } from "../config/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { startGateway, type RunningGateway } from "./server.js";

const TOKEN = "nodes-test-admin-token";
// Every node signs the one log they share with the same key.
const AUDIT_KEY = generateKey("clearance.local/audit").privateKey;
if (skipReason !== undefined) console.warn(`src/gateway/nodes.test.ts: SKIPPED, ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "two nodes on one PostgreSQL" : `two nodes: SKIPPED, ${skipReason}`,
  () => {
    const nodes: RunningGateway[] = [];
    afterAll(async () => {
      for (const n of nodes) await n.close();
      await dropSchemas();
    });

    async function node(name: string, url: string): Promise<RunningGateway> {
      const config = parseConfig(
        `scheme: g7-trusted-partners.yaml
store: { driver: postgres }
providers: { demo: { type: demo } }
default_provider: demo
location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }
refresh_ms: 30000
freshness_ms: 60000
audit: { node: ${name}, key_env: AUDIT_KEY }
`,
        join("examples", `${name}.yaml`),
        { DATABASE_URL: url, CLEARANCE_ADMIN_TOKEN: TOKEN, AUDIT_KEY },
      );
      const g = await startGateway(config, {
        dataDir: mkdtempSync(join(tmpdir(), `clearance-${name}-`)),
        port: 0,
        log: () => {},
      });
      nodes.push(g);
      return g;
    }

    it("a key revoked on node A is refused by node B within a second", { timeout: 30_000 }, async () => {
      const { url } = await freshSchema();
      const a = await node("node-a", url);
      const b = await node("node-b", url);
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
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await ask(b)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
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
