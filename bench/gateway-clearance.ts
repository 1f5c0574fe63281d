/**
 * Clearance under test in `npm run bench:gateway`, in its own process: the example scheme
 * (examples/g7-trusted-partners.yaml), one `openai` provider pointing at the mock upstream, the
 * store in a fresh temporary data dir with the US engineer `alice` and a key for her, the location
 * header trusted from loopback as in examples/clearance.yaml. Policy, metering (flushed to the
 * store every second) and the store's change polling all run as in production.
 *
 * Monitoring is on as by default (the access log goes to stdout, which the bench discards; with
 * BENCH_STAGES=1 it goes to bench:gateway:stages, see stageTimings);
 * BENCH_GATEWAY_MONITORING=off turns metrics, access log and detectors off (bench:monitoring).
 *
 * argv[2]: the mock's base URL (http://127.0.0.1:PORT/v1). Sends `{ port, key }` over IPC when ready.
 * argv[3] `postgres` (for `--store postgres`): the store is the PostgreSQL of DATABASE_URL (a fresh
 * schema the bench made; several nodes share it, each adding alice and a key of its own), and
 * argv[4] names the node in its audit entries, argv[5] is the audit signing key file all the nodes
 * share (the first node creates it), as nodes sharing one store must.
 * On SIGTERM it closes the gateway (so metering flushes) and exits normally, which also lets
 * `node --cpu-prof` write its profile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseConfig } from "../src/config/index.js";
import { startGateway } from "../src/gateway/server.js";
import type { DestinationStream } from "../src/monitoring/access-log.js";
import { parsePrincipal } from "../src/policy/index.js";
import { openStore } from "../src/store/index.js";
import { repoRoot } from "./gateway-procs.js";
import type { StageRow } from "./gateway-stages.js";

const SCHEME = join("examples", "g7-trusted-partners.yaml");

async function main(): Promise<void> {
  const baseUrl = process.argv[2];
  if (baseUrl === undefined) throw new Error("usage: gateway-clearance <upstream base URL>");
  const postgres = process.argv[3] === "postgres";
  const node = process.argv[4];
  const keyFile = process.argv[5];
  const databaseUrl = process.env.DATABASE_URL;
  if (postgres && !databaseUrl) throw new Error("gateway-clearance postgres: DATABASE_URL is not set");
  const root = repoRoot();
  // bench:monitoring compares with monitoring (metrics, access log, detectors) off.
  const monitoringOff = process.env.BENCH_GATEWAY_MONITORING === "off";
  // Under the bench's data root (removed when the bench exits, see gateway-procs) when forked by it.
  const dataRoot = process.env.BENCH_DATA_ROOT;
  const dataDir = mkdtempSync(join(dataRoot ?? tmpdir(), "clearance-bench-"));

  const store = await openStore(postgres ? { driver: "postgres", dataDir, url: databaseUrl! } : { dataDir });
  const alice = JSON.parse(readFileSync(join(root, "examples", "principals", "us-engineer.json"), "utf8"));
  await store.principals.put(parsePrincipal(alice));
  const { key } = await store.keys.create("alice", "bench");

  // JSON strings are valid YAML scalars, so paths with any characters stay intact.
  const text = `scheme: ${JSON.stringify(resolve(root, SCHEME))}
data_dir: ${JSON.stringify(dataDir)}
listen: { host: 127.0.0.1, port: 0 }
providers:
  mock: { type: openai, base_url: ${JSON.stringify(baseUrl)} }
default_provider: mock
location:
  header: x-demo-country
  trusted_proxies: [127.0.0.1/32, "::1/128"]
${monitoringOff ? "monitoring: { metrics: { enabled: false }, access_log: { enabled: false }, alerts: { enabled: false } }\n" : ""}${postgres ? "store: { driver: postgres }\n" : ""}${node === undefined ? "" : `audit: { node: ${JSON.stringify(node)}${keyFile === undefined ? "" : `, key_file: ${JSON.stringify(keyFile)}`} }\n`}`;
  // A load run ends by closing its connections with requests in flight; Clearance reports each
  // such abort as a request error with a stack. Those are counted, not printed; the rest is.
  let aborted = 0;
  const log = (line: string) => {
    if (/^clearance: request \S+: AbortError/.test(line)) aborted++;
    else process.stderr.write(`${line}\n`);
  };
  const configPath = join(dataDir, "clearance.yaml");
  writeFileSync(configPath, text);
  const config = parseConfig(text, configPath, postgres ? { DATABASE_URL: databaseUrl } : {});
  const gateway = await startGateway(config, {
    dataDir,
    store,
    host: "127.0.0.1",
    port: 0,
    log,
    ...(process.env.BENCH_STAGES === "1" ? { accessLog: stageTimings() } : {}),
  });

  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    await gateway.close().catch(() => {});
    if (aborted > 0)
      process.stderr.write(`clearance: ${aborted} requests aborted by the client (logged as errors)\n`);
    if (dataRoot === undefined) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("disconnect", () => void stop());
  process.send?.({ port: (gateway.server.address() as AddressInfo).port, key });
}

/**
 * For bench:gateway:stages: the access log's lines go nowhere, except that between the messages
 * `{ stages: "start" }` and `{ stages: "stop" }` each line's stage timings are kept, and sent back
 * on "stop".
 */
function stageTimings(): DestinationStream {
  let rows: StageRow[] | null = null;
  process.on("message", (m: { stages?: string }) => {
    if (m.stages === "start") rows = [];
    if (m.stages === "stop") {
      process.send?.({ stages: rows ?? [] });
      rows = null;
    }
  });
  return {
    write(line: string) {
      if (rows === null) return;
      const o = JSON.parse(line) as Record<string, number | null>;
      rows.push({
        total: o.ms_total ?? 0,
        overhead: o.ms_overhead ?? 0,
        append: o.ms_audit_append ?? null,
        upstream: o.ms_upstream ?? null,
      });
    },
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway-clearance: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
