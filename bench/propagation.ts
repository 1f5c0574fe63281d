/**
 * `npm run bench:propagation`: how long a change committed through one gateway node takes to be
 * in force on another. Two `clearance serve` processes (node A and node B, built from dist/, each
 * with its own data dir in a temporary directory, the demo provider, the admin token from
 * CLEARANCE_ADMIN_TOKEN) over one PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) in a fresh schema, dropped at the end.
 *
 * Both nodes sign with one audit key (audit.key_file in the temporary directory, created by A), as
 * nodes sharing one store must.
 *
 * Per sample, one change made through A's admin API while B is polled without pause by a few
 * concurrent requests on keep-alive connections (by default GET /v1/models/mythos-5 with the
 * credential: a decision, no upstream call, no audit entry):
 * - key revocation: a new principal (a US national) and a key for it are created through A, the
 *   key is seen to work on B, then revoked through A; measured until B answers 401;
 * - license suspension: a license (applied for and approved twice through A's admin API, for an
 *   Indian organization's principal) is suspended; measured until B no longer allows mythos-5
 *   (the scheme's fallback, mythos-4, is served instead); then reinstated, and measured back;
 * - partner suspension: the country partner g7-fvey is suspended, measured until B no longer
 *   allows a French national mythos-5; then made active again, and measured back.
 * Before each change the bench waits a random 0–pause ms, so that changes fall at every phase of
 * a polling node's timer.
 *
 * For each change: `from_answer` = B's first refusal received − A's admin API answer received (the
 * commit has happened by then: the headline figure, can be slightly negative when B is faster than
 * A's own post-commit work); `from_sent` = the same − the change request sent (an upper bound
 * including the admin request itself). The refusal happened on B between the last poll sent that
 * was still allowed and the first refusal received: that window is reported as `uncertainty`.
 *
 * Prints one JSON line and writes bench/results/propagation.json (with every sample).
 *
 * Options: --samples N key revocations (default 100); --other-samples M license and partner
 * suspensions each (default 25; 0: keys only); --pollers P concurrent polls of B (default 4);
 * --poll models|chat (chat: POST /v1/chat/completions, the full request path); --pause-ms MS
 * (default 250); --timeout-ms MS per wait (default 10000); --refresh-ms MS (the nodes' refresh_ms;
 * default: the nodes' own default).
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Pool } from "undici";
import { percentile, round } from "./gateway-measure.js";
import {
  killAllNow,
  onCleanup,
  repoRoot,
  runCleanups,
  sibling,
  stop,
  stopAll,
  track,
} from "./gateway-procs.js";
import { describeDatabase, freshSchema, listeningConnections, type FreshSchema } from "./postgres.js";
import { writeResult } from "./results.js";

const GOAL_P99_MS = 1_000;
const MODEL = "mythos-5";

function log(message: string): void {
  process.stderr.write(`[bench:propagation] ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  samples: number;
  otherSamples: number;
  pollers: number;
  poll: "models" | "chat";
  pauseMs: number;
  timeoutMs: number;
  refreshMs: number | undefined;
}

const USAGE =
  "usage: bench:propagation [-- --samples N] [--other-samples M] [--pollers P] [--poll models|chat] " +
  "[--pause-ms MS] [--timeout-ms MS] [--refresh-ms MS]";

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    samples: 100,
    otherSamples: 25,
    pollers: 4,
    poll: "models",
    pauseMs: 250,
    timeoutMs: 10_000,
    refreshMs: undefined,
  };
  const ints: Record<string, [keyof Options, number]> = {
    samples: ["samples", 1],
    "other-samples": ["otherSamples", 0],
    pollers: ["pollers", 1],
    "pause-ms": ["pauseMs", 0],
    "timeout-ms": ["timeoutMs", 100],
    "refresh-ms": ["refreshMs", 1],
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]!);
    const name = m?.[1];
    if (m === null || name === undefined || (name !== "poll" && !(name in ints)))
      throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    if (name === "poll") {
      if (value !== "models" && value !== "chat") throw new Error(`--poll models|chat\n${USAGE}`);
      o.poll = value;
      continue;
    }
    const [key, min] = ints[name]!;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    (o as unknown as Record<string, number>)[key] = n;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The two nodes: `clearance serve` processes

interface GatewayNode {
  readonly name: string;
  readonly url: string;
  readonly proc: ChildProcess;
}

/** dist/src/cli/main.js, next to dist/bench/. */
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.js");

async function startNode(
  name: string,
  dir: string,
  db: FreshSchema,
  token: string,
  refreshMs: number | undefined,
): Promise<GatewayNode> {
  const config = join(dir, `${name}.yaml`);
  // JSON strings are valid YAML scalars, so paths with any characters stay intact.
  writeFileSync(
    config,
    `scheme: ${JSON.stringify(join(repoRoot(), "examples", "g7-trusted-partners.yaml"))}
data_dir: ${JSON.stringify(join(dir, name))}
store: { driver: postgres }
listen: { host: 127.0.0.1, port: 0 }
providers: { demo: { type: demo } }
default_provider: demo
location: { header: x-demo-country, trusted_proxies: [127.0.0.1/32, "::1/128"] }
audit: { node: ${JSON.stringify(name)}, key_file: ${JSON.stringify(join(dir, "audit.key"))} }
${refreshMs === undefined ? "" : `refresh_ms: ${refreshMs}\n`}`,
  );
  const proc = track(
    fork(CLI, ["serve", "--config", config], {
      execArgv: ["--import", pathToFileURL(sibling("exit-with-parent")).href],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, DATABASE_URL: db.url, CLEARANCE_ADMIN_TOKEN: token },
    }),
  );
  // The node's own messages on stderr are passed on, except the first-start notice of its key.
  const tail: string[] = [];
  let pending = "";
  let failedToStart: (() => void) | undefined;
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (!/created audit signing key/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
      // `clearance serve` reports a failed start this way; its stack follows within moments.
      if (/unexpected error/.test(line) && failedToStart !== undefined) setTimeout(failedToStart, 300);
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${why}\n${[...tail, pending].join("\n")}`));
    };
    const timer = setTimeout(() => fail("not listening after 60 s"), 60_000);
    const onExit = (code: number | null, signal: string | null) =>
      fail(`exited (${code ?? signal}) before it listened`);
    proc.once("exit", onExit);
    failedToStart = () => {
      proc.off("exit", onExit);
      fail("failed to start");
    };
    proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const m = /\bhttps?:\/\/[^\s/]+/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        proc.off("exit", onExit);
        failedToStart = undefined;
        resolve(m[0]);
      }
    });
  });
  return { name, url, proc };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  readonly status: number;
  readonly decision: string | undefined;
  readonly text: string;
}

interface Req {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

async function send(pool: Pool, req: Req): Promise<Reply> {
  const res = await pool.request({ ...req });
  const text = await res.body.text();
  const d = res.headers["x-clearance-decision"];
  return { status: res.statusCode, decision: Array.isArray(d) ? d[0] : d, text };
}

class Admin {
  constructor(
    private readonly pool: Pool,
    private readonly token: string,
  ) {}

  async call<T = Record<string, unknown>>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    token = this.token,
  ): Promise<T> {
    const r = await send(this.pool, {
      method,
      path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (r.status < 200 || r.status >= 300)
      throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 400)}`);
    return JSON.parse(r.text) as T;
  }
}

/** The cheap request B is polled with: the credential, the caller's country, the model. */
function probe(key: string, country: string, mode: Options["poll"]): Req {
  const headers = { authorization: `Bearer ${key}`, "x-demo-country": country };
  if (mode === "models") return { method: "GET", path: `/v1/models/${MODEL}`, headers };
  return {
    method: "POST",
    path: "/v1/chat/completions",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hi" }] }),
  };
}

type State = "allowed" | "refused" | "other";

/** Allowed: served as asked. Refused: 401 (key), 403 (deny), or served through a fallback. */
function classify(r: Reply): State {
  if (r.status === 401 || r.status === 403) return "refused";
  if (r.status !== 200) return "other";
  if (r.decision === "allow") return "allowed";
  if (r.decision === "fallback" || r.decision === "deny") return "refused";
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Watching B

interface Seen {
  /** performance.now() of the first response in the wanted state, and when that request was sent. */
  readonly firstRecv: number;
  readonly firstSent: number;
  /** The latest send time of a response still in the other state (-Infinity: none). */
  readonly lastOtherSent: number;
  readonly start: number;
  readonly end: number;
  readonly polls: number;
  readonly unexpected: number;
  /** Responses back in the old state although sent after the first one in the new state. */
  readonly regressions: number;
  readonly timedOut: boolean;
}

/** After the first response in the wanted state, B is polled this much longer to catch a flap back. */
const HOLD_MS = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls B with `pollers` requests at a time, each sent as soon as the previous one is answered,
 * until a response is in state `want` (then `HOLD_MS` longer), or `timeoutMs` passes.
 */
async function watch(
  pool: Pool,
  req: Req,
  want: "allowed" | "refused",
  pollers: number,
  timeoutMs: number,
  roundTrips: number[],
  unexpectedSamples: string[],
): Promise<Seen> {
  const start = performance.now();
  const deadline = start + timeoutMs;
  let firstRecv = Infinity;
  let firstSent = Infinity;
  let lastOtherSent = -Infinity;
  let polls = 0;
  let unexpected = 0;
  let regressions = 0;
  const poller = async () => {
    for (;;) {
      const now = performance.now();
      if (now >= deadline || now >= firstRecv + HOLD_MS) return;
      const sent = performance.now();
      let state: State;
      try {
        const r = await send(pool, req);
        state = classify(r);
        if (state === "other" && unexpectedSamples.length < 5)
          unexpectedSamples.push(`${r.status} ${r.decision}: ${r.text.slice(0, 200)}`);
      } catch (err) {
        state = "other";
        if (unexpectedSamples.length < 5) unexpectedSamples.push(String(err));
      }
      const recv = performance.now();
      polls++;
      roundTrips.push(recv - sent);
      if (state === want) {
        if (recv < firstRecv) {
          firstRecv = recv;
          firstSent = sent;
        }
      } else if (state === "other") {
        unexpected++;
        await sleep(1);
      } else {
        lastOtherSent = Math.max(lastOtherSent, sent);
        if (sent > firstRecv) regressions++;
      }
    }
  };
  await Promise.all(Array.from({ length: pollers }, poller));
  const end = performance.now();
  const timedOut = firstRecv === Infinity;
  return {
    firstRecv: timedOut ? end : firstRecv,
    firstSent: timedOut ? end : firstSent,
    lastOtherSent,
    start,
    end,
    polls,
    unexpected,
    regressions,
    timedOut,
  };
}

// ---------------------------------------------------------------------------------------------
// Samples

type Kind = "key_revoke" | "license_suspend" | "partner_suspend";

interface Sample {
  kind: Kind;
  /** B's first refusal received − A's answer to the change received. */
  from_answer_ms: number;
  /** B's first refusal received − the change request sent. */
  from_sent_ms: number;
  /** A's admin API: change request sent → answer received. */
  admin_ms: number;
  /** B changed between the last poll still allowed (sent) and the first refusal (received). */
  uncertainty_ms: number | null;
  /** Mean time between two polls of B (all pollers together) while waiting. */
  poll_interval_ms: number;
  polls: number;
  timed_out: boolean;
  /** Key revocations: the new key's creation answered by A → first success on B. */
  create_visible_ms?: number;
  /** License and partner: the change undone through A → B allows again (from A's answer). */
  restore_ms?: number;
  /** Whether A itself refused right after the measurement (it must). */
  a_refuses: boolean;
}

interface Context {
  readonly opts: Options;
  readonly admin: Admin;
  readonly a: Pool;
  readonly b: Pool;
  readonly roundTrips: number[];
  readonly unexpected: string[];
  regressions: number;
  unexpectedCount: number;
}

/** Starts polling B, makes the change through A, waits for B to reach `want`. */
async function measureChange(
  ctx: Context,
  req: Req,
  want: "allowed" | "refused",
  change: () => Promise<unknown>,
) {
  const seen = watch(ctx.b, req, want, ctx.opts.pollers, ctx.opts.timeoutMs, ctx.roundTrips, ctx.unexpected);
  const sent = performance.now();
  await change();
  const answered = performance.now();
  const s = await seen;
  ctx.regressions += s.regressions;
  ctx.unexpectedCount += s.unexpected;
  return { sent, answered, seen: s };
}

async function waitFor(ctx: Context, req: Req, want: "allowed" | "refused", what: string): Promise<Seen> {
  const s = await watch(
    ctx.b,
    req,
    want,
    ctx.opts.pollers,
    ctx.opts.timeoutMs,
    ctx.roundTrips,
    ctx.unexpected,
  );
  ctx.unexpectedCount += s.unexpected;
  if (s.timedOut) throw new Error(`node B: ${what} not ${want} after ${ctx.opts.timeoutMs} ms`);
  return s;
}

function sampleOf(kind: Kind, m: Awaited<ReturnType<typeof measureChange>>, aRefuses: boolean): Sample {
  const { sent, answered, seen } = m;
  return {
    kind,
    from_answer_ms: round(seen.firstRecv - answered),
    from_sent_ms: round(seen.firstRecv - sent),
    admin_ms: round(answered - sent),
    uncertainty_ms: seen.lastOtherSent === -Infinity ? null : round(seen.firstRecv - seen.lastOtherSent),
    poll_interval_ms: round((seen.end - seen.start) / Math.max(1, seen.polls)),
    polls: seen.polls,
    timed_out: seen.timedOut,
    a_refuses: aRefuses,
  };
}

const pause = (ctx: Context) => sleep(Math.random() * ctx.opts.pauseMs);

async function aRefuses(ctx: Context, req: Req): Promise<boolean> {
  return classify(await send(ctx.a, req)) === "refused";
}

async function keySample(ctx: Context, i: number): Promise<Sample> {
  const principal = `bench-p${i}`;
  await ctx.admin.call("POST", "/admin/v1/principals", { id: principal, citizenships: [{ country: "US" }] });
  const created = await ctx.admin.call<{ key: string; id: string }>("POST", "/admin/v1/keys", {
    principal,
    label: "propagation bench",
  });
  const createdAt = performance.now();
  const req = probe(created.key, "US", ctx.opts.poll);
  const visible = await waitFor(ctx, req, "allowed", `key ${created.id}`);
  await pause(ctx);
  const m = await measureChange(ctx, req, "refused", () =>
    ctx.admin.call("POST", `/admin/v1/keys/${created.id}/revoke`, {}),
  );
  return {
    ...sampleOf("key_revoke", m, await aRefuses(ctx, req)),
    create_visible_ms: round(visible.firstRecv - createdAt),
  };
}

/** A change that is undone after each sample (license suspend/reinstate, partner suspend/activate). */
interface Toggle {
  readonly kind: Kind;
  readonly req: Req;
  suspend(): Promise<unknown>;
  restore(): Promise<unknown>;
}

async function toggleSample(ctx: Context, t: Toggle): Promise<Sample> {
  await pause(ctx);
  const m = await measureChange(ctx, t.req, "refused", () => t.suspend());
  const refusedOnA = await aRefuses(ctx, t.req);
  const back = await measureChange(ctx, t.req, "allowed", () => t.restore());
  if (back.seen.timedOut) throw new Error(`${t.kind}: node B never allowed again after the restore`);
  return { ...sampleOf(t.kind, m, refusedOnA), restore_ms: round(back.seen.firstRecv - back.answered) };
}

const examplePrincipal = (file: string) =>
  JSON.parse(readFileSync(join(repoRoot(), "examples", "principals", file), "utf8")) as Record<
    string,
    unknown
  >;

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

/**
 * A license through the admin API (applied for by the admin, approved by two approver identities)
 * for devi, an engineer of an Indian organization: outside every partner, she is allowed mythos-5
 * only under it; suspended, she gets the fallback.
 */
async function licenseToggle(ctx: Context): Promise<Toggle> {
  const approvers: string[] = [];
  for (const n of [1, 2]) {
    const r = await ctx.admin.call<{ token: string }>("POST", "/admin/v1/identities", {
      id: `bench-approver-${n}`,
      name: `Benchmark approver ${n}`,
      roles: ["approver"],
    });
    approvers.push(r.token);
  }
  const devi = examplePrincipal("in-engineer.json");
  await ctx.admin.call("POST", "/admin/v1/principals", devi);
  const { key } = await ctx.admin.call<{ key: string }>("POST", "/admin/v1/keys", { principal: devi.id });
  const org = (devi.organization as { id: string }).id;
  const id = "LIC-BENCH-PROPAGATION";
  await ctx.admin.call("POST", "/admin/v1/licenses", {
    id,
    licensee: { organization: org },
    models: [MODEL],
    actions: ["infer"],
    destinations: ["IN"],
    nationalities: ["IN"],
    valid_from: day(-1),
    valid_until: day(365),
    justification: "propagation benchmark",
  });
  for (const token of approvers) await ctx.admin.call("POST", `/admin/v1/licenses/${id}/approve`, {}, token);
  const req = probe(key, "IN", ctx.opts.poll);
  await waitFor(ctx, req, "allowed", `devi under license ${id}`);
  const reason = { reason: "propagation benchmark" };
  return {
    kind: "license_suspend",
    req,
    suspend: () => ctx.admin.call("POST", `/admin/v1/licenses/${id}/suspend`, reason),
    restore: () => ctx.admin.call("POST", `/admin/v1/licenses/${id}/reinstate`, reason),
  };
}

/** The country partner g7-fvey (seeded from the scheme) and benoit, a French national, in France. */
async function partnerToggle(ctx: Context): Promise<Toggle> {
  const partner = "g7-fvey";
  const found = await ctx.admin.call<{ partner: { status: string } }>("GET", `/admin/v1/partners/${partner}`);
  if (found.partner.status !== "active") throw new Error(`partner ${partner} is ${found.partner.status}`);
  const benoit = examplePrincipal("fr-researcher.json");
  await ctx.admin.call("POST", "/admin/v1/principals", benoit);
  const { key } = await ctx.admin.call<{ key: string }>("POST", "/admin/v1/keys", { principal: benoit.id });
  const req = probe(key, "FR", ctx.opts.poll);
  await waitFor(ctx, req, "allowed", `benoit under partner ${partner}`);
  const path = `/admin/v1/partners/${partner}/status`;
  return {
    kind: "partner_suspend",
    req,
    suspend: () => ctx.admin.call("POST", path, { status: "suspended", reason: "propagation benchmark" }),
    restore: () => ctx.admin.call("POST", path, { status: "active", reason: "propagation benchmark" }),
  };
}

// ---------------------------------------------------------------------------------------------
// Figures

function stats(values: readonly number[]) {
  if (values.length === 0) return { count: 0 };
  const s = Float64Array.from(values).sort();
  return {
    count: s.length,
    min_ms: round(s[0]!),
    p50_ms: round(percentile(s, 0.5)),
    p90_ms: round(percentile(s, 0.9)),
    p99_ms: round(percentile(s, 0.99)),
    max_ms: round(s[s.length - 1]!),
    mean_ms: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const db = await freshSchema("clearance_bench");
  const dir = mkdtempSync(join(tmpdir(), "clearance-propagation-"));
  let dropped = false;
  const cleanup = async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
    dropped = true;
  };
  const forget = onCleanup(cleanup);
  log(`PostgreSQL ${db.server} at ${describeDatabase(db.url)}, schema ${db.schema}`);

  const token = randomBytes(24).toString("base64url");
  const listenersBefore = await listeningConnections();
  const samples: Sample[] = [];
  const skipped: Record<string, string> = {};
  let ctx: Context | undefined;
  let listenersAdded: number | null = null;
  try {
    // One after the other: A migrates the schema and seeds the scheme, B finds them done.
    const a = await startNode("node-a", dir, db, token, opts.refreshMs);
    const b = await startNode("node-b", dir, db, token, opts.refreshMs);
    log(`node A ${a.url}, node B ${b.url}`);
    await sleep(500); // a LISTEN connection, if the nodes open one, is up by now
    const listenersAfter = await listeningConnections();
    listenersAdded =
      listenersBefore === null || listenersAfter === null ? null : listenersAfter - listenersBefore;

    const aPool = new Pool(a.url, { connections: 4 });
    const bPool = new Pool(b.url, { connections: opts.pollers, pipelining: 1 });
    ctx = {
      opts,
      admin: new Admin(aPool, token),
      a: aPool,
      b: bPool,
      roundTrips: [],
      unexpected: [],
      regressions: 0,
      unexpectedCount: 0,
    };
    const toggles = new Map<Kind, Toggle>();
    if (opts.otherSamples > 0) {
      for (const [kind, make] of [
        ["license_suspend", licenseToggle],
        ["partner_suspend", partnerToggle],
      ] as const) {
        try {
          toggles.set(kind, await make(ctx));
        } catch (err) {
          skipped[kind] = (err as Error).message.slice(0, 500);
          log(`${kind}: skipped: ${skipped[kind]}`);
        }
      }
    }
    const plan = shuffle([
      ...Array.from({ length: opts.samples }, () => "key_revoke" as Kind),
      ...[...toggles.keys()].flatMap((k) => Array.from({ length: opts.otherSamples }, () => k)),
    ]);
    log(
      `${plan.length} changes (${opts.samples} key revocations` +
        `${[...toggles.keys()].map((k) => `, ${opts.otherSamples} ${k}`).join("")}), ${opts.pollers} pollers on B`,
    );
    for (const [i, kind] of plan.entries()) {
      const s = kind === "key_revoke" ? await keySample(ctx, i) : await toggleSample(ctx, toggles.get(kind)!);
      samples.push(s);
      if ((i + 1) % 25 === 0 || i + 1 === plan.length) {
        const so = stats(samples.map((x) => x.from_answer_ms)) as { p50_ms: number; max_ms: number };
        log(`${i + 1}/${plan.length}: p50 ${so.p50_ms} ms, max ${so.max_ms} ms`);
      }
    }
    await aPool.close();
    await bPool.close();
    await Promise.all([a, b].map((n) => stop(n.proc)));
  } finally {
    forget();
    await cleanup().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }

  const kinds = [...new Set(samples.map((s) => s.kind))];
  const figures = (xs: readonly Sample[]) => ({
    from_answer: stats(xs.map((s) => s.from_answer_ms)),
    from_sent: stats(xs.map((s) => s.from_sent_ms)),
  });
  const all = figures(samples);
  const timeouts = samples.filter((s) => s.timed_out).length;
  const p99 = (all.from_answer as { p99_ms?: number }).p99_ms ?? null;
  const p99Sent = (all.from_sent as { p99_ms?: number }).p99_ms ?? null;
  const intervals = samples.map((s) => s.poll_interval_ms);
  const notes = [
    `${cpus().length} cores shared by node A, node B, PostgreSQL and this process (the pollers)`,
    `B polled with ${opts.poll === "models" ? `GET /v1/models/${MODEL}` : `POST /v1/chat/completions (${MODEL})`}, ${opts.pollers} requests at a time on keep-alive connections, each sent when the previous one is answered`,
    "refused: 401 for a revoked key; for a suspended license or partner, the decision leaves allow (the scheme's fallback mythos-4 is served, x-clearance-decision: fallback)",
    "from_answer: B's first refusal received minus A's admin answer received (A answers after the commit, so this is the propagation the caller of the admin API sees); from_sent: minus the change request sent, an upper bound on commit → refusal",
    `a random pause of 0–${opts.pauseMs} ms before each change, so changes fall at every phase of a polling node's timer`,
    "timed-out samples count with the time waited",
  ];
  if (timeouts > 0) notes.push(`${timeouts} samples timed out after ${opts.timeoutMs} ms`);
  if (ctx !== undefined && ctx.unexpectedCount > 0)
    notes.push(`${ctx.unexpectedCount} unexpected responses from B, e.g. ${ctx.unexpected.join(" | ")}`);

  const out = {
    bench: "propagation",
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    loadavg: loadavg().map((x) => round(x, 2)),
    settings: {
      samples: Object.fromEntries(kinds.map((k) => [k, samples.filter((s) => s.kind === k).length])),
      pollers: opts.pollers,
      poll: opts.poll === "models" ? `GET /v1/models/${MODEL}` : "POST /v1/chat/completions",
      pause_ms: opts.pauseMs,
      timeout_ms: opts.timeoutMs,
      refresh_ms: opts.refreshMs ?? "node default",
    },
    database: { server: describeDatabase(db.url), version: db.server, schema: db.schema, dropped },
    /** LISTEN connections on the server after the nodes started minus before (2: both nodes listen). */
    listen_connections_added: listenersAdded,
    propagation: {
      all,
      ...Object.fromEntries(kinds.map((k) => [k, figures(samples.filter((s) => s.kind === k))])),
    },
    uncertainty: stats(samples.flatMap((s) => (s.uncertainty_ms === null ? [] : [s.uncertainty_ms]))),
    admin_answer: stats(samples.map((s) => s.admin_ms)),
    key_create_visible_on_b: stats(
      samples.flatMap((s) => (s.create_visible_ms === undefined ? [] : [s.create_visible_ms])),
    ),
    restore: Object.fromEntries(
      kinds
        .filter((k) => k !== "key_revoke")
        .map((k) => [k, stats(samples.filter((s) => s.kind === k).map((s) => s.restore_ms!))]),
    ),
    polling: {
      interval_ms: {
        p50: round(percentile(Float64Array.from(intervals).sort(), 0.5)),
        max: round(Math.max(...intervals)),
      },
      round_trip: stats(ctx?.roundTrips ?? []),
      goal_interval_ms: "< 5",
    },
    anomalies: {
      timeouts,
      regressions: ctx?.regressions ?? 0,
      a_not_refusing: samples.filter((s) => !s.a_refuses).length,
      unexpected_responses: ctx?.unexpectedCount ?? 0,
    },
    skipped,
    goal: {
      metric: "p99 of from_answer (A's answer to the change → B's first refusal), all change kinds",
      goal: `<= ${GOAL_P99_MS} ms`,
      value: p99,
      met: p99 === null ? null : p99 <= GOAL_P99_MS && timeouts === 0,
      from_sent_p99_ms: p99Sent,
      met_from_sent: p99Sent === null ? null : p99Sent <= GOAL_P99_MS && timeouts === 0,
    },
    notes,
  };
  const path = writeResult("propagation", { ...out, samples });
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllNow();
    void runCleanups().finally(() => process.exit(130));
  });
}
main()
  .then((code) => process.exit(code))
  .catch(async (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    await runCleanups();
    process.exit(1);
  });
