/**
 * Summarizes the CPU profile(s) of a Clearance child run with BENCH_GATEWAY_PROFILE=dir:
 *   BENCH_GATEWAY_PROFILE=$(mktemp -d)/prof BENCH_GATEWAY_TARGETS=clearance npm run bench:gateway
 *   node dist/bench/gateway-profile.js <that dir>
 * Prints, as percentages of the busy (non-idle) time: self time by area (Clearance's src/, undici,
 * node internals, GC, ...), the functions with the most self time, and the src/ functions with the
 * most inclusive time (callees included), which is where a change in src/ would pay off.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(["(idle)", "(program)"]);
const TOP = 25;

function area(url: string, fn: string): string {
  if (fn.startsWith("(")) return fn;
  if (url.includes("/dist/src/")) return `src/${url.split("/dist/src/")[1]!.split("/")[0]}`;
  if (url.includes("/node_modules/")) return url.split("/node_modules/").at(-1)!.split("/")[0]!;
  if (url.startsWith("node:")) return url.split("/")[0]!.replace(/^node:internal$/, "node:internal");
  return url === "" ? "(native)" : "(other)";
}

const label = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url.includes("/dist/")
    ? `dist/${url.split("/dist/").at(-1)}`
    : url.replace(/^.*node_modules\//, "");
  return `${functionName || "(anonymous)"} ${where}:${lineNumber + 1}`;
};

function summarize(file: string): void {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  // Busy share per second of the run: near 100% under load means CPU-bound; well below, waiting.
  const perSecond: number[] = [];
  let clock = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  p.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const dt = p.timeDeltas[i] ?? 0;
    clock += dt;
    if (IDLE.has(node.callFrame.functionName)) return;
    busy += dt;
    const second = Math.floor(clock / 1e6);
    perSecond[second] = (perSecond[second] ?? 0) + dt;
    add(self, label(node), dt);
    add(areas, area(node.callFrame.url, node.callFrame.functionName), dt);
    // Each src/ function once per sample, however often it recurs on the stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (n.callFrame.url.includes("/dist/src/")) seen.add(label(n));
    }
    for (const k of seen) add(inclusive, k, dt);
  });

  const pct = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v)}  ${k}`);
  console.log(`${file}: ${(busy / 1e6).toFixed(1)} s busy`);
  console.log(`busy % per second: ${Array.from(perSecond, (v) => Math.round((v ?? 0) / 1e4)).join(" ")}`);
  console.log(["self time by area:", ...top(areas, 15)].join("\n"));
  console.log([`top ${TOP} functions by self time:`, ...top(self, TOP)].join("\n"));
  console.log([`top ${TOP} src/ functions by inclusive time:`, ...top(inclusive, TOP)].join("\n"));
}

const arg = process.argv[2];
if (arg === undefined) throw new Error("usage: gateway-profile <.cpuprofile file or directory>");
const files = statSync(arg).isDirectory()
  ? readdirSync(arg)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(arg, f))
  : [arg];
for (const f of files) summarize(f);
