/**
 * Two gateway nodes over one PostgreSQL: a key revoked through node A is refused by node B as soon
 * as B hears of the change (LISTEN/NOTIFY: the nodes here poll only every 30 s, so a prompt denial
 * can only come from the notification). Skipped without PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../audit/note.js";
import { parseConfig } from "../config/index.js";
import { startGateway, type RunningGateway } from "./server.js";

const DATABASE = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const TOKEN = "nodes-test-admin-token";
// Every node signs the one log they share with the same key.
const AUDIT_KEY = generateKey("clearance.local/audit").privateKey;

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
const available = await reachable();
if (!available) console.warn("src/gateway/nodes.test.ts: SKIPPED, no PostgreSQL (set DATABASE_URL)");

describe.skipIf(!available)(
  available ? "two nodes on one PostgreSQL" : "two nodes: SKIPPED, no PostgreSQL",
  () => {
    const schema = `clearance_test_${randomBytes(6).toString("hex")}`;
    const nodes: RunningGateway[] = [];
    const admin = new pg.Pool({ connectionString: DATABASE, max: 1 });
    afterAll(async () => {
      for (const n of nodes) await n.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });

    async function node(name: string): Promise<RunningGateway> {
      const url = new URL(DATABASE);
      url.searchParams.set("options", `-c search_path=${schema}`);
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
        { DATABASE_URL: url.toString(), CLEARANCE_ADMIN_TOKEN: TOKEN, AUDIT_KEY },
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
      await admin.query(`CREATE SCHEMA ${schema}`);
      const a = await node("node-a");
      const b = await node("node-b");
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
