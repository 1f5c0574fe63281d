/**
 * What one what-if costs in usage reads: a SQLite store with 10,000 licenses × 90 days of
 * usage_daily rows (900,000), a scheme with those licenses (a third each total, month, quarter) and
 * a candidate that moves every license to the next period; the population is empty, the log too,
 * so what is timed is the report's usage reads. Also the longest the event loop was held.
 * `npx tsx bench/whatif-usage.ts` (KEEP_DIR=<dir> keeps the store between runs; RUNS=n)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { directorySource } from "../src/audit/source.js";
import { compileScheme, type CompiledScheme } from "../src/scheme/compile.js";
import { schemeFileSchema } from "../src/scheme/schema.js";
import { openStore } from "../src/store/index.js";
import { whatIfReport } from "../src/whatif/report.js";
import { generateWorld } from "./generate.js";

const LICENSES = 10_000;
const DAYS = 90;
const RUNS = Number(process.env.RUNS ?? 3);
const PERIODS = ["total", "month", "quarter"] as const;

function compile(input: unknown): CompiledScheme {
  const r = compileScheme(schemeFileSchema.parse(input));
  if (!r.ok) throw new Error(r.problems[0]?.message);
  return r.scheme;
}

const keep = process.env.KEEP_DIR;
const dir = keep ?? mkdtempSync(join(tmpdir(), "clearance-whatif-usage-"));
const fresh = keep === undefined || !existsSync(join(keep, "audit"));
try {
  const world = generateWorld(20261205, { organizations: 1_000, licenses: LICENSES, principals: 2_000 });
  const base = schemeFileSchema.parse(world.scheme);
  const withPeriods = (shift: number) =>
    compile({
      ...base,
      licenses: base.licenses.map((l, i) => ({ ...l, quota_period: PERIODS[(i + shift) % 3] })),
    });
  const active = withPeriods(0);
  const candidate = { ...withPeriods(1), ref: { name: "candidate", digest: "x" } } as CompiledScheme;
  const ids = base.licenses.map((l) => l.id);
  const store = await openStore({ dataDir: dir });
  const now = new Date();
  if (fresh) process.stderr.write(`writing ${LICENSES * DAYS} usage rows\n`);
  for (let d = 0; fresh && d < DAYS; d++) {
    const at = new Date(now.getTime() - d * 86_400_000).toISOString();
    await store.usage.add(
      ids.map((licenseId, i) => ({
        principalId: `p-${i}`,
        organizationId: `org-${i % 1000}`,
        licenseId,
        model: "mythos-5",
        inputTokens: 1000 + i,
        outputTokens: 10 + d,
        requests: 1,
        at,
      })),
    );
  }
  const logDir = join(dir, "audit");
  mkdirSync(logDir, { recursive: true });
  writeFileSync(
    join(logDir, "checkpoint"),
    `bench/audit\n0\n${Buffer.alloc(32).toString("base64")}\n\n— bench\n`,
  );
  let last = performance.now();
  // The longest the loop went without turning: a 1 ms timer's widest gap.
  let held = 0;
  const tick = setInterval(() => {
    const t = performance.now();
    held = Math.max(held, t - last);
    last = t;
  }, 1);
  const times: number[] = [];
  const cpus: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    held = 0;
    last = performance.now();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await whatIfReport({
      store,
      source: directorySource(logDir),
      active,
      candidate,
      pseudonymKey: null,
      now,
      principals: [],
    });
    times.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    cpus.push((cpu.user + cpu.system) / 1000);
    // The reads chain as microtasks: the timer sees the hold only once the loop turns.
    await new Promise((r) => setTimeout(r, 20));
    process.stderr.write(
      `run ${run + 1}: ${(times[run]! / 1000).toFixed(2)} s (${(cpus[run]! / 1000).toFixed(2)} s CPU), event loop held at most ${(held / 1000).toFixed(2)} s\n`,
    );
  }
  process.stdout.write(
    JSON.stringify({
      licenses: LICENSES,
      days: DAYS,
      seconds: times.map((t) => +(t / 1000).toFixed(2)),
      cpu_seconds: cpus.map((t) => +(t / 1000).toFixed(2)),
    }) + "\n",
  );
  clearInterval(tick);
  await store.close();
} finally {
  if (keep === undefined) rmSync(dir, { recursive: true, force: true });
}
