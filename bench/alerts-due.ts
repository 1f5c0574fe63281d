/**
 * What one webhook poll costs the store when many alerts wait for delivery (a receiver down for
 * hours): `AlertStore.due` timed on both drivers, with 100,000 pending alerts of one subject (its
 * first waiting for its retry, the rest behind it) and of 100,000 subjects (one each, all due); and
 * `AlertStore.restoreHeads`, which the webhook runs at start and once a minute (it finds nothing to
 * repair here: its cost is the walk).
 *
 *   npx tsx bench/alerts-due.ts [--alerts 100000] [--rounds 20]
 *
 * PostgreSQL from DATABASE_URL (see ./postgres.ts), in a fresh schema dropped at the end; SQLite in
 * a temporary directory. Rows are written in bulk, past the store's API (raising 100,000 alerts one
 * by one takes minutes and measures something else).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { newAlertRecord, type AlertRecord } from "../src/store/alerts.js";
import { openStore, type Store } from "../src/store/index.js";
import { DB_FILE } from "../src/store/sqlite/index.js";
import { freshSchema } from "./postgres.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const N = arg("alerts", 100_000);
const ROUNDS = arg("rounds", 20);

type Shape = "one subject" | "many subjects";

/** The rows: raised an hour ago, a millisecond apart; of one subject, its first waiting for a retry. */
function rows(shape: Shape): (string | number | null)[][] {
  const t0 = Date.now() - 3_600_000;
  const out: (string | number | null)[][] = [];
  for (let i = 0; i < N; i++) {
    const raisedAt = new Date(t0 + i).toISOString();
    let a: AlertRecord = newAlertRecord(
      {
        dedupeKey: `bench:${i}`,
        detector: "embargoed-attempt",
        severity: "high",
        subject: { kind: "principal", id: shape === "one subject" ? "p-1" : `p-${i}` },
        summary: `alert ${i}`,
        evidence: { audit_indexes: [String(i)], details: {} },
        raisedAt,
        deliver: true,
      },
      "detector:embargoed-attempt",
    );
    if (shape === "one subject" && i === 0) {
      const retry = new Date(Date.now() + 3_600_000).toISOString();
      a = { ...a, delivery: { ...a.delivery, attempts: 5, next_at: retry, last_error: "503" } };
    }
    out.push([
      a.id,
      `bench:${i}`,
      a.state,
      a.detector,
      a.subject.kind,
      a.subject.id,
      a.delivery.state,
      a.delivery.next_at,
      JSON.stringify(a),
      // Held behind its subject's first (migration 13), as the store's raise holds it.
      shape === "one subject" && i > 0 ? 1 : null,
    ]);
  }
  return out;
}

const INSERT = `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, document, delivery_held)`;

/** `rounds` calls of due, as the webhook makes them; their times in ms, sorted. */
async function time(store: Store): Promise<{ ms: number[]; handed: number }> {
  const ms: number[] = [];
  let handed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const now = Date.now();
    const start = performance.now();
    const got = await store.alerts.due(new Date(now).toISOString(), new Date(now + 60_000).toISOString(), 50);
    ms.push(performance.now() - start);
    handed += got.length;
  }
  return { ms: ms.sort((a, b) => a - b), handed };
}

/** `rounds` calls of restoreHeads; their times in ms, sorted. */
async function timeRestore(store: Store): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now();
    await store.alerts.restoreHeads();
    ms.push(performance.now() - start);
  }
  return ms.sort((a, b) => a - b);
}

const showRestore = (driver: string, shape: Shape, ms: number[]) => {
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(2);
  console.log(
    `${driver.padEnd(10)} ${shape.padEnd(13)} ${N} pending: restoreHeads median ${q(0.5)} ms, max ${q(1)} ms`,
  );
};

const show = (driver: string, shape: Shape, r: { ms: number[]; handed: number }) => {
  const q = (p: number) => r.ms[Math.min(r.ms.length - 1, Math.floor(p * r.ms.length))]!.toFixed(2);
  console.log(
    `${driver.padEnd(10)} ${shape.padEnd(13)} ${N} pending: due median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms (${r.handed} handed out in ${ROUNDS} calls)`,
  );
};

async function sqlite(shape: Shape): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-bench-due-"));
  try {
    await (await openStore({ dataDir })).close();
    const db = new Database(join(dataDir, DB_FILE));
    const insert = db.prepare(`${INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    db.transaction(() => rows(shape).forEach((r) => insert.run(...r)))();
    db.exec("ANALYZE");
    db.close();
    const store = await openStore({ dataDir });
    try {
      show("sqlite", shape, await time(store));
      showRestore("sqlite", shape, await timeRestore(store));
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function postgres(shape: Shape): Promise<void> {
  const fresh = await freshSchema("clearance_bench_due");
  try {
    await (await openStore({ driver: "postgres", dataDir: "(unused)", url: fresh.url })).close();
    const pool = new pg.Pool({ connectionString: fresh.url, max: 1 });
    try {
      const all = rows(shape);
      for (let i = 0; i < all.length; i += 1_000) {
        const batch = all.slice(i, i + 1_000);
        const values = batch.map(
          (_, j) => `(${Array.from({ length: 10 }, (_, k) => `$${j * 10 + k + 1}`).join(", ")})`,
        );
        await pool.query(`${INSERT} VALUES ${values.join(", ")}`, batch.flat());
      }
      await pool.query("VACUUM ANALYZE alerts");
    } finally {
      await pool.end();
    }
    const store = await openStore({ driver: "postgres", dataDir: "(unused)", url: fresh.url });
    try {
      show("postgres", shape, await time(store));
      showRestore("postgres", shape, await timeRestore(store));
    } finally {
      await store.close();
    }
  } finally {
    await fresh.drop();
  }
}

for (const shape of ["one subject", "many subjects"] as const) {
  await sqlite(shape);
  await postgres(shape);
}
