import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCheckpoint, parseCheckpoint } from "./checkpoint.js";
import { AuditLog, AuditLogError } from "./log.js";
import { EntryTooLargeError } from "./wal.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { decodeBundle, tilePath } from "./tiles.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
const signer = parseSignerKey(keys.privateKey);
const verifier = parseVerifierKey(keys.verifierKey);

function options(dataDir: string) {
  return {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer,
    verifier,
    checkpointMs: 1000,
    onError: (err: unknown) => {
      throw err;
    },
  };
}
const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));
const checkpointOf = (dataDir: string) =>
  openCheckpoint(readFileSync(join(dataDir, "audit", "checkpoint"), "utf8"), verifier, ORIGIN).checkpoint;

describe("the audit log", () => {
  it("appends durably, publishes signed checkpoints, serves proofs that verify", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    const indices = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
    expect(indices).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(i)));
    await log.publish();
    const first = checkpointOf(dataDir);
    expect(first.size).toBe(300n);
    for (const i of [0n, 1n, 255n, 256n, 299n]) {
      verifyInclusion(leafHash(entry(Number(i))), i, 300n, await log.inclusion(i, 300n), first.root);
    }
    // Entries are published in bundles, byte for byte.
    const bundle = decodeBundle(
      readFileSync(join(dataDir, "audit", tilePath({ level: "entries", index: 0n, width: 256 }))),
    );
    expect(bundle[7]).toEqual(entry(7));
    const partial = readFileSync(
      join(dataDir, "audit", tilePath({ level: "entries", index: 1n, width: 44 })),
    );
    expect(decodeBundle(partial, 44)[43]).toEqual(entry(299));

    await Promise.all(Array.from({ length: 5000 }, (_, i) => log.append(entry(300 + i))));
    await log.publish();
    const second = checkpointOf(dataDir);
    expect(second.size).toBe(5300n);
    verifyConsistency(300n, 5300n, await log.consistency(300n, 5300n), first.root, second.root);
    await expect(log.inclusion(0n, 6000n)).rejects.toBeInstanceOf(AuditLogError);
    await log.close();
  });

  it("survives a restart: same tree, and the next checkpoint extends the last one", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    await Promise.all(Array.from({ length: 700 }, (_, i) => log.append(entry(i))));
    await log.close();
    const before = checkpointOf(dataDir);
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(700n);
    expect(again.published?.root).toEqual(before.root);
    await again.append(entry(700));
    await again.publish();
    const after = checkpointOf(dataDir);
    verifyConsistency(700n, 701n, await again.consistency(700n, 701n), before.root, after.root);
    await again.close();
  });

  it("cuts a torn tail left by a crash mid-write", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(entry(i))));
    await log.close();
    appendFileSync(join(dataDir, "audit.wal"), Buffer.from([0, 0, 0, 40, 1, 2, 3])); // a record cut short
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(10n);
    expect(await again.append(entry(10))).toBe(10n);
    await again.close();
    expect((await AuditLog.open(options(dataDir))).size).toBe(11n);
  });

  it("refuses to start on a log that does not match its published checkpoint", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.append(entry(i))));
    await log.close();
    // A checkpoint for a different tree of the same size, validly signed (e.g. another history).
    const cp = checkpointOf(dataDir);
    const forged = { ...cp, root: Buffer.alloc(32, 7) };
    const { signCheckpoint } = await import("./checkpoint.js");
    writeFileSync(join(dataDir, "audit", "checkpoint"), signCheckpoint(forged, signer));
    await expect(AuditLog.open(options(dataDir))).rejects.toThrow(/does not match the published checkpoint/);
    expect(parseCheckpoint(signCheckpoint(forged, signer).split("\n\n")[0] + "\n").size).toBe(5n);
  });

  it("rejects an entry too large for a bundle, and keeps working", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    // The request's fault (413-class), not the log's: the log keeps taking entries.
    await expect(log.append(Buffer.alloc(70_000))).rejects.toBeInstanceOf(EntryTooLargeError);
    expect(log.failure).toBeNull();
    expect(await log.append(entry(0))).toBe(0n);
    await log.close();
  });
});
