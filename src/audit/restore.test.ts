/**
 * Start-up from the tiles (issue 14): a log reopened from its restore point has the same tree as
 * one rebuilt by replaying the whole write-ahead file — sizes, roots, proofs, the owner's mark —
 * reads only the records after the restore point, and falls back to the full replay when the
 * tiles are missing or do not match the signed checkpoint.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditLog, readRestorePoint, restorePath } from "./log.js";
import { inclusionProof, leafHash, verifyInclusion } from "./merkle.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { legacyInnerTilePath, tilePath } from "./tiles.js";
import { INNER_NODES_FILE, TileTree } from "./tree.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
const signer = parseSignerKey(keys.privateKey);
const verifier = parseVerifierKey(keys.verifierKey);

const errors: unknown[] = [];
const inclusionFor = (tree: TileTree, index: bigint, size: bigint) => inclusionProof(tree.read, index, size);
function options(dataDir: string) {
  return {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer,
    verifier,
    checkpointMs: 60_000,
    onError: (err: unknown) => errors.push(err),
    // The largest admin change seen, as audit/index.ts keeps it.
    mark: {
      initial: 0,
      fold: (seen: number, entries: readonly Buffer[]) =>
        entries.reduce(
          (m, e) => Math.max(m, (JSON.parse(e.toString()) as { change?: number }).change ?? 0),
          seen,
        ),
    },
  };
}
const entry = (i: number) =>
  Buffer.from(JSON.stringify(i % 97 === 5 ? { i, type: "admin", change: i } : { i, type: "decision" }));
const fresh = () => mkdtempSync(join(tmpdir(), "clearance-restore-"));

async function appendMany(log: AuditLog, from: number, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, k) => log.append(entry(from + k))));
}

/** What a full replay of these write-ahead bytes gives (a fresh directory: no tiles, no restore point). */
async function replayed(dataDirOrWal: string | Buffer) {
  const copy = fresh();
  const wal = typeof dataDirOrWal === "string" ? readFileSync(join(dataDirOrWal, "audit.wal")) : dataDirOrWal;
  writeFileSync(join(copy, "audit.wal"), wal);
  const log = await AuditLog.open(options(copy));
  const result = { size: log.size, root: log.published?.root, mark: log.mark };
  await log.close();
  return result;
}

describe("start-up from the tiles", () => {
  it("restores the tree of a closed log without reading its records, the same as a full replay", async () => {
    const dataDir = fresh();
    let log = await AuditLog.open(options(dataDir));
    await appendMany(log, 0, 70_000 + 37);
    await log.close();
    const point = await readRestorePoint(options(dataDir).walPath);
    expect(point?.size).toBe(70_037n);

    // Records before the restore point are never read: overwrite them with garbage of the same
    // length (the tail is still intact), and the log opens just the same.
    const walPath = options(dataDir).walPath;
    const wal = readFileSync(walPath);
    writeFileSync(
      walPath,
      Buffer.concat([Buffer.alloc(point!.walOffset, 0xee), wal.subarray(point!.walOffset)]),
    );
    log = await AuditLog.open(options(dataDir));
    const root = log.published!.root;
    expect(log.size).toBe(70_037n);
    expect(log.mark).toBe(69_942); // the last i < 70,037 with i % 97 === 5
    for (const i of [0n, 255n, 65_535n, 65_536n, 70_036n]) {
      verifyInclusion(leafHash(entry(Number(i))), i, 70_037n, await log.inclusion(i, 70_037n), root);
    }
    // It keeps growing as if it had never stopped.
    await appendMany(log, 70_037, 500);
    await log.publish();
    const grown = log.published!;
    await log.close();
    const now = readFileSync(walPath);
    const full = await replayed(
      Buffer.concat([wal.subarray(0, point!.walOffset), now.subarray(point!.walOffset)]),
    );
    expect(full.size).toBe(70_537n);
    expect(full.root?.equals(grown.root)).toBe(true);
    expect(errors).toEqual([]);
  }, 60_000);

  it("reads the records after the restore point (a crash before the next checkpoint)", async () => {
    const dataDir = fresh();
    const first = await AuditLog.open(options(dataDir));
    await appendMany(first, 0, 1000);
    await first.publish();
    await appendMany(first, 1000, 300); // durable, never published: the process dies here
    const point = await readRestorePoint(options(dataDir).walPath);
    expect(point?.size).toBe(1000n);

    const log = await AuditLog.open(options(dataDir));
    expect(log.size).toBe(1300n);
    expect(log.published?.size).toBe(1300n);
    expect(log.mark).toBe(1266);
    const full = await replayed(dataDir);
    expect(full.root?.equals(log.published!.root)).toBe(true);
    expect((await readRestorePoint(options(dataDir).walPath))?.size).toBe(1300n);
    await log.close();
    await first.close().catch(() => undefined);
  });

  it("replays the whole file when a tile is missing or the tiles do not match the checkpoint", async () => {
    const dataDir = fresh();
    let log = await AuditLog.open(options(dataDir));
    await appendMany(log, 0, 70_000);
    await log.close();
    const expected = await replayed(dataDir);

    const level1 = join(options(dataDir).dir, tilePath({ level: 1, index: 0n, width: 256 }));
    const saved = readFileSync(level1);
    rmSync(level1);
    log = await AuditLog.open(options(dataDir));
    expect(log.published?.root.equals(expected.root!)).toBe(true);
    expect(log.mark).toBe(expected.mark);
    await log.close();

    const tampered = Buffer.from(saved);
    tampered[0] = (tampered[0] as number) ^ 1;
    writeFileSync(level1, tampered);
    // A level-0 tile and an entry bundle a crash cut short, as an unsynced write can be.
    const level0 = join(options(dataDir).dir, tilePath({ level: 0, index: 3n, width: 256 }));
    const bundle = join(options(dataDir).dir, tilePath({ level: "entries", index: 3n, width: 256 }));
    const [tile3, bundle3] = [readFileSync(level0), readFileSync(bundle)];
    writeFileSync(level0, Buffer.alloc(0));
    writeFileSync(bundle, bundle3.subarray(0, 100));
    log = await AuditLog.open(options(dataDir));
    expect(log.published?.root.equals(expected.root!)).toBe(true);
    expect(log.size).toBe(70_000n);
    await log.close();
    // The replay wrote them again: served, and read at the next start, as they were.
    expect(readFileSync(level1)).toEqual(saved);
    expect(readFileSync(level0)).toEqual(tile3);
    expect(readFileSync(bundle)).toEqual(bundle3);
  }, 60_000);

  it("replays the whole file when a restore point older than the checkpoint reads a tile that does not lead to it", async () => {
    const dataDir = fresh();
    const o = options(dataDir);
    let log = await AuditLog.open(o);
    await appendMany(log, 0, 300);
    await log.publish();
    const older = readFileSync(restorePath(o.walPath));
    await appendMany(log, 300, 100);
    await log.close();
    const expected = await replayed(dataDir);
    // A power loss kept the older restore point (its rename not yet durable) beside the newer
    // checkpoint, and a tile it reads was altered: the level-1 tile, not checked against anything
    // before the checkpoint's root is.
    writeFileSync(restorePath(o.walPath), older);
    const partial = join(o.dir, tilePath({ level: 1, index: 0n, width: 1 }));
    const tile = readFileSync(partial);
    tile[0] = (tile[0] as number) ^ 1;
    writeFileSync(partial, tile);
    errors.length = 0;
    log = await AuditLog.open(o);
    expect(log.size).toBe(400n);
    expect(log.published?.root.equals(expected.root!)).toBe(true);
    expect(log.mark).toBe(expected.mark);
    expect(String(errors.at(-1))).toMatch(
      /do not lead to the published checkpoint.*the whole write-ahead file is replayed instead/,
    );
    await log.close();
  });

  it("checks the partial entry bundle against the tile's leaves: an altered one is rewritten from the write-ahead file", async () => {
    const dataDir = fresh();
    const o = options(dataDir);
    let log = await AuditLog.open(o);
    await appendMany(log, 0, 300);
    await log.close();
    const path = join(o.dir, tilePath({ level: "entries", index: 1n, width: 44 }));
    const good = readFileSync(path);
    // Entry 256's "i" altered, the bundle's length the same.
    const bad = Buffer.from(good);
    bad[bad.indexOf('"i":256') + 5] = "9".charCodeAt(0);
    writeFileSync(path, bad);
    log = await AuditLog.open(o);
    expect(log.size).toBe(300n);
    expect(readFileSync(path)).toEqual(good);
    // The tile fills: its full bundle holds the entries the log took, not the altered one.
    await appendMany(log, 300, 300);
    await log.close();
    const full = readFileSync(join(o.dir, tilePath({ level: "entries", index: 1n, width: 256 })));
    expect(full.includes(Buffer.from('"i":256,'))).toBe(true);
  });

  it("TileTree.restore gives the tree that was written, at any size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70_000 }),
        fc.integer({ min: 1, max: 600 }),
        async (size, more) => {
          const dir = fresh();
          const written = new TileTree(dir);
          await written.append(Array.from({ length: size }, (_, i) => entry(i)));
          await written.writePartials();
          const restored = TileTree.restore(dir, BigInt(size));
          expect(restored.size).toBe(BigInt(size));
          expect(restored.root().equals(written.root())).toBe(true);
          for (const level of [0, 3, 8, 9, 16]) {
            const index = BigInt(Math.floor(size / 2 ** level) - 1);
            if (index < 0n) continue;
            expect(Buffer.from(await restored.read(level, index))).toEqual(
              Buffer.from(await written.read(level, index)),
            );
          }
          const next = Array.from({ length: more }, (_, i) => entry(size + i));
          await written.append(next);
          await restored.append(next);
          expect(restored.root().equals(written.root())).toBe(true);
          rmSync(dir, { recursive: true });
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it("a tile's stored inner nodes give the same proof nodes as hashing it, across a restart mid-tile; missing or foreign ones are not used", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 256, max: 1_500 }),
        async (size, more) => {
          const dir = fresh();
          const first = new TileTree(dir);
          await first.append(Array.from({ length: size }, (_, i) => entry(i)));
          await first.writePartials();
          // Restarted mid-tile: the tile being filled gets its inner nodes from before and after.
          const tree = TileTree.restore(dir, BigInt(size), 0); // no cache: every read is a miss
          await tree.append(Array.from({ length: more }, (_, i) => entry(size + i)));
          const total = size + more;
          const fullTiles = Math.floor(total / 256);
          expect(fullTiles).toBeGreaterThan(0);
          // One record per full tile in one file (254 hashes and a CRC-32), no file per tile.
          expect(statSync(join(dir, INNER_NODES_FILE)).size).toBe(fullTiles * (254 * 32 + 4));
          expect(existsSync(join(dir, "tile-inner"))).toBe(false);
          // The reference: a tree that never restarted and hashes every tile it reads.
          const reference = new TileTree(fresh(), 0);
          await reference.append(Array.from({ length: total }, (_, i) => entry(i)));
          for (const tile of [0, fullTiles - 1, Math.floor(fullTiles / 2)]) {
            for (let level = 0; level < 8; level++) {
              const index = BigInt(tile * (256 >> level) + ((tile * 37 + level) % (256 >> level)));
              expect(Buffer.from(await tree.read(level, index))).toEqual(
                Buffer.from(await reference.read(level, index)),
              );
            }
          }
          // Every tile read above was a cache miss, and none had to be hashed.
          expect(tree.hashedTiles).toBe(0);
          expect(reference.hashedTiles).toBe(0); // its tiles were all still cached
          const index = BigInt(Math.floor(total / 3));
          const proof = await inclusionFor(tree, index, BigInt(total));
          expect(() =>
            verifyInclusion(leafHash(entry(Number(index))), index, BigInt(total), proof, tree.root()),
          ).not.toThrow();
          rmSync(dir, { recursive: true });
        },
      ),
      { numRuns: 8 },
    );
  }, 120_000);

  it("inner nodes that are damaged, cut short or another tree's are not used; the tile is hashed instead", async () => {
    const dir = fresh();
    const tree = new TileTree(dir, 0);
    await tree.append(Array.from({ length: 512 }, (_, i) => entry(i)));
    const expected = Buffer.from(await tree.read(3, 5n));
    expect(tree.hashedTiles).toBe(0);
    const file = join(dir, INNER_NODES_FILE);
    const good = readFileSync(file);
    const RECORD = 254 * 32 + 4;
    // Damaged: one byte of tile 0's record flipped (its CRC no longer matches).
    const damaged = Buffer.from(good);
    damaged[100] = (damaged[100] as number) ^ 1;
    writeFileSync(file, damaged);
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(1);
    // Another tree's nodes with a valid CRC: tile 1's record in tile 0's place.
    writeFileSync(file, Buffer.concat([good.subarray(RECORD), good.subarray(RECORD)]));
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(2);
    // Cut short by a crash: half a record.
    writeFileSync(file, good.subarray(0, RECORD / 2));
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(3);
    rmSync(file);
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(4);
    tree.close();
  });

  it("a log written with a file per tile's inner nodes (builds before 34dddd6, 5 December 2026) still has them used", async () => {
    const dir = fresh();
    const tree = new TileTree(dir, 0);
    await tree.append(Array.from({ length: 512 }, (_, i) => entry(i)));
    const expected = Buffer.from(await tree.read(3, 5n));
    const file = join(dir, INNER_NODES_FILE);
    const records = readFileSync(file);
    tree.close();
    rmSync(file);
    // The former layout: tile-inner/<index> with the 254 hashes, no CRC.
    const legacy = join(dir, legacyInnerTilePath(0n));
    mkdirSync(join(dir, "tile-inner"), { recursive: true });
    writeFileSync(legacy, records.subarray(0, 254 * 32));
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(0);
    // Another tree's (tile 1's nodes) is not used.
    writeFileSync(legacy, records.subarray(254 * 32 + 4, 2 * (254 * 32 + 4) - 4));
    expect(Buffer.from(await tree.read(3, 5n))).toEqual(expected);
    expect(tree.hashedTiles).toBe(1);
    tree.close();
  });

  it("a log written before restore points existed opens by replaying it, then writes one", async () => {
    const dataDir = fresh();
    const log = await AuditLog.open(options(dataDir));
    await appendMany(log, 0, 300);
    await log.close();
    rmSync(restorePath(options(dataDir).walPath));
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(300n);
    await appendMany(again, 300, 1);
    await again.close();
    expect(existsSync(restorePath(options(dataDir).walPath))).toBe(true);
    expect((await readRestorePoint(options(dataDir).walPath))?.size).toBe(301n);
  });

  it("a restore point a crash cut short is passed over: the whole file is replayed, and the log says so", async () => {
    for (const cut of ["", '{"v":1,"size":"30', "\0\0\0\0"]) {
      const dataDir = fresh();
      const log = await AuditLog.open(options(dataDir));
      await appendMany(log, 0, 300);
      await log.close();
      const full = await replayed(dataDir);
      writeFileSync(restorePath(options(dataDir).walPath), cut);
      const reported: unknown[] = [];
      const again = await AuditLog.open({ ...options(dataDir), onError: (err) => reported.push(err) });
      expect(again.size).toBe(300n);
      expect(again.published?.root).toEqual(full.root);
      expect(again.mark).toBe(full.mark);
      expect(String(reported[0])).toMatch(
        /restore point .* cannot be read .*whole write-ahead file is replayed/,
      );
      await appendMany(again, 300, 1);
      await again.close();
      // The next checkpoint writes a good one again.
      expect((await readRestorePoint(options(dataDir).walPath))?.size).toBe(301n);
    }
  });

  it("a checkpoint that cannot be read stops the log, saying which file and what to do", async () => {
    const dataDir = fresh();
    const log = await AuditLog.open(options(dataDir));
    await appendMany(log, 0, 10);
    await log.close();
    writeFileSync(join(dataDir, "audit", "checkpoint"), "");
    await expect(AuditLog.open(options(dataDir))).rejects.toThrow(
      /published checkpoint .*checkpoint cannot be read: .*If a crash cut it short .*remove it/,
    );
    // Removed, as the message says: rebuilt from the write-ahead file, and signed again.
    rmSync(join(dataDir, "audit", "checkpoint"));
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(10n);
    expect(again.published?.size).toBe(10n);
    await again.close();
  });
});
