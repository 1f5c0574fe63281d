/**
 * `npm run bench:footprint`: the jurisdiction footprint over an audit log of 1,000,000 decision
 * entries (goal: at most 10 s). The log is written as the gateway publishes it (entry bundles under
 * tile/entries, and a checkpoint), with pseudonymised principals, so the report resolves every
 * pseudonym through the store as an operator holding the key does. Prints one JSON line and writes
 * bench/results/footprint.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { decisionEntry, pseudonymizer } from "../src/audit/entry.js";
import { directorySource } from "../src/audit/source.js";
import { encodeBundle, tilePath } from "../src/audit/tiles.js";
import { seedFromFile } from "../src/control/seed.js";
import { buildState } from "../src/control/state.js";
import { decide } from "../src/policy/decide.js";
import type { Principal } from "../src/policy/types.js";
import { footprintReport } from "../src/report/footprint.js";
import { renderFootprint } from "../src/report/format.js";
import { parsePeriod } from "../src/report/period.js";
import { openStore } from "../src/store/index.js";
import { Rng } from "./generate.js";
import { log, round, writeResult } from "./results.js";

const ENTRIES = Number(process.env.BENCH_FOOTPRINT_ENTRIES ?? 1_000_000);
const PRINCIPALS = 2_000;
const GOAL_SECONDS = 10;
const KEY = "bench-pseudonym-key";
const COUNTRIES = ["US", "FR", "DE", "GB", "JP", "CA", "IN", "BR", "NG", "IR", "CN", "AU", "NL", "SE"];
const MODELS = ["mythos-5", "mythos-4", "fable-5", "fable-4", "eu-mythos-5"];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "clearance-bench-footprint-"));
  try {
    const store = await openStore({ dataDir: dir });
    await seedFromFile(
      store,
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      new Date().toISOString(),
    );
    const scheme = buildState((await store.snapshot()).records).scheme;
    const r = new Rng(20261205);
    log(`adding ${PRINCIPALS} principals`);
    const people: Principal[] = [];
    for (let i = 0; i < PRINCIPALS; i++) {
      const country = r.pick(COUNTRIES);
      const p: Principal = {
        id: `p-${i}`,
        citizenships: [{ country, since: "1990-01-01" }],
        residence: country,
        organization: { id: `org-${r.int(100)}`, country },
        assurance: r.pick(["verified", "attested"] as const),
      };
      people.push(p);
      await store.principals.put(p);
    }
    log(`writing ${ENTRIES} decision entries`);
    const audit = join(dir, "audit");
    const hash = pseudonymizer(KEY);
    const start = Date.now() - 10 * 86_400_000;
    let bundle: Buffer[] = [];
    const flush = (index: number) => {
      const path = join(audit, tilePath({ level: "entries", index: BigInt(index), width: bundle.length }));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, encodeBundle(bundle));
      bundle = [];
    };
    for (let i = 0; i < ENTRIES; i++) {
      const p = people[r.int(PRINCIPALS)] as Principal;
      const location = r.chance(0.8) ? (p.residence ?? null) : r.pick(COUNTRIES);
      const model = r.pick(MODELS);
      const d = decide(scheme, p, { model, action: "infer", location, time: start + i * 500 });
      const ctx = {
        time: new Date(start + i * 500),
        requestId: `r-${i}`,
        node: "gw-1",
        principal: p,
        location,
        action: "infer",
      };
      bundle.push(decisionEntry(d, ctx, hash));
      if (bundle.length === 256) flush(Math.floor(i / 256));
    }
    if (bundle.length > 0) flush(Math.floor(ENTRIES / 256));
    writeFileSync(
      join(audit, "checkpoint"),
      `bench/audit\n${ENTRIES}\n${Buffer.alloc(32).toString("base64")}\n\n— bench\n`,
    );

    const load = loadavg();
    const now = new Date();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const report = await footprintReport({
      store,
      source: directorySource(audit),
      scheme,
      period: parsePeriod(undefined, undefined, new Date(now.getTime() + 60_000)),
      pseudonymKey: KEY,
      now,
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const t1 = performance.now();
    const csv = renderFootprint(report, "csv");
    const t2 = performance.now();
    const html = renderFootprint(report, "html");
    const t3 = performance.now();
    await store.close();
    const out = {
      bench: "footprint",
      date: now.toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", node: process.version },
      load_before: load.map((x) => round(x, 2)),
      load_after: loadavg().map((x) => round(x, 2)),
      entries: ENTRIES,
      principals: PRINCIPALS,
      decisions: report.served.decisions,
      rows: report.served.rows.length,
      policy_rows: report.policy.rows.length,
      seconds: round(seconds, 2),
      cpu_seconds: round((cpu.user + cpu.system) / 1e6, 2),
      entries_per_sec: Math.round(ENTRIES / seconds),
      goal_seconds: GOAL_SECONDS,
      goal_met: seconds <= GOAL_SECONDS,
      csv_ms: Math.round(t2 - t1),
      csv_bytes: csv.length,
      html_ms: Math.round(t3 - t2),
      html_bytes: html.length,
    };
    const path = writeResult("footprint", out);
    log(`wrote ${path}`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
