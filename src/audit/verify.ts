/**
 * Verifying a published log from outside, trusting nothing but the verifier key: the checkpoint's
 * signature, every entry (rehashed into the tree), every tile, the root, and — given the checkpoint
 * verified last time — that the history was only appended to. Tiles and bundles are read as any
 * tlog-tiles client reads them, so this checks exactly what the gateway publishes.
 */
import { entryNotCanonical, parseEntryJson } from "./canonical-entry.js";
import { CheckpointError, openCheckpoint, type Checkpoint } from "./checkpoint.js";
import {
  CompactRange,
  EMPTY_ROOT,
  ProofError,
  consistencyProof,
  inclusionProof,
  leafHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";
import { NoteError, parseVerifierKey, type NoteVerifier } from "./note.js";
import {
  VerifyError,
  readBundle,
  readHashes,
  readResource,
  tileHashReader,
  widthAt,
  type LogSource,
} from "./source.js";
import { TILE_HEIGHT, TILE_WIDTH, tileSpan } from "./tiles.js";
import { quoted } from "../policy/text.js";

export { VerifyError, tileHashReader, type VerifyErrorCode } from "./source.js";

/** A checkpoint verified before: the new tree must have this root at this size. */
export interface PriorState {
  size: bigint;
  root: Buffer;
}

export interface VerifyOptions {
  verifierKey: string;
  /**
   * The expected origin line; by default the verifier key's name (as the gateway names its key).
   * Never "any origin the key signs": a history rewritten under a new origin would then pass as a
   * log verified for the first time.
   */
  origin?: string;
  /** The previous state, or a function picking it once the checkpoint (and its origin) is known. */
  state?: PriorState | null | ((checkpoint: Checkpoint) => PriorState | null);
  /** Called after each entry bundle with the entries verified so far and the checkpoint size. */
  onProgress?: (done: bigint, total: bigint) => void;
}

export interface VerifyResult {
  checkpoint: Checkpoint;
  entries: bigint;
  previous?: { size: bigint };
}

export interface EntryResult {
  index: bigint;
  /** The entry as parsed JSON, or its text if it is not JSON. */
  entry: unknown;
  checkpoint: Checkpoint;
  previous?: { size: bigint };
}

const WIDTH = BigInt(TILE_WIDTH);
/** Bundles (and their level-0 tiles) fetched ahead of the one being hashed: hides HTTP latency. */
const PREFETCH = 8n;
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

function parseKey(verifierKey: string): NoteVerifier {
  try {
    return parseVerifierKey(verifierKey.trim());
  } catch (err) {
    throw new VerifyError("bad-key", `invalid verifier key: ${(err as Error).message}`);
  }
}

/**
 * Reads and opens `checkpoint`, turning every way it can be wrong into a precise VerifyError. Its
 * origin must be `origin`, by default the verifier key's name.
 */
export async function fetchCheckpoint(
  source: LogSource,
  verifierKey: string,
  origin?: string,
): Promise<Checkpoint> {
  const verifier = parseKey(verifierKey);
  const data = await readResource(source, "checkpoint");
  if (data === null)
    throw new VerifyError("missing-checkpoint", `no checkpoint at ${source.location}`, "checkpoint");
  let checkpoint: Checkpoint;
  try {
    ({ checkpoint } = openCheckpoint(data, verifier));
  } catch (err) {
    const key = `${verifier.name}+${verifier.keyId.toString(16).padStart(8, "0")}`;
    if (err instanceof NoteError) {
      if (err.code === "invalid-signature") {
        throw new VerifyError(
          "bad-signature",
          `checkpoint signature by ${key} does not verify: the checkpoint was altered`,
          "checkpoint",
        );
      }
      if (err.code === "unknown-key")
        throw new VerifyError("unknown-key", `checkpoint is not signed by ${key}`, "checkpoint");
      throw new VerifyError("malformed-checkpoint", `checkpoint: ${err.message}`, "checkpoint");
    }
    if (err instanceof CheckpointError)
      throw new VerifyError("malformed-checkpoint", err.message, "checkpoint");
    throw err;
  }
  const expected = origin ?? verifier.name;
  if (checkpoint.origin !== expected) {
    const why = origin === undefined ? " (the verifier key's name)" : "";
    throw new VerifyError(
      "origin-mismatch",
      `checkpoint origin ${quoted(checkpoint.origin)} is not the expected ${quoted(expected)}${why}`,
      "checkpoint",
    );
  }
  return checkpoint;
}

interface Mismatch {
  path: string;
  message: string;
  /** Set when a level-0 tile disagrees with an entry: the bundle and the entry's index. */
  bundle?: { path: string; index: bigint };
}

/** Checks the whole log: every entry, every tile, the root, and (with a state) its history. */
export async function verifyLog(source: LogSource, options: VerifyOptions): Promise<VerifyResult> {
  const checkpoint = await fetchCheckpoint(source, options.verifierKey, options.origin);
  const state = (typeof options.state === "function" ? options.state(checkpoint) : options.state) ?? null;
  const size = checkpoint.size;
  if (state !== null && size < state.size) {
    throw new VerifyError(
      "inconsistent-history",
      `inconsistent history: the checkpoint covers ${size} entries, fewer than the ${state.size} verified before`,
    );
  }
  const range = new CompactRange();
  let rootAtState: Buffer | null = state?.size === 0n ? Buffer.from(EMPTY_ROOT) : null;
  // A tile disagreeing with the entries is reported once the root says which of the two is wrong.
  const found: { first: Mismatch | null } = { first: null };
  const compare = (
    path: string,
    published: Buffer[],
    rebuilt: Buffer[],
    bundle?: { path: string; first: bigint },
  ) => {
    const i = rebuilt.findIndex((h, j) => !h.equals(published[j] as Buffer));
    if (i < 0 || found.first !== null) return;
    const message = "does not match the hash rebuilt from the entries";
    if (bundle === undefined) found.first = { path, message: `hash ${i} ${message}` };
    else {
      const index = bundle.first + BigInt(i);
      found.first = {
        path,
        message: `leaf hash ${i} (entry ${index}) ${message}`,
        bundle: { path: bundle.path, index },
      };
    }
  };
  // Rebuilt hashes of Merkle levels 8k (k ≥ 1) not yet compared with tile level k.
  const upper: Buffer[][] = [];
  const checkUpper = async (k: number, index: bigint) => {
    const rebuilt = upper[k] ?? [];
    const { path, hashes } = await readHashes(source, k, index, rebuilt.length);
    compare(path, hashes, rebuilt);
    upper[k] = [];
  };

  const bundles = (size + WIDTH - 1n) / WIDTH;
  const pending = new Map<bigint, ReturnType<typeof fetchPair>>();
  const fetchPair = (t: bigint) => {
    const width = widthAt(0, t, size);
    return Promise.all([readBundle(source, t, width), readHashes(source, 0, t, width)]);
  };
  for (let t = 0n; t < bundles; t++) {
    for (let ahead = t; ahead < t + PREFETCH && ahead < bundles; ahead++) {
      if (pending.has(ahead)) continue;
      const p = fetchPair(ahead);
      p.catch(() => undefined); // awaited in turn below; this only keeps an early failure from being "unhandled"
      pending.set(ahead, p);
    }
    const [bundle, tile] = await (pending.get(t) as ReturnType<typeof fetchPair>);
    pending.delete(t);
    const leaves: Buffer[] = [];
    const filled: [number, bigint][] = []; // upper tiles completed by this bundle, checked after its leaves
    for (const entry of bundle.entries) {
      const leaf = leafHash(entry);
      leaves.push(leaf);
      for (const node of range.append(leaf)) {
        if (node.level === 0 || node.level % TILE_HEIGHT !== 0) continue;
        const k = node.level / TILE_HEIGHT;
        (upper[k] ??= []).push(node.hash);
        if (upper[k].length === TILE_WIDTH) filled.push([k, node.index / WIDTH]);
      }
      if (range.size === state?.size) rootAtState = range.root();
    }
    compare(tile.path, tile.hashes, leaves, { path: bundle.path, first: t * WIDTH });
    for (const [k, index] of filled) await checkUpper(k, index);
    options.onProgress?.(range.size, size);
  }
  for (let k = 1; k < upper.length; k++) {
    if ((upper[k]?.length ?? 0) > 0) await checkUpper(k, tileSpan(k, size).fullTiles);
  }

  const root = range.root();
  const mismatch = found.first;
  if (!root.equals(checkpoint.root)) {
    if (mismatch?.bundle !== undefined) {
      const { path, index } = mismatch.bundle;
      throw new VerifyError(
        "entry-mismatch",
        `${path}: entry ${index} does not match its leaf hash in ${mismatch.path}, and the entries do not rebuild the checkpoint's root: the entry bundle was altered`,
        path,
      );
    }
    const also =
      mismatch === null ? "" : ` (first disagreement with the tiles: ${mismatch.path}: ${mismatch.message})`;
    throw new VerifyError(
      "wrong-root",
      `the ${size} entries rebuild root ${b64(root)}, but the checkpoint says ${b64(checkpoint.root)}${also}`,
    );
  }
  if (mismatch !== null)
    throw new VerifyError("tile-mismatch", `${mismatch.path}: ${mismatch.message}`, mismatch.path);
  if (state !== null && !(rootAtState ?? EMPTY_ROOT).equals(state.root)) {
    throw new VerifyError(
      "inconsistent-history",
      `inconsistent history: at size ${state.size} the log now has root ${b64(rootAtState ?? EMPTY_ROOT)}, but root ${b64(state.root)} was verified before`,
    );
  }
  return { checkpoint, entries: size, ...(state === null ? {} : { previous: { size: state.size } }) };
}

/**
 * Checks one entry: the checkpoint, the entry's inclusion under its root by a proof built from the
 * published tiles alone, and, with a state, that the checkpoint extends it (a consistency proof from
 * the same tiles) — so the entry is shown in the history verified before, not in a fork of it. An
 * entry read as JSON must be the canonical JSON of what it reads as ("entry-not-canonical"
 * otherwise), so that what is returned is what was hashed.
 */
export async function verifyEntry(
  source: LogSource,
  verifierKey: string,
  index: bigint,
  options: { origin?: string; state?: VerifyOptions["state"] } = {},
): Promise<EntryResult> {
  const checkpoint = await fetchCheckpoint(source, verifierKey, options.origin);
  const { size, root } = checkpoint;
  if (index < 0n || index >= size) {
    throw new VerifyError(
      "index-out-of-range",
      `entry ${index} is not in the log: the checkpoint covers ${size} entries`,
    );
  }
  const state = (typeof options.state === "function" ? options.state(checkpoint) : options.state) ?? null;
  const t = index / WIDTH;
  const bundle = await readBundle(source, t, widthAt("entries", t, size));
  const raw = bundle.entries[Number(index % WIDTH)] as Buffer;
  const reader = tileHashReader(source, size);
  try {
    verifyInclusion(leafHash(raw), index, size, await inclusionProof(reader, index, size), root);
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    throw new VerifyError(
      "inclusion-failed",
      `entry ${index} (${bundle.path}) is not included in the checkpoint of size ${size}: ${err.message}`,
      bundle.path,
    );
  }
  if (state !== null) {
    const history = `inconsistent history: the checkpoint of size ${size} does not extend the one of size ${state.size} verified before`;
    if (size < state.size) throw new VerifyError("inconsistent-history", history);
    try {
      if (state.size === 0n) {
        if (!state.root.equals(EMPTY_ROOT))
          throw new ProofError("root-mismatch", "the empty tree has another root");
      } else {
        verifyConsistency(
          state.size,
          size,
          await consistencyProof(reader, state.size, size),
          state.root,
          root,
        );
      }
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      throw new VerifyError("inconsistent-history", `${history}: ${err.message}`);
    }
  }
  const notCanonical = entryNotCanonical(raw);
  if (notCanonical !== null) {
    throw new VerifyError(
      "entry-not-canonical",
      `entry ${index} (${bundle.path}) is included in the checkpoint of size ${size}, but its bytes are not RFC 8785 canonical JSON: ${notCanonical}, so what a JSON reader takes from it is not what was hashed and signed`,
      bundle.path,
    );
  }
  return {
    index,
    entry: parseEntry(raw),
    checkpoint,
    ...(state === null ? {} : { previous: { size: state.size } }),
  };
}

function parseEntry(raw: Buffer): unknown {
  const json = parseEntryJson(raw);
  return "value" in json ? json.value : json.text;
}

/**
 * The root of the log's first `size` entries, trusted only as far as the signed checkpoint: its
 * root, or one rebuilt from the published tiles and shown by a consistency proof (from the same
 * tiles) to be that tree's prefix.
 */
async function rootAt(source: LogSource, checkpoint: Checkpoint, size: bigint): Promise<Buffer> {
  if (size === checkpoint.size) return checkpoint.root;
  const reader = tileHashReader(source, checkpoint.size);
  const root = await treeRoot(reader, size);
  try {
    verifyConsistency(
      size,
      checkpoint.size,
      await consistencyProof(reader, size, checkpoint.size),
      root,
      checkpoint.root,
    );
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    throw new VerifyError(
      "wrong-root",
      `the published tiles give the tree of size ${size} a root (${b64(root)}) the checkpoint of size ${checkpoint.size} does not extend: ${err.message}`,
    );
  }
  return root;
}

/** A proof's size against the checkpoint it must be checked with. */
function withinCheckpoint(
  checkpoint: Checkpoint,
  size: bigint,
  code: "inclusion-failed" | "consistency-failed",
) {
  if (size > checkpoint.size) {
    throw new VerifyError(
      code,
      `the proof is for a tree of size ${size}, beyond the log's signed checkpoint (${checkpoint.size}): it cannot be checked`,
    );
  }
}

/**
 * Checks an inclusion proof a log served (`proof/inclusion?index=I&size=N`): entry I, read from the
 * published entry bundle, must be in the tree of N entries, whose root is the signed checkpoint's
 * or shown consistent with it. Returns the checkpoint, the root at N and the entry.
 */
export async function checkInclusionProof(
  source: LogSource,
  verifierKey: string,
  index: bigint,
  size: bigint,
  proof: readonly Buffer[],
  options: { origin?: string } = {},
): Promise<{ checkpoint: Checkpoint; root: Buffer; entry: unknown }> {
  const checkpoint = await fetchCheckpoint(source, verifierKey, options.origin);
  withinCheckpoint(checkpoint, size, "inclusion-failed");
  if (index >= size) throw new VerifyError("malformed-proof", `index ${index} is not below size ${size}`);
  const root = await rootAt(source, checkpoint, size);
  const t = index / WIDTH;
  const bundle = await readBundle(source, t, widthAt("entries", t, checkpoint.size));
  const raw = bundle.entries[Number(index % WIDTH)] as Buffer;
  try {
    verifyInclusion(leafHash(raw), index, size, proof, root);
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    throw new VerifyError(
      "inclusion-failed",
      `the proof does not show entry ${index} (${bundle.path}) in the tree of size ${size}: ${err.message}`,
    );
  }
  return { checkpoint, root, entry: parseEntry(raw) };
}

/**
 * Checks a consistency proof a log served (`proof/consistency?from=M&to=N`) between the trees of
 * M and N entries, their roots the signed checkpoint's or shown consistent with it. Returns the
 * checkpoint and both roots.
 */
export async function checkConsistencyProof(
  source: LogSource,
  verifierKey: string,
  from: bigint,
  to: bigint,
  proof: readonly Buffer[],
  options: { origin?: string } = {},
): Promise<{ checkpoint: Checkpoint; fromRoot: Buffer; toRoot: Buffer }> {
  const checkpoint = await fetchCheckpoint(source, verifierKey, options.origin);
  withinCheckpoint(checkpoint, to, "consistency-failed");
  if (from === 0n || from > to) {
    throw new VerifyError("malformed-proof", `no consistency proof goes from size ${from} to ${to}`);
  }
  const toRoot = await rootAt(source, checkpoint, to);
  const fromRoot = await rootAt(source, checkpoint, from);
  try {
    verifyConsistency(from, to, proof, fromRoot, toRoot);
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
    throw new VerifyError(
      "consistency-failed",
      `the proof does not show the tree of size ${to} extending the one of size ${from}: ${err.message}`,
    );
  }
  return { checkpoint, fromRoot, toRoot };
}
