/**
 * `npm run bench:gateway -- --nodes 2 --store postgres`: what scaling out costs and gives. In one
 * run, against one mock upstream: direct to the mock (the ceiling of this load generator and mock),
 * one Clearance node on the embedded store (SQLite), then N Clearance nodes over one PostgreSQL
 * (a fresh schema, dropped at the end), each node in its own process. The same total load is
 * offered to both set-ups: `connections` keep-alive connections for the one node, and for the N
 * nodes N autocannon instances run at the same time, one per node, `connections / N` each, their
 * rates summed and their latencies summarized together.
 *
 * Per set-up: req/s, latency percentiles under load (2xx responses), latency at concurrency 1, CPU
 * per request of the nodes (summed), of the mock and of PostgreSQL (all its processes on this
 * machine), and how busy the whole machine was. Prints one JSON line; writes
 * bench/results/gateway-nodes.json.
 *
 * Options: --nodes N (default 1), --store sqlite|postgres (default sqlite; several nodes need
 * postgres), --duration S (load phase, default 8), --connections C (default 50).
 * Env: BENCH_GATEWAY_PROFILE=dir writes each node's CPU profile under dir/<node name>;
 * BENCH_GATEWAY_NODE_ARGS adds node flags to every node (`--perf-basic-prof` to profile with perf).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import {
  WARMUP_ROUNDS_S,
  check,
  loadWithSamples,
  percentile,
  round,
  load,
  type Target,
} from "./gateway-measure.js";
import { cpuSeconds, forkChild, log, onCleanup, stop } from "./gateway-procs.js";
import {
  busyShare,
  describeDatabase,
  freshSchema,
  isLocal,
  machineCpu,
  postgresCpuSeconds,
  type FreshSchema,
} from "./postgres.js";
import { resultHead, writeResult } from "./results.js";

export interface NodeOptions {
  readonly nodes: number;
  readonly store: "sqlite" | "postgres";
  readonly duration_s: number;
  readonly connections: number;
}

const USAGE = "usage: bench:gateway [-- --nodes N --store sqlite|postgres [--duration S] [--connections C]]";

/**
 * The scale-out options from argv, or null for the default run (no options, or `--nodes 1 --store
 * sqlite`, which is what the default run measures already). Throws on anything it does not know.
 */
export function nodeOptions(argv: readonly string[]): NodeOptions | null {
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--(nodes|store|duration|connections)(?:=(.*))?$/.exec(arg);
    if (m === null) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value\n${USAGE}`);
    given.set(m[1]!, value);
  }
  if (given.size === 0) return null;
  const int = (name: string, fallback: number, min: number) => {
    const v = given.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}\n${USAGE}`);
    return n;
  };
  const store = given.get("store") ?? "sqlite";
  if (store !== "sqlite" && store !== "postgres") throw new Error(`--store sqlite|postgres\n${USAGE}`);
  const options: NodeOptions = {
    nodes: int("nodes", 1, 1),
    store,
    duration_s: int("duration", 8, 1),
    connections: int("connections", 50, 1),
  };
  if (options.store === "sqlite" && options.nodes > 1) {
    throw new Error("several nodes need --store postgres: the embedded store belongs to one node's data dir");
  }
  if (!given.has("nodes") && !given.has("store")) {
    throw new Error(`--duration and --connections go with --nodes / --store\n${USAGE}`);
  }
  if (options.nodes === 1 && options.store === "sqlite") {
    throw new Error("--nodes 1 --store sqlite is the default run: run bench:gateway without options");
  }
  return options;
}

const loopback = (port: number) => `http://127.0.0.1:${port}`;

interface Node {
  readonly target: Target;
  readonly proc: ChildProcess;
}

async function startNode(
  upstream: string,
  name: string,
  db: FreshSchema | null,
  keyFile?: string,
): Promise<Node> {
  const args =
    db === null ? [`${upstream}/v1`] : [`${upstream}/v1`, "postgres", name, ...(keyFile ? [keyFile] : [])];
  const env = db === null ? undefined : { ...process.env, DATABASE_URL: db.url };
  // BENCH_GATEWAY_PROFILE=dir: each node writes a CPU profile there (summarize with gateway-profile).
  const profile = process.env.BENCH_GATEWAY_PROFILE;
  // BENCH_GATEWAY_NODE_ARGS: more node flags for every node, e.g. --perf-basic-prof for `perf record`.
  const extra = (process.env.BENCH_GATEWAY_NODE_ARGS ?? "").split(/\s+/).filter((a) => a !== "");
  const execArgv = [
    ...extra,
    ...(profile === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profile, name)}`]),
  ];
  const { proc, ready } = await forkChild<{ port: number; key: string }>(
    "gateway-clearance",
    args,
    execArgv,
    60_000,
    env,
  );
  return {
    proc,
    target: {
      name,
      origin: loopback(ready.port),
      headers: { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" },
    },
  };
}

interface GroupLoad {
  /** Sum over the nodes of autocannon's average req/s. */
  rps: number;
  /** Latency of every 2xx response of every node, together. */
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  connections: number;
  /** CPU time (user + system) per 2xx request: the nodes summed, the mock, PostgreSQL's processes. */
  cpu_us_per_req: { nodes: number | null; mock: number | null; postgres?: number | null };
  /** Share of all cores' time that was busy during the load phase (every process on the machine). */
  machine_cpu_busy: number | null;
  per_node?: { name: string; rps: number; p50_ms: number; p99_ms: number; requests: number }[];
}

/** Offers `connections` in total, split evenly over `nodes`, for `seconds`, all at once. */
async function loadGroup(
  nodes: readonly { target: Target; pid: number | undefined }[],
  mockPid: number | undefined,
  connections: number,
  seconds: number,
  postgres: boolean,
): Promise<GroupLoad> {
  const each = Math.max(1, Math.round(connections / nodes.length));
  const pids = [...nodes.map((n) => n.pid), mockPid];
  const before = pids.map(cpuSeconds);
  const pgBefore = postgres ? postgresCpuSeconds() : null;
  const machineBefore = machineCpu();
  const runs = await Promise.all(nodes.map((n) => loadWithSamples(n.target, each, seconds)));
  const machineAfter = machineCpu();
  const pgAfter = postgres ? postgresCpuSeconds() : null;
  const after = pids.map(cpuSeconds);

  const requests = runs.reduce((a, r) => a + r.load.requests, 0);
  const perReq = (a: number | null | undefined, b: number | null | undefined) =>
    a == null || b == null || requests === 0 ? null : round((1e6 * (b - a)) / requests, 1);
  const nodeCpu = nodes.map((_, i) => perReq(before[i], after[i]));
  const all = Float64Array.from(runs.flatMap((r) => r.latencies)).sort();
  return {
    rps: runs.reduce((a, r) => a + r.load.rps, 0),
    p50_ms: round(percentile(all, 0.5)),
    p90_ms: round(percentile(all, 0.9)),
    p99_ms: round(percentile(all, 0.99)),
    max_ms: round(percentile(all, 1)),
    requests,
    non2xx: runs.reduce((a, r) => a + r.load.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.load.errors, 0),
    connections: each * nodes.length,
    cpu_us_per_req: {
      nodes: nodeCpu.some((c) => c === null)
        ? null
        : round(
            (nodeCpu as number[]).reduce((a, c) => a + c, 0),
            1,
          ),
      mock: perReq(before.at(-1), after.at(-1)),
      ...(postgres ? { postgres: perReq(pgBefore, pgAfter) } : {}),
    },
    machine_cpu_busy: busyShare(machineBefore, machineAfter),
    ...(nodes.length > 1
      ? {
          per_node: runs.map((r, i) => ({
            name: nodes[i]!.target.name,
            rps: r.load.rps,
            p50_ms: r.load.p50_ms,
            p99_ms: r.load.p99_ms,
            requests: r.load.requests,
          })),
        }
      : {}),
  };
}

interface SetupFigures {
  nodes: number;
  store: string;
  /**
   * CPU the nodes spend with no request at all (store polling, change notifications, checkpoint
   * rounds, metering flushes): ms per second, summed over the nodes; and the same per request at
   * the measured rate. Per-request CPU at a low rate carries this background; net_of_idle does not.
   */
  idle: {
    cpu_ms_per_s: number | null;
    us_per_req_at_measured_rate: number | null;
    net_of_idle: number | null;
  };
  throughput: GroupLoad;
  /** Sequential requests to the first node: the latency a lone caller sees. */
  c1: { p50_ms: number; p99_ms: number; samples: number };
}

// Warm-up long enough for V8 to optimise the request path in every node: with a short one, a node
// serving fewer requests (each of N nodes gets 1/N of the load) is measured while still compiling.
// In two rounds: when the first round's connections close, V8 deoptimises the stream and socket
// paths it had optimised for open connections only ("wrong map"), and recompiles them for a second
// or two; with one round that recompilation (--trace-opt: some 0.4 s of compiler threads per node,
// every node doing its own) fell into the measurement.
const SETTINGS = { warmup_s: WARMUP_ROUNDS_S, c1_duration_s: 3, idle_s: 3 };

/** Node CPU (ms per second, summed) while no request arrives. */
async function idleCpu(nodes: readonly Node[]): Promise<number | null> {
  const before = nodes.map((n) => cpuSeconds(n.proc.pid));
  await new Promise((r) => setTimeout(r, SETTINGS.idle_s * 1000));
  const after = nodes.map((n) => cpuSeconds(n.proc.pid));
  let sum = 0;
  for (let i = 0; i < nodes.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a == null || b == null) return null;
    sum += b - a;
  }
  return round((1000 * sum) / SETTINGS.idle_s, 2);
}

async function measureSetup(
  label: string,
  store: NodeOptions["store"],
  nodes: readonly Node[],
  mockPid: number | undefined,
  options: NodeOptions,
  postgres: boolean,
): Promise<SetupFigures> {
  for (const n of nodes) await check(n.target, { "x-clearance-decision": "allow" });
  const group = nodes.map((n) => ({ target: n.target, pid: n.proc.pid }));
  for (const seconds of SETTINGS.warmup_s) {
    log(`${label}: warm-up ${seconds} s`);
    await Promise.all(
      nodes.map((n) => load(n.target, Math.max(1, Math.round(options.connections / nodes.length)), seconds)),
    );
  }
  log(`${label}: ${options.connections} connections over ${nodes.length} node(s), ${options.duration_s} s`);
  const throughput = await loadGroup(group, mockPid, options.connections, options.duration_s, postgres);
  log(
    `${label}: ${throughput.rps} req/s, p50 ${throughput.p50_ms} ms, p99 ${throughput.p99_ms} ms, ` +
      `${throughput.cpu_us_per_req.nodes} µs node CPU/req, machine ${throughput.machine_cpu_busy} busy`,
  );
  const c1 = await load(nodes[0]!.target, 1, SETTINGS.c1_duration_s);
  log(`${label}: c1 p50 ${c1.p50_ms} ms`);
  log(`${label}: idle ${SETTINGS.idle_s} s (background CPU)`);
  const idleMs = await idleCpu(nodes);
  const perReqIdle =
    idleMs === null || throughput.rps === 0 ? null : round((idleMs * 1000) / throughput.rps, 1);
  const nodesCpu = throughput.cpu_us_per_req.nodes;
  return {
    nodes: nodes.length,
    store,
    idle: {
      cpu_ms_per_s: idleMs,
      us_per_req_at_measured_rate: perReqIdle,
      net_of_idle: nodesCpu === null || perReqIdle === null ? null : round(nodesCpu - perReqIdle, 1),
    },
    throughput,
    c1: { p50_ms: c1.p50_ms, p99_ms: c1.p99_ms, samples: c1.requests },
  };
}

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a == null || b == null || b === 0 ? null : round(a / b, 2);

export async function runNodes(options: NodeOptions): Promise<number> {
  const cores = cpus().length;
  const notes: string[] = [];
  const db = options.store === "postgres" ? await freshSchema("clearance_bench") : null;
  const forget = db === null ? () => {} : onCleanup(() => db.drop());
  const localPg = db !== null && isLocal(db.url);
  if (db !== null) log(`PostgreSQL ${db.server} at ${describeDatabase(db.url)}, schema ${db.schema}`);

  const targets: Record<string, unknown> = {};
  let dropped = false;
  // The nodes sharing the store sign their audit entries with one key (the first node creates it).
  const keyDir = mkdtempSync(join(tmpdir(), "clearance-bench-key-"));
  const forgetKey = onCleanup(async () => rmSync(keyDir, { recursive: true, force: true }));
  let embedded: SetupFigures | undefined;
  let scaled: SetupFigures | undefined;
  try {
    const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
    const upstream = loopback(mock.ready.port);
    const mockPid = mock.proc.pid;
    log(`mock upstream at ${upstream}`);

    // Direct: what this load generator and mock reach without any proxy, on this machine.
    const direct: Target = { name: "direct", origin: upstream, headers: {} };
    await check(direct);
    await load(direct, options.connections, SETTINGS.warmup_s[0]!);
    const directLoad = await loadGroup(
      [{ target: direct, pid: undefined }],
      mockPid,
      options.connections,
      options.duration_s,
      false,
    );
    log(`direct: ${directLoad.rps} req/s`);
    targets.direct = {
      throughput: { ...directLoad, cpu_us_per_req: { mock: directLoad.cpu_us_per_req.mock } },
    };

    log("embedded: starting one node (SQLite)");
    const one = await startNode(upstream, "embedded", null);
    try {
      embedded = await measureSetup("embedded", "sqlite", [one], mockPid, options, false);
      targets.embedded = embedded;
    } finally {
      await stop(one.proc);
    }

    const label = `${options.store}-${options.nodes}`;
    log(`${label}: starting ${options.nodes} node(s) over ${options.store}`);
    const started: Node[] = [];
    try {
      // One after another: each migrates (a no-op after the first) and seeds the scheme.
      for (let i = 0; i < options.nodes; i++)
        started.push(await startNode(upstream, `node-${i + 1}`, db, join(keyDir, "audit.key")));
      scaled = await measureSetup(label, options.store, started, mockPid, options, localPg);
      targets[label] = scaled;
    } finally {
      await Promise.all(started.map((n) => stop(n.proc)));
    }
    await stop(mock.proc);
  } finally {
    forget();
    forgetKey();
    rmSync(keyDir, { recursive: true, force: true });
    await db
      ?.drop()
      .then(() => (dropped = true))
      .catch((err: unknown) => log(`dropping ${db.schema} failed: ${String(err)}`));
  }

  const e = embedded!.throughput;
  const s = scaled!.throughput;
  const ratios = {
    rps_nodes_vs_embedded: ratio(s.rps, e.rps),
    ideal_rps_ratio_with_enough_cores: options.nodes,
    node_cpu_per_req_vs_embedded: ratio(s.cpu_us_per_req.nodes, e.cpu_us_per_req.nodes),
    node_cpu_per_req_net_of_idle_vs_embedded: ratio(scaled!.idle.net_of_idle, embedded!.idle.net_of_idle),
    p50_nodes_vs_embedded: ratio(s.p50_ms, e.p50_ms),
    p99_nodes_vs_embedded: ratio(s.p99_ms, e.p99_ms),
  };
  notes.push(
    `${cores} cores shared by everything: autocannon (this process), the mock, the Clearance node(s)` +
      (localPg ? " and PostgreSQL" : "") +
      `. ${options.nodes} nodes cannot use more CPU than one node already could when the machine is saturated ` +
      `(machine busy: embedded ${e.machine_cpu_busy ?? "n/a"}, ${options.nodes} nodes ${s.machine_cpu_busy ?? "n/a"}); ` +
      "req/s here says what this machine gives, not what N machines would: compare CPU per request",
    `same total load for both: ${options.connections} connections (${s.connections / options.nodes} per node over ${options.nodes} nodes), one autocannon instance per node running at the same time, rates summed, latencies (2xx) summarized together`,
    "nodes: bench/gateway-clearance.ts as in the default run (policy, metering flushed every 1 s, the durable audit entry per request wherever this build keeps the audit log, store changes picked up as this build does); the PostgreSQL nodes share one fresh schema and one audit signing key, and each has its own API key for alice",
    "order: direct, then the embedded node, then the PostgreSQL nodes; machine load drifts between phases",
    `idle: after the load, ${SETTINGS.idle_s} s with no request, the nodes' CPU (polling the store's version ~10 times a second, the change listener, checkpoint rounds, metering flushes); net_of_idle subtracts that background, at the measured rate, from the CPU per request. Warm-up ${SETTINGS.warmup_s.join(" s + ")} s (two rounds of connections) before measuring, so that every node's request path is optimised by V8 and the recompilation after the first connections close is over`,
  );
  if (localPg)
    notes.push(
      "cpu_us_per_req.postgres: every process named postgres on this machine, other databases' work included",
    );
  for (const [name, f] of [
    ["embedded", e],
    ["nodes", s],
  ] as const) {
    if (f.non2xx + f.errors > 0) notes.push(`${name}: ${f.non2xx} non-2xx and ${f.errors} errors under load`);
  }
  const busy = loadavg()[0] ?? 0;
  if (busy > cores) notes.push(`machine busy: 1-min load average ${round(busy, 1)} on ${cores} cores`);

  const out = {
    ...resultHead("gateway-nodes"),
    loadavg: loadavg().map((x) => round(x, 2)),
    settings: { ...options, ...SETTINGS, mock_chunk_gap_ms: 2 },
    ...(db === null
      ? {}
      : { database: { server: describeDatabase(db.url), version: db.server, schema: db.schema, dropped } }),
    targets,
    ratios,
    notes,
  };
  const path = writeResult("gateway-nodes", out);
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}
