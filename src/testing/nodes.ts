/**
 * Gateway nodes over one PostgreSQL schema (and optionally one Redis), as a deployment runs them:
 * each with its own data directory, all signing the one shared audit log with the same key.
 */
import { discard, withLoopbackIdps } from "./gateway.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../audit/note.js";
import { parseConfig } from "../config/index.js";
import { startGateway, type RunningGateway } from "../gateway/server.js";
import { openStore, type Store } from "../store/index.js";

export const NODE_ADMIN_TOKEN = "nodes-test-admin-token-0123456789abcdef";

export interface NodeOptions {
  /** The node's PostgreSQL store, wrapped (a store whose snapshot reads can be made to fail, say). */
  readonly wrapStore?: (s: Store) => Store;
}

export interface NodeGroup {
  /**
   * Starts a node; `extra` is YAML added to the config (refresh_ms, counters, a `store:` section of
   * its own, …); `databaseUrl`: this node's way to the schema (a proxy that can cut it off, say).
   */
  start(name: string, extra?: string, databaseUrl?: string, options?: NodeOptions): Promise<RunningGateway>;
  close(): Promise<void>;
}

/** `databaseUrl` selects the schema (see testing/postgres.ts); `env` adds variables (e.g. REDIS_URL). */
export function nodeGroup(databaseUrl: string, env: NodeJS.ProcessEnv = {}): NodeGroup {
  const nodes: RunningGateway[] = [];
  /** Stores opened here for wrapping: the gateway does not close a store it was given. */
  const stores: Store[] = [];
  const AUDIT_KEY = generateKey("clearance.local/audit").privateKey;
  return {
    async start(name, extra = "", url = databaseUrl, options = {}) {
      const config = parseConfig(
        withLoopbackIdps(`scheme: g7-trusted-partners.yaml
${extra.includes("store:") ? "" : "store: { driver: postgres }"}
providers: { demo: { type: demo } }
default_provider: demo
location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }
audit: { node: ${name}, key_env: AUDIT_KEY }
${extra.includes("monitoring:") ? "" : "monitoring: { alerts: { enabled: false } }"}
${extra}`),
        join("examples", `${name}.yaml`),
        { ...env, DATABASE_URL: url, CLEARANCE_ADMIN_TOKEN: NODE_ADMIN_TOKEN, AUDIT_KEY },
      );
      const dataDir = mkdtempSync(join(tmpdir(), `clearance-${name}-`));
      let store: Store | undefined;
      if (options.wrapStore !== undefined) {
        const raw = await openStore({ driver: "postgres", url, dataDir });
        stores.push(raw);
        store = options.wrapStore(raw);
      }
      const g = await startGateway(config, {
        ...(store === undefined ? {} : { store }),
        dataDir,
        port: 0,
        log: () => {},
        accessLog: discard(),
      });
      nodes.push(g);
      return g;
    },
    async close() {
      for (const n of nodes.splice(0)) await n.close();
      for (const s of stores.splice(0)) await s.close();
    },
  };
}
