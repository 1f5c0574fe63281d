/**
 * The audit log, read and verified in the browser from what the gateway publishes under /audit/
 * (C2SP tlog-tiles, tlog-checkpoint, signed-note; RFC 6962 hashing). The formats are the server's
 * own modules (src/audit: tiles, checkpoints, note parsing); hashing and the Ed25519 signature are
 * WebCrypto's, here. Nothing the server says is believed: the checkpoint must carry a valid
 * signature by the verifier key the user gives, and every entry must hash to its signed root.
 */
import { sha256 as sha256Hasher } from "@noble/hashes/sha2.js";
import { parseCheckpoint, type Checkpoint } from "../../../src/audit/checkpoint.js";
import { decodeBase64Strict, isValidKeyName, openNote, type NoteVerifier } from "../../../src/audit/note.js";
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  decodeBundle,
  decodeTile,
  tileLevels,
  tilePath,
  tileSpan,
} from "../../../src/audit/tiles.js";
import { entryNotCanonical } from "../../../src/audit/canonical-entry.js";

export type { Checkpoint };

/** An entry as the log holds it: a decision or an admin change (RFC 8785 JSON). */
export interface AuditEntry {
  readonly type: "decision" | "admin";
  readonly time: string;
  readonly [field: string]: unknown;
}

export class VerificationError extends Error {
  override readonly name = "VerificationError";
}

const noStore: RequestInit = { cache: "no-store" };

/** The published checkpoint's text, parsed but not verified (for browsing and sizes only). */
export async function latestCheckpoint(): Promise<{ note: string; checkpoint: Checkpoint } | null> {
  const res = await fetch("/audit/checkpoint", noStore);
  if (res.status === 404) return null;
  if (!res.ok) throw new VerificationError(`/audit/checkpoint: the server answered ${res.status}`);
  const note = await res.text();
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new VerificationError("the checkpoint is not a signed note");
  return { note, checkpoint: parseCheckpoint(note.slice(0, split + 1)) };
}

/**
 * A hash tile (any level) or an entry bundle at `width`. The server keeps a partial one until the
 * full tile is covered by a signed checkpoint: once it is gone, the full tile is read instead — its
 * first `width` records are the partial's (tlog-tiles).
 */
async function getTile(level: number | "entries", index: bigint, width: number): Promise<Uint8Array> {
  const path = tilePath({ level, index, width });
  const res = await fetch(`/audit/${path}`, noStore);
  if (res.ok) return new Uint8Array(await res.arrayBuffer());
  if (res.status === 404 && width < TILE_WIDTH) {
    const full = await fetch(`/audit/${tilePath({ level, index, width: TILE_WIDTH })}`, noStore);
    if (full.ok) return prefixOf(level, new Uint8Array(await full.arrayBuffer()), width);
    throw new VerificationError(
      `/audit/${path}: the server no longer has it (the log has moved on since its checkpoint): verify again`,
    );
  }
  throw new VerificationError(`/audit/${path}: the server answered ${res.status}`);
}

/** The first `width` records of a full tile: hashes of 32 bytes, or length-prefixed entries. */
function prefixOf(level: number | "entries", data: Uint8Array, width: number): Uint8Array {
  if (level !== "entries") return data.subarray(0, width * 32);
  let off = 0;
  for (let i = 0; i < width && off + 2 <= data.length; i++)
    off += 2 + (((data[off] as number) << 8) | (data[off + 1] as number));
  return data.subarray(0, Math.min(off, data.length));
}

/** Entries [index·256, index·256 + width) from the entry bundle. */
export async function readBundle(index: bigint, width: number): Promise<Uint8Array[]> {
  return decodeBundle(await getTile("entries", index, width), width);
}

/** The bundles of a tree of `size`, newest first: {index, width}. */
export function bundlesNewestFirst(size: bigint): { index: bigint; width: number }[] {
  const { fullTiles, partialWidth } = tileSpan("entries", size);
  const out: { index: bigint; width: number }[] = [];
  if (partialWidth > 0) out.push({ index: fullTiles, width: partialWidth });
  for (let i = fullTiles - 1n; i >= 0n; i--) out.push({ index: i, width: TILE_WIDTH });
  return out;
}

export const parseEntry = (bytes: Uint8Array): AuditEntry =>
  JSON.parse(new TextDecoder().decode(bytes)) as AuditEntry;

// ---------------------------------------------------------------------------------------------
// Hashing and signatures (WebCrypto)

/**
 * SHA-256 of the parts, synchronously (@noble/hashes): rehashing a log is millions of 32–64-byte
 * hashes, and WebCrypto's digest costs a promise round trip each (measured: 2.2k entries/s against
 * far more). The signature stays WebCrypto's.
 */
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = sha256Hasher.create();
  for (const p of parts) h.update(p);
  return h.digest();
};
export const leafHash = (entry: Uint8Array) => sha256(Uint8Array.of(0), entry);
const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(Uint8Array.of(1), l, r);
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

export interface Verifier {
  readonly name: string;
  readonly keyId: number;
  readonly key: CryptoKey;
}

/**
 * The log's signing key (`PRIVATE+KEY+…`, a signed note's private key) rather than its verifier key:
 * a secret pasted by mistake, never to be kept by the browser nor used.
 */
export const isSigningKey = (text: string): boolean => /^\s*PRIVATE\+KEY\+/i.test(text);

/** `<name>+<8 hex key id>+<base64(0x01 || Ed25519 public key)>`, its key id checked. */
export async function parseVerifierKey(text: string): Promise<Verifier> {
  if (isSigningKey(text))
    throw new VerificationError(
      "this is the log's signing key (PRIVATE+KEY+…), a secret: it is not kept here; paste the verifier key, and tell the operator the signing key was shown",
    );
  const vkey = text.trim();
  const plus1 = vkey.indexOf("+");
  const plus2 = vkey.indexOf("+", plus1 + 1);
  if (plus1 < 0 || plus2 < 0) throw new VerificationError("malformed verifier key: want name+keyid+key");
  const name = vkey.slice(0, plus1);
  const id = vkey.slice(plus1 + 1, plus2);
  const data = decodeBase64Strict(vkey.slice(plus2 + 1));
  if (!isValidKeyName(name)) throw new VerificationError("malformed verifier key: invalid key name");
  if (!/^[0-9a-fA-F]{8}$/.test(id))
    throw new VerificationError("malformed verifier key: key id must be 8 hex digits");
  if (data === undefined || data.length !== 33 || data[0] !== 0x01) {
    throw new VerificationError("malformed verifier key: not an Ed25519 key (0x01 and 32 bytes)");
  }
  const digest = sha256(new TextEncoder().encode(`${name}\n`), data);
  const keyId = new DataView(digest.buffer).getUint32(0);
  if (keyId !== Number.parseInt(id, 16)) throw new VerificationError("malformed verifier key: wrong key id");
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(data.subarray(1)),
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return { name, keyId, key };
}

/**
 * Opens the signed checkpoint: the note's syntax by src/audit/note.ts (which hands the signature
 * it found for our key to `verify`), then the Ed25519 signature by WebCrypto.
 */
export async function verifyCheckpoint(note: string, v: Verifier): Promise<Checkpoint> {
  let found: { message: Uint8Array<ArrayBuffer>; signature: Uint8Array<ArrayBuffer> } | null = null;
  const collect: NoteVerifier = {
    name: v.name,
    keyId: v.keyId,
    verify(message, signature) {
      found = { message: Uint8Array.from(message), signature: Uint8Array.from(signature) };
      return true;
    },
  };
  let text: string;
  try {
    text = openNote(note, [collect]).text;
  } catch (err) {
    throw new VerificationError(`the checkpoint: ${(err as Error).message}`);
  }
  const sig = found as { message: Uint8Array<ArrayBuffer>; signature: Uint8Array<ArrayBuffer> } | null;
  if (sig === null || !(await crypto.subtle.verify({ name: "Ed25519" }, v.key, sig.signature, sig.message))) {
    throw new VerificationError(`the checkpoint's signature by ${v.name} does not verify`);
  }
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== v.name) {
    throw new VerificationError(`the checkpoint is for ${checkpoint.origin}, the key for ${v.name}`);
  }
  return checkpoint;
}

/** RFC 9162 §2.1.3.2: `leaf` is entry `index` of the tree of `size` with root `root`. */
export async function verifyInclusion(
  leaf: Uint8Array,
  index: bigint,
  size: bigint,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<void> {
  if (index >= size) throw new VerificationError(`entry ${index} is not in a tree of ${size}`);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerificationError("the inclusion proof is longer than the path");
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("the inclusion proof is shorter than the path");
  if (!equal(r, root))
    throw new VerificationError(`the inclusion proof of entry ${index} does not lead to the signed root`);
}

export interface Progress {
  (done: number, total: number): void;
}

export interface LogVerification {
  readonly checkpoint: Checkpoint;
  readonly entries: number;
  readonly rootBase64: string;
}

/** The hashes of a published hash tile of `width` at `level`. */
const readHashTile = async (level: number, index: bigint, width: number): Promise<Uint8Array[]> =>
  decodeTile(await getTile(level, index, width), width);

/**
 * The published hash tiles above level 0 of a tree of `size`, against the subtrees the leaves make:
 * entry k of tile L/N is the hash of the full subtree of height 8·L over entries
 * [(N·256 + k)·256^L, (N·256 + k + 1)·256^L) (tlog-tiles). Each is read once, when the first of its
 * subtrees is complete; one full tile a level is held at a time (the leaves come in order), and the
 * partial ones at the checkpoint's size. The reads are 1/256 of level 0's.
 */
async function upperTiles(size: bigint) {
  // The partial tiles first, as level 0's, while the server still keeps them.
  const partials = new Map<number, Uint8Array[]>();
  for (let level = 1; level < tileLevels(size); level++) {
    const { fullTiles, partialWidth } = tileSpan(level, size);
    if (partialWidth > 0) partials.set(level, await readHashTile(level, fullTiles, partialWidth));
  }
  const held = new Map<number, { index: bigint; hashes: Uint8Array[] }>();
  /** The complete subtree of `height` (a multiple of 8, at least 8) ending before entry `end`. */
  return async (height: number, end: bigint, hash: Uint8Array): Promise<void> => {
    const level = height / TILE_HEIGHT;
    const subtree = (end >> BigInt(height)) - 1n;
    const index = subtree / BigInt(TILE_WIDTH);
    const k = Number(subtree % BigInt(TILE_WIDTH));
    let hashes: Uint8Array[] | undefined;
    if (index < tileSpan(level, size).fullTiles) {
      let tile = held.get(level);
      if (tile?.index !== index) {
        tile = { index, hashes: await readHashTile(level, index, TILE_WIDTH) };
        held.set(level, tile);
      }
      hashes = tile.hashes;
    } else {
      hashes = partials.get(level);
    }
    const published = hashes?.[k];
    if (published === undefined || !equal(hash, published)) {
      const start = end - (1n << BigInt(height));
      throw new VerificationError(
        `entries ${start}–${end - 1n} do not match their hash in the published tile ${level}/${index} (its entry ${k}): the log has been altered`,
      );
    }
  };
}

/**
 * The whole log: the checkpoint's signature, every entry bundle rehashed into the RFC 6962 root
 * (which must be the signed one), every leaf hash against the published level-0 hash tiles, and
 * every subtree hash against the published tiles above (levels 1, 2 …), from which proofs are made.
 */
export async function verifyLog(vkey: string, progress: Progress): Promise<LogVerification> {
  const verifier = await parseVerifierKey(vkey);
  const latest = await latestCheckpoint();
  if (latest === null) throw new VerificationError("the log has no checkpoint yet");
  const checkpoint = await verifyCheckpoint(latest.note, verifier);
  const size = checkpoint.size;
  const total = Number(size);
  // A compact range: at most one subtree hash per level, merged as leaves arrive (RFC 6962 MTH).
  const stack: { hash: Uint8Array; height: number }[] = [];
  let done = 0;
  const { fullTiles, partialWidth } = tileSpan("entries", size);
  const read = (i: bigint, width: number) =>
    Promise.all([readBundle(i, width), getTile(0, i, width).then((d) => decodeTile(d, width))]);
  // The partial tile first, while the server still keeps it (it removes older checkpoints' ones).
  const partial = partialWidth === 0 ? null : await read(fullTiles, partialWidth);
  const checkUpper = await upperTiles(size);
  for (let i = 0n; i <= fullTiles; i++) {
    const width = i < fullTiles ? TILE_WIDTH : partialWidth;
    if (width === 0) break;
    const [entries, tile] = i < fullTiles || partial === null ? await read(i, width) : partial;
    for (let k = 0; k < entries.length; k++) {
      const leaf = leafHash(entries[k] as Uint8Array);
      const n = i * BigInt(TILE_WIDTH) + BigInt(k);
      if (!equal(leaf, tile[k] as Uint8Array)) {
        throw new VerificationError(
          `entry ${n} does not match its hash in the published tile 0/${i}: the log has been altered`,
        );
      }
      let node = { hash: leaf, height: 0 };
      while (stack.length > 0 && stack[stack.length - 1]!.height === node.height) {
        const left = stack.pop()!;
        node = { hash: nodeHash(left.hash, node.hash), height: node.height + 1 };
        if (node.height % TILE_HEIGHT === 0) await checkUpper(node.height, n + 1n, node.hash);
      }
      stack.push(node);
    }
    done += entries.length;
    progress(done, total);
  }
  let root = stack.pop()?.hash ?? sha256();
  while (stack.length > 0) root = nodeHash(stack.pop()!.hash, root);
  if (!equal(root, checkpoint.root)) {
    throw new VerificationError(
      `the ${total} entries hash to ${b64(root)}, not to the signed root ${b64(checkpoint.root)}: the log has been altered`,
    );
  }
  return { checkpoint, entries: total, rootBase64: b64(root) };
}

/** Entry `index` of a tree of `size`, read from its bundle. */
async function entryBytes(index: bigint, size: bigint): Promise<Uint8Array> {
  const bundle = index / BigInt(TILE_WIDTH);
  const { fullTiles, partialWidth } = tileSpan("entries", size);
  const entries = await readBundle(bundle, bundle < fullTiles ? TILE_WIDTH : partialWidth);
  return entries[Number(index % BigInt(TILE_WIDTH))] as Uint8Array;
}

/** The `proof` list of an inclusion proof's answer, or null when the answer is not one. */
function proofHashes(text: string): unknown[] | null {
  try {
    const proof = (JSON.parse(text) as { proof?: unknown } | null)?.proof;
    return Array.isArray(proof) ? (proof as unknown[]) : null;
  } catch {
    return null;
  }
}

/**
 * One entry, checked against the signed root with the proof from the server. `shown`: the entry's
 * bytes as the page shows them — those are hashed, not a second read of the bundle, which a server
 * could answer with another entry than the one it showed (the real one proven, a forged one shown).
 * Without it, the bytes are read from the bundle.
 */
export async function verifyEntry(vkey: string, index: bigint, shown?: Uint8Array): Promise<Checkpoint> {
  const verifier = await parseVerifierKey(vkey);
  const latest = await latestCheckpoint();
  if (latest === null) throw new VerificationError("the log has no checkpoint yet");
  const checkpoint = await verifyCheckpoint(latest.note, verifier);
  const size = checkpoint.size;
  if (index >= size) throw new VerificationError(`entry ${index} is not yet in the signed tree of ${size}`);
  const leaf = leafHash(shown ?? (await entryBytes(index, size)));
  const res = await fetch(`/audit/proof/inclusion?index=${index}&size=${size}`, noStore);
  if (!res.ok) throw new VerificationError(`the inclusion proof: the server answered ${res.status}`);
  // A proxy's or captive portal's page answering 200 is no proof: said so, not "Unexpected token".
  const hashes = proofHashes(await res.text());
  if (hashes === null) {
    throw new VerificationError(
      `the inclusion proof: the server answered ${res.status} without a proof (a proxy or captive portal in between may have answered): try again`,
    );
  }
  const proof = hashes.map((p) => {
    const bytes = typeof p === "string" ? decodeBase64Strict(p) : undefined;
    if (bytes === undefined || bytes.length !== 32)
      throw new VerificationError("the inclusion proof is malformed");
    return new Uint8Array(bytes);
  });
  await verifyInclusion(leaf, index, size, proof, checkpoint.root);
  // Shown as JSON.parse reads it: only canonical bytes read as one thing to every reader.
  const notCanonical = shown === undefined ? null : entryNotCanonical(shown);
  if (notCanonical !== null) {
    throw new VerificationError(
      `entry ${index} is in the signed tree of ${size}, but its bytes are not canonical JSON (${notCanonical}): what this page shows of it may not be what was signed`,
    );
  }
  return checkpoint;
}
