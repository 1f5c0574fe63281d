/**
 * `npm run bench:gateway -- --against DIR [--bursts N] [--duration S]`: is this build cheaper per
 * request than another? DIR is another checkout of Clearance, built (`npm run build` there).
 *
 * This build's Clearance, DIR's and the bare proxy run side by side against one mock upstream, all
 * started and warmed up first; then each in turn takes a short burst of load (50 connections,
 * `duration` seconds), the order alternating, `bursts` times (gateway-bursts.ts). The verdict is
 * the median of the rounds' own ratios and how many bursts of this build cost less than their
 * partner (a sign test). A design with a fresh process a round, rounds a minute apart, did not
 * resolve changes under about 10% on this machine (0.88× and 1.04× for the same change); bursts
 * put one of 4% at 0.956× and 0.959× in two runs, lower in 14 and 16 bursts of 20 (sign test
 * p = 0.12 and 0.01; 6 December 2026).
 *
 * Prints one JSON line; writes bench/results/gateway-ab.json.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import {
  burstRatios,
  burstSummary,
  runBursts,
  signTest,
  type Burst,
  type Contender,
} from "./gateway-bursts.js";
import { WARMUP_ROUNDS_S, check, round, type Target } from "./gateway-measure.js";
import { forkChild, log, stop } from "./gateway-procs.js";
import { median, resultHead, writeResult } from "./results.js";

export interface AbOptions {
  /** The other checkout's root. */
  readonly against: string;
  readonly bursts: number;
  readonly duration_s: number;
}

const USAGE = "usage: bench:gateway -- --against DIR [--bursts N] [--duration S]";

/** The A/B options from argv, or null when there is no --against. Throws on anything else it does not know. */
export function abOptions(argv: readonly string[]): AbOptions | null {
  if (!argv.some((a) => a === "--against" || a.startsWith("--against="))) return null;
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(against|bursts|duration)(?:=(.*))?$/.exec(argv[i] as string);
    if (m === null) throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value\n${USAGE}`);
    given.set(m[1] as string, value);
  }
  const int = (name: string, fallback: number) => {
    const v = given.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer ≥ 1\n${USAGE}`);
    return n;
  };
  const against = resolve(given.get("against") as string);
  const child = join(against, "dist", "bench", "gateway-clearance.js");
  if (!existsSync(child))
    throw new Error(`${child} does not exist: build the other checkout first (npm run build)`);
  return { against, bursts: int("bursts", 20), duration_s: int("duration", 3) };
}

type Which = "this" | "against" | "bare";

export async function runAb(o: AbOptions): Promise<number> {
  const load0 = loadavg();
  const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
  const upstream = `http://127.0.0.1:${mock.ready.port}`;
  const modules: Record<Which, string> = {
    this: "gateway-clearance",
    against: join(o.against, "dist", "bench", "gateway-clearance.js"),
    bare: "gateway-bare",
  };
  const order: Which[] = ["this", "against", "bare"];
  const started: { which: Which; pid: number; target: Target; close: () => Promise<void> }[] = [];
  try {
    for (const which of order) {
      const clearance = which !== "bare";
      const { proc, ready } = await forkChild<{ port: number; key?: string }>(modules[which], [
        clearance ? `${upstream}/v1` : upstream,
      ]);
      const target: Target = {
        name: which,
        origin: `http://127.0.0.1:${ready.port}`,
        headers: clearance ? { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" } : {},
      };
      started.push({ which, pid: proc.pid as number, target, close: () => stop(proc) });
      await check(target, clearance ? { "x-clearance-decision": "allow" } : {});
    }
    const contenders: Contender[] = started.map((s) => ({ name: s.which, pid: s.pid, target: s.target }));
    const bursts = (await runBursts(contenders, o.bursts, o.duration_s, 50, log)) as Record<Which, Burst[]>;
    const ratios = burstRatios(bursts.this, bursts.against, "cpu_us_per_req");
    const lower = ratios.filter((r) => r < 1).length;
    const higher = ratios.filter((r) => r > 1).length;
    const vsBare = (w: "this" | "against") =>
      round(median(burstRatios(bursts[w], bursts.bare, "cpu_us_per_req")), 2);
    const out = {
      ...resultHead("gateway-ab"),
      load_before: load0.map((x) => round(x, 2)),
      load_after: loadavg().map((x) => round(x, 2)),
      against: o.against,
      bursts: o.bursts,
      duration_s: o.duration_s,
      this: burstSummary(bursts.this),
      against_build: burstSummary(bursts.against),
      bare: burstSummary(bursts.bare),
      // Below 1: this build spends less CPU per request than the other.
      cpu_ratio_median: round(median(ratios), 3),
      this_lower_in: lower,
      this_higher_in: higher,
      sign_test_p: round(signTest(lower, higher), 4),
      cpu_vs_bare_median: { this: vsBare("this"), against: vsBare("against") },
      bursts_measured: bursts,
      notes: [
        `the three processes run side by side, each warmed up (${WARMUP_ROUNDS_S.join(" s + ")} s, two rounds of connections) before any burst; a burst is 50 connections for duration_s on one of them while the others idle; CPU time (user + system, all threads) of that process over the requests it answered`,
        "the order of the three alternates from burst to burst; cpu_ratio_median is the median over bursts of this build's CPU per request over the other build's in the same burst round; sign_test_p: the chance of a split of lower and higher bursts at least as uneven if neither build were cheaper",
      ],
    };
    writeResult("gateway-ab", out);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } finally {
    for (const s of started) await s.close();
    await stop(mock.proc);
  }
}
