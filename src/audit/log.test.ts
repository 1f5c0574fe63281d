import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { eventually } from "../testing/admin.js";
import { openCheckpoint, parseCheckpoint } from "./checkpoint.js";
import { hangingDisk } from "./hanging-disk.js";
import { AuditLog, AuditLogError, HUNG_MIN_MS, MAX_UNWRITTEN_TILES } from "./log.js";
import { EntryTooLargeError } from "./wal.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { directorySource, type LogSource } from "./source.js";
import { decodeBundle, tilePath } from "./tiles.js";
import { verifyEntry, verifyLog } from "./verify.js";

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

/** Waits for a state the log's timer brings, not for speed (a loaded CI machine runs 10× slower). */
const WAIT = { timeout: 30_000, interval: 10 };

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
    const last = await AuditLog.open(options(dataDir));
    expect(last.size).toBe(11n);
    await last.close();
  });

  it("leaves the write-ahead file uncut when its damaged tail is covered by the checkpoint", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const walPath = join(dataDir, "audit.wal");
    const log = await AuditLog.open(options(dataDir));
    for (let i = 0; i < 20; i++) await log.append(entry(i));
    await log.close();
    // The last record's bytes flipped: it reads as a torn tail, but the checkpoint signed it (read
    // in full: without a restore point the whole file is replayed).
    rmSync(`${walPath}.restore`);
    const wal = readFileSync(walPath);
    wal[wal.length - 3]! ^= 1;
    writeFileSync(walPath, wal);
    await expect(AuditLog.open(options(dataDir))).rejects.toThrow(/covers 20 entries but the log holds 19/);
    // Nothing cut and no room written after the refusal: the operator finds the file as it was.
    expect(readFileSync(walPath).equals(wal)).toBe(true);
  });

  it("refuses to start on a write-ahead file damaged in the middle, naming the offset, and leaves it as it is", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const walPath = join(dataDir, "audit.wal");
    const log = await AuditLog.open(options(dataDir));
    const big = (i: number) => Buffer.from(JSON.stringify({ i: 1000 + i, pad: "x".repeat(30_000) }));
    for (let i = 0; i < 10; i++) await log.append(big(i));
    await log.publish();
    // A crash after 100 entries, the last checkpoint at 10: its files as they were then.
    const saved = [`${walPath}.restore`, join(dataDir, "audit", "checkpoint")].map(
      (f) => [f, readFileSync(f)] as const,
    );
    for (let i = 10; i < 100; i++) await log.append(big(i));
    await log.close();
    for (const [f, data] of saved) writeFileSync(f, data);
    // Entry 12 (after the checkpoint, megabytes before the end) has one bit flipped.
    const wal = readFileSync(walPath);
    const offset12 = 12 * (8 + big(0).length);
    wal[offset12 + 8 + 5]! ^= 1;
    writeFileSync(walPath, wal);
    const refused = await AuditLog.open(options(dataDir)).then(
      () => "opened",
      (err: Error) => err.message,
    );
    expect(refused).toContain(`record at byte ${offset12} `);
    expect(readFileSync(walPath).equals(wal)).toBe(true);
  });

  it("keeps every signed checkpoint's partial tiles until the full tile is written, and starts up from them", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const tiles = join(dataDir, "audit", "tile");
    const partials = () =>
      (readdirSync(tiles, { recursive: true }) as string[]).filter((f) => /\.p\/[0-9]+$/.test(f)).sort();
    const log = await AuditLog.open(options(dataDir));
    // A quiet log: a checkpoint for every entry.
    for (let i = 0; i < 260; i++) {
      await log.append(entry(i));
      await log.publish();
    }
    // Tile 0 is full (its partials gone); of tile 1 every width a checkpoint was signed for.
    const widths = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1)).sort();
    const expected = (n: number) => [
      ...widths(n).map((w) => `0/001.p/${w}`),
      "1/000.p/1",
      ...widths(n).map((w) => `entries/001.p/${w}`),
    ];
    expect(partials()).toEqual(expected(4));
    expect(existsSync(join(tiles, "0/000.p"))).toBe(false);
    await log.close();
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(260n);
    await again.append(entry(260));
    await again.publish();
    const cp = checkpointOf(dataDir);
    verifyInclusion(leafHash(entry(259)), 259n, cp.size, await again.inclusion(259n, cp.size), cp.root);
    expect(partials()).toEqual(expected(5));
    // Tile 1 fills: its partials go, after the checkpoint that covers the full tile.
    for (let i = 261; i < 513; i++) await again.append(entry(i));
    await again.publish();
    expect(partials()).toEqual(["0/002.p/1", "1/000.p/1", "1/000.p/2", "entries/002.p/1"]);
    await again.close();
  });

  it("serves a checkpoint's partial tiles while newer checkpoints are published (a slow client)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(entry(i))));
    await log.publish();
    // The client reads checkpoint 10; the log publishes 20 and 30 before it reads the tiles.
    const dir = directorySource(join(dataDir, "audit"));
    let next = 10;
    const slow: LogSource = {
      location: dir.location,
      async read(path) {
        const data = await dir.read(path);
        if (path === "checkpoint") {
          for (let round = 0; round < 2; round++) {
            await Promise.all(Array.from({ length: 10 }, () => log.append(entry(next++))));
            await log.publish();
          }
        }
        return data;
      },
    };
    const r = await verifyLog(slow, { verifierKey: keys.verifierKey });
    expect([r.entries, log.published?.size]).toEqual([10n, 30n]);
    expect(
      await verifyEntry(dir, keys.verifierKey, 9n, { state: { size: 10n, root: r.checkpoint.root } }),
    ).toMatchObject({ index: 9n });
    await log.close();
  });

  it("stops taking entries when its tiles cannot be written for three checkpoint intervals, and resumes once they can", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    let clock = 0;
    const errors: unknown[] = [];
    const o = { ...options(dataDir), now: () => clock, onError: (err: unknown) => void errors.push(err) };
    const log = await AuditLog.open(o);
    // The tile directory cannot be made (a full inode table, a read-only tree): the WAL still works.
    writeFileSync(join(o.dir, "tile"), "not a directory");
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
    await expect(log.publish()).rejects.toThrow();
    expect(log.failure).toBeNull(); // one failed round is not yet a stall
    clock += 3 * o.checkpointMs + 1;
    await expect(log.publish()).rejects.toThrow();
    expect(log.failure?.message).toMatch(/no checkpoint could be published for 3001 ms/);
    await expect(log.append(entry(300))).rejects.toBe(log.failure);
    expect(errors.some((e) => e === log.failure)).toBe(true);
    // The disk is back: the next round writes the tiles, publishes, and the log takes entries again.
    rmSync(join(o.dir, "tile"));
    await log.publish();
    expect(log.failure).toBeNull();
    expect(log.published?.size).toBe(300n);
    expect(await log.append(entry(300))).toBe(300n);
    await log.close();
  });

  // Before: the stall said "the tiles in … cannot be written" whichever write had failed.
  it("stops taking entries when its checkpoint cannot be written for three checkpoint intervals, naming the checkpoint, and resumes once it can", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    let clock = 0;
    const errors: unknown[] = [];
    const o = { ...options(dataDir), now: () => clock, onError: (err: unknown) => void errors.push(err) };
    const log = await AuditLog.open(o);
    // A directory where the checkpoint goes: its write (a rename over it) fails; the tiles do not.
    const checkpoint = join(o.dir, "checkpoint");
    rmSync(checkpoint, { force: true });
    mkdirSync(join(checkpoint, "in-the-way"), { recursive: true });
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
    await expect(log.publish()).rejects.toThrow();
    expect(log.failure).toBeNull();
    clock += 3 * o.checkpointMs + 1;
    await expect(log.publish()).rejects.toThrow();
    const why = log.failure;
    expect(why).toBeInstanceOf(AuditLogError);
    expect(why?.message).toBe(
      `the audit log takes no entries: no checkpoint could be published for 3001 ms while 300 entries wait for one — the checkpoint ${checkpoint} cannot be written; it resumes once it can`,
    );
    expect(errors).toContain(why);
    await expect(log.append(entry(300))).rejects.toBe(why);
    // The checkpoint can be written again: the next round publishes, and the log takes entries.
    rmSync(checkpoint, { recursive: true });
    await log.publish();
    expect(log.failure).toBeNull();
    expect(log.published?.size).toBe(300n);
    expect(await log.append(entry(300))).toBe(300n);
    await log.close();
  });

  it.each([
    ["a tile's rename", "rename"],
    ["the sync before the checkpoint", "sync"],
  ] as const)(
    "stops taking entries when %s hangs (never returns), and resumes once it returns",
    async (_, call) => {
      const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
      let clock = 0;
      const errors: unknown[] = [];
      // Rounds driven by the log's own timer (a short interval), time by the injected clock.
      const o = {
        ...options(dataDir),
        checkpointMs: 20,
        now: () => clock,
        onError: (err: unknown) => void errors.push(err),
      };
      const log = await AuditLog.open(o);
      const disk = await hangingDisk(o.dir, call);
      try {
        log.start();
        disk.on();
        // The write-ahead file still takes entries: 300 fill a tile, whose write (or the sync) hangs.
        await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
        await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
        // Behind the hung round, ticks queue one round, not one each.
        expect(log.publish()).toBe(log.publish());
        // Three intervals without a checkpoint while a write is pending are not yet a hang.
        clock += 3 * o.checkpointMs + 1;
        await new Promise((r) => setTimeout(r, 5 * o.checkpointMs));
        expect(log.failure).toBeNull();
        // HUNG_MIN_MS: the next tick reports the stall, as a failed round's stall is reported.
        clock += HUNG_MIN_MS;
        await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
        expect(log.failure).toBeInstanceOf(AuditLogError);
        expect(log.failure?.message).toMatch(
          /no checkpoint could be published for \d+ ms while 300 entries wait for one, a write of its tiles not having returned/,
        );
        expect(errors).toContain(log.failure);
        await expect(log.append(entry(300))).rejects.toBe(log.failure);
        expect(log.size).toBe(300n);
        // The write returns: the round goes on, publishes, and the log takes entries again.
        disk.release();
        await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
        await log.publish();
        expect(log.published?.size).toBe(300n);
        expect(checkpointOf(dataDir).size).toBe(300n);
        expect(await log.append(entry(300))).toBe(300n);
      } finally {
        disk.release();
        disk.restore();
      }
      await log.close();
      expect(checkpointOf(dataDir).size).toBe(301n);
    },
  );

  it("stops taking entries when too many full tiles wait in memory, however recent the last checkpoint", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const o = { ...options(dataDir), now: () => 0, onError: () => undefined };
    const log = await AuditLog.open(o);
    writeFileSync(join(o.dir, "tile"), "not a directory");
    const n = (MAX_UNWRITTEN_TILES + 2) * 256;
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(i))));
    await log.publish().catch(() => undefined);
    expect(log.failure?.message).toMatch(/full tiles are waiting to be written/);
    rmSync(join(o.dir, "tile"));
    await log.publish();
    expect(log.failure).toBeNull();
    expect(log.published?.size).toBe(BigInt(n));
    await log.close();
  });

  it("sweeps at start-up the partial tiles earlier builds left at every tile, keeping the current ones", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const tiles = join(dataDir, "audit", "tile");
    const log = await AuditLog.open(options(dataDir));
    await Promise.all(Array.from({ length: 600 }, (_, i) => log.append(entry(i))));
    await log.close();
    // As a build before this one left them: partials of full tiles, and of the edge's older widths
    // (and no marker of a sweep: that build made none).
    rmSync(join(dataDir, "audit", "tile-partials-swept"));
    for (const p of ["0/000.p/7", "entries/000.p/7", "0/001.p/200", "entries/002.p/3", "0/002.p/5"]) {
      mkdirSync(dirname(join(tiles, p)), { recursive: true });
      writeFileSync(join(tiles, p), "stale");
    }
    const again = await AuditLog.open(options(dataDir));
    await again.legacySwept; // a directory a step, between publishing rounds
    const left = (readdirSync(tiles, { recursive: true }) as string[]).filter((f) => /\.p\/[0-9]+$/.test(f));
    // Those of full tiles go; those of tile 2, not full yet, may be signed checkpoints' and stay.
    expect(left.sort()).toEqual([
      "0/002.p/5",
      "0/002.p/88",
      "1/000.p/2",
      "entries/002.p/3",
      "entries/002.p/88",
    ]);
    expect(again.size).toBe(600n);
    await again.close();
    // Once swept, later starts do not walk the tree again: a stale partial left now stays.
    mkdirSync(join(tiles, "0/000.p"));
    writeFileSync(join(tiles, "0/000.p/9"), "stale");
    const third = await AuditLog.open(options(dataDir));
    await third.legacySwept;
    await third.publish();
    expect(readdirSync(join(tiles, "0/000.p"))).toEqual(["9"]);
    await third.close();
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

  it("writes room ahead of its records as filler, which a reopen after a crash cuts and a close leaves out", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const wal = join(dataDir, "audit.wal");
    const log = await AuditLog.open(options(dataDir));
    // Over 3 MiB of records in concurrent batches: the filler is written ahead several times.
    const big = (i: number) => Buffer.from(JSON.stringify({ i, pad: "x".repeat(1000 + (i % 7)) }));
    const records = Array.from({ length: 3000 }, (_, i) => big(i));
    await Promise.all(records.map((r) => log.append(r)));
    const end = records.reduce((n, r) => n + 8 + r.length, 0);
    // The crash: the process dies (its files closed as at exit, not by the log's close, which cuts
    // the room); the filler is what follows the records.
    await log.crash();
    expect(statSync(wal).size).toBeGreaterThan(end);
    const tail = readFileSync(wal).subarray(end);
    expect(tail.length).toBeGreaterThan(0);
    expect(tail.every((b) => b === 0xff)).toBe(true);

    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(3000n);
    expect(await again.append(entry(3000))).toBe(3000n);
    await again.publish();
    const cp = checkpointOf(dataDir);
    for (const i of [0n, 1234n, 2999n]) {
      verifyInclusion(leafHash(records[Number(i)]!), i, cp.size, await again.inclusion(i, cp.size), cp.root);
    }
    verifyInclusion(leafHash(entry(3000)), 3000n, cp.size, await again.inclusion(3000n, cp.size), cp.root);
    await again.close();
    // Closed: the file ends with its last record.
    expect(statSync(wal).size).toBe(end + 8 + entry(3000).length);
    const last = await AuditLog.open(options(dataDir));
    expect(last.size).toBe(3001n);
    await last.close();
  });

  it("hashes durable entries into the tree as they come, in slices, not when a checkpoint is due", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const log = await AuditLog.open(options(dataDir));
    // One group commit far larger than a slice: integrated over several turns of the event loop.
    await Promise.all(Array.from({ length: 700 }, (_, i) => log.append(entry(i))));
    const fullTile = join(dataDir, "audit", tilePath({ level: 0, index: 1n, width: 256 }));
    // No publishing round has run (no timer was started): the tiles the entries fill appear anyway
    // (written in the background: waited for, however long a loaded machine takes).
    await eventually(
      async () => existsSync(fullTile),
      (exists) => exists,
    );
    expect(existsSync(fullTile)).toBe(true);
    expect(log.published?.size).toBe(0n);
    // Entries that arrive while slices are integrated join in order; the checkpoint covers all.
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(700 + i))));
    await log.publish();
    const cp = checkpointOf(dataDir);
    expect(cp.size).toBe(750n);
    for (const i of [0n, 63n, 64n, 511n, 699n, 700n, 749n]) {
      verifyInclusion(leafHash(entry(Number(i))), i, 750n, await log.inclusion(i, 750n), cp.root);
    }
    await log.close();
    // The restore point written with it matches the tree: a reopen restores and appends on.
    const again = await AuditLog.open(options(dataDir));
    expect(await again.append(entry(750))).toBe(750n);
    await again.publish();
    expect(checkpointOf(dataDir).size).toBe(751n);
    await again.close();
  });

  // The paths synced are read from /proc/self/fd.
  it.skipIf(process.platform !== "linux")(
    "syncs every tile a checkpoint covers, names and all, before it syncs the checkpoint file and then its directory",
    async () => {
      const syncs = await recordSyncs();
      try {
        const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
        const audit = join(dataDir, "audit");
        const log = await AuditLog.open(options(dataDir));
        syncs.calls.length = 0;
        await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
        await log.publish();
        expect(log.published?.size).toBe(300n);
        // The write-ahead file's records are synchronous writes (O_DSYNC): no sync of theirs.
        const checkpoint = syncs.calls.findIndex((c) => c.path.startsWith(join(audit, "checkpoint.tmp-")));
        expect(syncs.calls.slice(checkpoint)).toEqual([
          { op: "datasync", path: expect.stringMatching(/checkpoint\.tmp-/) as unknown as string },
          { op: "sync", path: audit },
        ]);
        const before = syncs.calls.slice(0, checkpoint);
        // A full tile and bundle (entries 0–255), a partial tile and bundle (256–299), and the level-1
        // tile of one hash above them.
        const tiles = filesUnder(join(audit, "tile"));
        expect(tiles.map((f) => f.slice(audit.length + 1)).sort()).toEqual(
          [
            tilePath({ level: 0, index: 0n, width: 256 }),
            tilePath({ level: "entries", index: 0n, width: 256 }),
            tilePath({ level: 0, index: 1n, width: 44 }),
            tilePath({ level: "entries", index: 1n, width: 44 }),
            tilePath({ level: 1, index: 0n, width: 1 }),
          ].sort(),
        );
        for (const tile of tiles) {
          // Its contents, as the temporary file renamed into place, then every directory above it.
          const written = before.findIndex((c) => c.op === "datasync" && c.path.startsWith(`${tile}.tmp-`));
          expect(written, tile).toBeGreaterThanOrEqual(0);
          for (let dir = dirname(tile); dir.length >= audit.length; dir = dirname(dir)) {
            expect(
              before.findIndex((c, i) => i > written && c.op === "sync" && c.path === dir),
              `${dir} after ${tile}`,
            ).toBeGreaterThan(written);
          }
        }
        await log.close();
      } finally {
        syncs.restore();
      }
    },
  );

  it.skipIf(process.platform !== "linux").each([
    ["from the restore point", false],
    ["of the whole file", true],
  ])(
    "a replay %s after a crash syncs a full tile it finds on disk that no checkpoint covers, before the next checkpoint, and leaves those one covers",
    async (_, whole) => {
      const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
      const audit = join(dataDir, "audit");
      const first = await AuditLog.open(options(dataDir));
      await Promise.all(Array.from({ length: 300 }, (_, i) => first.append(entry(i))));
      await first.publish(); // a checkpoint and a restore point of 300 entries: tile 0 is covered
      await Promise.all(Array.from({ length: 300 }, (_, i) => first.append(entry(300 + i))));
      // Entries 256–511 fill tile 1, written in the background; the process dies before publishing.
      const tile = join(audit, tilePath({ level: 0, index: 1n, width: 256 }));
      const bundle = join(audit, tilePath({ level: "entries", index: 1n, width: 256 }));
      await eventually(
        async () => ({ tile: existsSync(tile), bundle: existsSync(bundle) }),
        (exists) => exists.tile && exists.bundle,
      );
      expect(existsSync(tile) && existsSync(bundle)).toBe(true);
      if (whole) rmSync(`${options(dataDir).walPath}.restore`);

      const syncs = await recordSyncs();
      try {
        const again = await AuditLog.open(options(dataDir));
        expect(again.published?.size).toBe(600n);
        const checkpoint = syncs.calls.findIndex((c) => c.path.startsWith(join(audit, "checkpoint.tmp-")));
        for (const file of [tile, bundle]) {
          const synced = syncs.calls.findIndex((c) => c.op === "datasync" && c.path === file);
          expect(synced, file).toBeGreaterThanOrEqual(0);
          const dir = syncs.calls.findIndex(
            (c, i) => i > synced && c.op === "sync" && c.path === dirname(file),
          );
          expect(dir, dirname(file)).toBeGreaterThan(synced);
          expect(dir).toBeLessThan(checkpoint);
        }
        const covered = join(audit, tilePath({ level: 0, index: 0n, width: 256 }));
        expect(syncs.calls.map((c) => c.path)).not.toContain(covered);
        await again.close();
      } finally {
        syncs.restore();
        await first.close().catch(() => undefined);
      }
    },
  );
});

/** The files under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)],
  );
}

/**
 * Records every FileHandle sync (`datasync`, `sync`) and the path it was on (Linux: /proc/self/fd),
 * in order, until `restore`. FileHandle's prototype is shared: every handle's syncs are counted.
 */
async function recordSyncs() {
  const probe = await open(process.execPath, "r");
  const proto = Object.getPrototypeOf(probe) as Record<
    "datasync" | "sync",
    (this: { fd: number }) => Promise<void>
  >;
  await probe.close();
  const original = { datasync: proto.datasync, sync: proto.sync };
  const calls: { op: "datasync" | "sync"; path: string }[] = [];
  for (const op of ["datasync", "sync"] as const) {
    proto[op] = function (this: { fd: number }) {
      calls.push({ op, path: readlinkSync(`/proc/self/fd/${this.fd}`) });
      return original[op].call(this);
    };
  }
  return { calls, restore: () => Object.assign(proto, original) };
}
