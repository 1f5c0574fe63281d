/**
 * `npm run bench:identity`: what a partner token costs against an API key.
 *
 * 1. In process: microseconds per authentication of one token (RS256, ES256, EdDSA) — verified
 *    every time (no cache) and from the verified-token cache — and of one Clearance key.
 * 2. Through the gateway (its own process, a mock upstream in another, autocannon here): requests
 *    per second with a key and with each kind of token, the token cache on and off. Target: token
 *    authentication costs at most 10% of the key-authenticated throughput.
 *
 * Short on purpose (a few seconds a phase). Prints one JSON line; writes bench/results/identity.json
 * with the machine's load (`uptime`) so the figures can be read against it.
 */
import { execSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { authenticate } from "../src/gateway/auth.js";
import type { Snapshot } from "../src/gateway/snapshot.js";
import { Federation } from "../src/identity/federation.js";
import type { ProviderRecord } from "../src/identity/schema.js";
import { loadSchemeFile } from "../src/scheme/index.js";
import type { Store, StoredRecord } from "../src/store/index.js";
import { generateApiKey } from "../src/store/keys.js";
import { load, type Load } from "./gateway-measure.js";
import { forkChild, repoRoot, runCleanups, stop } from "./gateway-procs.js";
import { ALGS, partnerKeys, type Alg } from "./identity-keys.js";
import { log, round, writeResult } from "./results.js";

const CONNECTIONS = 16;
const SECONDS = 3;
const GOAL_TOKEN_VS_KEY = 0.9;

/** Microseconds per call of an async function, over about `ms` of calls (after a short warm-up). */
async function perCall(fn: () => Promise<unknown>, ms: number): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) await fn();
    calls += 100;
  }
  return round(((performance.now() - t0) * 1000) / calls, 2);
}

async function inProcess() {
  const partner = await partnerKeys();
  const scheme = loadSchemeFile(`${repoRoot()}/examples/g7-trusted-partners.yaml`);
  const record: StoredRecord<ProviderRecord> = {
    collection: "identity-provider",
    id: partner.provider.id,
    revision: 1,
    updatedAt: "",
    document: { ...partner.provider, partner: "g7-fvey", created_at: "", created_by: "", removed: null },
  };
  const federation = { providers: [record], blocked: new Map() };
  const store = { federated: { record: async () => {} } } as unknown as Store;
  const make = (tokenCache: number) =>
    new Federation({
      source: () => ({ federation, scheme }),
      store,
      maxTokenBytes: 8192,
      cooldownMs: 30_000,
      fetchTimeoutMs: 5_000,
      allowHttpLoopback: true,
      tokenCache: tokenCache,
      maintainMs: 60_000,
    });
  const uncached = make(0);
  const cached = make(10_000);
  const out: Record<string, { verify_us: number; cached_us: number }> = {};
  for (const alg of ALGS) {
    const token = await partner.sign(alg, `anna-${alg}`);
    out[alg] = {
      verify_us: await perCall(() => uncached.authenticate(token), 1_000),
      cached_us: await perCall(() => cached.authenticate(token), 500),
    };
    log(`${alg}: ${out[alg].verify_us} µs verified, ${out[alg].cached_us} µs from the cache`);
  }
  // A Clearance key: parse, look up, SHA-256 and a constant-time compare.
  const { key, hash } = generateApiKey("abcdefghijkm");
  const snapshot = {
    keys: new Map([["abcdefghijkm", { principalId: "anna", hash, revoked: false }]]),
    principals: new Map([["anna", { id: "anna" }]]),
  } as unknown as Snapshot;
  const headers = { authorization: `Bearer ${key}` };
  const key_us = await perCall(async () => authenticate(headers, snapshot), 500);
  log(`key: ${key_us} µs`);
  return { tokens: out, key_us };
}

interface Ready {
  port: number;
  key: string;
  tokens: Record<Alg, string>;
}

async function throughGateway() {
  const mock = await forkChild<{ port: number }>("gateway-mock", ["2"]);
  const upstream = `http://127.0.0.1:${mock.ready.port}/v1`;
  const result: Record<string, Record<string, Load>> = {};
  try {
    for (const [label, cache] of [
      ["token_cache_on", "10000"],
      ["token_cache_off", "0"],
    ] as const) {
      const child = await forkChild<Ready>("identity-gateway", [upstream, cache]);
      const origin = `http://127.0.0.1:${child.ready.port}`;
      const runs: Record<string, Load> = {};
      try {
        const credentials: [string, string][] = [
          ...(label === "token_cache_on" ? [["key", child.ready.key] as [string, string]] : []),
          ...ALGS.map((alg): [string, string] => [alg, child.ready.tokens[alg]]),
        ];
        for (const [name, credential] of credentials) {
          const target = {
            name,
            origin,
            headers: { authorization: `Bearer ${credential}`, "x-demo-country": "DE" },
          };
          await load(target, 4, 1); // warm-up
          runs[name] = await load(target, CONNECTIONS, SECONDS);
          log(`${label} ${name}: ${runs[name].rps} req/s (non-2xx ${runs[name].non2xx})`);
        }
      } finally {
        await stop(child.proc);
      }
      result[label] = runs;
    }
  } finally {
    await stop(mock.proc);
  }
  return result;
}

async function main(): Promise<void> {
  const uptime = execSync("uptime").toString().trim();
  log(`uptime: ${uptime}`);
  const micro = await inProcess();
  const gateway = await throughGateway();
  const keyRps = gateway.token_cache_on?.key?.rps ?? NaN;
  const vsKey = (label: string) =>
    Object.fromEntries(ALGS.map((alg) => [alg, round((gateway[label]?.[alg]?.rps ?? NaN) / keyRps, 3)]));
  const ratios = { cache_on: vsKey("token_cache_on"), cache_off: vsKey("token_cache_off") };
  const worstCached = Math.min(...Object.values(ratios.cache_on));
  const summary = {
    bench: "identity",
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavg: loadavg().map((l) => round(l, 2)),
      uptime,
    },
    settings: { connections: CONNECTIONS, seconds: SECONDS, goal_token_vs_key: GOAL_TOKEN_VS_KEY },
    in_process_us: micro,
    gateway_rps: Object.fromEntries(
      Object.entries(gateway).map(([label, runs]) => [
        label,
        Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.rps])),
      ]),
    ),
    token_rps_vs_key: ratios,
    goal_met: worstCached >= GOAL_TOKEN_VS_KEY,
    details: gateway,
  };
  const path = writeResult("identity", summary);
  log(`written ${path}`);
  process.stdout.write(`${JSON.stringify({ ...summary, details: undefined })}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench:identity: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => void runCleanups());
