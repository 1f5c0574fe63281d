import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CompactRange,
  EMPTY_ROOT,
  HASH_SIZE,
  ProofError,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  subtreeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";
import type { CompactNode, HashReader, ProofErrorCode } from "./merkle.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const hex = (s: string): Buffer => Buffer.from(s, "hex");
const b64 = (s: string): Buffer => Buffer.from(s, "base64");

function flipBit(h: Uint8Array, bit: number): Buffer {
  const c = Buffer.from(h);
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
}

function expectProofError(f: () => unknown, code: ProofErrorCode): ProofError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProofError);
    expect((e as ProofError).code).toBe(code);
    return e as ProofError;
  }
  throw new Error(`expected a ProofError with code ${code}`);
}

/** Every complete subtree of a fully materialised tree: levels[L][i] = MTH(D[i·2^L, (i+1)·2^L)). */
function buildLevels(leaves: readonly Buffer[]): Buffer[][] {
  const levels: Buffer[][] = [leaves.slice()];
  for (;;) {
    const below = levels[levels.length - 1] as Buffer[];
    if (below.length < 2) return levels;
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < below.length; i += 2)
      up.push(nodeHash(below[i] as Buffer, below[i + 1] as Buffer));
    levels.push(up);
  }
}

/** A reader over materialised levels that fails on any node outside the tree of `size`. */
function levelsReader(levels: Buffer[][], size: bigint, log?: string[]): HashReader {
  return (level, index) => {
    log?.push(`${level}/${index}`);
    if ((index + 1n) << BigInt(level) > size) throw new Error(`read outside the tree: ${level}/${index}`);
    const h = levels[level]?.[Number(index)];
    if (h === undefined) throw new Error(`no node ${level}/${index}`);
    return h;
  };
}

/** Reference RFC 6962 §2.1.1 PATH(m, D[n]) straight from the definition, over leaf hashes. */
function refPath(m: number, d: readonly Buffer[]): Buffer[] {
  const n = d.length;
  if (n <= 1) return [];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m < k
    ? [...refPath(m, d.slice(0, k)), rootFromLeafHashes(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), rootFromLeafHashes(d.slice(0, k))];
}

/** Reference RFC 6962 §2.1.2 SUBPROOF(m, D[n], b). */
function refSubproof(m: number, d: readonly Buffer[], b: boolean): Buffer[] {
  const n = d.length;
  if (m === n) return b ? [] : [rootFromLeafHashes(d)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), rootFromLeafHashes(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), rootFromLeafHashes(d.slice(0, k))];
}

function u64be(i: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(i);
  return b;
}

/**
 * A sparse, lazy tree of synthetic leaves leafHash(uint64 BE index): any complete subtree is
 * computed on demand from its leaves. Levels ≥ 8 are memoised (shared across calls, since a complete
 * subtree's hash never depends on the tree size); lower levels are recomputed (≤ 511 hashes).
 */
const lazyMemo: Map<bigint, Buffer>[] = [];
function lazyNode(level: number, index: bigint): Buffer {
  if (level === 0) return leafHash(u64be(index));
  let memo = lazyMemo[level];
  if (level >= 8) {
    memo ??= lazyMemo[level] = new Map();
    const m = memo.get(index);
    if (m !== undefined) return m;
  }
  const h = nodeHash(lazyNode(level - 1, 2n * index), lazyNode(level - 1, 2n * index + 1n));
  memo?.set(index, h);
  return h;
}
/** Independent MTH over the lazy tree, by the RFC recursion. */
function lazyMth(start: bigint, end: bigint): Buffer {
  const n = end - start;
  if (n === 0n) return Buffer.from(EMPTY_ROOT);
  if ((n & (n - 1n)) === 0n && start % n === 0n) return lazyNode(n.toString(2).length - 1, start / n);
  let k = 1n;
  while (k * 2n < n) k *= 2n;
  return nodeHash(lazyMth(start, start + k), lazyMth(start + k, end));
}

/**
 * A tree of 2^64 identical leaves: every complete subtree at level L has the same hash U[L]. It is a
 * genuine Merkle tree, so proofs over it verify, at any size up to 2^64−1.
 */
const UNIFORM: Buffer[] = [leafHash(Buffer.from("uniform"))];
for (let l = 1; l < 64; l++) UNIFORM.push(nodeHash(UNIFORM[l - 1] as Buffer, UNIFORM[l - 1] as Buffer));
function uniformMth(n: bigint): Buffer {
  if (n === 0n) return Buffer.from(EMPTY_ROOT);
  // Fold the right edge from the smallest complete subtree up.
  let r: Buffer | null = null;
  for (let l = 0; l < 64; l++) {
    if (((n >> BigInt(l)) & 1n) === 1n)
      r = r === null ? (UNIFORM[l] as Buffer) : nodeHash(UNIFORM[l] as Buffer, r);
  }
  return r as Buffer;
}

// ---------------------------------------------------------------------------------------------
// Known answers

// The README's 8 leaves and the roots of their prefixes (RFC 6962 test data, transparency-dev/merkle).
const KNOWN_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(hex);
const KNOWN_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

describe("RFC 6962 hashing", () => {
  it("hashes leaves, nodes and the empty tree with the domain-separation prefixes", () => {
    expect(HASH_SIZE).toBe(32);
    expect(EMPTY_ROOT.toString("hex")).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    const e = Buffer.from("entry");
    expect(leafHash(e)).toEqual(
      createHash("sha256")
        .update(Buffer.concat([Buffer.from([0]), e]))
        .digest(),
    );
    const a = leafHash(Buffer.from("a"));
    const b = leafHash(Buffer.from("b"));
    const want = createHash("sha256")
      .update(Buffer.concat([Buffer.from([1]), a, b]))
      .digest();
    expect(nodeHash(a, b)).toEqual(want);
    // Twice in a row (the fast path reuses a scratch buffer), and with a Uint8Array view.
    expect(nodeHash(a, b)).toEqual(want);
    expect(nodeHash(new Uint8Array(a), new Uint8Array(b))).toEqual(want);
    // Inputs of other lengths take the general path.
    expect(nodeHash(Buffer.from("x"), Buffer.from("yz"))).toEqual(
      createHash("sha256").update("\x01xyz").digest(),
    );
    expect(rootFromLeafHashes([])).toEqual(EMPTY_ROOT);
  });

  it("gives the known roots for the 8 known leaves and every prefix of them", () => {
    const hashes = KNOWN_LEAVES.map(leafHash);
    for (let n = 1; n <= 8; n++) {
      expect(rootFromLeafHashes(hashes.slice(0, n)).toString("hex")).toBe(KNOWN_ROOTS[n - 1]);
    }
    expect(rootFromLeafHashes(hashes).toString("hex")).toBe(
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    );
  });

  it("matches the known RFC 6962 proofs for the 8 known leaves", async () => {
    const hashes = KNOWN_LEAVES.map(leafHash);
    const levels = buildLevels(hashes);
    const read = levelsReader(levels, 8n);
    const p = (await inclusionProof(read, 5n, 8n)).map((h) => h.toString("hex"));
    expect(p).toEqual([
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]);
    const c = (await consistencyProof(levelsReader(levels, 7n), 6n, 7n)).map((h) => h.toString("hex"));
    expect(c).toEqual([
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Test vectors (transparency-dev/merkle testdata, copied to ../shared)

const VECTORS = path.resolve(process.cwd(), "../shared/data/tlog-vectors/merkle-testdata");

function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) return jsonFiles(p);
      return name.endsWith(".json") ? [p] : [];
    });
}

/** JSON.parse loses precision above 2^53: quote the integer fields first, then read them as BigInt. */
function readVector(file: string): Record<string, unknown> {
  const text = readFileSync(file, "utf8").replace(
    /("(?:leafIdx|treeSize|size1|size2)"\s*:\s*)(-?\d+)/g,
    (_m, field: string, num: string) => `${field}"${num}"`,
  );
  return JSON.parse(text) as Record<string, unknown>;
}

interface InclusionVector {
  leafIdx: bigint;
  treeSize: bigint;
  root: Buffer;
  leafHash: Buffer;
  proof: Buffer[];
  desc: string;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: bigint;
  size2: bigint;
  root1: Buffer;
  root2: Buffer;
  proof: Buffer[];
  desc: string;
  wantErr: boolean;
}

function inclusionVector(file: string): InclusionVector {
  const v = readVector(file);
  return {
    leafIdx: BigInt(v.leafIdx as string),
    treeSize: BigInt(v.treeSize as string),
    root: b64(v.root as string),
    leafHash: b64(v.leafHash as string),
    proof: ((v.proof as string[] | null) ?? []).map(b64),
    desc: v.desc as string,
    wantErr: v.wantErr as boolean,
  };
}
function consistencyVector(file: string): ConsistencyVector {
  const v = readVector(file);
  return {
    size1: BigInt(v.size1 as string),
    size2: BigInt(v.size2 as string),
    root1: b64(v.root1 as string),
    root2: b64(v.root2 as string),
    proof: ((v.proof as string[] | null) ?? []).map(b64),
    desc: v.desc as string,
    wantErr: v.wantErr as boolean,
  };
}

const haveVectors = existsSync(VECTORS);
if (!haveVectors) console.warn("../shared/data/tlog-vectors not found: skipping vector tests");

(haveVectors ? describe : describe.skip)(
  haveVectors ? "tlog test vectors" : "../shared/data/tlog-vectors not found: skipping vector tests",
  () => {
    const inclusion = haveVectors ? jsonFiles(path.join(VECTORS, "inclusion")) : [];
    const consistency = haveVectors ? jsonFiles(path.join(VECTORS, "consistency")) : [];

    it("finds the vectors, including the 2^64−1 leaf index", () => {
      expect(inclusion.length).toBeGreaterThan(50);
      expect(consistency.length).toBeGreaterThan(50);
      const big = inclusion.map(inclusionVector).filter((v) => v.leafIdx === (1n << 64n) - 1n);
      expect(big.length).toBeGreaterThan(0);
    });

    it.each(inclusion.map((f) => [path.relative(VECTORS, f), f]))("inclusion %s", (_name, file) => {
      const v = inclusionVector(file);
      const run = (): void => verifyInclusion(v.leafHash, v.leafIdx, v.treeSize, v.proof, v.root);
      if (v.wantErr) expect(run).toThrow(ProofError);
      else expect(run).not.toThrow();
    });

    it.each(consistency.map((f) => [path.relative(VECTORS, f), f]))("consistency %s", (_name, file) => {
      const v = consistencyVector(file);
      const run = (): void => verifyConsistency(v.size1, v.size2, v.proof, v.root1, v.root2);
      if (v.wantErr) expect(run).toThrow(ProofError);
      else expect(run).not.toThrow();
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Generated proofs over in-memory trees

describe("proofs from stored subtrees, every size 1..70", () => {
  const N = 70;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const levels = buildLevels(leaves);
  const roots = Array.from({ length: N + 1 }, (_, n) => rootFromLeafHashes(leaves.slice(0, n)));

  it("computes roots and arbitrary subtree hashes from stored complete subtrees", async () => {
    expect(await treeRoot(levelsReader(levels, 0n), 0n)).toEqual(EMPTY_ROOT);
    for (let n = 1; n <= N; n++) {
      const log: string[] = [];
      expect(await treeRoot(levelsReader(levels, BigInt(n), log), BigInt(n))).toEqual(roots[n]);
      expect(log.length).toBe(n.toString(2).replace(/0/g, "").length); // popcount(n) reads
    }
    for (let s = 0; s <= 20; s++) {
      for (let e = s; e <= 20; e++) {
        const got = await subtreeHash(levelsReader(levels, BigInt(N)), BigInt(s), BigInt(e));
        expect(got).toEqual(rootFromLeafHashes(leaves.slice(s, e)));
      }
    }
  });

  it("generates RFC 6962 inclusion proofs that verify, for every index", async () => {
    for (let n = 1; n <= N; n++) {
      const size = BigInt(n);
      const d = leaves.slice(0, n);
      const root = roots[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = await inclusionProof(levelsReader(levels, size), BigInt(m), size);
        expect(proof).toEqual(refPath(m, d));
        verifyInclusion(leaves[m] as Buffer, BigInt(m), size, proof, root);
        // Another leaf, index or size fails.
        if (n > 1) {
          const other = (m + 1) % n;
          expect(() => verifyInclusion(leaves[other] as Buffer, BigInt(m), size, proof, root)).toThrow(
            ProofError,
          );
          expect(() => verifyInclusion(leaves[m] as Buffer, BigInt(other), size, proof, root)).toThrow(
            ProofError,
          );
        }
      }
    }
  });

  it("generates RFC 6962 consistency proofs that verify, for every size1", async () => {
    for (let n = 1; n <= N; n++) {
      const size2 = BigInt(n);
      const d = leaves.slice(0, n);
      const read = levelsReader(levels, size2);
      expect(await consistencyProof(read, 0n, size2)).toEqual([]);
      for (let m = 1; m <= n; m++) {
        const proof = await consistencyProof(read, BigInt(m), size2);
        expect(proof).toEqual(m === n ? [] : refSubproof(m, d, true));
        verifyConsistency(BigInt(m), size2, proof, roots[m] as Buffer, roots[n] as Buffer);
        if (m < n) {
          expect(() =>
            verifyConsistency(BigInt(m), size2, proof, roots[m - 1] as Buffer, roots[n] as Buffer),
          ).toThrow(ProofError);
          expect(() =>
            verifyConsistency(BigInt(m), size2, proof, roots[m] as Buffer, roots[n - 1] as Buffer),
          ).toThrow(ProofError);
        }
      }
    }
  });

  it("reads each stored node at most once per call, O(log n) of them, and works with async readers", async () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const log: string[] = [];
        const sync = await inclusionProof(levelsReader(levels, BigInt(n), log), BigInt(m), BigInt(n));
        expect(new Set(log).size).toBe(log.length);
        expect(log.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
        const inner = levelsReader(levels, BigInt(n));
        const async: HashReader = async (l, i) => {
          await new Promise((r) => setImmediate(r));
          return inner(l, i);
        };
        expect(await inclusionProof(async, BigInt(m), BigInt(n))).toEqual(sync);
      }
      for (let m = 1; m < n; m++) {
        const log: string[] = [];
        await consistencyProof(levelsReader(levels, BigInt(n), log), BigInt(m), BigInt(n));
        expect(new Set(log).size).toBe(log.length);
        expect(log.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 2);
      }
    }
  });

  it("returns copies, never the reader's buffers", async () => {
    const proof = await inclusionProof(levelsReader(levels, 8n), 0n, 8n);
    proof[0]?.fill(0);
    expect(levels[0]?.[1]).toEqual(leaves[1]);
    const root = await treeRoot(levelsReader(levels, 1n), 1n);
    root.fill(0);
    expect(levels[0]?.[0]).toEqual(leaves[0]);
  });
});

describe("argument and reader errors", () => {
  const leaves = Array.from({ length: 8 }, (_, i) => leafHash(Buffer.from([i])));
  const levels = buildLevels(leaves);
  const root = rootFromLeafHashes(leaves);

  it("rejects bad sizes and indices when generating", async () => {
    const read = levelsReader(levels, 8n);
    await expect(inclusionProof(read, 8n, 8n)).rejects.toMatchObject({ code: "index-out-of-range" });
    await expect(inclusionProof(read, 0n, 0n)).rejects.toMatchObject({ code: "index-out-of-range" });
    await expect(inclusionProof(read, -1n, 8n)).rejects.toMatchObject({ code: "bad-sizes" });
    await expect(inclusionProof(read, 0n, 1n << 64n)).rejects.toMatchObject({ code: "bad-sizes" });
    await expect(consistencyProof(read, 5n, 4n)).rejects.toMatchObject({ code: "bad-sizes" });
    await expect(subtreeHash(read, 5n, 4n)).rejects.toMatchObject({ code: "bad-sizes" });
    expect(await subtreeHash(read, 3n, 3n)).toEqual(EMPTY_ROOT);
  });

  it("rejects a reader that returns the wrong thing", async () => {
    await expect(inclusionProof(() => Buffer.alloc(31), 0n, 2n)).rejects.toMatchObject({
      code: "bad-hash-size",
    });
    await expect(treeRoot(() => undefined as unknown as Uint8Array, 3n)).rejects.toMatchObject({
      code: "bad-hash-size",
    });
    await expect(treeRoot(() => Promise.reject(new Error("disk on fire")), 3n)).rejects.toThrow(
      "disk on fire",
    );
    // An async read in flight when a later read throws synchronously must not reject unhandled
    // (vitest fails the run on an unhandled rejection).
    const mixed: HashReader = (level) => {
      if (level === 0) throw new Error("sync failure");
      return new Promise((_, reject) => setImmediate(() => reject(new Error("late failure"))));
    };
    await expect(treeRoot(mixed, 3n)).rejects.toThrow("sync failure");
    await new Promise((r) => setTimeout(r, 10));
  });

  it("says precisely why an inclusion proof fails", () => {
    const proof = refPath(5, leaves);
    const leaf = leaves[5] as Buffer;
    verifyInclusion(leaf, 5n, 8n, proof, root);
    expect(
      expectProofError(() => verifyInclusion(leaf, 8n, 8n, proof, root), "index-out-of-range").message,
    ).toMatch(/leaf index 8 is not below the tree size 8/);
    expectProofError(() => verifyInclusion(leaf, -1n, 8n, proof, root), "index-out-of-range");
    expect(
      expectProofError(() => verifyInclusion(leaf, 5n, 8n, proof.slice(1), root), "wrong-proof-size").message,
    ).toMatch(/must have 3 hashes, got 2/);
    expectProofError(() => verifyInclusion(leaf, 5n, 8n, [...proof, root], root), "wrong-proof-size");
    expectProofError(
      () => verifyInclusion(leaf, 5n, 8n, [Buffer.alloc(0), ...proof.slice(1)], root),
      "bad-hash-size",
    );
    expectProofError(() => verifyInclusion(leaf.subarray(1), 5n, 8n, proof, root), "bad-hash-size");
    expectProofError(() => verifyInclusion(leaf, 5n, 8n, proof, root.subarray(1)), "bad-hash-size");
    expect(
      expectProofError(() => verifyInclusion(leaf, 5n, 8n, proof, EMPTY_ROOT), "root-mismatch").message,
    ).toContain(root.toString("hex"));
    expectProofError(() => verifyInclusion(leaf, 5n, 1n << 64n, proof, root), "bad-sizes");
  });

  it("says precisely why a consistency proof fails", () => {
    const r3 = rootFromLeafHashes(leaves.slice(0, 3));
    const proof = refSubproof(3, leaves, true);
    verifyConsistency(3n, 8n, proof, r3, root);
    expectProofError(() => verifyConsistency(8n, 3n, proof, root, r3), "bad-sizes");
    expectProofError(() => verifyConsistency(0n, 8n, [], EMPTY_ROOT, root), "bad-sizes");
    expectProofError(() => verifyConsistency(0n, 0n, [], EMPTY_ROOT, EMPTY_ROOT), "bad-sizes");
    expectProofError(() => verifyConsistency(8n, 8n, [root], root, root), "wrong-proof-size");
    expectProofError(() => verifyConsistency(8n, 8n, [], root, r3), "root-mismatch");
    verifyConsistency(8n, 8n, [], root, root);
    expectProofError(() => verifyConsistency(3n, 8n, [], r3, root), "wrong-proof-size");
    expect(
      expectProofError(() => verifyConsistency(3n, 8n, proof.slice(1), r3, root), "wrong-proof-size").message,
    ).toMatch(/from size 3 to 8 must have 4 hashes, got 3/);
    expectProofError(
      () => verifyConsistency(3n, 8n, [Buffer.alloc(3), ...proof.slice(1)], r3, root),
      "bad-hash-size",
    );
    expect(
      expectProofError(() => verifyConsistency(3n, 8n, proof, root, root), "root-mismatch").message,
    ).toMatch(/old tree of size 3/);
    expect(expectProofError(() => verifyConsistency(3n, 8n, proof, r3, r3), "root-mismatch").message).toMatch(
      /new tree of size 8/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Compact range

describe("CompactRange", () => {
  const N = 300;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(u64be(BigInt(i))));
  const levels = buildLevels(leaves);

  it("has the MTH root for sizes 0..300 and emits exactly the complete subtrees", () => {
    const cr = new CompactRange();
    expect(cr.size).toBe(0n);
    expect(cr.root()).toEqual(EMPTY_ROOT);
    const emitted: CompactNode[] = [];
    for (let n = 1; n <= N; n++) {
      const created = cr.append(leaves[n - 1] as Buffer);
      expect(created[0]).toEqual({ level: 0, index: BigInt(n - 1), hash: leaves[n - 1] });
      // Exactly the trailing one bits of n-1 merge: ctz(n) + 1 nodes, the leaf first.
      expect(created.length).toBe(Math.log2(n & -n) + 1);
      emitted.push(...created);
      expect(cr.size).toBe(BigInt(n));
      expect(cr.root()).toEqual(rootFromLeafHashes(leaves.slice(0, n)));
      // The frontier is the decomposition of [0, n) into maximal complete subtrees.
      const nodes = cr.nodes();
      expect(nodes.length).toBe(n.toString(2).replace(/0/g, "").length);
      let start = 0n;
      for (const node of nodes) {
        expect(node.index << BigInt(node.level)).toBe(start);
        expect(node.hash).toEqual(levels[node.level]?.[Number(node.index)]);
        start += 1n << BigInt(node.level);
      }
      expect(start).toBe(BigInt(n));
    }
    // Emitted = every complete subtree of the 300-leaf tree, each once, with its hash.
    const want = levels.flatMap((lv, level) => lv.map((hash, i) => ({ level, index: BigInt(i), hash })));
    const key = (x: CompactNode): string => `${x.level}/${x.index}`;
    expect(emitted.map(key).sort()).toEqual(want.map(key).sort());
    for (const e of emitted) expect(e.hash).toEqual(levels[e.level]?.[Number(e.index)]);
  });

  it("restores from stored hashes and from a reader, then keeps appending identically", async () => {
    for (const n of [0, 1, 2, 3, 7, 8, 100, 255, 256, 299]) {
      const size = BigInt(n);
      const log: string[] = [];
      const fromReader = await CompactRange.fromReader(levelsReader(levels, size, log), size);
      expect(log.length).toBe(n.toString(2).replace(/0/g, "").length);
      const direct = new CompactRange();
      for (let i = 0; i < n; i++) direct.append(leaves[i] as Buffer);
      const fromHashes = CompactRange.fromHashes(size, direct.hashes());
      for (const cr of [fromReader, fromHashes]) {
        expect(cr.size).toBe(size);
        expect(cr.root()).toEqual(direct.root());
        expect(cr.append(leaves[n] as Buffer)).toEqual(direct.clone().append(leaves[n] as Buffer));
        expect(cr.root()).toEqual(rootFromLeafHashes(leaves.slice(0, n + 1)));
      }
    }
    expectProofError(() => CompactRange.fromHashes(3n, [EMPTY_ROOT]), "bad-sizes");
    expectProofError(() => CompactRange.fromHashes(1n, [Buffer.alloc(31)]), "bad-hash-size");
    expectProofError(() => new CompactRange().append(Buffer.alloc(33)), "bad-hash-size");
  });

  it("never lets callers mutate its state through returned buffers", () => {
    const cr = new CompactRange();
    const leaf = Buffer.from(leaves[0] as Buffer);
    const created = cr.append(leaf);
    leaf.fill(1);
    created[0]?.hash.fill(2);
    cr.root().fill(3);
    cr.hashes()[0]?.fill(4);
    expect(cr.root()).toEqual(leaves[0]);
    const more = cr.append(leaves[1] as Buffer);
    more[1]?.hash.fill(5);
    expect(cr.root()).toEqual(rootFromLeafHashes(leaves.slice(0, 2)));
  });
});

// ---------------------------------------------------------------------------------------------
// Large trees and properties

describe("large trees", () => {
  it("generates and verifies proofs beyond 2^53 with O(log n) reads", async () => {
    const reads: string[] = [];
    const read: HashReader = (level, index) => {
      reads.push(`${level}/${index}`);
      expect(index).toBeGreaterThanOrEqual(0n);
      return UNIFORM[level] as Buffer;
    };
    for (const size of [(1n << 63n) + 12345n, (1n << 64n) - 1n, (1n << 53n) + 3n, 10_000_000n]) {
      const root = uniformMth(size);
      reads.length = 0;
      expect(await treeRoot(read, size)).toEqual(root);
      for (const index of [0n, size / 3n, (1n << 53n) + 1n, size - 2n, size - 1n].filter((i) => i < size)) {
        reads.length = 0;
        const proof = await inclusionProof(read, index, size);
        expect(reads.length).toBeLessThanOrEqual(2 * 64);
        expect(new Set(reads).size).toBe(reads.length);
        verifyInclusion(UNIFORM[0] as Buffer, index, size, proof, root);
        expect(() => verifyInclusion(UNIFORM[0] as Buffer, index, size, proof, flipBit(root, 7))).toThrow(
          ProofError,
        );
      }
      for (const size1 of [1n, 2n, size / 2n, (1n << 53n) + 7n, size - 1n].filter((s) => s < size)) {
        reads.length = 0;
        const proof = await consistencyProof(read, size1, size);
        expect(reads.length).toBeLessThanOrEqual(2 * 64);
        verifyConsistency(size1, size, proof, uniformMth(size1), root);
      }
      const cr = await CompactRange.fromReader(read, size);
      expect(cr.root()).toEqual(root);
    }
  });

  it("holds for random trees up to 2^20 leaves (fast-check, lazy synthetic tree)", async () => {
    const read: HashReader = (level, index) => lazyNode(level, index);
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 1n, max: 1n << 20n }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(255),
        async (size, a, b, bit) => {
          const index = BigInt(Math.floor(a * Number(size))) % size;
          const size1 = 1n + (BigInt(Math.floor(b * Number(size))) % size); // 1..size
          const root = lazyMth(0n, size);
          expect(await treeRoot(read, size)).toEqual(root);
          const leaf = leafHash(u64be(index));

          const proof = await inclusionProof(read, index, size);
          verifyInclusion(leaf, index, size, proof, root);
          for (let i = 0; i < proof.length; i++) {
            const bad = proof.slice();
            bad[i] = flipBit(proof[i] as Buffer, bit);
            expect(() => verifyInclusion(leaf, index, size, bad, root)).toThrow(ProofError);
          }
          expect(() => verifyInclusion(leaf, index, size, proof, flipBit(root, bit))).toThrow(ProofError);
          expect(() => verifyInclusion(flipBit(leaf, bit), index, size, proof, root)).toThrow(ProofError);

          const root1 = lazyMth(0n, size1);
          const cproof = await consistencyProof(read, size1, size);
          verifyConsistency(size1, size, cproof, root1, root);
          for (let i = 0; i < cproof.length; i++) {
            const bad = cproof.slice();
            bad[i] = flipBit(cproof[i] as Buffer, bit);
            expect(() => verifyConsistency(size1, size, bad, root1, root)).toThrow(ProofError);
          }
          expect(() => verifyConsistency(size1, size, cproof, flipBit(root1, bit), root)).toThrow(ProofError);
          expect(() => verifyConsistency(size1, size, cproof, root1, flipBit(root, bit))).toThrow(ProofError);
        },
      ),
      { numRuns: 200 },
    );
  }, 180_000);
});
