/**
 * Measurements of `npm run bench:gateway` against one target (an origin plus the headers it needs):
 * a correctness check, load with autocannon at a given concurrency, and time to the first streamed
 * chunk over sequential streamed requests with undici.
 *
 * Latencies under load come from autocannon's per-response times (float milliseconds, 2xx only)
 * rather than its summary, whose histogram has whole-millisecond resolution: the goals here are in
 * tenths of a millisecond.
 */
import { createRequire } from "node:module";
import { Client } from "undici";

export const PATH = "/v1/chat/completions";
const MESSAGES = [{ role: "user", content: "hi" }];
export const BODY = JSON.stringify({ model: "mythos-5", messages: MESSAGES });
const STREAM_BODY = JSON.stringify({ model: "mythos-5", messages: MESSAGES, stream: true });

export interface Target {
  readonly name: string;
  readonly origin: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Load {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface Latency {
  p50_ms: number;
  p99_ms: number;
  samples: number;
}

// autocannon ships no types; this is the part of its API used here.
interface AutocannonResult {
  requests: { average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (
  opts: Record<string, unknown>,
) => AutocannonInstance;

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

export const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

function summarize(samples: number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50_ms: round(percentile(sorted, 0.5)),
    p99_ms: round(percentile(sorted, 0.99)),
    samples: sorted.length,
  };
}

const requestHeaders = (t: Target) => ({ "content-type": "application/json", ...t.headers });

/** Non-streamed POSTs from `connections` keep-alive connections for `seconds`. */
export async function load(t: Target, connections: number, seconds: number): Promise<Load> {
  return (await loadWithSamples(t, connections, seconds)).load;
}

/**
 * The warm-up before a measured run: two rounds of connections, 5 s then 3 s. V8 optimises the
 * request path in the first; when its connections close and new ones open, code for the paths seen
 * only then (closing, new sockets) is deoptimised and compiled again, for seconds. A measured run
 * right after one round counted that compiling (on V8's compiler threads) and the slower code
 * meanwhile as the proxy's cost per request (`bench:gateway:cpu`, 5 December 2026, "other threads:
 * compiler": Clearance 6.8 µs a request and the bare proxy 1.0 after one 3 s round; 1.7 and 0.2
 * after these two). A proxy in service runs for days: its steady state is what the goals are about.
 */
export const WARMUP_ROUNDS_S: readonly number[] = [5, 3];

export async function warmUp(
  t: Target,
  connections: number,
  say: (line: string) => void = () => {},
): Promise<void> {
  for (const seconds of WARMUP_ROUNDS_S) {
    say(`${t.name}: warm-up ${seconds} s`);
    await load(t, connections, seconds);
  }
}

/**
 * `load`, also returning each 2xx response's latency (ms), so that runs made at the same time
 * against several nodes can be summarized together.
 */
export async function loadWithSamples(
  t: Target,
  connections: number,
  seconds: number,
): Promise<{ load: Load; latencies: number[] }> {
  const latencies: number[] = [];
  const instance = autocannon({
    url: t.origin + PATH,
    method: "POST",
    headers: requestHeaders(t),
    body: BODY,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
  });
  instance.on("response", (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300 && latencies.length < 5_000_000) latencies.push(ms);
  });
  const result = await instance;
  const lat = summarize(latencies);
  return {
    load: {
      rps: Math.round(result.requests.average),
      p50_ms: lat.p50_ms,
      p99_ms: lat.p99_ms,
      requests: lat.samples,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
    },
    latencies,
  };
}

async function post(client: Client, t: Target, body: string) {
  const res = await client.request({ path: PATH, method: "POST", headers: requestHeaders(t), body });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** One plain and one streamed request must succeed before anything is measured. */
export async function check(t: Target, expect: Readonly<Record<string, string>> = {}): Promise<void> {
  const client = new Client(t.origin);
  try {
    const plain = await post(client, t, BODY);
    if (plain.status !== 200)
      throw new Error(`${t.name}: status ${plain.status}: ${plain.text.slice(0, 300)}`);
    const json = JSON.parse(plain.text) as { choices?: { message?: { content?: unknown } }[] };
    if (typeof json.choices?.[0]?.message?.content !== "string") {
      throw new Error(`${t.name}: not a chat.completion: ${plain.text.slice(0, 300)}`);
    }
    for (const [name, value] of Object.entries(expect)) {
      if (plain.headers[name] !== value) throw new Error(`${t.name}: ${name} is ${plain.headers[name]}`);
    }
    const streamed = await post(client, t, STREAM_BODY);
    if (streamed.status !== 200 || !streamed.text.includes("data: [DONE]")) {
      throw new Error(`${t.name}: stream: status ${streamed.status}: ${streamed.text.slice(0, 300)}`);
    }
  } finally {
    await client.close();
  }
}

/**
 * `count` sequential streamed requests (after `warmup` unmeasured ones), each timed from sending
 * to the first body chunk with an SSE `data:` line; the rest of the body is read before the next.
 * Stops early after `budgetMs`.
 */
export async function firstChunk(
  t: Target,
  count: number,
  warmup: number,
  budgetMs = 60_000,
): Promise<Latency> {
  const client = new Client(t.origin, { pipelining: 1 });
  const samples: number[] = [];
  const deadline = performance.now() + budgetMs;
  try {
    for (let i = 0; i < warmup + count && performance.now() < deadline; i++) {
      const t0 = performance.now();
      const res = await client.request({
        path: PATH,
        method: "POST",
        headers: requestHeaders(t),
        body: STREAM_BODY,
      });
      let first = -1;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (first < 0 && chunk.includes("data:")) first = performance.now() - t0;
      }
      if (res.statusCode !== 200 || first < 0)
        throw new Error(`${t.name}: stream failed (${res.statusCode})`);
      if (i >= warmup) samples.push(first);
    }
  } finally {
    await client.close();
  }
  return summarize(samples);
}
