/**
 * The log's Merkle tree on disk, in the tlog-tiles layout under one directory: leaf hashes and
 * entries go into level-0 tiles and entry bundles, every 8th level into the tiles above. In memory
 * it keeps the right edge (a compact range), the current partial tiles and bundle, and every node
 * at level 8 and above (N/128 hashes: 2.5 MB at 10M entries), so that a proof reads at most one
 * level-0 tile from disk.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CompactRange, leafHash, nodeHash, type HashReader } from "./merkle.js";
import { TILE_HEIGHT, TILE_WIDTH, decodeTile, encodeBundle, encodeTile, tilePath } from "./tiles.js";

const HASH = 32;

type TileRef = Parameters<typeof tilePath>[0];

/** Grows by doubling: the hashes of one tree level, 32 bytes each. */
class HashColumn {
  private data = Buffer.alloc(HASH * 64);
  count = 0n;
  push(hash: Uint8Array): void {
    const at = Number(this.count) * HASH;
    if (at + HASH > this.data.length) {
      const bigger = Buffer.alloc(this.data.length * 2);
      this.data.copy(bigger);
      this.data = bigger;
    }
    this.data.set(hash, at);
    this.count++;
  }
  get(index: bigint): Buffer {
    if (index >= this.count) throw new RangeError(`no stored hash at index ${index}`);
    const at = Number(index) * HASH;
    return this.data.subarray(at, at + HASH);
  }
  slice(from: bigint, to: bigint): Buffer[] {
    const out: Buffer[] = [];
    for (let i = from; i < to; i++) out.push(this.get(i));
    return out;
  }
}

/** Writes a file so that readers see the old or the new content, never a half-written one. */
/** Directories known to exist: tiles of one directory are written many times over. */
const made = new Set<string>();

export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  if (!made.has(dir)) {
    await mkdir(dir, { recursive: true });
    made.add(dir);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export class TileTree {
  private readonly range = new CompactRange();
  /** Nodes at levels >= 8 (index 0 = level 8). */
  private readonly upper: HashColumn[] = [];
  private leaves: Buffer[] = []; // the current partial level-0 tile
  private entries: Buffer[] = []; // the current partial entry bundle
  /** Full tiles and bundles in the tree but not yet on disk, oldest first. */
  private readonly unwritten: { tile: TileRef; data: Buffer }[] = [];
  /** `leaves` expanded to all levels, kept until the next append (proofs read it many times). */
  private partial: Buffer[][] | null = null;
  /** Full level-0 tiles, decoded and expanded to all 8 levels, most recently used last. */
  private readonly cache = new Map<bigint, Promise<Buffer[][]>>();

  constructor(
    readonly dir: string,
    private readonly cacheTiles = 2048,
  ) {}

  get size(): bigint {
    return this.range.size;
  }

  root(): Buffer {
    return this.range.root();
  }

  /**
   * Adds entries; writes every tile and bundle that becomes full (skipping ones already on disk).
   * The entries are in the tree even when a write fails (a full disk): the tiles not yet written
   * wait in memory and go out on the next call, so nothing is lost and nothing is added twice.
   */
  async append(entries: readonly Uint8Array[]): Promise<void> {
    for (const entry of entries) {
      const leaf = leafHash(entry);
      const index = this.range.size;
      for (const node of this.range.append(leaf)) {
        if (node.level >= TILE_HEIGHT) this.column(node.level).push(node.hash);
      }
      this.leaves.push(leaf);
      this.entries.push(Buffer.from(entry));
      this.partial = null;
      if (this.leaves.length === TILE_WIDTH) {
        const tile = index / BigInt(TILE_WIDTH);
        this.unwritten.push(
          { tile: { level: 0, index: tile, width: TILE_WIDTH }, data: encodeTile(this.leaves) },
          { tile: { level: "entries", index: tile, width: TILE_WIDTH }, data: encodeBundle(this.entries) },
        );
        this.leaves = [];
        this.entries = [];
        this.queueUpperTiles();
      }
    }
    await this.persist();
  }

  /** Full tiles not yet on disk. */
  get unwrittenTiles(): number {
    return this.unwritten.length;
  }

  /** Writes the full tiles still waiting, in order; on a failure the rest keep waiting. */
  private async persist(): Promise<void> {
    while (this.unwritten.length > 0) {
      const next = this.unwritten[0] as { tile: TileRef; data: Buffer };
      await this.writeFull(next.tile, next.data);
      this.unwritten.shift();
    }
  }

  /** Writes the partial tiles and bundle for the current size: what a checkpoint of this size needs. */
  async writePartials(): Promise<void> {
    const size = this.range.size;
    if (this.leaves.length > 0) {
      const index = size / BigInt(TILE_WIDTH);
      await writeAtomic(this.path({ level: 0, index, width: this.leaves.length }), encodeTile(this.leaves));
      await writeAtomic(
        this.path({ level: "entries", index, width: this.entries.length }),
        encodeBundle(this.entries),
      );
    }
    for (let level = 1; ; level++) {
      const column = this.upper[(level - 1) * TILE_HEIGHT];
      if (column === undefined || column.count === 0n) break;
      const width = Number(column.count % BigInt(TILE_WIDTH));
      if (width === 0) continue;
      const index = column.count / BigInt(TILE_WIDTH);
      const from = index * BigInt(TILE_WIDTH);
      await writeAtomic(this.path({ level, index, width }), encodeTile(column.slice(from, column.count)));
    }
  }

  /** Reads complete subtrees for proofs: levels >= 8 from memory, lower ones from a level-0 tile. */
  readonly read: HashReader = async (level, index) => {
    if (level >= TILE_HEIGHT) return this.column(level).get(index);
    const perTile = BigInt(TILE_WIDTH >> level);
    const tile = index / perTile;
    const offset = Number(index % perTile);
    const full = (tile + 1n) * BigInt(TILE_WIDTH) <= this.range.size;
    const levels = full ? await this.fullTile(tile) : (this.partial ??= expand(this.leaves));
    const hash = levels[level]?.[offset];
    if (hash === undefined) throw new RangeError(`node (${level}, ${index}) is not complete`);
    return hash;
  };

  /**
   * A proof asks for up to 8 nodes of one tile at once, so the load itself is cached (not only its
   * result): one read, decode and rehash per tile. A failed load is forgotten.
   */
  private fullTile(tile: bigint): Promise<Buffer[][]> {
    const hit = this.cache.get(tile);
    if (hit !== undefined) {
      this.cache.delete(tile);
      this.cache.set(tile, hit);
      return hit;
    }
    const load = readFile(this.path({ level: 0, index: tile, width: TILE_WIDTH })).then((data) =>
      expand(decodeTile(data, TILE_WIDTH)),
    );
    load.catch(() => this.cache.delete(tile));
    this.cache.set(tile, load);
    if (this.cache.size > this.cacheTiles) this.cache.delete(this.cache.keys().next().value as bigint);
    return load;
  }

  /** Level-1 and higher tiles that became full after a level-0 tile filled. */
  private queueUpperTiles(): void {
    for (let level = 1; ; level++) {
      const column = this.upper[(level - 1) * TILE_HEIGHT];
      if (column === undefined || column.count === 0n || column.count % BigInt(TILE_WIDTH) !== 0n) return;
      const index = column.count / BigInt(TILE_WIDTH) - 1n;
      const from = index * BigInt(TILE_WIDTH);
      this.unwritten.push({
        tile: { level, index, width: TILE_WIDTH },
        data: encodeTile(column.slice(from, column.count)),
      });
    }
  }

  private column(level: number): HashColumn {
    const i = level - TILE_HEIGHT;
    while (this.upper.length <= i) this.upper.push(new HashColumn());
    return this.upper[i] as HashColumn;
  }

  private path(t: TileRef): string {
    return join(this.dir, tilePath(t));
  }

  /** Full tiles never change, so one already on disk (written before a crash) is left as it is. */
  private async writeFull(t: TileRef, data: Buffer): Promise<void> {
    const path = this.path(t);
    if (!existsSync(path)) await writeAtomic(path, data);
  }
}

/** A tile's leaf hashes and the nodes above them inside the tile: levels[l][i], l = 0..7. */
function expand(leaves: readonly Buffer[]): Buffer[][] {
  const levels: Buffer[][] = [leaves as Buffer[]];
  for (let l = 1; l < TILE_HEIGHT; l++) {
    const below = levels[l - 1] as Buffer[];
    const row: Buffer[] = [];
    for (let i = 0; i + 1 < below.length; i += 2)
      row.push(nodeHash(below[i] as Buffer, below[i + 1] as Buffer));
    levels.push(row);
  }
  return levels;
}
