/**
 * `npm run bench:monitoring`: what monitoring costs per request. Short, on purpose.
 *
 * (a) In this process, the request observer alone: CPU time per observed request for the metrics,
 *     the access log (to /dev/null), the anomaly detectors (embedded store, no alert raised)
 *     and all three together, over requests like the gateway's (50 principals and keys, a few
 *     countries and networks, allowed and forwarded, with token counts), against an empty loop.
 * (b) Under load: the gateway bench's Clearance (a mock upstream, autocannon at 50 connections)
 *     with monitoring on (the defaults: metrics, access log to a discarded stdout, detectors) and
 *     off, CPU per request of the gateway process for each.
 *
 * Prints one JSON line and writes bench/results/monitoring.json, with the machine's load.
 * BENCH_MONITORING_ROUNDS: pairs of runs under load (default 5).
 */
import { loadavg, tmpdir } from "node:os";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { AlertService } from "../src/alerts/index.js";
import { configSchema } from "../src/config/schema.js";
import { Observation, type ObservedRequest } from "../src/gateway/observer.js";
import { Monitoring } from "../src/monitoring/index.js";
import type { Decision } from "../src/policy/index.js";
import { loadSchemeFile } from "../src/scheme/index.js";
import { openStore } from "../src/store/index.js";
import { check, load, round, type Target } from "./gateway-measure.js";
import { cpuSeconds, forkChild, log, stop, stopAll } from "./gateway-procs.js";
import { collectGarbage, median, resultHead, writeResult } from "./results.js";

const SETTINGS = {
  observations: 200_000,
  connections: 50,
  warmup_s: 3,
  duration_s: 5,
  rounds: Number(process.env.BENCH_MONITORING_ROUNDS ?? 5),
};
const GOAL_US = 10;

const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const config = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring;

/** Requests as the gateway observes them: allowed, forwarded, answered, with usage. */
function observations(n: number): ObservedRequest[] {
  const countries = ["US", "FR", "DE", "GB", "JP"];
  const out: ObservedRequest[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const p = i % 50;
    const o = new Observation(undefined, `req-${i}`, "POST", "/v1/chat/completions");
    const decision = {
      decision: "allow",
      reason: "home-person",
      model: "mythos-5",
      served_model: "mythos-5",
      grant: null,
    } as unknown as Decision;
    o.ask(
      `key${String(p).padStart(9, "0")}`,
      { id: `p${p}`, organization: `org${p % 5}` },
      countries[p % 5] as string,
    );
    o.decide(decision);
    o.record(BigInt(i));
    o.forwarded = o.start + 0.2;
    o.answered = o.start + 1.2;
    o.firstChunk = o.start + 1.3;
    o.streamed = i % 2 === 0;
    o.inputTokens = 12;
    o.outputTokens = 40;
    o.end = o.start + 2;
    o.status = 200;
    o.reason = "home-person";
    o.peer = `10.0.${p}.7`;
    (o as { startedAt: number }).startedAt = t0 + i * 100; // a request every 5 s per principal: no spike
    out.push(o);
  }
  return out;
}

/** CPU µs per observation of `observe`, over every observation, after a warm-up pass. */
async function cpuPerCall(
  list: readonly ObservedRequest[],
  observe: (o: ObservedRequest) => void,
  settle = async () => {},
) {
  for (let i = 0; i < 20_000; i++) observe(list[i % list.length] as ObservedRequest);
  await settle();
  collectGarbage();
  const before = process.cpuUsage();
  // Yielding now and then, as a server does between requests: buffered log writes go out meanwhile.
  for (let i = 0; i < list.length; i++) {
    observe(list[i] as ObservedRequest);
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  await settle();
  const cpu = process.cpuUsage(before);
  return round((cpu.user + cpu.system) / list.length, 3);
}

async function observer(part: "metrics" | "log" | "detectors" | "all") {
  const metrics = part === "metrics" || part === "all";
  const accessLog = part === "log" || part === "all";
  const m = await Monitoring.open({
    config: {
      ...config,
      metrics: { ...config.metrics, enabled: metrics },
      access_log: { enabled: accessLog, destination: "/dev/null" },
    },
    sources: { scheme: () => scheme },
    authenticate: () => {},
    onError: (err) => log(String(err)),
  });
  let alerts: AlertService | null = null;
  if (part === "detectors" || part === "all") {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-bench-mon-")) });
    alerts = await AlertService.open({
      config: { ...config.alerts, quota: { ...config.alerts.quota, enabled: false } },
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => {},
      metrics: m.metrics,
      onError: (err) => log(String(err)),
    });
    const a = alerts;
    m.add((o) => a.observe(o));
  }
  return { m, alerts };
}

async function micro() {
  const list = observations(SETTINGS.observations);
  const empty = await cpuPerCall(list, () => {});
  const parts: Record<string, number> = {};
  for (const part of ["metrics", "log", "detectors", "all"] as const) {
    const { m, alerts } = await observer(part);
    parts[part] = round(
      (await cpuPerCall(
        list,
        (o) => m.observe(o),
        async () => void (await alerts?.settled()),
      )) - empty,
      3,
    );
    await alerts?.close();
    await m.close();
    log(`observer ${part}: ${parts[part]} µs CPU per request`);
  }
  return { empty_loop_us: empty, cpu_us_per_request: parts };
}

async function underLoad(monitoring: "on" | "off", upstream: string) {
  const { proc, ready } = await forkChild<{ port: number; key: string }>(
    "gateway-clearance",
    [`${upstream}/v1`],
    [],
    30_000,
    {
      ...process.env,
      BENCH_GATEWAY_MONITORING: monitoring,
    },
  );
  try {
    const t: Target = {
      name: `clearance-monitoring-${monitoring}`,
      origin: `http://127.0.0.1:${ready.port}`,
      headers: { authorization: `Bearer ${ready.key}`, "x-demo-country": "US" },
    };
    await check(t, { "x-clearance-decision": "allow" });
    await load(t, SETTINGS.connections, SETTINGS.warmup_s);
    const before = cpuSeconds(proc.pid);
    const loaded = await load(t, SETTINGS.connections, SETTINGS.duration_s);
    const after = cpuSeconds(proc.pid);
    const cpu =
      before === null || after === null ? null : round((1e6 * (after - before)) / loaded.requests, 1);
    log(`monitoring ${monitoring}: ${loaded.rps} req/s, p50 ${loaded.p50_ms} ms, ${cpu} µs CPU/req`);
    return {
      rps: loaded.rps,
      p50_ms: loaded.p50_ms,
      p99_ms: loaded.p99_ms,
      requests: loaded.requests,
      cpu_us_per_req: cpu,
    };
  } finally {
    await stop(proc);
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg().map((x) => round(x, 2));
  const observer = await micro();
  const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
  const upstream = `http://127.0.0.1:${mock.ready.port}`;
  // Off and on alternate, ROUNDS times each, and the medians are compared: one pair of short runs
  // on a shared machine differs by more than what is measured.
  const runs: { off: Awaited<ReturnType<typeof underLoad>>[]; on: Awaited<ReturnType<typeof underLoad>>[] } =
    {
      off: [],
      on: [],
    };
  // The order alternates between rounds (off first, then on first), so that a machine growing
  // slower or faster during the run weighs on both alike.
  for (let i = 0; i < SETTINGS.rounds; i++) {
    if (i % 2 === 0) {
      runs.off.push(await underLoad("off", upstream));
      runs.on.push(await underLoad("on", upstream));
    } else {
      runs.on.push(await underLoad("on", upstream));
      runs.off.push(await underLoad("off", upstream));
    }
  }
  await stop(mock.proc);
  const middle = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length === 0 ? null : median(v);
  };
  const off = {
    ...(runs.off[0] as object),
    runs: runs.off,
    cpu_us_per_req: middle(runs.off.map((r) => r.cpu_us_per_req)),
  };
  const on = {
    ...(runs.on[0] as object),
    runs: runs.on,
    cpu_us_per_req: middle(runs.on.map((r) => r.cpu_us_per_req)),
  };
  // Each round's pair ran minutes apart at most: its difference is less exposed to the machine's
  // drift than the difference of the medians.
  const paired = runs.on.map((r, i) => {
    const o = runs.off[i]?.cpu_us_per_req ?? null;
    return r.cpu_us_per_req === null || o === null ? null : round(r.cpu_us_per_req - o, 1);
  });
  const added = middle(paired);
  const all = observer.cpu_us_per_request.all ?? null;
  const out = {
    ...resultHead("monitoring"),
    loadavg_before: loadBefore,
    loadavg: loadavg().map((x) => round(x, 2)),
    settings: SETTINGS,
    observer,
    gateway_under_load: {
      monitoring_off: off,
      monitoring_on: on,
      added_cpu_us_per_req: added,
      added_per_round: paired,
    },
    goals: {
      observer_cpu_us_per_request: {
        goal: `<= ${GOAL_US}`,
        value: all,
        met: all === null ? null : all <= GOAL_US,
      },
    },
    notes: [
      "observer: CPU per observed request in this process, the empty loop's subtracted; detectors include building the sighting and the embedded store they would write alerts to (none raised)",
      "gateway_under_load: CPU per request of the gateway process, with the defaults (monitoring on) and with metrics, access log and detectors off, `rounds` pairs of runs, the order alternating; cpu_us_per_req is the median of each side's runs (each run's figures under `runs`); added_cpu_us_per_req is the median of the rounds' own differences (added_per_round), which still carries the run-to-run noise of a shared machine",
    ],
  };
  const path = writeResult("monitoring", out);
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main()
  .catch((err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => void stopAll());
