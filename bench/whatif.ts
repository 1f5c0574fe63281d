/**
 * `npm run bench:whatif`: a what-if over 1,000,000 principals × 20 models × 4 actions (goal: at most
 * 10 s). The world is the decision benchmark's (a generated scheme with 1,000 organization partners
 * and 10,000 licenses; principals of every kind), with a fifth of the principals also seen at a
 * second location; the candidate adds a partner country, embargoes a country, suspends a tenth of
 * the licenses and applies every nationality. Prints one JSON line and writes bench/results/whatif.json.
 */
import { availableParallelism, cpus, loadavg } from "node:os";
import { compileScheme, type CompiledScheme } from "../src/scheme/compile.js";
import { schemeFileSchema } from "../src/scheme/schema.js";
import { populationWhatIfYielding } from "../src/whatif/population.js";
import { generateWorld, OTHER, Rng, TRUSTED, type SchemeInput } from "./generate.js";
import { collectGarbage, log, round, writeResult } from "./results.js";

const SEED = 20261205;
const PRINCIPALS = Number(process.env.BENCH_WHATIF_PRINCIPALS ?? 1_000_000);
const GOAL_SECONDS = 10;

function compile(input: SchemeInput): CompiledScheme {
  const result = compileScheme(schemeFileSchema.parse(input));
  if (!result.ok) throw new Error(`scheme does not compile: ${result.problems[0]?.message}`);
  return result.scheme;
}

async function main(): Promise<void> {
  const load = loadavg();
  log(`generating ${PRINCIPALS} principals`);
  const world = generateWorld(SEED, { organizations: 1_000, licenses: 10_000, principals: PRINCIPALS });
  const active = compile(world.scheme);
  const source = schemeFileSchema.parse(world.scheme);
  const candidate = compile({
    ...source,
    name: "bench-candidate",
    nationality_rule: "all",
    embargoed: [...(source.embargoed as string[]), "RU"],
    sets: { ...source.sets, trusted: ["G7", "FIVE_EYES", "IN"] },
    licenses: source.licenses.map((l, i) => (i % 10 === 0 ? { ...l, status: "suspended" as const } : l)),
  });
  const r = new Rng(SEED);
  const seen = new Map<string, Set<string | null>>();
  for (const p of world.people) {
    if (r.chance(0.2)) seen.set(p.principal.id, new Set([r.pick([...TRUSTED, ...OTHER, "US"])]));
  }
  const principals = world.people.map((p) => p.principal);
  collectGarbage();
  log(`what-if: ${principals.length} principals × ${active.models.size} models × 4 actions`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const threads = availableParallelism();
  const result = await populationWhatIfYielding({
    threads,
    active,
    candidate,
    principals,
    seen,
    time: Date.parse("2026-11-21T12:00:00Z"),
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const s = result.summary;
  const out = {
    bench: "whatif",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", node: process.version },
    load_before: load.map((x) => round(x, 2)),
    load_after: loadavg().map((x) => round(x, 2)),
    principals: result.principals,
    models: active.models.size,
    actions: 4,
    classes: result.classes,
    decisions_compared: s.compared,
    seconds: round(seconds, 2),
    threads,
    cpu_seconds_all_threads: round((cpu.user + cpu.system) / 1e6, 2),
    goal_seconds: GOAL_SECONDS,
    goal_met: seconds <= GOAL_SECONDS,
    gained: s.gained,
    lost: s.lost,
    changed: s.changed,
    groups: result.groups.length,
  };
  const path = writeResult("whatif", out);
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
