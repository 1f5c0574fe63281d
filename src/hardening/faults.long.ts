/**
 * Faults (`npm run test:faults`): the upstream refusing, resetting, stalling, failing, sending
 * garbage or never ending; PostgreSQL unreachable and restarted mid-traffic, Redis down and back
 * (both through a TCP proxy the suite cuts, so the servers are never touched); the audit log's disk
 * full (a small tmpfs; needs root, skipped saying so otherwise) and read-only (EROFS injected at
 * the file-system calls, see read-only-fs.ts). Each fault prints one
 * line: requests sent, answers by status, wrong allows (must be 0), entries lost (must be 0),
 * recovery time, and sockets, streams and heap before and after (released: measured).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../audit/note.js";
import { parseConfig } from "../config/index.js";
import { startGateway } from "../gateway/server.js";
import { auditEntries } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { DATABASE_URL, dropSchemas, freshSchema, skipReason as pgSkip } from "../testing/postgres.js";
import { REDIS_URL, redisSkipReason } from "../testing/redis.js";
import { readOnlyDisk } from "./read-only-fs.js";
import { write } from "./tally.js";
import { startTcpProxy } from "./tcp-proxy.js";
import { acknowledged, byStatus, send, type Kind, type Outcome } from "./traffic.js";
import { UPSTREAM_SECRET_TEXT, startMockUpstream, type Behaviour, type MockUpstream } from "./upstream.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapMb = () => {
  gc();
  return Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10;
};
const handles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const MODELS = ["mythos-5", "mythos-4", "fable-5", "fable-4", "eu-mythos-5", "mythos-5-weights"];
const upstreamProviders = (u: MockUpstream) =>
  `  up: { type: openai, base_url: "${u.url}/v1", timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 1000 } }`;
const upstreamModels = MODELS.map((m) => `  ${m}: { provider: up }`).join("\n");

interface Phase {
  readonly name: string;
  readonly t: TestGateway;
  readonly upstream: MockUpstream;
  readonly kinds: readonly Kind[];
  readonly stream?: "no" | "yes" | "mixed";
  readonly hangUpMs?: number;
  readonly faultMs: number;
  inject(): Promise<void> | void;
  heal(): Promise<void> | void;
  /** The kind whose 200 marks the service back. */
  readonly recoveredBy: Kind;
  /** An answer the fault must not produce: a description, or null. */
  unexpected?(o: Outcome, faulty: boolean): string | null;
  /** Served where the policy (or failing closed) says it must not be. */
  wrongAllow?(o: Outcome, faulty: boolean, since: number): boolean;
}

interface Result {
  readonly problems: string[];
  readonly wrongAllows: number;
  readonly lost: number;
}

/** Runs traffic through a fault and back; prints and records its line. */
async function runFault(p: Phase): Promise<Result> {
  for (let i = 0; i < 3; i++) await send(p.t.url, p.t.keys, "allow");
  const before = { heap: heapMb(), handles: handles(), upstreamSockets: p.upstream.openSockets() };
  const outcomes: Outcome[] = [];
  const problems: string[] = [];
  let faulty = true;
  let injectedAt = Infinity;
  const loop = async (n: number) => {
    for (let i = n; faulty; i += 4) {
      const kind = p.kinds[i % p.kinds.length] as Kind;
      const stream = p.stream === "yes" || (p.stream === "mixed" && i % 2 === 1);
      const o = await send(p.t.url, p.t.keys, kind, {
        stream,
        ...(p.hangUpMs === undefined ? {} : { hangUpMs: p.hangUpMs }),
        timeoutMs: 15_000,
      });
      outcomes.push(o);
      if (o.status === 0) await sleep(20);
    }
  };
  await p.inject();
  injectedAt = Date.now();
  const loops = [0, 1, 2, 3].map(loop);
  await sleep(p.faultMs);
  await p.heal();
  const healedAt = Date.now();
  faulty = false;
  await Promise.all(loops);
  // Under the fault: started after it was injected and answered before it was healed. Requests
  // that straddle the healing may go either way, and are held to nothing but the policy.
  const under = (o: Outcome) => o.at >= injectedAt && o.at + o.ms < healedAt;
  // Recovery: until the marker kind is served again.
  let recoveredAt: number | null = null;
  while (Date.now() - healedAt < 30_000) {
    const o = await send(p.t.url, p.t.keys, p.recoveredBy);
    outcomes.push(o);
    if (o.status === 200) {
      recoveredAt = Date.now();
      break;
    }
    await sleep(25);
  }
  for (let i = 0; i < 8; i++)
    outcomes.push(await send(p.t.url, p.t.keys, p.kinds[i % p.kinds.length] as Kind));
  await sleep(1_500); // streams wind down, idle timeouts fire
  const after = {
    heap: heapMb(),
    handles: handles(),
    upstreamSockets: p.upstream.openSockets(),
    streams: p.upstream.activeStreams(),
  };
  const connections = await new Promise<number>((r) => p.t.gateway.server.getConnections((_, n) => r(n)));

  let wrongAllows = 0;
  outcomes.forEach((o) => {
    const isFaulty = under(o);
    const u = p.unexpected?.(o, isFaulty);
    if (u) problems.push(`${o.kind}: ${u}`);
    if (o.kind === "deny" && o.status === 200) wrongAllows++;
    if (p.wrongAllow?.(o, isFaulty, injectedAt)) wrongAllows++;
    if (o.status >= 400 && o.code === "unparseable")
      problems.push(`${o.kind}: ${o.status} with a body that is not JSON`);
  });
  wrongAllows += p.upstream.hits.filter((h) => h.body.includes('"x_case":"deny"')).length;
  const logged = new Set((await auditEntries(p.t)).map((e) => e.request_id as string));
  const lost = outcomes.filter((o) => acknowledged(o) && !logged.has(o.id as string)).length;
  if (after.streams > 0)
    problems.push(`${after.streams} upstream streams still open after every client left`);
  // The clients keep idle keep-alive connections (at most two per loop); anything beyond is a leak.
  if (connections > 8) problems.push(`${connections} client connections still open`);
  if (after.handles > before.handles + 8) problems.push(`handles ${before.handles} → ${after.handles}`);

  const record = {
    suite: "faults",
    fault: p.name,
    requests: outcomes.length,
    answers: byStatus(outcomes),
    wrong_allows: wrongAllows,
    entries_lost: lost,
    recovery_ms: recoveredAt === null ? null : recoveredAt - healedAt,
    handles: [before.handles, after.handles],
    upstream_sockets: [before.upstreamSockets, after.upstreamSockets],
    open_streams_after: after.streams,
    client_connections_after: connections,
    heap_mb: [before.heap, after.heap],
    problems: problems.length,
  };
  write(record);
  console.log(
    `fault ${p.name}: ${outcomes.length} requests, answers ${Object.entries(record.answers)
      .map(([k, v]) => `${k}:${v}`)
      .join(
        " ",
      )}, wrong allows ${wrongAllows}, entries lost ${lost}, recovery ${record.recovery_ms ?? "never"} ms, ` +
      `handles ${before.handles}→${after.handles}, upstream sockets ${before.upstreamSockets}→${after.upstreamSockets}, ` +
      `open streams ${after.streams}, client connections ${connections}, heap ${before.heap}→${after.heap} MB${problems.length ? `, problems: ${problems.slice(0, 3).join("; ")}` : ""}`,
  );
  expect(recoveredAt, `${p.name}: service never came back`).not.toBeNull();
  return { problems, wrongAllows, lost };
}

const assertClean = (r: Result) => {
  expect(r.wrongAllows).toBe(0);
  expect(r.lost).toBe(0);
  expect(r.problems).toEqual([]);
};

describe("upstream faults", () => {
  let upstream: MockUpstream;
  let t: TestGateway;
  afterAll(async () => {
    await t?.gateway.close();
    await upstream?.close();
  }, 60_000);

  const UPSTREAM_FAULTS: readonly {
    name: string;
    behaviour: Behaviour | "refused";
    stream: "no" | "yes" | "mixed";
    hangUpMs?: number;
    statuses: readonly number[];
  }[] = [
    { name: "upstream refuses connections", behaviour: "refused", stream: "mixed", statuses: [502] },
    { name: "upstream resets before answering", behaviour: "reset-before", stream: "mixed", statuses: [502] },
    { name: "upstream resets mid-answer", behaviour: "reset-during", stream: "mixed", statuses: [200, 502] },
    { name: "upstream stalls before headers", behaviour: "stall-headers", stream: "mixed", statuses: [504] },
    { name: "upstream stalls mid-stream", behaviour: "stall-mid", stream: "yes", statuses: [200] },
    { name: "upstream answers 500", behaviour: "status-500", stream: "mixed", statuses: [500] },
    { name: "upstream sends garbage SSE", behaviour: "garbage-sse", stream: "yes", statuses: [200] },
    { name: "upstream truncates SSE", behaviour: "truncated-sse", stream: "yes", statuses: [200] },
    {
      name: "upstream never ends, clients hang up",
      behaviour: "endless",
      stream: "yes",
      hangUpMs: 300,
      statuses: [0, 200],
    },
  ];

  for (const f of UPSTREAM_FAULTS) {
    it(f.name, { timeout: 120_000 }, async () => {
      upstream ??= await startMockUpstream();
      t ??= await startTestGateway({ providers: upstreamProviders(upstream), models: upstreamModels });
      const r = await runFault({
        name: f.name,
        t,
        upstream,
        kinds: ["allow", "deny", "fallback", "open"],
        stream: f.stream,
        ...(f.hangUpMs === undefined ? {} : { hangUpMs: f.hangUpMs }),
        faultMs: 2_000,
        inject: () =>
          f.behaviour === "refused" ? upstream.unlisten() : void (upstream.behaviour = f.behaviour),
        heal: () => (f.behaviour === "refused" ? upstream.listen() : void (upstream.behaviour = "ok")),
        recoveredBy: "allow",
        unexpected(o, faulty) {
          // A client that hangs up may do so before its denial arrives (status 0).
          if (o.kind === "deny")
            return o.status === 403 || (f.hangUpMs !== undefined && o.status === 0)
              ? null
              : `denial answered ${o.status}`;
          if (!faulty) return null;
          return f.statuses.includes(o.status) ? null : `answered ${o.status} ${o.code ?? ""}`;
        },
      });
      // An upstream's own error text never reaches a client (the 500's body names an internal host).
      const leaked = await send(t.url, t.keys, "allow");
      expect(leaked.code ?? "").not.toContain(UPSTREAM_SECRET_TEXT);
      assertClean(r);
    });
  }
});

describe.skipIf(redisSkipReason !== undefined)("Redis down and back (through a TCP proxy)", () => {
  it(
    "quota-limited controlled models fail closed with a reason, the rest keep serving, service resumes",
    { timeout: 120_000 },
    async () => {
      const upstream = await startMockUpstream();
      const redis = new URL(REDIS_URL);
      const proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
      const t = await startTestGateway({
        providers: upstreamProviders(upstream),
        models: upstreamModels,
        extra: `counters: { driver: redis, timeout_ms: 200, prefix: "hardening-${Date.now()}:" }`,
        env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` },
      });
      try {
        let cutAt = Infinity;
        const r = await runFault({
          name: "Redis down and back",
          t,
          upstream,
          kinds: ["licensed", "allow", "open", "deny"],
          faultMs: 3_000,
          inject: () => {
            cutAt = Date.now();
            proxy.cut();
          },
          heal: () => proxy.restore(),
          recoveredBy: "licensed",
          unexpected(o, faulty) {
            if (!faulty || o.kind === "deny") return null;
            if (o.kind === "licensed") return [200, 503].includes(o.status) ? null : `answered ${o.status}`;
            return o.status === 200
              ? null
              : `open or home answered ${o.status} ${o.code ?? ""} while Redis was down`;
          },
          // Failing closed: a quota-limited license's model served while the counters were out of reach.
          wrongAllow: (o, faulty) =>
            faulty && o.kind === "licensed" && o.status === 200 && o.at > cutAt + 250,
        });
        assertClean(r);
      } finally {
        await t.gateway.close();
        await proxy.close();
        await upstream.close();
      }
    },
  );
});

describe.skipIf(pgSkip !== undefined)("PostgreSQL unreachable and restarted (through a TCP proxy)", () => {
  afterAll(() => dropSchemas());

  async function pgGateway(upstream: MockUpstream, proxyPort: number): Promise<TestGateway> {
    const { url } = await freshSchema();
    const viaProxy = new URL(url);
    viaProxy.host = `127.0.0.1:${proxyPort}`;
    const AUDIT_KEY = generateKey("clearance.local/audit").privateKey;
    const config = parseConfig(
      `scheme: g7-trusted-partners.yaml
store: { driver: postgres }
providers:
${upstreamProviders(upstream)}
models:
${upstreamModels}
location: { header: x-test-country, trusted_proxies: [127.0.0.1/32] }
audit: { node: faults, key_env: AUDIT_KEY, checkpoint_ms: 200 }
refresh_ms: 100
freshness_ms: 1000
admin_security: { failed_auth_per_minute: 100000 }`,
      join("examples", "faults.yaml"),
      { DATABASE_URL: viaProxy.toString(), CLEARANCE_ADMIN_TOKEN: ADMIN_TOKEN, AUDIT_KEY },
    );
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-faults-pg-"));
    const gateway = await startGateway(config, { dataDir, port: 0, log: () => {} });
    const post = (path: string, body: unknown) =>
      fetch(`${gateway.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<Record<string, string>>);
    const keys = new Map<string, string>();
    for (const file of readdirSync("examples/principals").filter((f) => f.endsWith(".json"))) {
      const p = JSON.parse(readFileSync(join("examples/principals", file), "utf8")) as { id: string };
      await post("/admin/v1/principals", p);
      keys.set(p.id, (await post("/admin/v1/keys", { principal: p.id })).key as string);
    }
    return { gateway, url: gateway.url, keys, dataDir };
  }

  for (const [name, downMs] of [
    ["PostgreSQL unreachable for 3 s", 3_000],
    ["PostgreSQL restarted (connections dropped, back in 300 ms)", 300],
  ] as const) {
    it(name, { timeout: 120_000 }, async () => {
      const upstream = await startMockUpstream();
      const pg = new URL(DATABASE_URL);
      const proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
      const t = await pgGateway(upstream, proxy.port);
      try {
        const r = await runFault({
          name,
          t,
          upstream,
          kinds: ["allow", "open", "deny", "fallback"],
          faultMs: downMs,
          inject: () => proxy.cut(),
          heal: () => proxy.restore(),
          recoveredBy: "allow",
          // The shared audit log lives in PostgreSQL: without it no decision can be recorded, so
          // nothing is answered but 503 (no answer without its record), each with its reason.
          unexpected(o, faulty) {
            if (!faulty) return null;
            if ([200, 403].includes(o.status)) return null;
            return o.status === 503 && ["audit_unavailable", "policy_unconfirmed"].includes(o.code ?? "")
              ? null
              : `answered ${o.status} ${o.code ?? ""}`;
          },
        });
        assertClean(r);
      } finally {
        await t.gateway.close().catch(() => undefined);
        await proxy.close();
        await upstream.close();
      }
    });
  }
});

// Mounted when the tests below run, not when the file is collected: a run filtered to other faults
// must not leave a tmpfs behind.
const canMount = process.getuid?.() === 0;
if (!canMount) console.warn("audit disk full skipped: mounting a small tmpfs needs root (mount -t tmpfs)");
const mountPoint = join(tmpdir(), `clearance-faults-fs-${process.pid}-${Date.now()}`);

describe.skipIf(!canMount)("the audit log's disk full (a small tmpfs)", () => {
  let upstream: MockUpstream;
  let t: TestGateway;
  beforeAll(() => {
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint], { stdio: "ignore" });
  });
  afterAll(async () => {
    await t?.gateway.close();
    await upstream?.close();
    execFileSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  const filler = join(mountPoint, "filler");
  function fill(): void {
    let size = 1 << 20;
    while (size >= 512) {
      try {
        writeFileSync(filler, Buffer.alloc(size, 1), { flag: "a" });
      } catch {
        size /= 2;
      }
    }
  }
  const refusedWithReason = (o: Outcome, faulty: boolean) =>
    !faulty || [200, 403].includes(o.status) || (o.status === 503 && o.code === "audit_unavailable")
      ? null
      : `answered ${o.status} ${o.code ?? ""}`;

  // Read-only is not among them: a tmpfs (or any file system) with the log's files open for writing
  // cannot be remounted read-only (EBUSY). The full disk takes the same path: a write that fails.
  for (const [name, inject, heal] of [["audit disk full", fill, () => rmSync(filler)]] as const) {
    it(name, { timeout: 120_000 }, async () => {
      upstream ??= await startMockUpstream();
      t ??= await startTestGateway({
        providers: upstreamProviders(upstream),
        models: upstreamModels,
        dataDir: join(mountPoint, "data"),
      });
      const r = await runFault({
        name,
        t,
        upstream,
        kinds: ["allow", "deny", "open", "fallback"],
        faultMs: 2_000,
        inject,
        heal,
        recoveredBy: "allow",
        unexpected: refusedWithReason,
      });
      assertClean(r);
    });
  }
});

// A read-only disk cannot be made for real while the log holds its files open for writing (see
// read-only-fs.ts), so here every write the log makes under its data directory fails with EROFS,
// injected at the file-system calls: the write-ahead file's writes and truncations, its probes,
// tiles, checkpoints and restore points. Strict oracle: a request started after the disk turned
// read-only and answered before it was writable again has no durable record, so it must be refused
// with 503 `audit_unavailable` — a 200 or a 403 then would be an answer without its record.
describe("the audit log's disk read-only (EROFS injected at the file-system calls)", () => {
  it("audit disk read-only", { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-faults-ro-"));
    const disk = await readOnlyDisk(dataDir);
    const upstream = await startMockUpstream();
    const t = await startTestGateway({
      providers: upstreamProviders(upstream),
      models: upstreamModels,
      dataDir,
    });
    try {
      let refusedBefore = 0;
      const r = await runFault({
        name: "audit disk read-only",
        t,
        upstream,
        kinds: ["allow", "deny", "open", "fallback"],
        faultMs: 2_000,
        inject: () => {
          refusedBefore = disk.refused();
          disk.on();
        },
        heal: () => disk.off(),
        recoveredBy: "allow",
        unexpected: (o, faulty) =>
          !faulty || (o.status === 503 && o.code === "audit_unavailable")
            ? null
            : `answered ${o.status} ${o.code ?? ""} while the disk was read-only`,
        wrongAllow: (o, faulty) => faulty && o.status === 200,
      });
      // The injection did bite: the log's writes were refused, not skipped.
      expect(disk.refused()).toBeGreaterThan(refusedBefore);
      assertClean(r);
    } finally {
      await t.gateway.close();
      await upstream.close();
      disk.restore();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
