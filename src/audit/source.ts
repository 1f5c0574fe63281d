/**
 * Reading a published log: a `LogSource` fetches the bytes at a tlog-tiles path from a directory (the
 * gateway's `<data_dir>/audit`, or a mirror) or a base URL (`http://host:port/audit`); the readers
 * below decode tiles and bundles from it as any tile client does, turning every way one can be
 * missing or malformed into a VerifyError naming the path. Nothing read here is trusted: hashes are
 * checked against the signed root by the verifier (verify.ts).
 */
import { readBounded } from "../http/bounded.js";
import { readFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { parseCheckpoint } from "./checkpoint.js";
import { nodeHash, type HashReader } from "./merkle.js";
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  TileError,
  decodeBundle,
  decodeTile,
  tilePath,
  tileSpan,
  type TileLevel,
} from "./tiles.js";
import { quoted } from "../policy/text.js";

export interface LogSource {
  /** What the source reads from, for messages. */
  readonly location: string;
  /** The bytes at a tlog-tiles path ("checkpoint", "tile/0/x001/234"), or null if there is none. */
  read(path: string): Promise<Buffer | null>;
}

export class SourceError extends Error {
  /** The HTTP status, when the server answered with an error other than 404. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SourceError";
    this.status = status;
  }
}

/**
 * Nothing in a log is bigger than a full entry bundle: 256 entries of at most 2 + 65535 bytes. A
 * larger answer is refused rather than buffered, so a hostile server cannot exhaust memory.
 */
export const MAX_RESOURCE_BYTES = 256 * (2 + 0xffff);
const TIMEOUT_MS = 30_000;
const SAFE_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** Paths come from the verifier, but a source must never be talked into reading outside its root. */
function checkPath(path: string): void {
  if (!SAFE_PATH.test(path) || path.split("/").some((s) => s === "." || s === "..")) {
    throw new SourceError(`refusing to read ${quoted(path)}: not a log path`);
  }
}

/**
 * A log published in a directory, e.g. the gateway's `<data_dir>/audit`. `location`: how messages
 * name it (the path by default; a server answering others names it without its file system).
 */
export function directorySource(dir: string, location?: string): LogSource {
  const root = resolve(dir);
  const inside = root.endsWith(sep) ? root : root + sep;
  return {
    location: location ?? root,
    async read(path) {
      checkPath(path);
      const file = join(root, path);
      if (!file.startsWith(inside)) throw new SourceError(`refusing to read ${path} outside ${root}`);
      try {
        return await readFile(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOTDIR: a path element is a file — the resource does not exist, as a server would say.
        if (code === "ENOENT" || code === "ENOTDIR") return null;
        throw new SourceError(`cannot read ${file}: ${(err as Error).message}`, undefined, { cause: err });
      }
    },
  };
}

/** A log served over HTTP(S) under `base` (e.g. `http://127.0.0.1:8080/audit`). */
export function urlSource(base: string): LogSource {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new SourceError(`invalid log URL ${quoted(base)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SourceError(`invalid log URL ${quoted(base)}: want http:// or https://`);
  }
  url.search = "";
  url.hash = "";
  // A trailing slash makes `new URL(path, base)` resolve below the base rather than beside it.
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  const location = url.href.slice(0, -1);
  return {
    location,
    async read(path) {
      checkPath(path);
      const target = new URL(path, url).href;
      let res: Response;
      try {
        res = await fetch(target, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "follow" });
      } catch (err) {
        throw new SourceError(`cannot fetch ${target}: ${describeFetchError(err)}`, undefined, {
          cause: err,
        });
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new SourceError(
          `cannot fetch ${target}: HTTP ${res.status} ${res.statusText}`.trim(),
          res.status,
        );
      }
      return readLimited(res, target);
    },
  };
}

/** A URL (http:// or https://) or else a directory. */
export function openSource(spec: string): LogSource {
  return /^https?:\/\//i.test(spec) ? urlSource(spec) : directorySource(spec);
}

/** The answer's bytes, at most MAX_RESOURCE_BYTES of them (more is a SourceError naming the URL). */
export const readLimited = (res: Response, target: string): Promise<Buffer> =>
  readBounded(
    res,
    MAX_RESOURCE_BYTES,
    () => new SourceError(`${target} is larger than ${MAX_RESOURCE_BYTES} bytes: not a log resource`),
  );

/** fetch() hides the useful part (ECONNREFUSED, …) in `cause`. */
function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Tiles and bundles, decoded

export type VerifyErrorCode =
  | "bad-key"
  | "missing-checkpoint"
  | "malformed-checkpoint"
  | "bad-signature"
  | "unknown-key"
  | "origin-mismatch"
  | "fetch-failed"
  | "missing-tile"
  | "truncated-tile"
  | "malformed-tile"
  | "tile-mismatch"
  | "entry-mismatch"
  | "entry-not-canonical"
  | "wrong-root"
  | "inconsistent-history"
  | "index-out-of-range"
  | "inclusion-failed"
  | "consistency-failed"
  | "malformed-proof";

export class VerifyError extends Error {
  readonly code: VerifyErrorCode;
  /** The log path concerned (a tile, a bundle, "checkpoint"), when there is one. */
  readonly path: string | undefined;
  constructor(code: VerifyErrorCode, message: string, path?: string) {
    super(message);
    this.name = "VerifyError";
    this.code = code;
    this.path = path;
  }
}

const WIDTH = BigInt(TILE_WIDTH);

/** The bytes at `path`, or null; a source that fails (network, HTTP 500, permissions) is "fetch-failed". */
export async function readResource(source: LogSource, path: string): Promise<Buffer | null> {
  try {
    return await source.read(path);
  } catch (err) {
    throw new VerifyError("fetch-failed", (err as Error).message, path);
  }
}

/** Rounds of looking for a wider copy of a missing partial tile (see fetchTile). */
const WIDER_ROUNDS = 3;

/**
 * A tile's bytes. A missing partial tile is read from the full tile (tlog-tiles lets a log remove
 * partials once it is there) or, when that is not there either — a log that removed it early, or a
 * node behind the one that signed — from the wider partial of the log's current checkpoint: its
 * first `width` records are the same. Safe whatever is read: the hashes are checked against the
 * signed root the caller holds; the current checkpoint gives only a width to try.
 */
async function fetchTile(source: LogSource, level: TileLevel, index: bigint, width: number) {
  const path = tilePath({ level, index, width });
  const data = await readResource(source, path);
  if (data !== null) return { path, data, width };
  if (width < TILE_WIDTH) {
    const fullPath = tilePath({ level, index, width: TILE_WIDTH });
    let tried = width;
    for (let round = 0; round < WIDER_ROUNDS; round++) {
      const full = await readResource(source, fullPath);
      if (full !== null) return { path: fullPath, data: full, width: TILE_WIDTH };
      const now = await currentWidth(source, level, index);
      if (now === null || now <= tried) break;
      tried = now;
      if (now === TILE_WIDTH) continue;
      const widerPath = tilePath({ level, index, width: now });
      const wider = await readResource(source, widerPath);
      if (wider !== null) return { path: widerPath, data: wider, width: now };
    }
  }
  const more = width < TILE_WIDTH ? ", as are its full tile and any wider partial of a newer checkpoint" : "";
  throw new VerifyError("missing-tile", `${path} is missing from ${source.location}${more}`, path);
}

/** The width of tile (level, index) in the log's current checkpoint, unverified; null if unknown. */
async function currentWidth(source: LogSource, level: TileLevel, index: bigint): Promise<number | null> {
  try {
    const note = (await source.read("checkpoint"))?.toString("utf8");
    const split = note?.lastIndexOf("\n\n") ?? -1;
    if (note === undefined || split < 0) return null;
    return widthAt(level, index, parseCheckpoint(note.slice(0, split + 1)).size);
  } catch {
    return null;
  }
}

function tileError(path: string, err: unknown, short: boolean): never {
  if (!(err instanceof TileError)) throw err;
  throw new VerifyError(short ? "truncated-tile" : "malformed-tile", `${path}: ${err.message}`, path);
}

/** The first `width` hashes of hash tile (level, index). */
export async function readHashes(source: LogSource, level: number, index: bigint, width: number) {
  const t = await fetchTile(source, level, index, width);
  try {
    return { path: t.path, hashes: decodeTile(t.data, t.width).slice(0, width) };
  } catch (err) {
    return tileError(t.path, err, t.data.length < t.width * 32);
  }
}

/** The first `width` entries of entry bundle `index`. */
export async function readBundle(source: LogSource, index: bigint, width: number) {
  const t = await fetchTile(source, "entries", index, width);
  try {
    return { path: t.path, entries: decodeBundle(t.data, t.width).slice(0, width) };
  } catch (err) {
    return tileError(t.path, err, err instanceof TileError && err.code !== "bundle_trailing_bytes");
  }
}

export function widthAt(level: TileLevel, index: bigint, size: bigint): number {
  const { fullTiles, partialWidth } = tileSpan(level, size);
  return index < fullTiles ? TILE_WIDTH : index === fullTiles ? partialWidth : 0;
}

/**
 * Subtree hashes read from published tiles only, as a tile client does: Merkle levels 8k are stored
 * in tile level k; a level 8k + r node is hashed up from the 2^r nodes below it in the same tile.
 * Nothing read is trusted: proofs built on it are checked against the signed root.
 */
export function tileHashReader(source: LogSource, size: bigint): HashReader {
  const tiles = new Map<string, Promise<Buffer[]>>();
  const tile = (level: number, index: bigint): Promise<Buffer[]> => {
    const key = `${level}/${index}`;
    let p = tiles.get(key);
    if (p === undefined) {
      const width = widthAt(level, index, size);
      if (width === 0) throw new RangeError(`tile ${key} is beyond a tree of size ${size}`);
      p = readHashes(source, level, index, width).then((t) => t.hashes);
      tiles.set(key, p);
    }
    return p;
  };
  return async (level, index) => {
    const r = level % TILE_HEIGHT;
    const first = index << BigInt(r);
    const hashes = await tile((level - r) / TILE_HEIGHT, first / WIDTH);
    const offset = Number(first % WIDTH);
    let row = hashes.slice(offset, offset + (1 << r));
    if (row.length !== 1 << r)
      throw new RangeError(`node (${level}, ${index}) is beyond a tree of size ${size}`);
    while (row.length > 1) {
      const up: Buffer[] = [];
      for (let i = 0; i < row.length; i += 2) up.push(nodeHash(row[i] as Buffer, row[i + 1] as Buffer));
      row = up;
    }
    return row[0] as Buffer;
  };
}
