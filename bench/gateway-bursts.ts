/**
 * Comparing proxies' CPU per request on a machine whose speed drifts over minutes: every contender
 * runs side by side, warmed up first, then each in turn takes a short burst of load, the order
 * alternating, many times. Bursts seconds apart see the same machine, so each round of bursts gives
 * its own ratio; the medians of those ratios are what a comparison reports. Used by `bench:gateway`
 * (the bare proxy against Clearance, the ratios its goals are judged on) and by `--against` (this
 * build against another).
 */
import { load, round, warmUp, type Target } from "./gateway-measure.js";
import { cpuSeconds } from "./gateway-procs.js";
import { median } from "./results.js";

export interface Contender {
  readonly name: string;
  /** The process whose CPU time is read. */
  readonly pid: number;
  readonly target: Target;
}

export interface Burst {
  readonly rps: number;
  readonly cpu_us_per_req: number;
}

/** Warms each contender up, then `rounds` rounds in which each takes `seconds` of load in turn. */
export async function runBursts(
  contenders: readonly Contender[],
  rounds: number,
  seconds: number,
  connections: number,
  say: (line: string) => void = () => {},
): Promise<Record<string, Burst[]>> {
  for (const c of contenders) await warmUp(c.target, connections, say);
  const out: Record<string, Burst[]> = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let i = 0; i < rounds; i++) {
    for (const c of i % 2 === 0 ? contenders : [...contenders].reverse()) {
      const before = cpuSeconds(c.pid);
      const r = await load(c.target, connections, seconds);
      const after = cpuSeconds(c.pid);
      if (before === null || after === null || r.requests === 0)
        throw new Error(`${c.name}: nothing measured`);
      out[c.name]?.push({ rps: r.rps, cpu_us_per_req: round((1e6 * (after - before)) / r.requests, 1) });
    }
    say(
      `burst round ${i + 1} of ${rounds}: ${contenders.map((c) => `${c.name} ${out[c.name]?.[i]?.cpu_us_per_req} µs`).join(", ")}`,
    );
  }
  return out;
}

/** Each round's `a` over its `b`, for one figure of a burst. */
export function burstRatios(a: readonly Burst[], b: readonly Burst[], figure: keyof Burst): number[] {
  return a.map((x, i) => x[figure] / (b[i] as Burst)[figure]);
}

/** The median of ratios with their range. */
export function ratioSummary(ratios: readonly number[]): { median: number; min: number; max: number } {
  return {
    median: round(median(ratios), 3),
    min: round(Math.min(...ratios), 3),
    max: round(Math.max(...ratios), 3),
  };
}

/** One contender's bursts in a line: median, range and median req/s. */
export function burstSummary(bs: readonly Burst[]) {
  return {
    cpu_us_per_req_median: round(median(bs.map((b) => b.cpu_us_per_req)), 1),
    cpu_us_per_req_min: Math.min(...bs.map((b) => b.cpu_us_per_req)),
    cpu_us_per_req_max: Math.max(...bs.map((b) => b.cpu_us_per_req)),
    rps_median: Math.round(median(bs.map((b) => b.rps))),
  };
}

/**
 * Two-sided sign test: the chance of a split at least this uneven between "lower" and "higher" if
 * either were as likely (ties left out).
 */
export function signTest(lower: number, higher: number): number {
  const n = lower + higher;
  if (n === 0) return 1;
  const k = Math.min(lower, higher);
  let tail = 0;
  let c = 1; // n choose i
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}
