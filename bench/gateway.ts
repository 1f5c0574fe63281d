/**
 * `npm run bench:gateway`: the cost of putting Clearance in front of a model API. One load
 * generator (autocannon, in this process), one mock upstream (its own process), and side by side:
 * (a) direct to the mock, (b) a bare node:http + undici pass-through (the limit on this runtime),
 * (c) Clearance with policy and metering on, (d) the Portkey gateway from npm. Each proxy runs in
 * its own process, started just before it is measured and stopped right after, so that idle timers
 * of one never run on the clock of another.
 *
 * Per target: req/s and p50/p99 at 50 connections (after a warm-up), latency at concurrency 1, and
 * time to the first streamed chunk; "added" figures are the target's minus direct. Prints one JSON
 * line on stdout (progress on stderr) and writes bench/results/gateway.json.
 *
 * The bare proxy's own cost moves by a factor of two between runs minutes apart on a shared virtual
 * machine, so a ratio of one run of each is as noisy. The ratios the goals are judged on come from
 * bursts (gateway-bursts.ts): after the side-by-side run, the bare proxy and Clearance are started
 * again side by side, warmed up, and take 3-second bursts of load in turn (BENCH_GATEWAY_BURSTS
 * rounds, default 12; 0 skips), each round giving its own ratios, and the medians of those are
 * taken (`paired`). Until 6 December 2026 these were three pairs of fresh processes, 6 s each.
 *
 * Env: BENCH_GATEWAY_TARGETS=bare,clearance (a subset; direct always runs), BENCH_GATEWAY_PROFILE=dir
 * (run the bare proxy and Clearance under `node --cpu-prof`, writing dir/<name>.cpuprofile, for
 * `node dist/bench/gateway-profile.js dir`; such runs do not write bench/results/).
 *
 * `-- --nodes N --store postgres` runs the scale-out comparison instead (gateway-nodes.ts): one
 * embedded node against N nodes over one PostgreSQL, writing bench/results/gateway-nodes.json.
 * `-- --against DIR` compares this build's CPU per request with another built checkout's
 * (gateway-ab.ts), in alternating bursts of load, writing bench/results/gateway-ab.json.
 */
import { constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  WARMUP_ROUNDS_S,
  check,
  firstChunk,
  load,
  round,
  warmUp,
  type Latency,
  type Load,
  type Target,
} from "./gateway-measure.js";
import { abOptions, runAb, type AbOptions } from "./gateway-ab.js";
import {
  burstRatios,
  burstSummary,
  ratioSummary,
  runBursts,
  type Burst,
  type Contender,
} from "./gateway-bursts.js";
import { startPortkey } from "./gateway-portkey.js";
import { nodeOptions, runNodes, type NodeOptions } from "./gateway-nodes.js";
import { resultHead } from "./results.js";
import {
  cpuSeconds,
  forkChild,
  killAllNow,
  log,
  repoRoot,
  runCleanups,
  stop,
  stopAll,
} from "./gateway-procs.js";

const SETTINGS = {
  connections: 50,
  warmup_s: WARMUP_ROUNDS_S,
  duration_s: 8,
  c1_duration_s: 3,
  stream_requests: 300,
  stream_warmup: 20,
  /** Rounds of bursts of the bare proxy and Clearance for the paired ratios (see the top of this file). */
  burst_rounds: envCount("BENCH_GATEWAY_BURSTS", 12),
  burst_s: 3,
  /** Pause between the disk probe's spaced writes: about one streamed request's length at the mock. */
  disk_idle_ms: 10,
  /** Gap between streamed chunks at the mock, so that buffering a stream shows. */
  mock_chunk_gap_ms: 2,
};
// Issue 14's targets.
const GOALS = {
  vs_portkey: 10,
  vs_bare: 0.7,
  added_c1_p50_ms: 0.25,
  added_c1_p99_ms: 0.6,
  added_first_chunk_ms: 0.5,
  cpu_vs_bare: 2,
};

interface Started {
  readonly target: Target;
  /** Response headers the check requires. */
  readonly expect?: Record<string, string>;
  readonly info?: Record<string, unknown>;
  /** The process doing the target's work (none for direct: that is the mock). */
  readonly pid?: number;
  close(): Promise<void>;
}

interface Figures {
  /** cpu_us_per_req: CPU time (user + system) per request under load, of the target and of the mock. */
  throughput: Load & { cpu_us_per_req: { target: number | null; mock: number | null } };
  c1: Latency;
  first_chunk: Latency;
  /** Direct to the mock, measured just before the target's c1 and stream phases: what "added" subtracts. */
  baseline?: { c1: Latency; first_chunk: Latency };
  added?: { c1_p50_ms: number; c1_p99_ms: number; first_chunk_p50_ms: number; first_chunk_p99_ms: number };
  [info: string]: unknown;
}

const loopback = (port: number) => `http://127.0.0.1:${port}`;

function envCount(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a whole number ≥ 0, not ${JSON.stringify(v)}`);
  return n;
}

/**
 * The disk's own latency for what the audit log does per group commit: a small write with O_DSYNC,
 * on the file system the bench's data directories are on, over room written in advance (as the
 * write-ahead file writes its records), and appended (as it did before it kept room ahead). No
 * durable record can be faster, so it is the floor of Clearance's added latency at concurrency 1.
 */
async function diskSyncWrite(samples = 200): Promise<Latency & { appended: Latency; idle: Latency }> {
  const dir = mkdtempSync(join(tmpdir(), "clearance-bench-disk-"));
  const record = Buffer.alloc(600, 1);
  const time = async (reserved: boolean, pauseMs = 0): Promise<Latency> => {
    const path = join(dir, reserved ? "reserved" : "appended");
    if (reserved) {
      writeFileSync(path, Buffer.alloc(samples * record.length, 0xff));
      const sync = await open(path, "r+");
      await sync.datasync();
      await sync.close();
    }
    const fh = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC | (reserved ? 0 : constants.O_APPEND),
    );
    const times: number[] = [];
    try {
      for (let i = 0; i < samples; i++) {
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        const t0 = performance.now();
        await fh.write(record, 0, record.length, reserved ? i * record.length : null);
        times.push(performance.now() - t0);
      }
    } finally {
      await fh.close();
    }
    times.sort((a, b) => a - b);
    const at = (p: number) =>
      round(times[Math.min(times.length - 1, Math.floor(p * times.length))] as number);
    return { p50_ms: at(0.5), p99_ms: at(0.99), samples };
  };
  try {
    const appended = await time(false);
    const warm = await time(true);
    // The same write after the disk has been left alone as long as between two streamed requests:
    // on a virtual disk it is several times slower than back to back.
    const idle = await time(true, SETTINGS.disk_idle_ms);
    return { ...warm, appended, idle };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Node flags that write `<dir>/<name>.cpuprofile` when the child exits (it exits normally on SIGTERM). */
function profiler(name: string): string[] {
  const dir = process.env.BENCH_GATEWAY_PROFILE;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(dir)}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

const STARTERS: Record<string, (upstream: string) => Promise<Started>> = {
  direct: async (origin) => ({ target: { name: "direct", origin, headers: {} }, close: async () => {} }),
  bare: async (upstream) => {
    const { proc, ready } = await forkChild<{ port: number }>("gateway-bare", [upstream], profiler("bare"));
    const target = { name: "bare", origin: loopback(ready.port), headers: {} };
    return { target, pid: proc.pid, close: () => stop(proc) };
  },
  clearance: async (upstream) => {
    const { proc, ready } = await forkChild<{ port: number; key: string }>(
      "gateway-clearance",
      [`${upstream}/v1`],
      profiler("clearance"),
    );
    return {
      target: {
        name: "clearance",
        origin: loopback(ready.port),
        headers: { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" },
      },
      expect: { "x-clearance-decision": "allow" },
      pid: proc.pid,
      close: () => stop(proc),
    };
  },
  portkey: async (upstream) => {
    const portkey = await startPortkey();
    return {
      target: {
        name: "portkey",
        origin: portkey.url,
        headers: {
          authorization: "Bearer sk-bench-not-a-key",
          "x-portkey-provider": "openai",
          "x-portkey-custom-host": `${upstream}/v1`,
        },
      },
      info: { version: portkey.version, listening: portkey.listening },
      ...(portkey.pid === undefined ? {} : { pid: portkey.pid }),
      close: () => portkey.close(),
    };
  },
};

const c1 = async (t: Target): Promise<Latency> => {
  const { p50_ms, p99_ms, requests } = await load(t, 1, SETTINGS.c1_duration_s);
  return { p50_ms, p99_ms, samples: requests };
};
const stream = (t: Target) => firstChunk(t, SETTINGS.stream_requests, SETTINGS.stream_warmup);

/**
 * A target's figures. With `direct`, the latency phases are each preceded by the same phase
 * direct to the mock, so that "added" compares runs minutes apart as little as possible (other work
 * on the machine drifts).
 */
async function measure(started: Started, mockPid: number | undefined, direct?: Target): Promise<Figures> {
  const t = started.target;
  await check(t, started.expect);
  await warmUp(t, SETTINGS.connections, log);
  log(`${t.name}: ${SETTINGS.connections} connections, ${SETTINGS.duration_s} s`);
  const pids = [started.pid ?? mockPid, mockPid];
  const before = pids.map(cpuSeconds);
  const loaded = await load(t, SETTINGS.connections, SETTINGS.duration_s);
  const [target, mock] = pids.map((pid, i) => {
    const [a, b] = [before[i], cpuSeconds(pid)];
    return a == null || b == null || loaded.requests === 0
      ? null
      : round((1e6 * (b - a)) / loaded.requests, 1);
  });
  const throughput = { ...loaded, cpu_us_per_req: { target: target ?? null, mock: mock ?? null } };
  log(`${t.name}: ${throughput.rps} req/s, p50 ${throughput.p50_ms} ms, ${target} µs CPU/req; concurrency 1`);
  const baseC1 = direct && (await c1(direct));
  const ownC1 = await c1(t);
  const vs = (base?: Latency) => (base ? ` (direct ${base.p50_ms} ms)` : "");
  log(`${t.name}: c1 p50 ${ownC1.p50_ms} ms${vs(baseC1)}; first streamed chunk`);
  const baseStream = direct && (await stream(direct));
  const first_chunk = await stream(t);
  log(`${t.name}: first chunk p50 ${first_chunk.p50_ms} ms${vs(baseStream)}`);
  const baseline = baseC1 && baseStream ? { baseline: { c1: baseC1, first_chunk: baseStream } } : {};
  return { throughput, c1: ownC1, first_chunk, ...baseline, ...started.info };
}

/**
 * The bare proxy and Clearance side by side, then `rounds` rounds of short bursts of load on each in
 * turn (gateway-bursts.ts): each round's own ratios of CPU per request and of req/s, and their
 * medians. Drift on the machine falls on both bursts of a round alike.
 */
async function paired(upstream: string, rounds: number) {
  const started: Started[] = [];
  try {
    const contenders: Contender[] = [];
    for (const name of ["bare", "clearance"] as const) {
      const s = await STARTERS[name]!(upstream);
      started.push(s);
      await check(s.target, s.expect);
      contenders.push({ name, pid: s.pid as number, target: s.target });
    }
    const b = await runBursts(contenders, rounds, SETTINGS.burst_s, SETTINGS.connections, log);
    const [bare, clearance] = [b.bare as Burst[], b.clearance as Burst[]];
    return {
      rounds,
      burst_s: SETTINGS.burst_s,
      cpu_per_req_clearance_vs_bare: ratioSummary(burstRatios(clearance, bare, "cpu_us_per_req")),
      throughput_clearance_vs_bare: ratioSummary(burstRatios(clearance, bare, "rps")),
      bare: burstSummary(bare),
      clearance: burstSummary(clearance),
      bursts: b,
    };
  } finally {
    for (const s of started) await s.close();
  }
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? null : round(a / b, 2);

function goal(value: number | null | undefined, op: ">=" | "<=", limit: number) {
  const v = value ?? null;
  return { goal: `${op} ${limit}`, value: v, met: v === null ? null : op === ">=" ? v >= limit : v <= limit };
}

async function main(): Promise<number> {
  const only = process.env.BENCH_GATEWAY_TARGETS?.split(",").map((s) => s.trim());
  const names = Object.keys(STARTERS).filter((n) => n === "direct" || !only || only.includes(n));
  const notes: string[] = [
    `${cpus().length} cores shared by autocannon (this process), the mock and the target: figures are relative to each other, not absolute capacity`,
    "bare: node:http + undici Pool (128 connections, as Clearance's openai provider), request body buffered, status, content-type and content-length passed on, body relayed with backpressure",
    "clearance: as built from src/ with defaults (here: decision, audit-log entry made durable in parallel with the upstream call and before any byte of the answer is relayed, metering flushed to SQLite every 1 s, store polled every 100 ms); example scheme g7-trusted-partners, principal alice (US) with an API key, x-demo-country trusted from loopback",
    "added: the target minus direct to the mock, each latency phase of direct run again just before the target's",
    `mock: chunks ${SETTINGS.mock_chunk_gap_ms} ms apart after the first, so a proxy that buffers streams shows as added time to the first chunk`,
  ];

  const mock = await forkChild<{ port: number }>("gateway-mock", [String(SETTINGS.mock_chunk_gap_ms)]);
  const upstream = loopback(mock.ready.port);
  log(`mock upstream at ${upstream}`);
  const direct: Target = { name: "direct", origin: upstream, headers: {} };

  const disk = await diskSyncWrite();
  log(
    `disk: O_DSYNC write of 600 bytes p50 ${disk.p50_ms} ms, p99 ${disk.p99_ms} ms (appended: ${disk.appended.p50_ms} / ${disk.appended.p99_ms} ms; after ${SETTINGS.disk_idle_ms} ms idle: ${disk.idle.p50_ms} / ${disk.idle.p99_ms} ms)`,
  );
  notes.push(
    `disk_sync_write: one 600-byte O_DSYNC write over room written in advance (what the audit log's group commit costs; appended: the same write growing the file) on this machine's disk, measured in this run: the floor of any durable record's added latency at concurrency 1`,
  );
  const targets: Record<string, Figures | { error: string }> = {};
  for (const name of names) {
    let started: Started | undefined;
    try {
      log(`${name}: starting`);
      started = await STARTERS[name]!(upstream);
      targets[name] = await measure(started, mock.proc.pid, name === "direct" ? undefined : direct);
    } catch (err) {
      if (name === "direct") throw err;
      // The first lines say what failed (npm's full output follows them).
      const error = (err as Error).message.split("\n").slice(0, 4).join(" | ").slice(0, 500);
      targets[name] = { error };
      log(`${name}: failed: ${(err as Error).message}`);
    } finally {
      await started?.close();
    }
  }

  const fig = (n: string) => (targets[n] && "throughput" in targets[n] ? (targets[n] as Figures) : undefined);
  const pairs =
    SETTINGS.burst_rounds > 0 &&
    fig("bare") &&
    fig("clearance") &&
    process.env.BENCH_GATEWAY_PROFILE === undefined
      ? await paired(upstream, SETTINGS.burst_rounds)
      : null;
  for (const n of names.filter((n) => n !== "direct")) {
    const f = fig(n);
    if (!f?.baseline) continue;
    const base = f.baseline;
    f.added = {
      c1_p50_ms: round(f.c1.p50_ms - base.c1.p50_ms),
      c1_p99_ms: round(f.c1.p99_ms - base.c1.p99_ms),
      first_chunk_p50_ms: round(f.first_chunk.p50_ms - base.first_chunk.p50_ms),
      first_chunk_p99_ms: round(f.first_chunk.p99_ms - base.first_chunk.p99_ms),
    };
    if (f.throughput.non2xx + f.throughput.errors > 0) {
      notes.push(`${n}: ${f.throughput.non2xx} non-2xx and ${f.throughput.errors} errors under load`);
    }
  }
  const rps = (n: string) => fig(n)?.throughput.rps;
  const cpu = (n: string) => fig(n)?.throughput.cpu_us_per_req.target ?? undefined;
  const ratios = {
    clearance_vs_portkey: ratio(rps("clearance"), rps("portkey")),
    clearance_vs_bare: ratio(rps("clearance"), rps("bare")),
    bare_vs_direct: ratio(rps("bare"), rps("direct")),
    portkey_vs_bare: ratio(rps("portkey"), rps("bare")),
    // CPU per request relative to bare: steadier than req/s when other work shares the machine.
    cpu_per_req_clearance_vs_bare: ratio(cpu("clearance"), cpu("bare")),
    cpu_per_req_portkey_vs_clearance: ratio(cpu("portkey"), cpu("clearance")),
  };
  const added = fig("clearance")?.added;
  const goals = {
    throughput_vs_portkey: goal(ratios.clearance_vs_portkey, ">=", GOALS.vs_portkey),
    throughput_vs_bare: goal(
      pairs?.throughput_clearance_vs_bare.median ?? ratios.clearance_vs_bare,
      ">=",
      GOALS.vs_bare,
    ),
    added_c1_p50_ms: goal(added?.c1_p50_ms, "<=", GOALS.added_c1_p50_ms),
    added_c1_p99_ms: goal(added?.c1_p99_ms, "<=", GOALS.added_c1_p99_ms),
    cpu_per_req_vs_bare: goal(
      pairs?.cpu_per_req_clearance_vs_bare.median ?? ratios.cpu_per_req_clearance_vs_bare,
      "<=",
      GOALS.cpu_vs_bare,
    ),
    added_first_chunk_p50_ms: goal(added?.first_chunk_p50_ms, "<=", GOALS.added_first_chunk_ms),
  };
  const listening = fig("portkey")?.listening;
  if (listening !== undefined) {
    notes.push(
      `portkey: start-server.js has no host option (it listens on all interfaces); bound to loopback by a preloaded listen() shim, listening on ${JSON.stringify(listening)}`,
    );
  }
  if (pairs !== null) {
    notes.push(
      `paired: the bare proxy and Clearance started again side by side, warmed up, then ${pairs.rounds} rounds of a ${pairs.burst_s} s burst of load on each in turn (the order alternating); throughput_vs_bare and cpu_per_req_vs_bare are judged on the median of the rounds' own ratios`,
    );
  }
  const idle = disk.idle.p50_ms;
  notes.push(
    `disk_sync_write.idle: the same write after ${SETTINGS.disk_idle_ms} ms without disk writes, about the pause between two streamed requests in the first-chunk phase; no byte of an answer goes before its durable record, so this is the floor of Clearance's added time to the first chunk in this run (p50 ${idle} ms)`,
  );
  if (Object.values(goals).some((g) => g.met === null))
    notes.push("goals with met: null could not be measured");
  const busy = loadavg()[0] ?? 0;
  if (busy > cpus().length) {
    notes.push(`machine busy: 1-min load average ${round(busy, 1)} on ${cpus().length} cores during the run`);
  }
  // A subset, or Clearance under the profiler, is not a result to keep: only the line is printed.
  const partial = only !== undefined || process.env.BENCH_GATEWAY_PROFILE !== undefined;
  if (partial) notes.push("partial or profiled run: bench/results/gateway.json not written");

  const out = {
    ...resultHead("gateway"),
    loadavg: loadavg().map((x) => round(x, 2)),
    settings: SETTINGS,
    disk_sync_write: disk,
    targets,
    ratios,
    paired: pairs,
    added: Object.fromEntries(names.filter((n) => fig(n)?.added).map((n) => [n, fig(n)!.added])),
    goals,
    notes,
  };
  if (!partial) {
    const dir = join(repoRoot(), "bench", "results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "gateway.json"), `${JSON.stringify(out, null, 2)}\n`);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllNow();
    void runCleanups().finally(() => process.exit(130));
  });
}
let scale: NodeOptions | null = null;
let ab: AbOptions | null = null;
try {
  ab = abOptions(process.argv.slice(2));
  if (ab === null) scale = nodeOptions(process.argv.slice(2));
} catch (err) {
  log((err as Error).message);
  process.exit(2);
}
(ab !== null ? runAb(ab) : scale === null ? main() : runNodes(scale))
  .then(async (code) => {
    await stopAll();
    await runCleanups();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    await stopAll().catch(() => killAllNow());
    await runCleanups();
    process.exit(1);
  });
