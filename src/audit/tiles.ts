/**
 * The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): tile paths, which tiles a tree of a
 * given size is made of, where a stored subtree hash lives, and the byte formats of hash tiles and
 * entry bundles. Pure code: no I/O, no hashing.
 *
 * Layout recap (from the spec):
 * - Tiles are served at `tile/<L>/<N>[.p/<W>]`, entry bundles at `tile/entries/<N>[.p/<W>]`.
 *   `<L>` is 0..63 with no leading zeroes; `<N>` is zero-padded 3-digit path elements, all but the
 *   last prefixed with `x` (1234067 → `x001/x234/067`); `.p/<W>` is present only for partial tiles,
 *   `<W>` is 1..255 with no leading zeroes. A full tile has 256 hashes and no `.p`.
 * - Tile n at level l holds, for i in 0..255, MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]):
 *   level 0 holds leaf hashes, level l+1 holds the hashes of the FULL tiles at level l. A partial tile
 *   is never hashed into the level above.
 * - For a tree of size s, level l holds floor(s / 256**l) hashes; the partial tile there has
 *   floor(s / 256**l) mod 256 hashes (none when that is 0: empty tiles are never served).
 * - A hash tile is its hashes concatenated (32 bytes each); an entry bundle is its entries, each
 *   prefixed with its length as a big-endian uint16.
 */

import { quoted } from "../policy/text.js";

/** Merkle tree levels one tile spans. */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile, entries in a full bundle. */
export const TILE_WIDTH = 256;
/** SHA-256 output size: the size of each hash in a tile. */
export const HASH_SIZE = 32;
/** Highest tile level the spec allows in a path. */
export const MAX_TILE_LEVEL = 63;
/** Largest entry an entry bundle can hold (its length is a uint16). */
export const MAX_ENTRY_SIZE = 0xffff;
/**
 * Largest tile index, tree size and subtree index accepted: tree sizes are uint64 (checkpoints), so
 * nothing in a real log is bigger. Bounding it also keeps hostile paths from parsing into huge numbers.
 */
export const MAX_UINT64 = (1n << 64n) - 1n;

/** `"entries"` names the entry-bundle tiles, laid out like level 0. */
export type TileLevel = number | "entries";

export interface TileRef {
  /** 0..63, or "entries" for an entry bundle. */
  level: TileLevel;
  /** Index of the tile within its level, 0..2^64−1. */
  index: bigint;
  /** 1..256; 256 is a full tile, anything less is a partial tile. */
  width: number;
}

export type TileErrorCode =
  | "invalid_path"
  | "invalid_level"
  | "invalid_index"
  | "invalid_width"
  | "invalid_size"
  | "invalid_hash"
  | "invalid_data"
  | "too_many_tiles"
  | "tile_length"
  | "entry_too_large"
  | "bundle_truncated"
  | "bundle_trailing_bytes"
  | "bundle_count_mismatch";

export class TileError extends Error {
  readonly code: TileErrorCode;
  constructor(code: TileErrorCode, message: string) {
    super(message);
    this.name = "TileError";
    this.code = code;
  }
}

const BIG_WIDTH = BigInt(TILE_WIDTH);
const TILE_WIDTH_SHIFT = BigInt(TILE_HEIGHT);
/** JavaScript arrays cannot be longer than this. */
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return quoted(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

function checkLevel(level: unknown, allowEntries: boolean): number {
  if (allowEntries && level === "entries") return 0;
  if (typeof level !== "number" || !Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new TileError(
      "invalid_level",
      `invalid tile level ${describe(level)}: want an integer 0..${MAX_TILE_LEVEL}${allowEntries ? ' or "entries"' : ""}`,
    );
  }
  return level;
}

function checkUint64(value: unknown, code: "invalid_index" | "invalid_size", what: string): bigint {
  if (typeof value !== "bigint" || value < 0n || value > MAX_UINT64) {
    throw new TileError(code, `invalid ${what} ${describe(value)}: want a bigint 0..2^64-1`);
  }
  return value;
}

function checkWidth(width: unknown, what = "tile width"): number {
  if (typeof width !== "number" || !Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new TileError(
      "invalid_width",
      `invalid ${what} ${describe(width)}: want an integer 1..${TILE_WIDTH}`,
    );
  }
  return width;
}

// ---------------------------------------------------------------------------------------------
// Paths

/** `<N>`: zero-padded 3-digit groups, all but the last prefixed with "x" (1234067 → x001/x234/067). */
function encodeIndex(index: bigint): string {
  let n = index;
  let out = (n % 1000n).toString().padStart(3, "0");
  n /= 1000n;
  while (n > 0n) {
    out = `x${(n % 1000n).toString().padStart(3, "0")}/${out}`;
    n /= 1000n;
  }
  return out;
}

/**
 * `tile/<L>/<N>` for a full tile, `tile/<L>/<N>.p/<W>` for a partial one; `tile/entries/...` for an
 * entry bundle. Throws TileError if the level, index or width is out of range.
 */
export function tilePath(t: TileRef): string {
  const isEntries = t.level === "entries";
  const level = checkLevel(t.level, true);
  const index = checkUint64(t.index, "invalid_index", "tile index");
  const width = checkWidth(t.width);
  const prefix = isEntries ? "tile/entries/" : `tile/${level}/`;
  const suffix = width === TILE_WIDTH ? "" : `.p/${width}`;
  return `${prefix}${encodeIndex(index)}${suffix}`;
}

/**
 * Where logs written by builds before 34dddd6 (5 December 2026) kept a full level-0 tile's inner
 * nodes, one file per tile (tree.ts now keeps them all in one file, INNER_NODES_FILE):
 * `tile-inner/` and the tile's index as tilePath writes it. Still read, so that such a log's
 * proofs stay fast. Not under `tile/`, so never served.
 */
export function legacyInnerTilePath(index: bigint): string {
  return `tile-inner/${encodeIndex(checkUint64(index, "invalid_index", "tile index"))}`;
}

const LEVEL_RE = /^(?:0|[1-9][0-9]?)$/;
const WIDTH_RE = /^[1-9][0-9]{0,2}$/;
const INNER_GROUP_RE = /^x[0-9]{3}$/;
const LAST_GROUP_RE = /^[0-9]{3}$/;
/** 2^64−1 has 20 digits: at most 7 groups. */
const MAX_GROUPS = 7;

/**
 * The strict inverse of tilePath: accepts exactly the paths tilePath produces (relative, no leading
 * or trailing slash, canonical index groups, no `.p/256`), and throws TileError (code
 * "invalid_path", naming the path) on anything else.
 */
export function parseTilePath(path: string): TileRef {
  const fail = (reason: string): never => {
    throw new TileError("invalid_path", `invalid tile path ${describe(path)}: ${reason}`);
  };
  if (typeof path !== "string") return fail("not a string");
  const segments = path.split("/");
  if (segments[0] !== "tile") return fail('want "tile/<L>/<N>[.p/<W>]"');
  const levelText = segments[1];
  if (levelText === undefined || segments.length < 3) return fail("missing level or index");

  let level: TileLevel;
  if (levelText === "entries") {
    level = "entries";
  } else {
    if (!LEVEL_RE.test(levelText))
      return fail(`level ${describe(levelText)} is not 0..63 without leading zeroes`);
    level = Number(levelText);
    if (level > MAX_TILE_LEVEL) return fail(`level ${level} is above ${MAX_TILE_LEVEL}`);
  }

  const groups = segments.slice(2);
  let width = TILE_WIDTH;
  const dotP = groups.length >= 2 ? groups[groups.length - 2] : undefined;
  if (dotP !== undefined && dotP.endsWith(".p")) {
    const widthText = groups.pop() as string;
    if (!WIDTH_RE.test(widthText))
      return fail(`width ${describe(widthText)} is not 1..255 without leading zeroes`);
    width = Number(widthText);
    if (width >= TILE_WIDTH) {
      return fail(`width ${width} is not 1..255 (a full tile has no ".p/<W>")`);
    }
    groups[groups.length - 1] = dotP.slice(0, -".p".length);
  }

  if (groups.length > MAX_GROUPS) return fail("index is above 2^64-1");
  let digits = "";
  for (const [i, group] of groups.entries()) {
    const last = i === groups.length - 1;
    if (!(last ? LAST_GROUP_RE : INNER_GROUP_RE).test(group)) {
      return fail(
        last
          ? `last index element ${describe(group)} is not 3 digits`
          : `index element ${describe(group)} is not "x" and 3 digits`,
      );
    }
    digits += last ? group : group.slice(1);
  }
  if (groups.length > 1 && groups[0] === "x000") return fail("index has a leading zero element");
  const index = BigInt(digits);
  if (index > MAX_UINT64) return fail("index is above 2^64-1");
  return { level, index, width };
}

// ---------------------------------------------------------------------------------------------
// Tree shape

/**
 * How a tree of `size` entries is tiled at `level`: `floor(size / 256^level)` hashes, i.e.
 * `fullTiles` full tiles (indices 0..fullTiles−1) then, if `partialWidth > 0`, one partial tile of
 * that width at index `fullTiles`. Level "entries" is laid out like level 0. Use this rather than
 * tilesForSize for large trees: it does not enumerate.
 */
export function tileSpan(level: TileLevel, size: bigint): { fullTiles: bigint; partialWidth: number } {
  const l = checkLevel(level, true);
  const s = checkUint64(size, "invalid_size", "tree size");
  const hashes = s >> (TILE_WIDTH_SHIFT * BigInt(l));
  return { fullTiles: hashes / BIG_WIDTH, partialWidth: Number(hashes % BIG_WIDTH) };
}

/**
 * The tiles that make up a tree of `size` entries at `level`: full tiles (width 256) in index order,
 * then at most one partial tile. Empty for a level the tree does not reach. Throws TileError
 * ("too_many_tiles") if the list could not be held in an array; see tileSpan.
 */
export function tilesForSize(level: TileLevel, size: bigint): { index: bigint; width: number }[] {
  const { fullTiles, partialWidth } = tileSpan(level, size);
  const count = fullTiles + (partialWidth > 0 ? 1n : 0n);
  if (count > BigInt(MAX_ARRAY_LENGTH)) {
    throw new TileError(
      "too_many_tiles",
      `a tree of size ${size} has ${count} tiles at level ${describe(level)}: too many to list, use tileSpan`,
    );
  }
  const full = Number(fullTiles);
  const out: { index: bigint; width: number }[] = [];
  for (let i = 0; i < full; i++) out.push({ index: BigInt(i), width: TILE_WIDTH });
  if (partialWidth > 0) out.push({ index: fullTiles, width: partialWidth });
  return out;
}

/** How many tile levels hold anything for a tree of `size` entries (0 for an empty tree). */
export function tileLevels(size: bigint): number {
  let s = checkUint64(size, "invalid_size", "tree size");
  let levels = 0;
  while (s > 0n) {
    levels++;
    s >>= TILE_WIDTH_SHIFT;
  }
  return levels;
}

/**
 * Where the hash of the complete subtree at Merkle level `level` (0 = leaves), index `index` (its
 * entries are [index·2^level, (index+1)·2^level)) is stored: only levels that are multiples of 8 are
 * stored in tiles, as entry `offset` of tile `tileIndex` at tile level `level / 8`. Returns null for
 * the other levels (their hashes are recomputed from the tile below). Whether the tile is full or
 * partial, and so whether it holds `offset`, depends on the tree size: see tileSpan.
 */
export function storedHashLocation(
  level: number,
  index: bigint,
): { tileLevel: number; tileIndex: bigint; offset: number } | null {
  const maxLevel = MAX_TILE_LEVEL * TILE_HEIGHT + TILE_HEIGHT - 1;
  if (typeof level !== "number" || !Number.isInteger(level) || level < 0 || level > maxLevel) {
    throw new TileError(
      "invalid_level",
      `invalid Merkle level ${describe(level)}: want an integer 0..${maxLevel}`,
    );
  }
  const n = checkUint64(index, "invalid_index", "subtree index");
  if (level % TILE_HEIGHT !== 0) return null;
  return {
    tileLevel: level / TILE_HEIGHT,
    tileIndex: n >> TILE_WIDTH_SHIFT,
    offset: Number(n % BIG_WIDTH),
  };
}

// ---------------------------------------------------------------------------------------------
// Tile and bundle bytes

/** A hash tile: 1..256 hashes of 32 bytes each, concatenated. */
export function encodeTile(hashes: readonly Uint8Array[]): Buffer {
  checkWidth(hashes.length, "tile hash count");
  for (const [i, h] of hashes.entries()) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TileError(
        "invalid_hash",
        `tile hash ${i} is ${h instanceof Uint8Array ? `${h.length} bytes` : "not bytes"}: want ${HASH_SIZE} bytes`,
      );
    }
  }
  return Buffer.concat(hashes, hashes.length * HASH_SIZE);
}

/** Splits a hash tile of `width` (1..256) hashes; throws TileError unless it is exactly width·32 bytes. */
export function decodeTile(data: Uint8Array, width: number): Buffer[] {
  checkWidth(width);
  if (!(data instanceof Uint8Array)) throw new TileError("invalid_data", "tile is not bytes");
  if (data.length !== width * HASH_SIZE) {
    throw new TileError(
      "tile_length",
      `tile of width ${width} is ${data.length} bytes: want ${width * HASH_SIZE} bytes`,
    );
  }
  const out: Buffer[] = [];
  for (let i = 0; i < width; i++) out.push(Buffer.from(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE)));
  return out;
}

/** An entry bundle: 1..256 entries, each a big-endian uint16 length then its bytes (0..65535 bytes). */
export function encodeBundle(entries: readonly Uint8Array[]): Buffer {
  checkWidth(entries.length, "bundle entry count");
  let total = 0;
  for (const [i, e] of entries.entries()) {
    if (!(e instanceof Uint8Array)) throw new TileError("invalid_data", `bundle entry ${i} is not bytes`);
    if (e.length > MAX_ENTRY_SIZE) {
      throw new TileError(
        "entry_too_large",
        `bundle entry ${i} is ${e.length} bytes: an entry is at most ${MAX_ENTRY_SIZE} bytes`,
      );
    }
    total += 2 + e.length;
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const e of entries) {
    off = out.writeUInt16BE(e.length, off);
    out.set(e, off);
    off += e.length;
  }
  return out;
}

/**
 * Splits an entry bundle. With `expectedCount` (1..256, the bundle's width) it must hold exactly that
 * many entries; without, 1..256. Throws TileError: "bundle_truncated" (ends inside a length or an
 * entry), "bundle_trailing_bytes" (bytes after the expected entries), "bundle_count_mismatch" (ends
 * cleanly with the wrong number of entries).
 */
export function decodeBundle(data: Uint8Array, expectedCount?: number): Buffer[] {
  if (expectedCount !== undefined) checkWidth(expectedCount, "expected bundle entry count");
  if (!(data instanceof Uint8Array)) throw new TileError("invalid_data", "bundle is not bytes");
  const limit = expectedCount ?? TILE_WIDTH;
  const out: Buffer[] = [];
  let off = 0;
  while (off < data.length) {
    if (out.length === limit) {
      if (expectedCount !== undefined) {
        throw new TileError(
          "bundle_trailing_bytes",
          `bundle has ${data.length - off} bytes after its ${expectedCount} expected entries`,
        );
      }
      throw new TileError("bundle_count_mismatch", `bundle has more than ${TILE_WIDTH} entries`);
    }
    if (data.length - off < 2) {
      throw new TileError("bundle_truncated", `bundle ends inside the length of entry ${out.length}`);
    }
    const len = ((data[off] as number) << 8) | (data[off + 1] as number);
    off += 2;
    if (data.length - off < len) {
      throw new TileError(
        "bundle_truncated",
        `bundle entry ${out.length} is ${len} bytes but only ${data.length - off} remain`,
      );
    }
    out.push(Buffer.from(data.subarray(off, off + len)));
    off += len;
  }
  if (expectedCount !== undefined ? out.length !== expectedCount : out.length === 0) {
    throw new TileError(
      "bundle_count_mismatch",
      `bundle has ${out.length} entries: want ${expectedCount ?? `1..${TILE_WIDTH}`}`,
    );
  }
  return out;
}
