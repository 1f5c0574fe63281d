/**
 * A gateway for the usage journal's crash tests: erik's license BIS-2026-0001 metered, no flush but
 * the one at a stop. Run as a process (`node --import tsx src/testing/metered-gateway.ts <dataDir>
 * <requests> [<store URL>]`, the URL for PostgreSQL; an argument, not the environment, so the
 * configuration reference's list of variables the code reads stays the product's) it serves `requests`
 * chat requests to itself, waits until its journal holds them all, prints the license's total as its
 * counters have it, and waits to be killed; with 0 requests (a restart) it prints the total its
 * counters were seeded with, the store's, and what it said of the journal, and stops.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../config/index.js";
import { startGateway, type RunningGateway } from "../gateway/server.js";
import { journalDir } from "../metering/index.js";
import { parsePrincipal } from "../policy/index.js";
import { openStore, type Store } from "../store/index.js";
import { ADMIN_TOKEN, discard } from "./gateway.js";

export const LICENSE = "BIS-2026-0001";

/** The store: PostgreSQL at `url`, else the embedded one in `dataDir`. */
export const openMeteredStore = (dataDir: string, url: string | undefined): Promise<Store> =>
  url === undefined ? openStore({ dataDir }) : openStore({ driver: "postgres", dataDir, url });

/** Starts the gateway on `store` (seeded with the example principals and a key for erik if empty). */
export async function startMetered(
  dataDir: string,
  store: Store,
  log: (line: string) => void = () => {},
): Promise<{ gateway: RunningGateway; key: string | null }> {
  let key: string | null = null;
  if ((await store.principals.list()).length === 0) {
    for (const file of readdirSync("examples/principals").filter((f) => f.endsWith(".json")))
      await store.principals.put(
        parsePrincipal(JSON.parse(readFileSync(join("examples/principals", file), "utf8"))),
      );
    key = (await store.keys.create("erik", "test")).key;
  }
  const config = parseConfig(
    `scheme: g7-trusted-partners.yaml
listen: { host: 127.0.0.1, port: 0 }
providers: { demo: { type: demo } }
default_provider: demo
models: { mythos-5: { provider: demo } }
location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }
monitoring: { alerts: { enabled: false } }
metering: { flush_ms: 3600000 }
`,
    join("examples", "test-clearance.yaml"),
    { CLEARANCE_ADMIN_TOKEN: ADMIN_TOKEN },
  );
  const gateway = await startGateway(config, { dataDir, store, log, accessLog: discard() });
  return { gateway, key };
}

/** erik's chat request for mythos-5 (purpose cyber-defense, from Germany): its status. */
export async function chat(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      "x-test-country": "DE",
      "x-clearance-purpose": "cyber-defense",
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hello there" }] }),
  });
  await res.text();
  return res.status;
}

/** Requests in the node's journal segments (complete lines), as the file system has them now. */
export function journaledRequests(dataDir: string): number {
  const dir = journalDir(dataDir, "");
  let n = 0;
  for (const name of readdirSync(dir))
    for (const line of readFileSync(join(dir, name), "utf8").split("\n").slice(0, -1))
      for (const row of JSON.parse(line) as { requests: number }[]) n += row.requests;
  return n;
}

if (process.argv[1]?.endsWith("metered-gateway.ts")) {
  const [dataDir, count, url] = process.argv.slice(2) as [string, string, string | undefined];
  const store = await openMeteredStore(dataDir, url);
  const logs: string[] = [];
  const { gateway, key } = await startMetered(dataDir, store, (line) => logs.push(line));
  const counted = () => gateway.limits.licenseUsage(LICENSE, "total", Date.now());
  if (count === "0") {
    // A restart: what the counters were seeded with and what the store holds, then a clean stop.
    const stored = (await store.usage.totals()).byLicense[LICENSE] ?? 0;
    const said = logs.filter((l) => l.includes("journal"));
    process.stdout.write(`${JSON.stringify({ tokens: await counted(), stored, said })}\n`);
    await gateway.close();
    process.exit(0);
  }
  for (let i = 0; i < Number(count); i++) {
    const status = await chat(gateway.url, key!);
    if (status !== 200) throw new Error(`request ${i}: ${status}`);
  }
  // Metered as each answer ends; appended by the journal's timer: waited for, not slept on.
  while (journaledRequests(dataDir) < Number(count)) await new Promise((r) => setTimeout(r, 10));
  process.stdout.write(
    `${JSON.stringify({ tokens: await counted(), requests: journaledRequests(dataDir) })}\n`,
  );
  setInterval(() => undefined, 60_000); // until killed
}
