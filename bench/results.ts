/**
 * Measurement helpers shared by the benchmarks: a throughput loop, per-call latency with
 * `process.hrtime.bigint()`, the timer's own cost, percentiles, and writing bench/results/.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** A call under test; returns a number so the work cannot be optimised away. */
export type Run = (i: number) => number;

/** Anything the runs return is summed here and printed, so no result is ever dead code. */
export let sink = 0;

/** What every result starts with: which benchmark, when, and on what (Node, CPU model, cores). */
export function resultHead(bench: string, date = new Date()) {
  const cores = cpus();
  return {
    bench,
    date: date.toISOString(),
    node: process.version,
    cpu: cores[0]?.model ?? "unknown",
    cores: cores.length,
  };
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Full collection between phases, so one phase's garbage is not collected on the next one's clock. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) log("global.gc is not exposed (run with --expose-gc); phases may share GC work");
  else gc();
}

export interface Rate {
  /** Calls per wall-clock second. */
  readonly perSec: number;
  /**
   * Calls per second of process CPU time (user + system, all threads: V8's GC helpers count too).
   * On a machine shared with other work the wall-clock rate drops but this one holds up.
   */
  readonly perCpuSec: number;
  /** CPU time over wall time: near 1 when the benchmark had a core to itself. */
  readonly cpuShare: number;
  readonly calls: number;
}

/** Calls per second over `count` inputs: whole passes over them, at least one, for about `seconds`. */
export function throughput(count: number, seconds: number, run: Run): Rate {
  const budget = BigInt(Math.round(seconds * 1e9));
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  let now = start;
  let calls = 0;
  let acc = 0;
  do {
    for (let i = 0; i < count; i++) acc += run(i);
    calls += count;
    now = process.hrtime.bigint();
  } while (now - start < budget);
  const cpu = process.cpuUsage(cpu0);
  sink += acc;
  const wall = Number(now - start) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { perSec: calls / wall, perCpuSec: calls / cpuSeconds, cpuShare: cpuSeconds / wall, calls };
}

/** Microseconds per call, each call timed on its own; `samples` calls cycling over `count` inputs. */
export function latencies(count: number, samples: number, run: Run): Float64Array {
  const out = new Float64Array(samples);
  let acc = 0;
  for (let k = 0; k < samples; k++) {
    const i = k % count;
    const t0 = process.hrtime.bigint();
    acc += run(i);
    const t1 = process.hrtime.bigint();
    out[k] = Number(t1 - t0) / 1000;
  }
  sink += acc;
  return out;
}

export interface Percentiles {
  readonly p50_us: number;
  readonly p99_us: number;
  readonly p999_us: number;
  readonly max_us: number;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

export function percentiles(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50_us: round(at(0.5)), p99_us: round(at(0.99)), p999_us: round(at(0.999)), max_us: round(at(1)) };
}

/** The empty timed call: what the two hrtime reads and the call itself add to every latency sample. */
/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function timerOverhead(samples: number): Percentiles {
  return percentiles(latencies(1, samples, () => 0));
}

/** The repository root: the nearest directory above this file holding package.json (src or dist). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("bench: no package.json above the benchmark");
    dir = up;
  }
  return dir;
}

/** Writes bench/results/<name>.json under the repository root; returns the path, relative. */
export function writeResult(name: string, result: unknown): string {
  const dir = resolve(repoRoot(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return join("bench", "results", `${name}.json`);
}

export { round };
