/**
 * What one background screening pass with nothing to do costs as a store's list history grows:
 * `npx tsx bench/screening-history.ts [--driver sqlite|postgres] [--lists 5] [--versions 400]
 * [--diff 2000] [--passes 30]`. One JSON line on stdout, progress on stderr; no results file (a
 * one-off comparison, before and after a change).
 *
 * The store: `--lists` lists, each with `--versions` versions whose diffs name `--diff` entry ids
 * apiece (a weekly renewal of a large list: the BIS DPL renews entries under new ids), finished and
 * inactive, written straight into `screening_lists` (their entries do not matter to a pass), then
 * an active version of 1,000 synthetic entries imported through the store. A pass is what a
 * background gateway runs at each snapshot reload: the engine (unchanged: reused), the unfinished
 * import rescreens (none), no new subject. Synthetic lists: nothing here needs the real ones.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { importInput } from "../src/screening/lists.js";
import { finishRescreens } from "../src/screening/rescreen.js";
import { ScreeningService } from "../src/screening/service.js";
import type { ListEntry } from "../src/screening/types.js";
import { openStore, type Store } from "../src/store/index.js";
import { DB_FILE } from "../src/store/sqlite/index.js";
import { freshSchema } from "./postgres.js";
import { log, round } from "./results.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const driver = arg("driver", "sqlite");
const LISTS = Number(arg("lists", "5"));
const VERSIONS = Number(arg("versions", "400"));
const DIFF = Number(arg("diff", "2000"));
const PASSES = Number(arg("passes", "30"));

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${100000 + i}`);
const history = (list: string, version: number) => [
  list,
  version,
  "ofac-csv",
  null,
  `digest-${list}-${version}`,
  JSON.stringify(["list.csv"]),
  JSON.stringify({ entries: DIFF }),
  JSON.stringify({
    added: ids(`v${version}a`, DIFF / 2),
    removed: ids(`v${version}r`, DIFF / 2),
    changed: [],
  }),
  new Date().toISOString(),
  "bench",
];
const INSERT = `INSERT INTO screening_lists (list, version, format, published, digest, files, counts, diff, imported_at, imported_by, active, rescreen_due)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)`;

const entry = (list: string, i: number): ListEntry => ({
  id: `${list}-${i}`,
  type: "person",
  names: [{ name: `Listed Person ${list} ${i} Qzx${i.toString(36)}`, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});

async function seed(store: Store, writeHistory: (rows: unknown[][]) => Promise<void>): Promise<void> {
  for (let l = 0; l < LISTS; l++) {
    const list = `list${l}`;
    const rows = Array.from({ length: VERSIONS }, (_, v) => history(list, v + 1));
    for (let i = 0; i < rows.length; i += 100) await writeHistory(rows.slice(i, i + 100));
    const entries = Array.from({ length: 1000 }, (_, i) => entry(list, i));
    const parsed = {
      list,
      format: "ofac-csv" as const,
      published: null,
      digest: `active-${list}`,
      files: [],
      entries,
    };
    await store.screening.importList(importInput(parsed), "bench");
  }
  await finishRescreens(store, "bench", { force: true });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "clearance-bench-history-"));
  let store: Store;
  let drop = async () => undefined as void;
  if (driver === "postgres") {
    const fresh = await freshSchema();
    drop = fresh.drop;
    store = await openStore({ driver: "postgres", dataDir: dir, url: fresh.url });
    const client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    let n = 0;
    const dollars = INSERT.replace(/\?/g, () => `$${++n}`);
    await seed(store, async (rows) => {
      for (const r of rows) await client.query(dollars, r);
    });
    await client.end();
  } else {
    store = await openStore({ driver: "sqlite", dataDir: dir });
    const db = new Database(join(dir, DB_FILE));
    db.pragma("busy_timeout = 5000");
    const insert = db.prepare(INSERT);
    await seed(store, async (rows) => void db.transaction(() => rows.forEach((r) => insert.run(...r)))());
    db.close();
  }
  log(`seeded: ${LISTS} lists x ${VERSIONS} finished versions, ${DIFF} ids per diff (${driver})`);
  const service = new ScreeningService({
    store,
    threshold: 0.86,
    maxListEntries: 100_000,
    background: true,
    onError: (err) => log(`pass failed: ${String(err)}`),
  });
  // The first pass builds the engine: not what is measured.
  service.onSnapshot([], []);
  await service.idle();
  const times: number[] = [];
  for (let i = 0; i < PASSES; i++) {
    const t0 = process.hrtime.bigint();
    service.onSnapshot([], []);
    await service.idle();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await service.close();
  await store.close();
  await drop();
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  process.stdout.write(
    `${JSON.stringify({
      bench: "screening-history",
      driver,
      load: {
        lists: LISTS,
        finished_versions_per_list: VERSIONS,
        ids_per_diff: DIFF,
        active_entries_per_list: 1000,
      },
      passes: PASSES,
      pass_ms: { p50: round(at(0.5), 2), p90: round(at(0.9), 2) },
    })}\n`,
  );
}

await main();
