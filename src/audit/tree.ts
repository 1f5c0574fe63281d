/**
 * The log's Merkle tree on disk, in the tlog-tiles layout under one directory: leaf hashes and
 * entries go into level-0 tiles and entry bundles, every 8th level into the tiles above. In memory
 * it keeps the right edge (a compact range), the current partial tiles and bundle, and every node
 * at level 8 and above (N/128 hashes: 2.5 MB at 10M entries), so that a proof reads at most one
 * level-0 tile from disk. Each full level-0 tile's inner nodes go into one file beside the tiles
 * (INNER_NODES_FILE), so that a proof on a cache miss need not hash them again.
 */
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  write,
} from "node:fs";
import { mkdir, open, readdir, rename, rmdir, unlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { crc32 } from "node:zlib";
import { cannotSyncDirectory } from "../files/dir-sync.js";
import { CompactRange, leafHash, nodeHash, nodeHashOfPair, type HashReader } from "./merkle.js";
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  decodeBundle,
  decodeTile,
  encodeBundle,
  encodeTile,
  legacyInnerTilePath,
  parseTilePath,
  tilePath,
  tileSpan,
  type TileLevel,
} from "./tiles.js";

const HASH = 32;

/**
 * Every full level-0 tile's inner nodes (levels 1–7), in one file beside the tiles: tile n's record
 * at n × INNER_RECORD bytes, its 254 hashes then their CRC-32. One file rather than one per tile:
 * a file created every 256 entries costs the thread pool four trips (open, write, close, rename)
 * where a record costs one, and on ext4 without a journal creating a file scans past every inode
 * deleted in the last minutes (0.7–4.4 µs a request under bench:gateway's load on this project's
 * machine, README Benchmarks). Not under `tile/`, so never served; a record that is missing, torn
 * (its CRC) or another tree's (its top nodes against the level-8 hash) is not used, and the tile is
 * hashed instead.
 */
export const INNER_NODES_FILE = "tile-inner.bin";

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

/**
 * Directories this process made or found (tiles of one directory are written many times over, a
 * mkdir each would cost the thread pool a trip a write). Only a hint: one removed since (a shared
 * log's mirror, rebuilt by a later open in this process; tiles removed for a replay to write them
 * again) is made again by the next write into it.
 */
const made = new Set<string>();
/**
 * For a directory this process created, the directories above it whose entries changed (the
 * parents of it and of the new ones above it), until a write into it has reported them.
 */
const madeUnder = new Map<string, string[]>();
/** The directories `writeAtomic` takes to exist without making them (for tests). */
export const knownDirectories = (): ReadonlySet<string> => made;
/** Numbers each temporary file, so that two writers of the same path never share one. */
let writes = 0;

/**
 * How far `writeAtomic` takes a file towards the disk. Readers see the old or the new content,
 * never a half-written one, whichever is chosen; after a crash:
 *   - "none": nothing is promised (files that can be made again);
 *   - "contents": the file's bytes are on disk before it is renamed into place; the directories
 *     whose entries changed are returned, for the caller to sync together later (tiles: once a
 *     checkpoint round, before the checkpoint that covers them is signed);
 *   - "synced": the file and its name are on disk before this resolves (the signed checkpoint).
 */
export type Durability = "none" | "contents" | "synced";

/**
 * Writes a file atomically (a temporary file renamed into place). Resolves with the directories
 * whose entries it changed — the file's own, and those above any directory it had to create — for
 * the caller to sync when `durability` is "contents".
 */
export async function writeAtomic(
  path: string,
  data: Uint8Array,
  durability: Durability = "none",
): Promise<string[]> {
  const dir = dirname(path);
  const known = made.has(dir);
  if (!known) await makeDirectory(dir);
  const tmp = `${path}.tmp-${process.pid}-${++writes}`;
  try {
    await writeTemporary(tmp, data, durability).catch(async (err: unknown) => {
      // Made earlier in this process and removed since: made again, once (a mkdir per write only then).
      if (!known || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      await makeDirectory(dir);
      await writeTemporary(tmp, data, durability);
    });
    await rename(tmp, path);
  } catch (err) {
    // A full disk: what was written of the temporary file is removed, not left behind.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const changed = [dir, ...(madeUnder.get(dir) ?? [])];
  if (durability === "synced") await syncDirectories(changed);
  madeUnder.delete(dir);
  return changed;
}

/** Makes `dir` and those above it, noting the directories whose entries changed. */
async function makeDirectory(dir: string): Promise<void> {
  // The first directory created, if any: it and every one below it down to `dir` are new.
  const first = await mkdir(dir, { recursive: true });
  if (first !== undefined) {
    const above: string[] = [];
    for (let d = dir; d !== dirname(d); d = dirname(d)) {
      above.push(dirname(d));
      if (d === first) break;
    }
    madeUnder.set(dir, above);
  }
  made.add(dir);
}

function writeTemporary(tmp: string, data: Uint8Array, durability: Durability): Promise<void> {
  return durability === "none" ? writeFile(tmp, data) : writeSynced(tmp, data);
}

async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Syncs a file already written (one found on disk that a crash may have left in the page cache). */
async function syncFile(path: string): Promise<void> {
  // Writable: Windows syncs only a handle that may write.
  const fh = await open(path, "r+");
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Syncs directories, the deepest first (a new directory's own entries before its name above). */
async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await syncDirectory(dir);
}

/** Makes a rename in `dir` durable; where directories cannot be synced (Windows), it stays as it is. */
async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (err) {
    if (!cannotSyncDirectory(err)) throw err;
  } finally {
    await fh?.close();
  }
}

export class TileTree {
  private range = new CompactRange();
  /** Nodes at levels >= 8 (index 0 = level 8). */
  private readonly upper: HashColumn[] = [];
  private leaves: Buffer[] = []; // the current partial level-0 tile
  private entries: Buffer[] = []; // the current partial entry bundle
  /** Full tiles, bundles and inner-node records in the tree but not yet on disk, oldest first. */
  private readonly unwritten: Unwritten[] = [];
  /** The inner-node file, opened on first use (null: not open). */
  private innerFd: number | null = null;
  /** Full level-0 tiles expanded by hashing on a cache miss, their stored inner nodes not usable. */
  hashedTiles = 0;
  /** `leaves` expanded to all levels, kept until the next append (proofs read it many times). */
  private partial: ExpandedTile | null = null;
  /** Full level-0 tiles, expanded to all 8 levels, most recently used last. */
  private readonly cache = new Map<bigint, ExpandedTile>();
  /** The current tile's inner nodes (levels 1–7), as append makes them. */
  private readonly inner = Buffer.alloc(INNER_NODES * HASH);
  /** `.p` directories partials were written into (or may be in), until `prunePartials` removes them. */
  private readonly partialDirs = new Map<string, { level: TileLevel; index: bigint }>();
  /** Directories whose entries changed since the last `sync` (a durable tree's). */
  private readonly unsynced = new Set<string>();
  /**
   * Tiles full at this size or below are known to be on disk (a durable tree's owner sets it to the
   * signed checkpoint's size when it opens: every tile a checkpoint covers was synced before it was
   * signed), so a replay does not sync again each of them that it finds — a device flush apiece.
   */
  syncedThrough = 0n;

  /**
   * `durable`: every tile and bundle is on disk, name and all, once `sync` has returned after it was
   * written (the log's own tree, which signs checkpoints over its tiles); otherwise nothing is
   * synced (a mirror of a log kept elsewhere, rebuilt when opened).
   */
  constructor(
    readonly dir: string,
    private readonly cacheTiles = 2048,
    private readonly durable = false,
  ) {}

  get size(): bigint {
    return this.range.size;
  }

  /**
   * The tree of `size` entries as the tiles on disk hold it (the tiles written for a checkpoint of
   * that size): the level-8 nodes from the level-1 tiles, the levels above them rehashed (N/256
   * hashes), the partial level-0 tile and entry bundle, the right edge from those. Nothing below
   * level 8 is read except the partial tile, so a 10M-entry tree comes back in milliseconds. The
   * caller checks the root against the signed checkpoint. Throws if a tile is missing or malformed.
   */
  static restore(dir: string, size: bigint, cacheTiles?: number, durable = false): TileTree {
    const tree = new TileTree(dir, cacheTiles, durable);
    const nodes = size >> BigInt(TILE_HEIGHT);
    if (nodes > 0n) {
      const level8 = tree.column(TILE_HEIGHT);
      for (const hash of tree.readPrefix(1, nodes)) level8.push(hash);
      for (let level = TILE_HEIGHT + 1; ; level++) {
        const below = tree.column(level - 1);
        if (below.count < 2n) break;
        const column = tree.column(level);
        for (let i = 0n; i + 1n < below.count; i += 2n)
          column.push(nodeHash(below.get(i), below.get(i + 1n)));
      }
      while (tree.upper.length > 0 && (tree.upper.at(-1) as HashColumn).count === 0n) tree.upper.pop();
    }
    const width = Number(size % BigInt(TILE_WIDTH));
    if (width > 0) {
      tree.leaves = tree.readPrefix(0, size);
      tree.entries = tree.readPrefix("entries", size);
      // The bundle is carried into the full one when the tile fills: it must be the leaves' entries
      // (the checkpoint's root vouches for the leaves only).
      tree.entries.forEach((e, i) => {
        if (!leafHash(e).equals(tree.leaves[i] as Buffer))
          throw new RangeError(
            `entry ${size - BigInt(width) + BigInt(i)} of the partial bundle does not match its leaf`,
          );
      });
    }
    const partial = ExpandedTile.of(tree.leaves);
    // The partial tile's inner nodes made before the restart, so that its stored inner nodes are
    // whole once it fills.
    for (let level = 1; level < TILE_HEIGHT; level++) {
      for (let i = 0; ; i++) {
        const hash = partial.node(level, i);
        if (hash === undefined) break;
        tree.inner.set(hash, innerOffset(level, BigInt(i)));
      }
    }
    const frontier: Buffer[] = [];
    let start = 0n;
    for (let level = size.toString(2).length - 1; level >= 0; level--) {
      if (((size >> BigInt(level)) & 1n) === 0n) continue;
      const index = start >> BigInt(level);
      frontier.push(
        level >= TILE_HEIGHT
          ? tree.column(level).get(index)
          : (partial.node(level, Number(index % BigInt(TILE_WIDTH >> level))) as Buffer),
      );
      start += 1n << BigInt(level);
    }
    tree.range = CompactRange.fromHashes(size, frontier);
    return tree;
  }

  /**
   * The last, partial tile of a level holding `count` hashes (or entries): read from its partial
   * file, or from the full tile when it has filled since (both start with the same hashes). For
   * level 1 and up, every tile of the level in order.
   */
  private readPrefix(level: 0 | 1 | "entries", count: bigint): Buffer[] {
    const out: Buffer[] = [];
    const full = count / BigInt(TILE_WIDTH);
    const width = Number(count % BigInt(TILE_WIDTH));
    const decode = (data: Buffer, n: number) =>
      level === "entries" ? decodeBundle(data, n) : decodeTile(data, n);
    if (level === 1) {
      for (let index = 0n; index < full; index++) {
        out.push(...decode(readFileSync(this.path({ level, index, width: TILE_WIDTH })), TILE_WIDTH));
      }
    }
    if (width === 0) return out;
    const partial = this.path({ level, index: full, width });
    const whole = this.path({ level, index: full, width: TILE_WIDTH });
    if (existsSync(partial)) out.push(...decode(readFileSync(partial), width));
    else out.push(...decode(readFileSync(whole), TILE_WIDTH).slice(0, width));
    return out;
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
        // The tile's inner nodes, made here anyway: kept in the expanded layout for its index.
        else if (node.level > 0) this.inner.set(node.hash, innerOffset(node.level, node.index));
      }
      this.leaves.push(leaf);
      this.entries.push(Buffer.from(entry));
      this.partial = null;
      if (this.leaves.length === TILE_WIDTH) {
        const tile = index / BigInt(TILE_WIDTH);
        const leaves = encodeTile(this.leaves);
        const inner = Buffer.from(this.inner);
        const filled = this.range.size;
        this.unwritten.push(
          { path: this.path({ level: 0, index: tile, width: TILE_WIDTH }), data: leaves, filled },
          {
            path: this.path({ level: "entries", index: tile, width: TILE_WIDTH }),
            data: encodeBundle(this.entries),
            filled,
          },
          { inner: tile, data: inner },
        );
        this.remember(tile, ExpandedTile.join(leaves, inner));
        this.leaves = [];
        this.entries = [];
        this.queueUpperTiles();
      }
    }
    await this.persist();
  }

  /**
   * Files of full tiles not yet on disk: three a level-0 tile (the tile, its entry bundle, its
   * inner nodes), one an upper tile.
   */
  get unwrittenFiles(): number {
    return this.unwritten.length;
  }

  /** Writes the full tiles still waiting, in order; on a failure the rest keep waiting. */
  private async persist(): Promise<void> {
    while (this.unwritten.length > 0) {
      const next = this.unwritten[0] as Unwritten;
      if ("inner" in next) await this.writeInner(next.inner, next.data);
      else await this.writeFull(next);
      this.unwritten.shift();
    }
  }

  /** Closes the inner-node file. The tree can still be read and appended to: it reopens it. */
  close(): void {
    if (this.innerFd === null) return;
    closeSync(this.innerFd);
    this.innerFd = null;
  }

  /** Writes the partial tiles and bundle for the current size: what a checkpoint of this size needs. */
  async writePartials(): Promise<void> {
    const size = this.range.size;
    if (this.leaves.length > 0) {
      const index = size / BigInt(TILE_WIDTH);
      for (const level of [0, "entries"] as const) this.trackPartial(level, index);
      await this.writeTile(
        this.path({ level: 0, index, width: this.leaves.length }),
        encodeTile(this.leaves),
      );
      await this.writeTile(
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
      this.trackPartial(level, index);
      await this.writeTile(this.path({ level, index, width }), encodeTile(column.slice(from, column.count)));
    }
  }

  private trackPartial(level: TileLevel, index: bigint): void {
    this.partialDirs.set(`${this.path({ level, index, width: TILE_WIDTH })}.p`, { level, index });
  }

  /**
   * Notes the `.p` directories a tree of `size` entries may have partials in, written before this
   * process (a restored tree): those at its right edge, and those of the last full tile of each
   * level (a crash between a checkpoint and its pruning leaves them).
   */
  trackPartials(size: bigint): void {
    for (let level = 0; size >> BigInt(level * TILE_HEIGHT) > 0n; level++) {
      const { fullTiles } = tileSpan(level, size);
      for (const l of level === 0 ? ([0, "entries"] as const) : [level]) {
        this.trackPartial(l, fullTiles);
        if (fullTiles > 0n) this.trackPartial(l, fullTiles - 1n);
      }
    }
  }

  /**
   * Removes the partial tiles and bundles whose full tile a signed checkpoint of `covered` entries
   * covers — only those: tlog-tiles has a log serve the partials of every checkpoint it signed, and
   * lets it remove them once the full tile is there (a client then reads the full tile's prefix).
   * Removing them sooner (two checkpoints on, as this did) broke any client that took longer than
   * two rounds to read a checkpoint's tiles. Disk stays bounded: a tile position has at most 255
   * widths, and one position a level is partial at a time: with a checkpoint every entry, at most
   * 1 MB of hashes a level and, at level 0, about 128 full bundles' worth of entries — all removed
   * when the tile fills. After a checkpoint, so that the full tiles it covers
   * are durable before their partials go. `more`: other `.p` directories to consider (those of
   * earlier builds, swept once).
   */
  async prunePartials(covered: bigint, more: readonly string[] = []): Promise<void> {
    const dirs = new Map(this.partialDirs);
    for (const dir of more) {
      const ref = this.refOf(dir);
      if (ref !== null) dirs.set(dir, ref);
    }
    for (const [dir, { level, index }] of dirs) {
      if (index >= tileSpan(level, covered).fullTiles) continue; // still partial: clients need every width
      const names = await readdir(dir).catch(() => [] as string[]);
      let left = names.length;
      for (const name of names) {
        if (!PARTIAL_NAME.test(name)) continue;
        await unlink(join(dir, name));
        left--;
      }
      if (left === 0) {
        made.delete(dir); // else the process would keep every `.p` directory it ever wrote into
        await rmdir(dir).catch(() => undefined);
      }
      this.partialDirs.delete(dir);
    }
  }

  /**
   * Removes the partial tiles and bundles of sizes beyond `signed` (the signed checkpoint's, 0 for
   * none), up to this tree's size: a round writes its partials before signing, so one that failed
   * there and then a crash left them, never signed — served for ever where later checkpoints skipped
   * their tile. At the edge of `signed` the widths up to its own stay (earlier checkpoints' too).
   * At start-up, before the tree's first round writes the partials it signs.
   */
  async removeUnsignedPartials(signed: bigint): Promise<void> {
    for (let level = 0; this.range.size >> BigInt(level * TILE_HEIGHT) > 0n; level++) {
      for (const l of level === 0 ? ([0, "entries"] as const) : [level]) {
        const edge = tileSpan(l, signed);
        const last = tileSpan(l, this.range.size).fullTiles;
        for (let index = edge.fullTiles; index <= last; index++) {
          const keep = index === edge.fullTiles ? edge.partialWidth : 0;
          const dir = `${this.path({ level: l, index, width: TILE_WIDTH })}.p`;
          const names = await readdir(dir).catch(() => [] as string[]);
          let left = names.length;
          for (const name of names) {
            if (!PARTIAL_NAME.test(name) || Number(name) <= keep) continue;
            await unlink(join(dir, name));
            left--;
          }
          if (left === 0 && names.length > 0) {
            // Its tile may be partial again in this process: writeAtomic must make it anew.
            made.delete(dir);
            await rmdir(dir).catch(() => undefined);
          }
        }
      }
    }
  }

  /** The tile a `.p` directory under this tree holds partials of, or null if it is not one. */
  private refOf(dir: string): { level: TileLevel; index: bigint } | null {
    const rel = relative(this.dir, dir).split(sep).join("/");
    if (!rel.endsWith(".p")) return null;
    try {
      const { level, index } = parseTilePath(rel.slice(0, -2));
      return { level, index };
    } catch {
      return null;
    }
  }

  /**
   * Every `.p` directory, not only the edges: what builds that never removed partials left — or
   * null once they have been swept (`markPartialsSwept`).
   */
  async legacyPartialDirs(): Promise<string[] | null> {
    if (existsSync(join(this.dir, SWEPT_MARKER))) return null;
    const root = join(this.dir, "tile");
    const names = await readdir(root, { recursive: true }).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith(".p")).map((name) => join(root, name));
  }

  /** The legacy partials are gone: later starts need not walk the tree for them. */
  async markPartialsSwept(): Promise<void> {
    await writeFile(join(this.dir, SWEPT_MARKER), "");
  }

  /** Reads complete subtrees for proofs: levels >= 8 from memory, lower ones from a level-0 tile. */
  readonly read: HashReader = async (level, index) => {
    if (level >= TILE_HEIGHT) return this.column(level).get(index);
    const perTile = BigInt(TILE_WIDTH >> level);
    const tile = index / perTile;
    const offset = Number(index % perTile);
    const full = (tile + 1n) * BigInt(TILE_WIDTH) <= this.range.size;
    const levels = full ? this.fullTile(tile) : (this.partial ??= ExpandedTile.of(this.leaves));
    const hash = levels.node(level, offset);
    if (hash === undefined) throw new RangeError(`node (${level}, ${index}) is not complete`);
    return hash;
  };

  /**
   * A proof asks for up to 8 nodes of one tile, so the tile is cached expanded (the nodes above its
   * leaves hashed once). The read is synchronous: 8 KB this process wrote, normally still in the
   * page cache, costs a few microseconds that way, where an asynchronous read takes four trips
   * through libuv's thread pool — behind the write-ahead log's synchronous writes, which occupy
   * it for milliseconds. A failed read is not cached: the next proof tries again.
   */
  private fullTile(tile: bigint): ExpandedTile {
    const hit = this.cache.get(tile);
    if (hit !== undefined) {
      this.cache.delete(tile);
      this.cache.set(tile, hit);
      return hit;
    }
    const data = readFileSync(this.path({ level: 0, index: tile, width: TILE_WIDTH }));
    if (data.length !== TILE_WIDTH * HASH) {
      throw new RangeError(`level-0 tile ${tile} is ${data.length} bytes, not ${TILE_WIDTH * HASH}`);
    }
    const stored = this.innerOf(tile, data);
    if (stored !== null) return this.remember(tile, stored);
    this.hashedTiles++;
    return this.remember(tile, ExpandedTile.expand(data, TILE_WIDTH));
  }

  /**
   * The tile expanded from its stored inner nodes, if they are there and belong to this tree: the
   * record's CRC must match (a write cut short by a crash does not), and its top two nodes must hash
   * to the level-8 hash the tree holds (one hash instead of 255). A log written by a build before
   * 34dddd6 (5 December 2026) kept them in a file per tile, read when the record is missing.
   * Otherwise null, and the tile is hashed instead.
   */
  private innerOf(tile: bigint, leaves: Buffer): ExpandedTile | null {
    const above = this.column(TILE_HEIGHT);
    if (tile >= above.count) return null;
    const inner = this.innerRecord(tile) ?? this.legacyInner(tile);
    if (inner === null) return null;
    const top = innerOffset(TILE_HEIGHT - 1, 0n);
    if (!nodeHashOfPair(inner, top).equals(above.get(tile))) return null;
    return ExpandedTile.join(leaves, inner);
  }

  /** Tile `tile`'s record in the inner-node file, if it is there whole. */
  private innerRecord(tile: bigint): Buffer | null {
    const fd = this.openInner();
    if (fd === null) return null;
    const record = Buffer.allocUnsafe(INNER_RECORD);
    let got: number;
    try {
      got = readSync(fd, record, 0, INNER_RECORD, Number(tile) * INNER_RECORD);
    } catch {
      return null;
    }
    if (got !== INNER_RECORD) return null;
    const inner = record.subarray(0, INNER_BYTES);
    return crc32(inner) === record.readUInt32BE(INNER_BYTES) ? inner : null;
  }

  private legacyInner(tile: bigint): Buffer | null {
    try {
      const inner = readFileSync(join(this.dir, legacyInnerTilePath(tile)));
      return inner.length === INNER_BYTES ? inner : null;
    } catch {
      return null;
    }
  }

  /** The inner-node file's descriptor; null if it cannot be opened (it is then tried again later). */
  private openInner(): number | null {
    if (this.innerFd !== null) return this.innerFd;
    try {
      mkdirSync(this.dir, { recursive: true });
      // Not O_APPEND: each record is written at its tile's place.
      this.innerFd = openSync(join(this.dir, INNER_NODES_FILE), constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch {
      return null;
    }
    return this.innerFd;
  }

  /**
   * Writes tile `tile`'s record. Not made durable: the nodes can always be hashed again from the
   * tile, and a record cut short by a crash fails its CRC. A failure (a full disk) throws, and the
   * record waits in memory with the tiles.
   */
  private async writeInner(tile: bigint, inner: Buffer): Promise<void> {
    const fd = this.openInner();
    if (fd === null) throw new Error(`cannot open ${join(this.dir, INNER_NODES_FILE)}`);
    const record = Buffer.allocUnsafe(INNER_RECORD);
    record.set(inner, 0);
    record.writeUInt32BE(crc32(inner), INNER_BYTES);
    await new Promise<void>((resolve, reject) => {
      write(fd, record, 0, INNER_RECORD, Number(tile) * INNER_RECORD, (err, written) => {
        if (err !== null) reject(err);
        else if (written !== INNER_RECORD) reject(new Error(`short write to ${INNER_NODES_FILE}`));
        else resolve();
      });
    });
  }

  private remember(tile: bigint, expanded: ExpandedTile): ExpandedTile {
    this.cache.set(tile, expanded);
    if (this.cache.size > this.cacheTiles) this.cache.delete(this.cache.keys().next().value as bigint);
    return expanded;
  }

  /** Level-1 and higher tiles that became full after a level-0 tile filled. */
  private queueUpperTiles(): void {
    for (let level = 1; ; level++) {
      const column = this.upper[(level - 1) * TILE_HEIGHT];
      if (column === undefined || column.count === 0n || column.count % BigInt(TILE_WIDTH) !== 0n) return;
      const index = column.count / BigInt(TILE_WIDTH) - 1n;
      const from = index * BigInt(TILE_WIDTH);
      this.unwritten.push({
        path: this.path({ level, index, width: TILE_WIDTH }),
        data: encodeTile(column.slice(from, column.count)),
        filled: this.range.size,
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

  /**
   * Full tiles never change, so one already on disk (written before a crash) is left as it is —
   * if it is the same: a replay of the write-ahead file, which follows tiles that did not match the
   * checkpoint, writes again those that a crash cut short or anything else altered. One kept that
   * a signed checkpoint does not cover is still synced, with the directories above it: the crash
   * may have left it in the page cache only.
   */
  private async writeFull({ path, data, filled }: FullTile): Promise<void> {
    if (!(existsSync(path) && sameContent(path, data))) return this.writeTile(path, data);
    if (!this.durable || filled <= this.syncedThrough) return;
    await syncFile(path);
    for (let d = dirname(path); d.length >= this.dir.length && d !== dirname(d); d = dirname(d))
      this.unsynced.add(d);
  }

  /** Writes a tile or bundle; a durable tree's contents are synced now, its directories by `sync`. */
  private async writeTile(path: string, data: Buffer): Promise<void> {
    const changed = await writeAtomic(path, data, this.durable ? "contents" : "none");
    if (this.durable) for (const d of changed) this.unsynced.add(d);
  }

  /**
   * Makes every tile and bundle written since the last call durable: their contents were synced as
   * they were written, their directories are now (a few a checkpoint round, rather than one per
   * file). A failure leaves them all to the next call.
   */
  async sync(): Promise<void> {
    const dirs = [...this.unsynced];
    await syncDirectories(dirs);
    for (const d of dirs) this.unsynced.delete(d);
  }
}

/** Written beside the tile directory once the partials of earlier builds are swept. */
const SWEPT_MARKER = "tile-partials-swept";

/** A partial tile's file name, its width (anything else in a `.p` directory is not ours to remove). */
const PARTIAL_NAME = /^[1-9][0-9]{0,2}$/;

/** Whether the file holds exactly `data` (false if it cannot be read). */
function sameContent(path: string, data: Buffer): boolean {
  try {
    return readFileSync(path).equals(data);
  } catch {
    return false;
  }
}

/** A full tile or bundle, a file of its own; `filled`: the tree's size when it became full. */
interface FullTile {
  readonly path: string;
  readonly data: Buffer;
  readonly filled: bigint;
}

/** A full tile or bundle, or a tile's inner nodes (a record in one file). */
type Unwritten = FullTile | { readonly inner: bigint; readonly data: Buffer };

/** A full level-0 tile's levels 0–7: where each starts (in hashes) and how many it has. */
const LEVEL_COUNTS: readonly number[] = Array.from({ length: TILE_HEIGHT }, (_, l) => TILE_WIDTH >> l);
const LEVEL_STARTS: readonly number[] = LEVEL_COUNTS.map((_, l) =>
  LEVEL_COUNTS.slice(0, l).reduce((a, b) => a + b, 0),
);
/** Levels 1–7 of a full tile: 128 + 64 + … + 2 = 254 hashes. */
const INNER_NODES =
  (LEVEL_STARTS[TILE_HEIGHT - 1] as number) + (LEVEL_COUNTS[TILE_HEIGHT - 1] as number) - TILE_WIDTH;
const INNER_BYTES = INNER_NODES * HASH;
/** A tile's record in INNER_NODES_FILE: its inner nodes and their CRC-32. */
const INNER_RECORD = INNER_BYTES + 4;

/** Where node (level, index of the tree) of a tile is among its inner nodes, in bytes. */
function innerOffset(level: number, index: bigint): number {
  const within = Number(index % BigInt(TILE_WIDTH >> level));
  return ((LEVEL_STARTS[level] as number) - TILE_WIDTH + within) * HASH;
}

/**
 * A level-0 tile's leaf hashes and the nodes above them inside the tile (levels 0..7), in one
 * buffer: level l's nodes follow level l−1's. Siblings are adjacent, so each node is hashed from
 * 64 contiguous bytes, with no per-node objects but the digest.
 */
class ExpandedTile {
  private constructor(
    private readonly hashes: Buffer,
    /** Where each level starts (in hashes), and how many it has. */
    private readonly starts: readonly number[],
    private readonly counts: readonly number[],
  ) {}

  /** `width` leaf hashes, concatenated (a level-0 tile's bytes). */
  static expand(leaves: Uint8Array, width: number): ExpandedTile {
    const starts: number[] = [0];
    const counts: number[] = [width];
    let total = width;
    for (let l = 1; l < TILE_HEIGHT; l++) {
      starts.push(total);
      counts.push((counts[l - 1] as number) >> 1);
      total += counts[l] as number;
    }
    const hashes = Buffer.allocUnsafe(total * HASH);
    hashes.set(leaves.subarray(0, width * HASH), 0);
    for (let l = 1; l < TILE_HEIGHT; l++) {
      const below = (starts[l - 1] as number) * HASH;
      const at = (starts[l] as number) * HASH;
      for (let i = 0; i < (counts[l] as number); i++) {
        hashes.set(nodeHashOfPair(hashes, below + i * 2 * HASH), at + i * HASH);
      }
    }
    return new ExpandedTile(hashes, starts, counts);
  }

  /** A full tile from its leaves and its inner nodes as stored (levels 1–7, in order). */
  static join(leaves: Buffer, inner: Buffer): ExpandedTile {
    return new ExpandedTile(Buffer.concat([leaves, inner]), LEVEL_STARTS, LEVEL_COUNTS);
  }

  static of(leaves: readonly Buffer[]): ExpandedTile {
    return ExpandedTile.expand(Buffer.concat(leaves), leaves.length);
  }

  node(level: number, index: number): Buffer | undefined {
    if (level >= TILE_HEIGHT || index >= (this.counts[level] as number)) return undefined;
    const at = ((this.starts[level] as number) + index) * HASH;
    return this.hashes.subarray(at, at + HASH);
  }
}
