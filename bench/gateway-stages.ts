/**
 * `npm run bench:gateway:stages`: where a request's time goes at concurrency 1 (issue 14's latency
 * goals). Against the mock upstream of bench:gateway, after the same warm-up and a pause, it runs
 * BENCH_STAGES_SECONDS (default 8) of back-to-back requests on one connection: the bare proxy, then
 * Clearance twice — its data directory on the disk, and on tmpfs (/dev/shm) where a synchronous
 * write waits for no disk. For Clearance it sets beside each request's latency as the client saw it
 * the stage timings from its access log (the gateway's own window, the audit append from decision
 * to durable, the upstream call until its answer was taken up), gathered by the child between two IPC messages; the slowest 1% of
 * requests are taken apart on their own. Prints one JSON line; writes
 * bench/results/gateway-stages.json.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { check, loadWithSamples, percentile, round, warmUp, type Target } from "./gateway-measure.js";
import { firstMessage, forkChild, log, runBench, stop } from "./gateway-procs.js";
import { resultHead, writeResult } from "./results.js";

const SECONDS = Number(process.env.BENCH_STAGES_SECONDS ?? 8);
const PAUSE_MS = 3_000;
const TMPFS = "/dev/shm";

/** One request's stage timings (ms) from Clearance's access log, as gateway-clearance sends them. */
export interface StageRow {
  readonly total: number;
  readonly overhead: number;
  readonly append: number | null;
  readonly upstream: number | null;
}

const sorted = (xs: readonly number[]) => Float64Array.from(xs).sort();
const spread = (xs: readonly number[]) => {
  const s = sorted(xs);
  return {
    p50_ms: round(percentile(s, 0.5)),
    p90_ms: round(percentile(s, 0.9)),
    p99_ms: round(percentile(s, 0.99)),
  };
};
const present = (xs: readonly (number | null)[]) => xs.filter((x): x is number => x !== null);

function stages(rows: readonly StageRow[]) {
  const cut = percentile(sorted(rows.map((r) => r.total)), 0.99);
  const slowest = rows.filter((r) => r.total >= cut);
  const median = (xs: readonly number[]) => round(percentile(sorted(xs), 0.5));
  return {
    requests: rows.length,
    total: spread(rows.map((r) => r.total)),
    before_forwarding: spread(rows.map((r) => r.overhead)),
    audit_append: spread(present(rows.map((r) => r.append))),
    upstream: spread(present(rows.map((r) => r.upstream))),
    slowest_1_percent_medians: {
      requests: slowest.length,
      total_ms: median(slowest.map((r) => r.total)),
      audit_append_ms: median(present(slowest.map((r) => r.append))),
      upstream_ms: median(present(slowest.map((r) => r.upstream))),
    },
  };
}

async function client(t: Target) {
  await check(t);
  await warmUp(t, 50, log);
  await new Promise((r) => setTimeout(r, PAUSE_MS));
  log(`${t.name}: concurrency 1 for ${SECONDS} s`);
}

async function clearance(upstream: string, where: "disk" | "tmpfs") {
  const root = where === "tmpfs" ? mkdtempSync(join(TMPFS, "clearance-bench-stages-")) : undefined;
  const env = { ...process.env, BENCH_STAGES: "1", ...(root === undefined ? {} : { BENCH_DATA_ROOT: root }) };
  const { proc, ready } = await forkChild<{ port: number; key: string }>(
    "gateway-clearance",
    [`${upstream}/v1`],
    [],
    30_000,
    env,
  );
  try {
    const t: Target = {
      name: `clearance (${where})`,
      origin: `http://127.0.0.1:${ready.port}`,
      headers: { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" },
    };
    await client(t);
    proc.send({ stages: "start" });
    const { latencies } = await loadWithSamples(t, 1, SECONDS);
    const reply = firstMessage<{ stages: StageRow[] }>(proc, t.name, 10_000);
    proc.send({ stages: "stop" });
    return { client: spread(latencies), gateway: stages((await reply).stages) };
  } finally {
    await stop(proc);
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const load0 = loadavg();
  const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
  const upstream = `http://127.0.0.1:${mock.ready.port}`;
  const bare = await forkChild<{ port: number }>("gateway-bare", [upstream]);
  const t: Target = { name: "bare", origin: `http://127.0.0.1:${bare.ready.port}`, headers: {} };
  await client(t);
  const bareClient = spread((await loadWithSamples(t, 1, SECONDS)).latencies);
  await stop(bare.proc);
  const disk = await clearance(upstream, "disk");
  const tmpfs = existsSync(TMPFS) ? await clearance(upstream, "tmpfs") : null;
  await stop(mock.proc);
  const out = {
    ...resultHead("gateway-stages"),
    load_before: load0.map((x) => round(x, 2)),
    load_after: loadavg().map((x) => round(x, 2)),
    seconds: SECONDS,
    bare: { client: bareClient },
    clearance: { disk, tmpfs: tmpfs ?? `not measured: ${TMPFS} does not exist` },
    notes: [
      "client: each request's latency as the load generator saw it; gateway: Clearance's own access-log timings of the same requests (total: from reading the request to its end; before_forwarding: until the upstream request left; audit_append: from the decision until its entry was durable; upstream: from the upstream request leaving until the gateway took up its answer, which waits for the entry to be durable too)",
      "what the client saw beyond the gateway's total is outside the gateway's window: the hop from the client and back, wake-ups",
      "tmpfs: the data directory in /dev/shm, where a synchronous write does not wait for a disk (not a configuration to run: nothing survives a restart)",
    ],
  };
  writeResult("gateway-stages", out);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

runBench(main);
