/**
 * The audit log several nodes share through PostgreSQL, node by node in one process: one sequence
 * for every node's entries, one integrator at a time, takeover when its session dies, no second
 * checkpoint for a size, admin changes logged exactly once. Skipped without PostgreSQL.
 */
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { withErrors } from "../http/index.js";
import { openStore, type SharedAuditStore, type Store } from "../store/index.js";
import { blackhole } from "../testing/blackhole.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openCheckpoint } from "./checkpoint.js";
import { handleAudit } from "./http.js";
import { openAudit, type OpenAudit } from "./index.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { hangingDisk } from "./hanging-disk.js";
import { hungMs } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { SharedAuditLog } from "./shared.js";
import { directorySource, urlSource, type LogSource } from "./source.js";
import { verifyLog } from "./verify.js";
import { ticked as tickedBy, WAIT } from "../testing/ticks.js";

if (skipReason !== undefined) console.warn(`src/audit/shared.test.ts: SKIPPED, ${skipReason}`);

const ORIGIN = "shared.test/audit";
const KEY = generateKey(ORIGIN);
const opened: { store: Store; audit?: OpenAudit }[] = [];
afterAll(async () => {
  for (const o of opened) {
    await o.audit?.log.close().catch(() => undefined);
    await o.store.close();
  }
  await dropSchemas();
});

async function node(url: string, name: string, privateKey = KEY.privateKey, queryTimeoutMs?: number) {
  const store = await openStore({
    driver: "postgres",
    dataDir: "(unused)",
    url,
    ...(queryTimeoutMs === undefined ? {} : { queryTimeoutMs }),
  });
  const slot: { store: Store; audit?: OpenAudit } = { store };
  opened.push(slot);
  const audit = await openAudit({
    dataDir: mkdtempSync(join(tmpdir(), `clearance-${name}-`)),
    origin: ORIGIN,
    privateKey,
    checkpointMs: 60_000, // rounds are driven by the test (publish), not the timer
    node: name,
    store,
    onError: (err) => {
      throw err;
    },
  });
  slot.audit = audit;
  return { store, audit, log: audit.log as SharedAuditLog };
}

/**
 * A shared log opened on its own store connection, its rounds driven by the test (`extra`: lease,
 * memory cap, its mirror's directory, a wrapper around its database).
 */
async function sharedLog(
  url: string,
  name: string,
  extra: {
    leaseMs?: number;
    ownBytes?: number;
    dir?: string;
    wrap?: (db: SharedAuditStore) => SharedAuditStore;
    checkpointMs?: number;
    now?: () => number;
    onError?: (err: unknown) => void;
  } = {},
): Promise<SharedAuditLog> {
  const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
  opened.push({ store });
  const { wrap = (db) => db, dir = mkdtempSync(join(tmpdir(), `clearance-${name}-`)), ...rest } = extra;
  return SharedAuditLog.open({
    dir,
    origin: ORIGIN,
    signer: parseSignerKey(KEY.privateKey),
    verifier: parseVerifierKey(KEY.verifierKey),
    verifierKey: KEY.verifierKey,
    node: name,
    checkpointMs: 60_000,
    db: wrap(store.sharedAudit!),
    onError: (err) => {
      throw err;
    },
    ...rest,
  });
}

/** Serves a node's /audit/ as the gateway does, on a real socket. */
async function serveAudit(log: SharedAuditLog, dir: string) {
  const server = createServer(
    withErrors((req, res) => handleAudit(log, dir, req, res, new URL(req.url ?? "/", "http://x").pathname)),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  return { url, close: () => new Promise((resolve) => server.close(resolve)) };
}

const entry = (node: string, i: number) => Buffer.from(JSON.stringify({ node, i }));
/** Each tick of the log sees what is under way (checkHung: where a tick looks). */
const ticked = (log: SharedAuditLog, n = 2) => tickedBy(log, "checkHung", n);
const checkpointOf = (text: string) =>
  openCheckpoint(text, parseVerifierKey(KEY.verifierKey), ORIGIN).checkpoint;

describe.skipIf(skipReason !== undefined)("the shared audit log", () => {
  it("sequences every node's entries into one log; one node signs, the others serve the same checkpoint", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    expect(a.audit.kind).toBe("shared");
    expect([a.log.integrating, b.log.integrating]).toEqual([true, false]);

    const indices = await Promise.all([
      ...Array.from({ length: 150 }, (_, i) => a.log.append(entry("a", i))),
      ...Array.from({ length: 150 }, (_, i) => b.log.append(entry("b", i))),
    ]);
    expect([...indices].sort((x, y) => (x < y ? -1 : 1))).toEqual(
      Array.from({ length: 300 }, (_, i) => BigInt(i)),
    );
    await a.log.publish();
    await b.log.publish();
    expect(a.log.published?.size).toBe(300n);
    expect(b.log.published?.text).toBe(a.log.published?.text);

    // B proves the inclusion of an entry A wrote, against the checkpoint A signed.
    const index = indices[7] as bigint;
    const { root, size } = checkpointOf(b.log.published!.text);
    verifyInclusion(leafHash(entry("a", 7)), index, size, await b.log.inclusion(index, size), root);
    // And B's mirror is a whole, verifiable log.
    const result = await verifyLog(directorySource(b.audit.dir), {
      verifierKey: KEY.verifierKey,
      origin: ORIGIN,
    });
    expect(result.entries).toBe(300n);
  });

  it("builds every mirror from its own entries and the others' read back in ranges, whatever their interleaving", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    // 26 short runs of A's between long runs of B's: A reads B's 5,200 entries back in more than one
    // query (5,000 at most each), B reads A's 260 in one, as 26 ranges.
    for (let run = 0; run < 26; run++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => a.log.append(entry("a", run * 10 + i))));
      await Promise.all(Array.from({ length: 200 }, (_, i) => b.log.append(entry("b", run * 200 + i))));
    }
    expect(a.log.integrating).toBe(true);
    await a.log.publish();
    await b.log.publish();
    expect(a.log.published?.size).toBe(5460n);
    expect(b.log.published?.text).toBe(a.log.published?.text);
    for (const n of [a, b]) {
      const result = await verifyLog(directorySource(n.audit.dir), {
        verifierKey: KEY.verifierKey,
        origin: ORIGIN,
      });
      expect(result.entries).toBe(5460n);
    }

    // Ranges read back in index order, the empty one adding nothing.
    const db = a.store.sharedAudit!;
    const all = await db.read(0n, 6000);
    const ranges = [
      { from: 3n, to: 5n },
      { from: 5n, to: 5n },
      { from: 9n, to: 12n },
      { from: 5000n, to: 5460n },
    ];
    const expected = ranges.flatMap((r) => all.slice(Number(r.from), Number(r.to)));
    expect(await db.readRanges(ranges)).toEqual(expected);
    expect(await db.readRanges([])).toEqual([]);
  });

  it("hands the integrator's seat to another node when its session dies, and the history stays one", async () => {
    const { url, schema } = await freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.log.append(entry("a", i))));
    await a.log.publish();
    const before = checkpointOf(a.log.published!.text);

    // The integrator's database session is killed, as when its node dies: the lock goes with it.
    const killed = await adminPool().query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
       WHERE locktype = 'advisory' AND classid = x'636c7269'::int::oid AND objid = hashtext($1)::oid AND granted`,
      [schema],
    );
    expect(killed.rowCount).toBe(1);
    await Promise.all(Array.from({ length: 25 }, (_, i) => b.log.append(entry("b", i))));
    await b.log.publish();
    expect(b.log.integrating).toBe(true);
    const after = checkpointOf(b.log.published!.text);
    expect(after.size).toBe(65n);
    verifyConsistency(
      before.size,
      after.size,
      await b.log.consistency(before.size, after.size),
      before.root,
      after.root,
    );

    // The old integrator, still running, cannot take the seat back: it follows B's checkpoints.
    await a.log.publish();
    expect(a.log.integrating).toBe(false);
    expect(a.log.published?.text).toBe(b.log.published?.text);
    const signers = await adminPool().query<{ node: string }>(
      `SELECT DISTINCT node FROM ${schema}.audit_checkpoints ORDER BY node`,
    );
    expect(signers.rows.map((r) => r.node)).toEqual(["node-a", "node-b"]);
  });

  it("never records a second, different checkpoint for a size", async () => {
    const { url } = await freshSchema();
    const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
    opened.push({ store });
    const seat = store.sharedAudit!.seat();
    expect(await seat.acquire()).toBe(true);
    const cp = { size: 1n, root: Buffer.alloc(32, 1), note: "signed note", node: "n" };
    await seat.publish(cp);
    await seat.publish(cp); // the same checkpoint again: a retry, harmless
    await expect(seat.publish({ ...cp, root: Buffer.alloc(32, 2) })).rejects.toThrow(
      "a different checkpoint of size 1 is already recorded: the log has forked",
    );
    // A second seat cannot sign while the first is held.
    const other = store.sharedAudit!.seat();
    expect(await other.acquire()).toBe(false);
    await expect(other.publish({ ...cp, size: 2n })).rejects.toThrow("not the audit log's integrator");
    await seat.close();
    expect(await other.acquire()).toBe(true);
    await other.close();
  });

  it("refuses a node whose signing key is not the log's", async () => {
    const { url } = await freshSchema();
    await node(url, "node-a");
    await expect(node(url, "node-x", generateKey(ORIGIN).privateKey)).rejects.toThrow(
      /every node must use the same origin and signing key/,
    );
  });

  it("logs each admin change exactly once, whichever nodes drain it", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    for (let i = 0; i < 30; i++) await a.store.principals.put({ id: `p${i}` }, "admin");
    await Promise.all([a.audit.drainer.drain(), b.audit.drainer.drain(), a.audit.drainer.drain()]);
    await a.log.publish();
    const size = a.log.published!.size;
    const entries = await a.store.sharedAudit!.read(0n, 1000);
    expect(BigInt(entries.length)).toBe(size);
    const changes = entries.map((e) => (JSON.parse(e.toString()) as { change: number }).change);
    expect(changes).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await a.store.outbox.list(0, 10)).toEqual([]);
  });

  it("logs an admin change too large for an entry with its details withheld; checkpoints go on", async () => {
    const { schema, url } = await freshSchema();
    const a = await node(url, "node-a");
    await a.log.append(entry("a", 0));
    await a.log.publish();
    const details = { document: { id: "p-big", note: "x".repeat(70_000) } };
    await adminPool().query(
      `INSERT INTO ${schema}.audit_outbox (time, actor, action, object_kind, object_id, details)
       VALUES ($1, 'admin', 'principal.put', 'principal', 'p-big', $2)`,
      [new Date().toISOString(), JSON.stringify(details)],
    );
    await a.store.principals.put({ id: "small" }, "admin");
    await a.audit.drainer.drain();
    const entries = await a.store.sharedAudit!.read(0n, 10);
    expect(entries.map((e) => e.length <= 65_535)).toEqual([true, true, true]);
    expect(JSON.parse(entries[1]!.toString())).toMatchObject({
      object: { id: "p-big" },
      details: { withheld: "too large" },
    });
    await a.log.publish();
    expect(a.log.published?.size).toBe(3n);
    // And a node that starts now builds its mirror from these entries.
    const b = await node(url, "node-b");
    await b.log.publish();
    expect(b.log.published?.text).toBe(a.log.published?.text);
  });

  it("commits the entries appended just before it closes, every request of one turn in one transaction", async () => {
    const { url, schema } = await freshSchema();
    const a = await node(url, "node-a");
    const transactions = vi.spyOn(a.store.sharedAudit!, "append");
    const appended = Array.from({ length: 5 }, (_, i) => a.log.append(entry("a", i)));
    await a.log.close();
    expect(await Promise.all(appended)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(transactions.mock.calls.map(([entries]) => entries.length)).toEqual([5]);
    const { rows } = await adminPool().query<{ size: string }>(
      `SELECT size::text FROM ${schema}.audit_head WHERE id = 1`,
    );
    expect(rows[0]?.size).toBe("5");
    expect(a.log.published?.size).toBe(5n);
  });

  it("refuses entries once the database is gone, and says so", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a");
    await a.store.close();
    await expect(a.log.append(entry("a", 0))).rejects.toThrow(/the database did not take the entry/);
    expect(a.log.failure).not.toBeNull();
  });

  it("refuses entries within the query timeout when the link stops carrying packets, and says so", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url);
    try {
      const a = await node(link.url, "node-a", KEY.privateKey, 500);
      expect(await a.log.append(entry("a", 0))).toBe(0n);
      link.cut();
      const t0 = Date.now();
      const settled = await Promise.allSettled([a.log.append(entry("a", 1)), a.store.version()]);
      expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(a.log.failure?.message).toMatch(/timeout/i);
      // The stuck connection is gone, not pooled: once the link carries packets, appends go through.
      link.mend();
      expect(await a.log.append(entry("a", 2))).toBe(1n);
      expect(a.log.failure).toBeNull();
      await a.log.close();
    } finally {
      await link.close();
    }
  });

  it("keeps at most its byte limit of its own entries while no checkpoint takes them; reads the rest back", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a"); // the integrator, not signing for now (frozen, say)
    const b = await sharedLog(url, "node-b", { ownBytes: 10_000 });
    const big = (i: number) => Buffer.concat([Buffer.from(`${i}:`), Buffer.alloc(500, 120)]);
    for (let batch = 0; batch < 10; batch++)
      await Promise.all(Array.from({ length: 10 }, (_, i) => b.append(big(batch * 10 + i))));
    await b.publish();
    expect(b.integrating).toBe(false);
    const own = (b as unknown as { own: { entries: Uint8Array[] }[] }).own;
    const kept = own.flatMap((r) => r.entries).reduce((n, e) => n + e.length, 0);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(10_000);
    // The integrator signs again; B builds the same tree, its oldest entries read from the database.
    await a.log.publish();
    await b.publish();
    expect(b.published?.size).toBe(100n);
    expect(b.published?.text).toBe(a.log.published?.text);
    await b.close();
  });

  it("an integrator whose rounds fail 3 times in a row gives the seat up, and another node signs on", async () => {
    const { url } = await freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    await a.log.append(entry("a", 0));
    await a.log.publish();
    expect(a.log.integrating).toBe(true);
    // A's mirror cannot be written any more (say its disk is full): every round fails at signing.
    vi.spyOn(a.log as unknown as { sign(): Promise<void> }, "sign").mockRejectedValue(new Error("ENOSPC"));
    await b.log.append(entry("b", 0));
    for (let round = 1; round <= 3; round++) {
      await expect(a.log.publish()).rejects.toThrow("ENOSPC");
      expect(a.log.integrating).toBe(round < 3);
    }
    await b.log.publish();
    expect(b.log.integrating).toBe(true);
    expect(b.log.published?.size).toBe(2n);
    // A stands down for a while rather than taking the seat straight back; it follows B meanwhile.
    await a.log.publish();
    expect(a.log.integrating).toBe(false);
    expect(a.log.published?.text).toBe(b.log.published?.text);
  });

  it("takes the seat from a holder whose session stays idle past the lease (a frozen node, an orphaned backend)", async () => {
    const { url, schema } = await freshSchema();
    await openStore({ driver: "postgres", dataDir: "(unused)", url }).then((s) => s.close()); // migrated
    // The integrator, frozen (SIGSTOP) or cut off by a middlebox while its backend lives on: its
    // session holds the lock and never says anything again.
    const frozen = await adminPool().connect();
    await frozen.query(`SET search_path TO ${schema}`);
    const { rows } = await frozen.query<{ ok: boolean; pid: number }>(
      "SELECT pg_try_advisory_lock(x'636c7269'::int, hashtext(current_schema())) AS ok, pg_backend_pid() AS pid",
    );
    expect(rows[0]?.ok).toBe(true);
    const pid = rows[0]!.pid;
    frozen.on("error", () => undefined); // it is terminated below
    // The lease is measured by the database's clock (pg_stat_activity.state_change): wait until the
    // database sees the holder idle past the 600 ms lease, rather than sleep and hope it does.
    const idleMs = async () =>
      (
        await adminPool().query<{ ms: number | null }>(
          "SELECT (extract(epoch FROM now() - state_change) * 1000)::float8 AS ms FROM pg_stat_activity WHERE pid = $1",
          [pid],
        )
      ).rows[0]?.ms ?? null;
    try {
      // A node whose lease the holder's idleness has not reached: the seat stays the holder's.
      const b = await sharedLog(url, "node-b", { leaseMs: 60_000 });
      await b.append(entry("b", 0));
      await vi.waitFor(async () => expect(await idleMs()).toBeGreaterThan(600), WAIT);
      await b.publish();
      expect(b.integrating).toBe(false); // idle past 600 ms, not past B's 60 s
      expect(await idleMs()).not.toBeNull(); // the holder's session lives on
      // A node whose lease (600 ms) it has: a round ends the holder's session and takes the seat
      // (its first, unless the ended backend lets the lock go only after that round's last try).
      const c = await sharedLog(url, "node-c", { leaseMs: 600 });
      await vi.waitFor(async () => {
        await c.publish();
        expect(c.integrating).toBe(true);
      }, WAIT);
      expect(c.published?.size).toBe(1n);
      await vi.waitFor(async () => expect(await idleMs()).toBeNull(), WAIT); // its session ended
      await b.publish();
      expect(b.published?.text).toBe(c.published?.text);
      await b.close();
      await c.close();
    } finally {
      frozen.release(true);
    }
  });

  it("an integrator keeps its session busy enough that no node takes its seat while it lives", async () => {
    const { url } = await freshSchema();
    // No rounds meanwhile (checkpointMs 60 s): only the heartbeat speaks for A.
    const a = await sharedLog(url, "node-a", { leaseMs: 2_000 });
    const b = await sharedLog(url, "node-b", { leaseMs: 2_000 });
    expect(a.integrating).toBe(true);
    // Past the lease since A's last round, by the database's clock (which the lease is measured
    // by): without its heartbeat, A's session would be idle that long and B would take the seat.
    const dbNow = async () =>
      (await adminPool().query<{ ms: number }>("SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms"))
        .rows[0]!.ms;
    const t0 = await dbNow();
    await vi.waitFor(async () => expect((await dbNow()) - t0).toBeGreaterThan(2_500), WAIT);
    await b.publish();
    expect(b.integrating).toBe(false);
    expect(a.integrating).toBe(true);
    await b.close();
    await a.close();
  });

  it("a node behind the one that signed catches up when asked for tiles or proofs of the newer checkpoint", async () => {
    const { url } = await freshSchema();
    const dirA = mkdtempSync(join(tmpdir(), "clearance-node-a-"));
    const dirB = mkdtempSync(join(tmpdir(), "clearance-node-b-"));
    const a = await sharedLog(url, "node-a", { dir: dirA });
    let reads = 0;
    const counted = (db: SharedAuditStore) =>
      new Proxy(db, {
        get(target, prop) {
          if (prop === "latestCheckpoint")
            return () => {
              reads++;
              return target.latestCheckpoint();
            };
          const value: unknown = Reflect.get(target, prop);
          return typeof value === "function" ? (value as () => unknown).bind(target) : value;
        },
      });
    const b = await sharedLog(url, "node-b", { dir: dirB, wrap: counted });
    await Promise.all(Array.from({ length: 300 }, (_, i) => a.append(entry("a", i))));
    await a.publish();
    await b.publish();
    await Promise.all(Array.from({ length: 50 }, (_, i) => b.append(entry("b", i))));
    await a.publish(); // A signs 350; B's round has not run yet
    expect([a.published?.size, b.published?.size]).toEqual([350n, 300n]);
    const nodeA = await serveAudit(a, dirA);
    const nodeB = await serveAudit(b, dirB);
    try {
      // A load balancer: the checkpoint from A, every tile from B.
      const fromA = urlSource(nodeA.url);
      const fromB = urlSource(nodeB.url);
      const balanced: LogSource = {
        location: "balancer",
        read: (path) => (path === "checkpoint" ? fromA : fromB).read(path),
      };
      expect((await verifyLog(balanced, { verifierKey: KEY.verifierKey })).entries).toBe(350n);
      expect(b.published?.text).toBe(a.published?.text);
      // A proof of the newer checkpoint from B, once more behind.
      await Promise.all(Array.from({ length: 10 }, (_, i) => a.append(entry("a", 300 + i))));
      await a.publish();
      const cp = checkpointOf(a.published!.text);
      expect(b.published?.size).toBe(350n);
      const res = await fetch(`${nodeB.url}/proof/inclusion?index=355&size=${cp.size}`);
      expect(res.status).toBe(200);
      const { proof } = (await res.json()) as { proof: string[] };
      const hashes = proof.map((h) => Buffer.from(h, "base64"));
      verifyInclusion(leafHash(entry("a", 305)), 355n, cp.size, hashes, cp.root);
      // Requests beyond anything recorded: one read of the database for all of them (two rounds).
      reads = 0;
      const beyond = await Promise.allSettled(Array.from({ length: 40 }, () => b.inclusion(1n, 1_000_000n)));
      expect(
        beyond.every(
          (r) => r.status === "rejected" && /beyond the published checkpoint \(360\)/.test(String(r.reason)),
        ),
      ).toBe(true);
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads).toBeLessThanOrEqual(2);
      const far = await fetch(`${nodeB.url}/tile/0/999`);
      expect(far.status).toBe(404);
      // A tile filled: B's mirror, like A's tree, no longer keeps the partials of tile 1.
      await Promise.all(Array.from({ length: 200 }, (_, i) => a.append(entry("a", 400 + i))));
      await a.publish();
      await b.publish();
      expect(b.published?.size).toBe(560n);
      for (const dir of [dirA, dirB]) expect(existsSync(join(dir, "tile/0/001.p"))).toBe(false);
      expect(readdirSync(join(dirB, "tile/0/002.p"))).toEqual(["48"]);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await b.close();
      await a.close();
    }
  });

  it("a drain of admin changes on a link that stops carrying packets fails within its timeout", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url);
    try {
      const a = await node(link.url, "node-a", KEY.privateKey, 200);
      await a.store.principals.put({ id: "p-1" }, "admin");
      link.cut();
      const t0 = Date.now();
      await expect(a.audit.drainer.drain()).rejects.toThrow(/timeout/i);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await link.close();
    }
  });

  it("an integrator whose mirror's tile write hangs gives up its seat within the bound, and another node signs on", async () => {
    const { url } = await freshSchema();
    const dirA = mkdtempSync(join(tmpdir(), "clearance-node-a-"));
    const clock = { now: 0 };
    const errors: unknown[] = [];
    // A's rounds run on its own timer (20 ms), time by the test's clock; B's are driven by the test.
    const a = await sharedLog(url, "node-a", {
      dir: dirA,
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
    });
    const b = await sharedLog(url, "node-b");
    expect(a.integrating).toBe(true);
    const disk = await hangingDisk(dirA, "rename");
    try {
      a.start();
      disk.on();
      await Promise.all(Array.from({ length: 5 }, (_, i) => a.append(entry("a", i))));
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      await ticked(a); // ticks see the write out, and do not judge it hung before its time
      expect(a.failure).toBeNull();
      clock.now += hungMs(20) + 1;
      await vi.waitFor(() => expect(a.failure).not.toBeNull(), WAIT);
      expect(a.failure?.message).toMatch(
        /a round has not moved for \d+ ms, a write of its mirror's tiles .* not having returned .*; it gave up the integrator's seat/,
      );
      expect(errors).toContain(a.failure);
      expect(a.integrating).toBe(false);
      await expect(a.append(entry("a", 5))).rejects.toBe(a.failure);
      // B takes the seat once A's unlock has reached the database, and signs what A committed.
      await vi.waitFor(async () => {
        await b.publish();
        expect(b.integrating).toBe(true);
      }, WAIT);
      expect(b.published?.size).toBe(5n);
      // The write returns: A's next round follows B's checkpoint, and A takes entries again.
      disk.release();
      await vi.waitFor(() => expect(a.failure).toBeNull(), WAIT);
      await a.publish();
      expect(a.published?.text).toBe(b.published?.text);
      expect(a.integrating).toBe(false);
      expect(await a.append(entry("a", 6))).toBe(5n);
    } finally {
      disk.release();
      disk.restore();
    }
    await a.close();
    await b.close();
  });

  it("closes within the bound while its mirror's tile write hangs, saying so, and frees the seat", async () => {
    const { url } = await freshSchema();
    const dirA = mkdtempSync(join(tmpdir(), "clearance-node-a-"));
    const clock = { now: 0 };
    const errors: unknown[] = [];
    const a = await sharedLog(url, "node-a", {
      dir: dirA,
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
    });
    const b = await sharedLog(url, "node-b");
    const disk = await hangingDisk(dirA, "rename");
    try {
      a.start();
      disk.on();
      await Promise.all(Array.from({ length: 5 }, (_, i) => a.append(entry("a", i))));
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      let done = false;
      const closed = a.close().finally(() => (done = true));
      await ticked(a); // close() waits for the round while it is not judged hung
      expect(done).toBe(false);
      clock.now += hungMs(20) + 1;
      await closed;
      expect(errors.map((e) => (e as Error).message).join("\n")).toMatch(
        /the audit log closed without a last round: a write of its mirror's tiles .* has not returned/,
      );
      // Only that and the round judged hung: giving the seat up did not fail on the way.
      expect(
        errors.map((e) => (e as Error).message).filter((m) => !/has not returned|has not moved/.test(m)),
      ).toEqual([]);
      // Nothing A took is lost: B signs it all, the seat being free once A's close resolved.
      await b.publish();
      expect(b.integrating).toBe(true);
      expect(b.published?.size).toBe(5n);
    } finally {
      disk.release();
      disk.restore();
    }
    await b.close();
  });

  it("closes within the bound while a round waits on a silent database, saying that it waits for the database", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url, { partition: true });
    try {
      // The log's own reads go through the link; its seat does not (giving it up is not what waits).
      const direct = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      opened.push({ store: direct });
      const clock = { now: 0 };
      const errors: unknown[] = [];
      let cut = false;
      let asked!: () => void;
      const waiting = new Promise<void>((resolve) => (asked = resolve));
      const a = await sharedLog(link.url, "node-a", {
        checkpointMs: 20,
        now: () => clock.now,
        onError: (err) => void errors.push(err),
        wrap: (db) => ({
          ...db,
          seat: (o) => direct.sharedAudit!.seat(o),
          latestCheckpoint: () => {
            if (cut) asked();
            return db.latestCheckpoint();
          },
        }),
      });
      await a.append(entry("a", 0));
      await a.publish();
      expect(a.integrating).toBe(true);
      link.cut(); // no FIN, no RST: the round's read of the latest checkpoint is never answered
      cut = true;
      a.publish().catch(() => undefined); // fails once the link is closed, after the test
      await waiting;
      const closed = a.close();
      clock.now += hungMs(20) + 1;
      await closed;
      const messages = errors.map((e) => (e as Error).message);
      expect(messages).toContainEqual(
        expect.stringMatching(
          /a round has not moved for \d+ ms, a read of the latest checkpoint from the database not having returned \(a link gone silent, or a database not answering\?\); it gave up the integrator's seat/,
        ),
      );
      expect(messages).toContainEqual(
        expect.stringMatching(
          /^the audit log closed without a last round: a read of the latest checkpoint from the database has not returned \(a link gone silent, or a database not answering\?\)\. Every entry this node took is committed/,
        ),
      );
      expect(messages.join("\n")).not.toMatch(/tiles|disk/);
      // The seat was given up on its own live link: another node signs what A took.
      const b = await sharedLog(url, "node-b");
      await b.publish();
      expect(b.integrating).toBe(true);
      expect(b.published?.size).toBe(1n);
      await b.close();
    } finally {
      await link.close();
    }
  });

  // Before: a round judged hung stayed judged after its step failed (until a round succeeded), and
  // close() waited for no last round, saying the step that had failed "has not returned".
  it("a round judged hung whose step then fails is hung no more: close() runs its last round and says how it failed", async () => {
    const { url } = await freshSchema();
    const clock = { now: 0 };
    const errors: unknown[] = [];
    let mode: "through" | "hold" | "refuse" = "through";
    let asked!: () => void;
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    let fail!: (err: Error) => void;
    const held = new Promise<never>((_, reject) => (fail = reject));
    const a = await sharedLog(url, "node-a", {
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
      wrap: (db) => ({
        ...db,
        latestCheckpoint: () => {
          if (mode === "through") return db.latestCheckpoint();
          if (mode === "refuse") return Promise.reject(new Error("the database refused the read"));
          // The first read held (a database not answering), then failed; every later one refused.
          mode = "refuse";
          asked();
          return held;
        },
      }),
    });
    await a.append(entry("a", 0));
    await a.publish();
    mode = "hold";
    a.start();
    await waiting;
    clock.now += hungMs(20) + 1;
    await vi.waitFor(() => expect(a.failure).not.toBeNull(), WAIT);
    expect(a.failure?.message).toMatch(
      /a read of the latest checkpoint from the database not having returned/,
    );
    fail(new Error("the database refused the read"));
    await vi.waitFor(
      () =>
        expect(errors.filter((e) => (e as Error).message === "the database refused the read")).not.toEqual(
          [],
        ),
      WAIT,
    );
    const before = errors.length;
    await a.close();
    const messages = errors.slice(before).map((e) => (e as Error).message);
    expect(messages.join("\n")).not.toMatch(/has not returned/);
    // Its last round ran, and failed as the database refused it.
    expect(messages).toContain("the database refused the read");
  });

  // Before: the stall kept saying the read "not having returned" until a round succeeded, though
  // it had returned, with an error (the embedded log says it again as a failed round's).
  it("a round judged hung whose step then fails: the stall says the round failed, not that the step has not returned, until a round succeeds", async () => {
    const { url } = await freshSchema();
    const clock = { now: 0 };
    const errors: unknown[] = [];
    let mode: "through" | "hold" | "refuse" = "through";
    let asked!: () => void;
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    let fail!: (err: Error) => void;
    const held = new Promise<never>((_, reject) => (fail = reject));
    const a = await sharedLog(url, "node-a", {
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
      wrap: (db) => ({
        ...db,
        latestCheckpoint: () => {
          if (mode === "through") return db.latestCheckpoint();
          if (mode === "refuse") return Promise.reject(new Error("the database refused the read"));
          // The first read held (a database not answering), then failed; every later one refused.
          mode = "refuse";
          asked();
          return held;
        },
      }),
    });
    await a.append(entry("a", 0));
    await a.publish();
    mode = "hold";
    a.start();
    await waiting;
    clock.now += hungMs(20) + 1;
    await vi.waitFor(() => expect(a.failure?.message).toMatch(/not having returned/), WAIT);
    fail(new Error("the database refused the read"));
    await vi.waitFor(() => expect(a.failure?.message).not.toMatch(/not having returned/), WAIT);
    const why = a.failure;
    expect(why?.message).toMatch(
      /^the audit log takes no entries on this node: its round, judged hung after \d+ ms, has failed since \(the database refused the read\); it gave up the integrator's seat for another node to sign; it resumes once a round succeeds$/,
    );
    expect(errors).toContain(why);
    await expect(a.append(entry("a", 1))).rejects.toBe(why);
    // Rounds failing as that one did leave it so; one that succeeds ends it.
    await vi.waitFor(
      () =>
        expect(
          errors.filter((e) => (e as Error).message === "the database refused the read").length,
        ).toBeGreaterThan(2),
      WAIT,
    );
    expect(a.failure).toBe(why);
    mode = "through";
    await vi.waitFor(() => expect(a.failure).toBeNull(), WAIT);
    expect(await a.append(entry("a", 1))).toBe(1n);
    await a.close();
  });

  // Before: a hang was judged only while the node was not stalled already, and a round judged hung
  // that failed left it stalled: the next round that hung was never judged, and close() waited for
  // it for ever.
  it("a round that hangs after a judged round failed is judged too: close() stays bounded", async () => {
    const { url } = await freshSchema();
    const clock = { now: 0 };
    const errors: unknown[] = [];
    let mode: "through" | "hold" | "refuse" = "through";
    const holds: ((err: Error) => void)[] = [];
    let asked!: () => void;
    let next = new Promise<void>((resolve) => (asked = resolve));
    const a = await sharedLog(url, "node-a", {
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
      wrap: (db) => ({
        ...db,
        latestCheckpoint: () => {
          if (mode === "through") return db.latestCheckpoint();
          if (mode === "refuse") return Promise.reject(new Error("the database refused the read"));
          // A read that holds (a database not answering) until failed; the reads after it refuse.
          mode = "refuse";
          asked();
          return new Promise<never>((_, reject) => holds.push(reject));
        },
      }),
    });
    const hung = (e: unknown) => /has not moved for/.test((e as Error).message);
    await a.append(entry("a", 0));
    await a.publish();
    a.start();
    // A read holds, is judged hung, then fails; the reads after it refuse.
    mode = "hold";
    await next;
    clock.now += hungMs(20) + 1;
    await vi.waitFor(() => expect(errors.filter(hung)).toHaveLength(1), WAIT);
    holds[0]!(new Error("the database refused the read"));
    const refused = () => errors.filter((e) => (e as Error).message === "the database refused the read");
    await vi.waitFor(() => expect(refused().length).toBeGreaterThan(1), WAIT);
    // Another read holds: judged hung in its turn.
    next = new Promise<void>((resolve) => (asked = resolve));
    mode = "hold";
    await next;
    clock.now += hungMs(20) + 1;
    await vi.waitFor(() => expect(errors.filter(hung)).toHaveLength(2), WAIT);
    expect(a.failure?.message).toMatch(
      /a read of the latest checkpoint from the database not having returned/,
    );
    // close() does not wait for it.
    const before = errors.length;
    await a.close();
    expect(
      errors
        .slice(before)
        .map((e) => (e as Error).message)
        .join("\n"),
    ).toMatch(
      /closed without a last round: a read of the latest checkpoint from the database has not returned/,
    );
    holds[1]!(new Error("the database refused the read"));
  });

  // Before: the stall named the step the round was judged at (the read of the latest checkpoint)
  // until the round settled, also once that read had returned and the round hung at a later one.
  it("a round judged hung that moves on and hangs at a later step: the stall names the step it waits at now", async () => {
    const { url } = await freshSchema();
    const clock = { now: 0 };
    const errors: unknown[] = [];
    /** The reads held: released with the database's own answer. */
    const holding = { latest: false, ranges: false };
    const held: (() => void)[] = [];
    const hold = <T>(read: () => Promise<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => held.push(() => void read().then(resolve, reject)));
    const release = () => held.splice(0).forEach((run) => run());
    // B is the integrator; A (on its own timer, by the test's clock) follows B's checkpoints.
    const b = await sharedLog(url, "node-b");
    const a = await sharedLog(url, "node-a", {
      checkpointMs: 20,
      now: () => clock.now,
      onError: (err) => void errors.push(err),
      wrap: (db) => ({
        ...db,
        latestCheckpoint: () => (holding.latest ? hold(() => db.latestCheckpoint()) : db.latestCheckpoint()),
        readRanges: (ranges) => (holding.ranges ? hold(() => db.readRanges(ranges)) : db.readRanges(ranges)),
      }),
    });
    expect(b.integrating).toBe(true);
    await Promise.all(Array.from({ length: 3 }, (_, i) => b.append(entry("b", i))));
    await b.publish();
    expect(b.published?.size).toBe(3n);
    // A's round waits on its read of the latest checkpoint: judged hung.
    holding.latest = true;
    a.start();
    await vi.waitFor(() => expect(held).toHaveLength(1), WAIT);
    holding.latest = false;
    clock.now += hungMs(20) + 1;
    await vi.waitFor(() => expect(a.failure).not.toBeNull(), WAIT);
    const first = a.failure;
    expect(first?.message).toMatch(/a read of the latest checkpoint from the database not having returned/);
    // The read returns (B's checkpoint): A's round reads B's entries to catch up, and that read hangs.
    holding.ranges = true;
    release();
    await vi.waitFor(() => expect(held).toHaveLength(1), WAIT);
    await ticked(a);
    const why = a.failure;
    expect(why).toBeInstanceOf(Error);
    expect(why?.message).toMatch(
      /^the audit log takes no entries on this node: a round judged hung after \d+ ms has moved on since but not returned for \d+ ms, a read of entries from the database not having returned \(a link gone silent, or a database not answering\?\); it resumes once a round succeeds$/,
    );
    expect(errors).toEqual([first, why]);
    await expect(a.append(entry("a", 0))).rejects.toBe(why);
    // The read returns: the round adopts B's checkpoint, and A takes entries again.
    holding.ranges = false;
    release();
    await vi.waitFor(() => expect(a.failure).toBeNull(), WAIT);
    expect(a.published?.text).toBe(b.published?.text);
    expect(await a.append(entry("a", 0))).toBe(3n);
    await a.close();
    await b.close();
  });

  it("closes while the integrator's link is silent, saying that its session was dropped", async () => {
    const { url } = await freshSchema();
    const link = await blackhole(url, { partition: true });
    try {
      // Only the seat's session goes through the link: the log's other reads are not what is judged.
      const linked = await openStore({ driver: "postgres", dataDir: "(unused)", url: link.url });
      opened.push({ store: linked });
      const errors: unknown[] = [];
      const a = await sharedLog(url, "node-a", {
        leaseMs: 30_000, // no heartbeat under way when the link goes silent
        wrap: (db) => ({ ...db, seat: (o) => linked.sharedAudit!.seat(o) }),
        onError: (err) => void errors.push(err),
      });
      await a.append(entry("a", 0));
      await a.publish();
      expect(a.integrating).toBe(true);
      link.cut(); // no FIN, no RST: the seat's Terminate goes unanswered
      await a.close(); // resolves (the test's timeout catches one waiting for TCP to give up)
      expect(errors.map((e) => (e as Error).message)).toEqual([
        expect.stringMatching(/integrator's session did not end .*its socket was destroyed/),
      ]);
      expect(a.integrating).toBe(false);
    } finally {
      await link.close();
    }
  });
});
