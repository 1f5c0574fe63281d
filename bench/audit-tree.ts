/**
 * The Merkle half of `npm run bench:audit`: inclusion proofs on large tiled trees (built with the
 * real TileTree, tiles written to disk as the log writes them) and end-to-end verification of a
 * real 1M-entry log written through AuditLog.
 */
import { join } from "node:path";
import { AuditLog } from "../src/audit/log.js";
import { inclusionProof, leafHash, treeRoot, verifyInclusion, type HashReader } from "../src/audit/merkle.js";
import { directorySource, tileHashReader } from "../src/audit/source.js";
import { TileTree } from "../src/audit/tree.js";
import { verifyLog } from "../src/audit/verify.js";
import { ORIGIN, nowMs, removeDir, summaryUs, tempDir, type Keys } from "./audit-entries.js";
import { startupAt } from "./audit-startup.js";
import { log, round } from "./results.js";

const BATCH = 65_536;
const SYNTHETIC_BYTES = 16;

/** Entry i of the synthetic trees: its index, big-endian, then a constant tail (16 bytes). */
function syntheticEntry(i: number, into: Buffer = Buffer.allocUnsafe(SYNTHETIC_BYTES)): Buffer {
  into.writeBigUInt64BE(BigInt(i), 0);
  into.write("bench-tr", 8, "latin1");
  return into;
}

/** Deterministic indices in [0, size): the same proofs on every run. */
function randomIndices(count: number, size: number, seed: number): bigint[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0; // mulberry32
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => BigInt(Math.floor(next() * size)));
}

/**
 * TileTree keeps full level-0 tiles, decoded and expanded, in a private LRU. Emptying it before a
 * proof makes that proof pay what a cache miss costs the server: read one level-0 tile file (from
 * the OS page cache here), decode it, rehash its 255 inner nodes.
 */
function clearTileCache(tree: TileTree): void {
  const cache = (tree as unknown as { cache?: unknown }).cache;
  if (!(cache instanceof Map))
    throw new Error("TileTree has no `cache` Map any more: update bench/audit-tree.ts");
  cache.clear();
}

/** Builds a tree of `size` synthetic entries, stopping early if it runs past `budgetS` seconds. */
async function build(dir: string, size: number, budgetS: number) {
  const tree = new TileTree(dir);
  const scratch = Buffer.allocUnsafe(BATCH * SYNTHETIC_BYTES);
  const t0 = nowMs();
  let built = 0;
  while (built < size && (nowMs() - t0) / 1000 < budgetS) {
    const n = Math.min(BATCH, size - built);
    const batch: Buffer[] = [];
    for (let i = 0; i < n; i++)
      batch.push(syntheticEntry(built + i, scratch.subarray(i * SYNTHETIC_BYTES, (i + 1) * SYNTHETIC_BYTES)));
    await tree.append(batch); // copies each entry, so the scratch buffer can be reused
    built += n;
    if (built % (1 << 20) < BATCH) log(`  tree: ${built.toLocaleString("en")} entries`);
  }
  await tree.writePartials();
  const seconds = (nowMs() - t0) / 1000;
  return { tree, built, seconds };
}

/**
 * Times one proof per index with `read`, running `before` just before each; wall µs per proof, and
 * the mean CPU µs per proof (process.cpuUsage, all threads) — on a loaded machine the wall time
 * includes waiting for a core, the CPU time does not.
 */
async function timeProofs(
  read: () => HashReader,
  indices: readonly bigint[],
  size: bigint,
  before = () => {},
) {
  const times: number[] = [];
  const proofs: Buffer[][] = [];
  const cpu0 = process.cpuUsage();
  for (const index of indices) {
    before();
    const reader = read();
    const t0 = nowMs();
    proofs.push(await inclusionProof(reader, index, size));
    times.push((nowMs() - t0) * 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  const summary = { ...summaryUs(times), cpu_us_mean: round((cpu.user + cpu.system) / indices.length, 1) };
  return { summary, proofs };
}

/**
 * Inclusion proofs on a tree of `size` entries, through the server's reader (`TileTree.read`, what
 * AuditLog.inclusion uses) on a tile-cache miss and on a hit, and through a fresh tiles-only reader
 * (a verifier or mirror). Every proof is checked with verifyInclusion against the tree's root.
 */
export async function inclusionAt(
  size: number,
  samples: number,
  budgetS: number,
  startup?: { keys: Keys; replay: boolean },
) {
  const dir = await tempDir(`tree${size}`);
  try {
    log(`inclusion: building a ${size.toLocaleString("en")}-entry tree (${SYNTHETIC_BYTES}-byte entries)`);
    const { tree, built, seconds } = await build(dir, size, budgetS);
    const n = BigInt(built);
    const root = tree.root();
    const indices = randomIndices(samples, built, 0x5eed ^ built);
    log(`inclusion: ${samples} proofs at size ${built.toLocaleString("en")}`);
    const server = () => tree.read;
    await timeProofs(server, indices.slice(0, 200), n); // warm-up (JIT)
    const miss = await timeProofs(server, indices, n, () => clearTileCache(tree));
    await timeProofs(server, indices, n); // fills the LRU with these indices' tiles (≤ 2048 of them)...
    const hit = await timeProofs(server, indices, n); // ...so that here every level-0 tile is a hit
    // The same tree at its last tile boundary (no partial level-0 tile), tiles cached: the difference
    // from `hit` is what rebuilding the partial tile's inner nodes costs every proof at `size`.
    const whole = n - (n % 256n);
    const wholeIndices = indices.map((i) => i % whole);
    await timeProofs(server, wholeIndices, whole);
    const boundary = await timeProofs(server, wholeIndices, whole);
    const client = await timeProofs(() => tileHashReader(directorySource(dir), n), indices, n);
    // One level-0 tile load on its own (read, decode, rehash 255 inner nodes): (miss − hit) / this
    // is how many tile loads a cache-miss proof pays for.
    const cpu0 = process.cpuUsage();
    for (const index of indices) {
      clearTileCache(tree);
      await tree.read(0, index);
    }
    const cpu = process.cpuUsage(cpu0);
    const tileLoadCpuUs = (cpu.user + cpu.system) / indices.length;

    const startupResult =
      startup === undefined
        ? undefined
        : await startupAt(dir, tree, built, startup.keys, (i) => syntheticEntry(i), startup.replay);
    const wholeRoot = await treeRoot(tree.read, whole);
    const leaf = (i: bigint) => leafHash(syntheticEntry(Number(i)));
    indices.forEach((index, k) => {
      for (const proofs of [miss.proofs, hit.proofs, client.proofs])
        verifyInclusion(leaf(index), index, n, proofs[k] as Buffer[], root);
      const w = wholeIndices[k] as bigint;
      verifyInclusion(leaf(w), w, whole, boundary.proofs[k] as Buffer[], wholeRoot);
    });
    return {
      size: built,
      requested_size: size,
      build_s: round(seconds, 1),
      build_entries_per_sec: Math.round(built / seconds),
      proof_hashes: (miss.proofs[0] as Buffer[]).length,
      server_cache_miss: miss.summary,
      server_cache_hit: hit.summary,
      server_cache_hit_at_tile_boundary: { size: Number(whole), ...boundary.summary },
      client_from_tiles: client.summary,
      tile_load_cpu_us: round(tileLoadCpuUs, 1),
      tile_loads_per_miss_proof: round(
        (miss.summary.cpu_us_mean - hit.summary.cpu_us_mean) / tileLoadCpuUs,
        1,
      ),
      verified_proofs: indices.length * 4,
      ...(startupResult === undefined ? {} : { startup: startupResult }),
    };
  } finally {
    await removeDir(dir);
  }
}

/**
 * A real log of `size` realistic entries through AuditLog (WAL group commit, tree, signed
 * checkpoint), its restart (WAL replay into a fresh tree), then verifyLog over the published directory.
 */
export async function verifyRealLog(entries: readonly Buffer[], keys: Keys, size: number) {
  const dir = await tempDir("verify");
  const errors: unknown[] = [];
  const options = {
    dir: join(dir, "audit"),
    walPath: join(dir, "audit.wal"),
    origin: ORIGIN,
    signer: keys.signer,
    verifier: keys.verifier,
    checkpointMs: 1_000,
    onError: (err: unknown) => errors.push(err),
  };
  try {
    log(`verify: writing a ${size.toLocaleString("en")}-entry log through AuditLog`);
    let t0 = nowMs();
    let auditLog = await AuditLog.open(options);
    for (let done = 0; done < size;) {
      const n = Math.min(BATCH, size - done);
      const acks: Promise<bigint>[] = [];
      for (let i = 0; i < n; i++) acks.push(auditLog.append(entries[(done + i) % entries.length] as Buffer));
      await Promise.all(acks);
      await auditLog.publish(); // integrate and sign now, so pending entries never pile up in memory
      done += n;
    }
    await auditLog.close();
    const writeS = (nowMs() - t0) / 1000;

    log("verify: reopening the log (from its restore point)");
    t0 = nowMs();
    auditLog = await AuditLog.open(options);
    const reopenS = (nowMs() - t0) / 1000;
    if (auditLog.published?.size !== BigInt(size))
      throw new Error(`reopened log has ${auditLog.size} entries`);
    await auditLog.close();
    if (errors.length > 0) throw new Error(`audit log reported an error: ${String(errors[0])}`);

    log("verify: verifyLog over the published directory");
    t0 = nowMs();
    const result = await verifyLog(directorySource(options.dir), {
      verifierKey: keys.verifierKey,
      origin: ORIGIN,
    });
    const verifyS = (nowMs() - t0) / 1000;
    if (result.entries !== BigInt(size))
      throw new Error(`verifyLog checked ${result.entries} entries, not ${size}`);
    return {
      entries: size,
      write_s: round(writeS, 1),
      reopen_s: round(reopenS, 1),
      verify_s: round(verifyS, 2),
      verify_entries_per_sec: Math.round(size / verifyS),
    };
  } finally {
    await removeDir(dir);
  }
}
