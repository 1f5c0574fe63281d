import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePrincipal } from "../policy/index.js";
import { openStore } from "../store/index.js";
import { AuditLog, type AuditTrail } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { changeDigest, findChange, OutboxDrainer, outboxEntry } from "./outbox.js";
import { directorySource } from "./source.js";
import { MAX_ENTRY } from "./wal.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
/** A log holding no admin change yet. */
const NONE = { change: 0, digest: null };

/** The embedded log in `dataDir`, failing the test on any error it reports. */
const openLog = (dataDir: string) =>
  AuditLog.open({
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer: parseSignerKey(keys.privateKey),
    verifier: parseVerifierKey(keys.verifierKey),
    checkpointMs: 1000,
    onError: (err: unknown) => {
      throw err;
    },
  });

describe("draining admin changes into the audit log", () => {
  it("a log that fails part-way through a batch: every change logged once, none twice", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const log = await openLog(dataDir);
    // The log as the drainer sees it: it takes the first entry of the batch, then its disk fills
    // (the write-ahead file's group commit writes the first append alone, the rest together).
    const durable: Buffer[] = [];
    let takes = Infinity;
    const trail: AuditTrail = Object.create(log) as AuditTrail;
    trail.append = async (entry) => {
      if (takes-- <= 0) throw new Error("ENOSPC: no space left on device");
      const index = await log.append(entry);
      durable.push(Buffer.from(entry));
      return index;
    };
    for (const id of ["a", "b", "c"]) {
      await store.principals.put(parsePrincipal({ id, citizenships: [{ country: "US" }] }));
    }
    const drainer = new OutboxDrainer(store, trail, "node-1", NONE);
    takes = 1;
    await expect(drainer.drain()).rejects.toThrow("ENOSPC");
    takes = Infinity; // the disk has room again
    await drainer.drain();
    const changes = durable.map((e) => (JSON.parse(e.toString()) as { change: number }).change);
    expect(changes).toEqual([1, 2, 3]);
    expect(await store.outbox.list(0, 10)).toEqual([]);
    await log.close();
    await store.close();
  });

  it("refuses to drain, discarding nothing, when the store's change numbers went back below the log's (a store restored from a backup)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const appended: Buffer[] = [];
    const trail = {
      append: async (e: Uint8Array) => BigInt(appended.push(Buffer.from(e)) - 1),
    } as unknown as AuditTrail;
    // The log holds changes up to 5; the restored store numbers its new changes 1 and 2 again.
    for (const id of ["mallory", "trent"]) {
      await store.principals.put(parsePrincipal({ id, citizenships: [{ country: "RU" }] }));
    }
    const drainer = new OutboxDrainer(store, trail, "node-1", { change: 5, digest: null });
    await expect(drainer.drain()).rejects.toThrow(
      /admin change 1, .*the audit log already holds changes up to 5 .*restored from a backup/,
    );
    expect(appended).toEqual([]);
    expect((await store.outbox.list(0, 10)).map((r) => r.id)).toEqual([1, 2]);
    await store.close();
  });

  it("skips, without refusing, the changes a crash left in the outbox after logging them", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const appended: Buffer[] = [];
    const trail = {
      append: async (e: Uint8Array) => BigInt(appended.push(Buffer.from(e)) - 1),
    } as unknown as AuditTrail;
    for (const id of ["a", "b", "c", "d"]) {
      await store.principals.put(parsePrincipal({ id, citizenships: [{ country: "US" }] }));
    }
    // Changes 1–3 were durable in the log when the process died, before the outbox was cleared
    // (logged by the node under its name then: a restarted pod has another).
    const third = (await store.outbox.list(0, 10))[2]!;
    const logged = { change: 3, digest: changeDigest(outboxEntry(third, "node-0")) };
    await new OutboxDrainer(store, trail, "node-1", logged).drain();
    expect(appended.map((e) => (JSON.parse(e.toString()) as { change: number }).change)).toEqual([4]);
    expect(await store.outbox.list(0, 10)).toEqual([]);
    // The store records where it has caught up with the log, with the entry's digest.
    const fourth = appended[0]!;
    expect(await store.outbox.position(4)).toMatchObject({
      drained: { change: 4, digest: changeDigest(fourth) },
    });
    await store.close();
  });

  it("refuses, discarding nothing, a different change under the number the log holds last (a restored store's new change)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const appended: Buffer[] = [];
    const trail = {
      append: async (e: Uint8Array) => BigInt(appended.push(Buffer.from(e)) - 1),
    } as unknown as AuditTrail;
    for (const id of ["a", "b", "c", "d"]) {
      await store.principals.put(parsePrincipal({ id, citizenships: [{ country: "US" }] }));
    }
    // The log's change 3 is another principal's: the store, restored, numbered its own change 3.
    const [, , third] = await store.outbox.list(0, 10);
    const other = { ...third!, object: { kind: "principal", id: "mallory" } };
    const logged = { change: 3, digest: changeDigest(outboxEntry(other, "node-1")) };
    await expect(new OutboxDrainer(store, trail, "node-1", logged).drain()).rejects.toThrow(
      /a change numbered 3 that is not the change the audit log holds under 3: .*restored from a backup.* No change was logged or discarded/,
    );
    expect(appended).toEqual([]);
    expect((await store.outbox.list(0, 10)).map((r) => r.id)).toEqual([1, 2, 3, 4]);
    await store.close();
  });

  it("reads the log back for a change's entry, newest first", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const log = await openLog(dataDir);
    for (const id of ["a", "b"]) await store.principals.put(parsePrincipal({ id }));
    await new OutboxDrainer(store, log, "node-1", NONE).drain();
    await log.publish();
    const found = await findChange(directorySource(join(dataDir, "audit")), 2);
    expect(JSON.parse(found!.toString())).toMatchObject({ change: 2, object: { id: "b" } });
    expect(await findChange(directorySource(join(dataDir, "audit")), 3)).toBeNull();
    await log.close();
    await store.close();
  });

  it("logs a change too large for an entry with its details withheld (a digest), and the changes after it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const log = await openLog(dataDir);
    // A change whose details alone are over an entry's 65,535 bytes (written as any admin write
    // would, by a second connection: no admin input need be that large to reach the drainer).
    const details = { document: { id: "p-big", note: "x".repeat(70_000) } };
    const db = new Database(join(dataDir, DB_FILE));
    db.prepare(
      "INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(new Date().toISOString(), "admin", "principal.put", "principal", "p-big", JSON.stringify(details));
    db.close();
    await store.principals.put(parsePrincipal({ id: "small" }), "admin");
    const entries: Buffer[] = [];
    const trail: AuditTrail = Object.create(log) as AuditTrail;
    trail.append = async (entry) => {
      const index = await log.append(entry); // the real log refuses an entry over MAX_ENTRY
      entries.push(Buffer.from(entry));
      return index;
    };
    await new OutboxDrainer(store, trail, "node-1", NONE).drain();
    expect(await store.outbox.list(0, 10)).toEqual([]);
    expect(entries).toHaveLength(2);
    expect(entries[0]!.length).toBeLessThanOrEqual(MAX_ENTRY);
    const [big, small] = entries.map((e) => JSON.parse(e.toString()) as Record<string, unknown>);
    expect(big).toMatchObject({
      change: 1,
      action: "principal.put",
      object: { kind: "principal", id: "p-big" },
      details: {
        withheld: "too large",
        sha256: createHash("sha256").update(canonicalJson(details)).digest("hex"),
      },
    });
    expect(small).toMatchObject({ change: 2, object: { id: "small" } });
    await log.close();
    await store.close();
  });

  it("logs a change whose object id and actor alone are too large for an entry (their digests), and the changes after it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-outbox-"));
    const store = await openStore({ dataDir });
    const log = await openLog(dataDir);
    // Ids longer than any the admin API takes, written past it (an older release, another tool).
    const id = "L".repeat(70_000);
    const actor = "a".repeat(70_000);
    const db = new Database(join(dataDir, DB_FILE));
    db.prepare(
      "INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(new Date().toISOString(), actor, "license.apply", "license", id, JSON.stringify({}));
    db.close();
    await store.principals.put(parsePrincipal({ id: "small" }), "admin");
    const entries: Buffer[] = [];
    const trail: AuditTrail = Object.create(log) as AuditTrail;
    trail.append = async (entry) => {
      const index = await log.append(entry);
      entries.push(Buffer.from(entry));
      return index;
    };
    await new OutboxDrainer(store, trail, "node-1", NONE).drain();
    expect(await store.outbox.list(0, 10)).toEqual([]);
    expect(entries).toHaveLength(2);
    const [big, small] = entries.map((e) => JSON.parse(e.toString()) as Record<string, unknown>);
    const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
    expect(big).toMatchObject({
      change: 1,
      action: "license.apply",
      actor: sha(actor),
      object: { kind: "license", id: sha(id) },
      details: { withheld: "too large" },
    });
    expect(small).toMatchObject({ change: 2, object: { id: "small" } });
    await log.close();
    await store.close();
  });
});
