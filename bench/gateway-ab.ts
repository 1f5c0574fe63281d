/**
 * `npm run bench:gateway -- --against DIR [--rounds N] [--duration S]`: is this build cheaper per
 * request than another? DIR is another checkout of Clearance, built (`npm run build` there). Each
 * round starts this build's Clearance and DIR's, one after the other (the order alternating between
 * rounds), puts each under the same load (50 connections) against one mock upstream, and reads its
 * CPU time per request; the bare proxy runs once per round too, as the yardstick. Rounds spread the
 * two builds over the same minutes, so drift on a shared machine falls on both alike; the medians
 * are compared. Prints one JSON line; writes bench/results/gateway-ab.json.
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { WARMUP_ROUNDS_S, check, load, round, warmUp, type Target } from "./gateway-measure.js";
import { cpuSeconds, forkChild, log, stop } from "./gateway-procs.js";
import { median, resultHead, writeResult } from "./results.js";

export interface AbOptions {
  /** The other checkout's root. */
  readonly against: string;
  readonly rounds: number;
  readonly duration_s: number;
}

const USAGE = "usage: bench:gateway -- --against DIR [--rounds N] [--duration S]";

/** The A/B options from argv, or null when there is no --against. Throws on anything else it does not know. */
export function abOptions(argv: readonly string[]): AbOptions | null {
  if (!argv.some((a) => a === "--against" || a.startsWith("--against="))) return null;
  const given = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(against|rounds|duration)(?:=(.*))?$/.exec(argv[i] as string);
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
  return { against, rounds: int("rounds", 5), duration_s: int("duration", 6) };
}

interface Run {
  readonly rps: number;
  readonly cpu_us_per_req: number;
}

export async function runAb(o: AbOptions): Promise<number> {
  const load0 = loadavg();
  const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
  const upstream = `http://127.0.0.1:${mock.ready.port}`;
  const builds = {
    this: "gateway-clearance",
    against: join(o.against, "dist", "bench", "gateway-clearance.js"),
  } as const;
  const runs: Record<"this" | "against" | "bare", Run[]> = { this: [], against: [], bare: [] };

  const measure = async (which: keyof typeof runs): Promise<Run> => {
    const clearance = which !== "bare";
    const module = which === "bare" ? "gateway-bare" : builds[which];
    const { proc, ready } = await forkChild<{ port: number; key?: string }>(module, [
      clearance ? `${upstream}/v1` : upstream,
    ]);
    try {
      const t: Target = {
        name: which,
        origin: `http://127.0.0.1:${ready.port}`,
        headers: clearance ? { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" } : {},
      };
      await check(t, clearance ? { "x-clearance-decision": "allow" } : {});
      await warmUp(t, 50);
      const before = cpuSeconds(proc.pid);
      const r = await load(t, 50, o.duration_s);
      const after = cpuSeconds(proc.pid);
      if (before === null || after === null || r.requests === 0)
        throw new Error(`${which}: nothing measured`);
      const run = { rps: r.rps, cpu_us_per_req: round((1e6 * (after - before)) / r.requests, 1) };
      log(`${which}: ${run.rps} req/s, ${run.cpu_us_per_req} µs CPU/req`);
      return run;
    } finally {
      await stop(proc);
    }
  };

  for (let round_ = 0; round_ < o.rounds; round_++) {
    log(`round ${round_ + 1} of ${o.rounds}`);
    const order = round_ % 2 === 0 ? (["this", "against"] as const) : (["against", "this"] as const);
    for (const which of order) runs[which].push(await measure(which));
    runs.bare.push(await measure("bare"));
  }
  await stop(mock.proc);

  const summary = (rs: readonly Run[]) => ({
    cpu_us_per_req_median: round(median(rs.map((r) => r.cpu_us_per_req)), 1),
    cpu_us_per_req_min: Math.min(...rs.map((r) => r.cpu_us_per_req)),
    cpu_us_per_req_max: Math.max(...rs.map((r) => r.cpu_us_per_req)),
    rps_median: Math.round(median(rs.map((r) => r.rps))),
  });
  const a = summary(runs.this);
  const b = summary(runs.against);
  const out = {
    ...resultHead("gateway-ab"),
    load_before: load0.map((x) => round(x, 2)),
    load_after: loadavg().map((x) => round(x, 2)),
    against: o.against,
    rounds: o.rounds,
    duration_s: o.duration_s,
    this: a,
    against_build: b,
    bare: summary(runs.bare),
    // Negative: this build spends less CPU per request than the other.
    cpu_change_us: round(a.cpu_us_per_req_median - b.cpu_us_per_req_median, 1),
    cpu_change_pct: round(
      (100 * (a.cpu_us_per_req_median - b.cpu_us_per_req_median)) / b.cpu_us_per_req_median,
      1,
    ),
    runs,
    notes: [
      `each run: its own Clearance process (this build's or the other's), a warm-up of ${WARMUP_ROUNDS_S.join(" s + ")} s (two rounds of connections), then 50 connections for duration_s; CPU time (user + system, all threads) of that process over the requests answered`,
      "the two builds alternate which goes first in each round; the bare proxy (node:http + undici) runs last in each round",
    ],
  };
  writeResult("gateway-ab", out);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}
