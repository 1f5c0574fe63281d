/**
 * The soak: `npm run soak -- --minutes N` (default 1). A gateway process (the CLI's `serve`, the
 * demo upstream streaming tokens) under mixed traffic — allowed, denied, fallback, open, licensed,
 * a third streamed, some clients hanging up — while principals and keys are created and revoked
 * and scheme versions uploaded and activated. Every interval it prints throughput, p50/p99, the
 * gateway's RSS and heap, its open file descriptors and sockets; at the end one JSON line (also
 * bench/results/soak.json, with the machine's load), and exit 1 on any answer beyond the expected
 * denials. Targets (issue 18): RSS growth after warm-up under 10%, no descriptor growth.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { percentile, send, type Kind } from "./traffic.js";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const minutes = Number(arg("minutes") ?? 1);
const concurrency = Number(arg("connections") ?? 16);
// A fixed request rate (requests started per second, all connections together); 0: as fast as the
// connections go. A fixed rate keeps the soak from taking a whole core on a shared machine.
const rate = Number(arg("rate") ?? 0);
const durationMs = minutes * 60_000;
const intervalMs = Math.max(5_000, Math.min(60_000, durationMs / 12));
const TOKEN = "soak-admin-token-0123456789abcdefghijk";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "clearance-soak-"));
const dataDir = join(dir, "data");
const configFile = join(dir, "clearance.yaml");
writeFileSync(
  configFile,
  `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\nproviders: { demo: { type: demo, token_delay_ms: 2 } }\n` +
    `default_provider: demo\nlocation: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }\n` +
    "",
);
const store = await openStore({ dataDir });
const keys = new Map<string, string>();
for (const f of readdirSync("examples/principals").filter((f) => f.endsWith(".json"))) {
  const p = parsePrincipal(JSON.parse(readFileSync(join("examples/principals", f), "utf8")));
  await store.principals.put(p);
  keys.set(p.id, (await store.keys.create(p.id)).key);
}
await store.close();

// The probe answers SIGUSR2 with the process's memory (after a collection) on stderr.
const probe = join(dir, "probe.mjs");
writeFileSync(
  probe,
  `import { setFlagsFromString } from "node:v8"; import { runInNewContext } from "node:vm";
setFlagsFromString("--expose-gc"); const gc = runInNewContext("gc");
process.on("SIGUSR2", () => { gc(); process.stderr.write("SOAK " + JSON.stringify(process.memoryUsage()) + "\\n"); });\n`,
);
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "--import",
    probe,
    "src/cli/main.ts",
    "serve",
    "--config",
    configFile,
    "--data-dir",
    dataDir,
    "--port",
    "0",
  ],
  { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CLEARANCE_ADMIN_TOKEN: TOKEN } },
);
let memory: NodeJS.MemoryUsage | null = null;
let errText = "";
child.stderr.on("data", (c: Buffer) => {
  for (const line of c.toString().split("\n")) {
    if (line.startsWith("SOAK ")) memory = JSON.parse(line.slice(5)) as NodeJS.MemoryUsage;
    else if (line.trim() !== "") errText = (errText + line + "\n").slice(-4000);
  }
});
const url = await new Promise<string>((ok, fail) => {
  let out = "";
  const banner = (c: Buffer) => {
    out += c.toString();
    // The whole URL, to the space after it: a chunk may end inside it (its port cut short). `out`
    // holds stdout alone, so no line of stderr comes between its pieces.
    const m = /gateway on (http:\/\/\S+) /.exec(out);
    if (m === null) return;
    // Once found, stdout (the access log: a line per request) is drained and dropped. Kept and
    // searched on every chunk, as it once was, it cost the soak's client more CPU by the minute
    // and made its latencies climb with the run's length, not the gateway's.
    child.stdout.off("data", banner);
    child.stdout.on("data", () => undefined);
    out = "";
    ok(m[1] as string);
  };
  child.stdout.on("data", banner);
  child.once("exit", (code) => fail(new Error(`gateway exited (${code}): ${errText}`)));
});

/** The gateway process as the operating system sees it. */
async function sample(): Promise<{ rssMb: number; heapMb: number; fds: number; sockets: number }> {
  memory = null;
  child.kill("SIGUSR2");
  for (let i = 0; i < 50 && memory === null; i++) await sleep(20);
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  const fds = readdirSync(`/proc/${child.pid}/fd`);
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${child.pid}/fd/${fd}`).startsWith("socket:")) sockets++;
    } catch {
      /* closed meanwhile */
    }
  }
  const heap = (memory as NodeJS.MemoryUsage | null)?.heapUsed ?? 0;
  return {
    rssMb: Math.round(rss * 10) / 10,
    heapMb: Math.round((heap / 1048576) * 10) / 10,
    fds: fds.length,
    sockets,
  };
}

const MIX: readonly Kind[] = ["allow", "allow", "allow", "deny", "fallback", "fallback", "open", "licensed"];
const EXPECTED: Readonly<Record<Kind, readonly number[]>> = {
  allow: [200],
  deny: [403],
  fallback: [200],
  open: [200],
  licensed: [200],
};
let running = true;
let window: number[] = [];
let total = 0;
let hungUp = 0;
const errors: string[] = [];
const errorDetail: { t: number; ms: number; what: string }[] = [];
const fail = (what: string, ms = 0) => {
  errors.push(what.trim());
  errorDetail.push({ t: Math.round((Date.now() - started) / 1000), ms, what: what.trim() });
};
/** Errors since the last interval, grouped: "allow: no answer ×3". */
let reported = 0;
const newErrors = () => {
  const counts = new Map<string, number>();
  for (const e of errors.slice(reported)) counts.set(e, (counts.get(e) ?? 0) + 1);
  reported = errors.length;
  return [...counts].map(([e, n]) => `${e} ×${n}`).join(", ");
};
// With --rate, the n-th request starts no earlier than started + n / rate (one shared schedule).
let scheduled = 0;
const pace = async () => {
  if (rate <= 0) return;
  const at = started + (scheduled++ * 1000) / rate;
  const wait = at - Date.now();
  if (wait > 0) await sleep(wait);
};
const loop = async (i: number) => {
  for (let n = i; running; n += concurrency) {
    await pace();
    if (!running) break;
    const kind = MIX[n % MIX.length] as Kind;
    const stream = n % 3 === 0;
    const hangUp = n % 20 === 7; // a client that goes away mid-answer
    const o = await send(url, keys, kind, { stream, ...(hangUp ? { hangUpMs: 30 } : {}), timeoutMs: 30_000 });
    total++;
    if (hangUp && (o.status === 0 || !o.complete)) {
      hungUp++;
      continue;
    }
    window.push(o.ms);
    if (!EXPECTED[kind].includes(o.status)) {
      // Status 0: no answer within the client's 30 s (or the connection failed).
      fail(
        `${kind}${stream ? " streamed" : ""}: ${o.status === 0 ? "no answer" : o.status} ${o.code ?? ""}`,
        o.ms,
      );
    }
  }
};

let changes = 0;
const admin = async () => {
  // Status 0: no answer (the connection failed); counted as an error, the loop goes on.
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    })
      .then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }))
      .catch((err: unknown) => {
        const cause = (err as { cause?: { code?: unknown } }).cause?.code;
        const body: Record<string, unknown> = { error: typeof cause === "string" ? cause : String(err) };
        return { status: 0, body };
      });
  const yaml = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
  for (let n = 1; running; n++) {
    const id = `soak-${n}`;
    const p = await call("POST", "/admin/v1/principals", { id, citizenships: [{ country: "US" }] });
    const k = await call("POST", "/admin/v1/keys", { principal: id });
    const r = await call("POST", `/admin/v1/keys/${String(k.body.id)}/revoke`, {});
    for (const [what, got, want] of [
      ["principal", p, 201],
      ["key", k, 201],
      ["revoke", r, 200],
    ] as const) {
      if (got.status !== want)
        fail(`admin ${what}: ${got.status === 0 ? `no answer ${String(got.body.error)}` : got.status}`);
    }
    changes += 3;
    if (n % 8 === 0) {
      // A new scheme version (same rules, a new description), activated: decisions continue.
      const up = await call("POST", "/admin/v1/schemes", {
        yaml: yaml.replace(/^description: .*$/m, `description: soak version ${n}`),
      });
      const act = await call("POST", `/admin/v1/schemes/${String(up.body.version)}/activate`, {
        reason: "soak",
      });
      if (up.status !== 201 || act.status !== 200)
        fail(`scheme: upload ${up.status}, activate ${act.status}`);
      changes += 2;
    }
    await sleep(2_000);
  }
};

const idle = await sample(); // before any traffic: what "no descriptor growth" compares with
const started = Date.now();
const samples: {
  t: number;
  rps: number;
  p50: number;
  p99: number;
  rssMb: number;
  heapMb: number;
  fds: number;
  sockets: number;
}[] = [];
const work = [...Array.from({ length: concurrency }, (_, i) => loop(i)), admin()];
console.log(
  `soak: ${minutes} min, ${concurrency} connections, ${rate > 0 ? `${rate} req/s` : "unpaced"}, gateway pid ${child.pid} on ${url}; every ${intervalMs / 1000} s: throughput, latency, gateway RSS/heap, descriptors`,
);
let last = Date.now();
while (Date.now() - started < durationMs) {
  await sleep(Math.min(intervalMs, durationMs - (Date.now() - started)));
  const now = Date.now();
  const lat = window;
  window = [];
  const s = {
    t: Math.round((now - started) / 1000),
    rps: Math.round((lat.length / (now - last)) * 1000),
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    ...(await sample()),
  };
  last = now;
  samples.push(s);
  console.log(
    `  ${String(s.t).padStart(5)} s  ${String(s.rps).padStart(5)} req/s  p50 ${s.p50} ms  p99 ${s.p99} ms  RSS ${s.rssMb} MB  heap ${s.heapMb} MB  fds ${s.fds}  sockets ${s.sockets}  errors ${errors.length}`,
  );
  const fresh = newErrors();
  if (fresh !== "") console.log(`         new errors: ${fresh}`);
}
running = false;
await Promise.all(work);
const trafficMs = Date.now() - started;
// Past the gateway's keep-alive timeout (65 s by default): every client connection it holds is
// closed, so what is left is the gateway's own.
await sleep(70_000);
const settled = await sample();
child.kill("SIGTERM");
await new Promise((r) => child.once("exit", r));

// Warm-up: the first fifth of the run (at least one sample).
const warm = samples[Math.max(0, Math.floor(samples.length / 5))] ?? samples[0];
const end = samples.at(-1);
const growth = (a: number, b: number) => (a === 0 ? 0 : Math.round(((b - a) / a) * 1000) / 10);
const result = {
  bench: "soak",
  minutes,
  connections: concurrency,
  rate: rate > 0 ? rate : null,
  requests: total,
  hung_up: hungUp,
  admin_changes: changes,
  errors: errors.length,
  first_errors: errorDetail.slice(0, 10),
  errors_by_kind: Object.fromEntries(
    [...new Set(errors)].map((e) => [e, errors.filter((x) => x === e).length]),
  ),
  rps_mean: Math.round(total / (trafficMs / 1000)),
  p99_first_ms: samples[0]?.p99,
  p99_last_ms: end?.p99,
  rss_mb: [warm?.rssMb, end?.rssMb],
  rss_growth_after_warmup_pct: growth(warm?.rssMb ?? 0, end?.rssMb ?? 0),
  heap_mb: [warm?.heapMb, end?.heapMb],
  // Idle before the traffic, after warm-up, at the end, idle again after it.
  fds: [idle.fds, warm?.fds, end?.fds, settled.fds],
  sockets: [idle.sockets, warm?.sockets, end?.sockets, settled.sockets],
  rss_idle_mb: [idle.rssMb, settled.rssMb],
  samples,
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
  load: loadavg().map((l) => Math.round(l * 100) / 100),
};
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/soak.json", `${JSON.stringify(result, null, 2)}\n`);
const { samples: _, ...line } = result;
console.log(JSON.stringify(line));
console.log(
  `targets: errors ${result.errors} (0), RSS after warm-up ${result.rss_growth_after_warmup_pct}% (under 10%), ` +
    `descriptors idle ${idle.fds} → ${settled.fds} and sockets ${idle.sockets} → ${settled.sockets} after the traffic (no growth)`,
);
process.exit(errors.length > 0 ? 1 : 0);
