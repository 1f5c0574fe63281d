/**
 * `npm run bench:gateway:cpu`: where the bare proxy's and Clearance's CPU time goes, per request,
 * under the load of bench:gateway (50 connections against the same mock). Each target runs in its
 * own process under `node --perf-basic-prof` (so that JavaScript frames have names) and is sampled
 * by Linux `perf record -e cpu-clock` (time on the CPU only, every thread of the process) while the
 * load runs. The samples are sorted three ways, each in µs per request:
 *   - by kind: the main thread's JavaScript, V8's builtins, Node's and V8's C++, the garbage
 *     collector, the kernel (system calls), libraries; other threads (the thread pool's disk writes,
 *     V8's compiler and GC helpers) apart;
 *   - the kernel's share by system call;
 *   - the main thread's samples by the nearest JavaScript file on the stack (what a change there
 *     would save, its builtins, C++ and system calls included).
 * This is the evidence the issue asks for ("profile the request path"): sampled figures, steadier
 * than a whole-process profile under V8's own profiler, which samples wall time.
 *
 * Needs `perf` (Debian: linux-perf) and permission to record another process; without them it says
 * so and exits 2. Prints one JSON line; writes bench/results/gateway-cpu.json.
 * Env: BENCH_GATEWAY_CPU_SECONDS (default 8).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { check, load, round, warmUp, type Target } from "./gateway-measure.js";
import { cpuSeconds, forkChild, log, runBench, stop } from "./gateway-procs.js";
import { resultHead, writeResult } from "./results.js";

const V8_PERF_MAPS = "/tmp";
const FREQUENCY = 2000; // samples a second: one sample is 500 µs of CPU
const SECONDS = Number(process.env.BENCH_GATEWAY_CPU_SECONDS ?? 8);

type Tally = Map<string, number>;

interface Breakdown {
  readonly requests: number;
  readonly rps: number;
  /** CPU time per request from /proc over the same seconds (user + system, all threads). */
  readonly cpu_us_per_req: number;
  /** What the samples add up to, per request (close to the above when nothing was lost). */
  readonly sampled_us_per_req: number;
  readonly by_kind: Record<string, number>;
  readonly kernel_by_syscall: Record<string, number>;
  readonly main_thread_by_js_file: Record<string, number>;
}

/** A stack frame as `perf script` prints it: address, symbol, and the object it is in. */
interface Frame {
  readonly sym: string;
  readonly dso: string;
}

function kindOf(leaf: Frame): string {
  const { sym, dso } = leaf;
  if (dso.includes("kernel.kallsyms") || dso === "[unknown]") return "kernel";
  if (dso.includes("/perf-") || dso.includes("[JIT]")) return "JavaScript";
  if (/\/node$|\/nodejs$/.test(dso)) {
    if (sym.startsWith("Builtins_")) return "V8 builtins";
    if (/Scaveng|MarkCompact|Sweep|Marking|Evacuat|Heap::|GCTracer|ArrayBufferSweeper/.test(sym))
      return "garbage collector";
    if (/compiler::|Compile|maglev|Turbofan|Pipeline/.test(sym)) return "compiler";
    return "Node and V8 C++";
  }
  if (dso.includes("libc.so")) return "libc";
  return "other libraries";
}

/** The system call a kernel sample is in: the frame two below the syscall entry. */
function syscallOf(frames: readonly Frame[]): string {
  const entry = frames.findIndex((f) => f.sym.startsWith("entry_SYSCALL"));
  if (entry < 2) return "(interrupt or fault)";
  return (frames[entry - 2] as Frame).sym.replace(/^(__x64_sys_|__do_sys_|ksys_|do_)/, "");
}

/** The file of the innermost JavaScript frame, shortened to what a reader recognises. */
function jsFileOf(frames: readonly Frame[]): string | null {
  for (const f of frames) {
    if (!(f.dso.includes("/perf-") || f.dso.includes("[JIT]")) || !f.sym.startsWith("JS:")) continue;
    const m = /\s(\S+?):\d+:\d+$/.exec(f.sym);
    const file = m?.[1] ?? f.sym;
    return file.replace(/^.*\/node_modules\//, "").replace(/^.*\/dist\//, "");
  }
  return null;
}

const add = (t: Tally, key: string) => t.set(key, (t.get(key) ?? 0) + 1);

function perRequest(t: Tally, requests: number, top: number): Record<string, number> {
  return Object.fromEntries(
    [...t]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n]) => [k, round((n * 1e6) / FREQUENCY / requests, 2)]),
  );
}

/** Reads `perf script` output sample by sample (blank-line separated, leaf frame first). */
async function tally(
  data: string,
  requests: number,
): Promise<Omit<Breakdown, "requests" | "rps" | "cpu_us_per_req">> {
  const kinds: Tally = new Map();
  const syscalls: Tally = new Map();
  const files: Tally = new Map();
  let samples = 0;
  let thread: "main" | "other threads" = "main";
  let frames: Frame[] = [];
  const done = () => {
    const leaf = frames[0];
    if (leaf !== undefined) {
      samples++;
      const kind = kindOf(leaf);
      add(kinds, `${thread}: ${kind}`);
      if (kind === "kernel") add(syscalls, `${thread}: ${syscallOf(frames)}`);
      if (thread === "main") add(files, jsFileOf(frames) ?? `(no JavaScript frame: ${kind})`);
    }
    frames = [];
  };
  const perf = spawn("perf", ["script", "-i", data, "-F", "pid,tid,ip,sym,dso"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  for await (const line of createInterface({ input: perf.stdout })) {
    if (line.trim() === "") {
      done();
      continue;
    }
    const head = /^\s*(\d+)\/(\d+)\s*$/.exec(line);
    if (head !== null) {
      done();
      thread = head[1] === head[2] ? "main" : "other threads";
      continue;
    }
    const frame = /^\s*[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
    if (frame !== null) frames.push({ sym: frame[1] as string, dso: frame[2] as string });
  }
  done();
  return {
    sampled_us_per_req: round((samples * 1e6) / FREQUENCY / requests, 1),
    by_kind: perRequest(kinds, requests, 30),
    kernel_by_syscall: perRequest(syscalls, requests, 15),
    main_thread_by_js_file: perRequest(files, requests, 30),
  };
}

async function breakdown(name: "bare" | "clearance", upstream: string, dir: string): Promise<Breakdown> {
  const clearance = name === "clearance";
  const { proc, ready } = await forkChild<{ port: number; key?: string }>(
    clearance ? "gateway-clearance" : "gateway-bare",
    [clearance ? `${upstream}/v1` : upstream],
    ["--perf-basic-prof"],
  );
  try {
    const t: Target = {
      name,
      origin: `http://127.0.0.1:${ready.port}`,
      headers: clearance ? { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" } : {},
    };
    await check(t, clearance ? { "x-clearance-decision": "allow" } : {});
    await warmUp(t, 50, log);
    const data = join(dir, `${name}.data`);
    const recorder = spawn(
      "perf",
      ["record", "-q", "-e", "cpu-clock", "-F", String(FREQUENCY), "-g", "-p", String(proc.pid), "-o", data],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let errors = "";
    recorder.stderr.on("data", (b: Buffer) => (errors += b.toString()));
    await new Promise((r) => setTimeout(r, 300)); // perf attaches
    const before = cpuSeconds(proc.pid);
    log(`${name}: 50 connections, ${SECONDS} s under perf`);
    const r = await load(t, 50, SECONDS);
    const after = cpuSeconds(proc.pid);
    recorder.kill("SIGINT");
    // perf writes its file and exits on SIGINT (by the signal, or with 0).
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
      recorder.once("exit", (c, s) => res([c, s])),
    );
    if (!(code === 0 || signal === "SIGINT") || !existsSync(data))
      throw new Error(`perf record failed (${code ?? signal}): ${errors.trim().slice(0, 300)}`);
    if (before === null || after === null || r.requests === 0) throw new Error(`${name}: nothing measured`);
    const figures = await tally(data, r.requests);
    return {
      requests: r.requests,
      rps: r.rps,
      cpu_us_per_req: round((1e6 * (after - before)) / r.requests, 1),
      ...figures,
    };
  } finally {
    await stop(proc);
    // V8 writes its symbol map for perf to a fixed place (not the temporary directory's setting).
    rmSync(join(V8_PERF_MAPS, `perf-${proc.pid}.map`), { force: true });
  }
}

async function main(): Promise<number> {
  const probe = spawnSync("perf", ["--version"], { encoding: "utf8" });
  if (probe.status !== 0) {
    log("perf is not installed (Debian: apt-get install linux-perf): nothing measured");
    return 2;
  }
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "clearance-bench-cpu-"));
  try {
    const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
    const upstream = `http://127.0.0.1:${mock.ready.port}`;
    const bare = await breakdown("bare", upstream, dir);
    const clearance = await breakdown("clearance", upstream, dir);
    await stop(mock.proc);
    const extra = Object.fromEntries(
      [...new Set([...Object.keys(clearance.by_kind), ...Object.keys(bare.by_kind)])]
        .map((k) => [k, round((clearance.by_kind[k] ?? 0) - (bare.by_kind[k] ?? 0), 1)] as const)
        .sort((a, b) => b[1] - a[1]),
    );
    const out = {
      ...resultHead("gateway-cpu"),
      load_before: load0.map((x) => round(x, 2)),
      load_after: loadavg().map((x) => round(x, 2)),
      seconds: SECONDS,
      sample_us: 1e6 / FREQUENCY,
      bare,
      clearance,
      clearance_minus_bare_by_kind: extra,
      notes: [
        "µs per request: perf cpu-clock samples of the target's process (all its threads) during the load, times the sampling period, over the requests answered",
        "main thread by JS file: each main-thread sample goes to the innermost JavaScript frame on its stack, so a file's figure includes the builtins, C++ and system calls it called",
        "perf's own overhead makes both targets slower than in bench:gateway; compare them with each other",
      ],
    };
    writeResult("gateway-cpu", out);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
