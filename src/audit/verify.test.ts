import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { signCheckpoint } from "./checkpoint.js";
import { AuditLog } from "./log.js";
import { EMPTY_ROOT, consistencyProof, inclusionProof } from "./merkle.js";
import { generateKey, parseSignerKey, parseVerifierKey, signNote } from "./note.js";
import { directorySource, urlSource } from "./source.js";
import { fetchCheckpoint, tileHashReader, verifyEntry, verifyLog, type VerifyErrorCode } from "./verify.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
const signer = parseSignerKey(keys.privateKey);
const verifierKey = keys.verifierKey;
/** Entries as the gateway writes them: RFC 8785 canonical JSON (members in code-unit order). */
const entry = (i: number, tag = "decision") => Buffer.from(JSON.stringify({ i, type: tag, v: 1 }));

function logOptions(dataDir: string) {
  const onError = (err: unknown) => {
    throw err;
  };
  const verifier = parseVerifierKey(verifierKey);
  return {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer,
    verifier,
    checkpointMs: 60_000,
    onError,
  };
}

/** A real log (WAL, tiles, signed checkpoint) with entries [from, to), in a new or existing data dir. */
async function buildLog(
  to: number,
  from = 0,
  tag = "decision",
  dataDir = mkdtempSync(join(tmpdir(), "clearance-verify-")),
) {
  const log = await AuditLog.open(logOptions(dataDir));
  await Promise.all(Array.from({ length: to - from }, (_, i) => log.append(entry(from + i, tag))));
  await log.close();
  return { dataDir, dir: join(dataDir, "audit") };
}

/** A copy of a published log directory, to tamper with. */
function copy(dir: string): string {
  const to = join(mkdtempSync(join(tmpdir(), "clearance-tamper-")), "audit");
  cpSync(dir, to, { recursive: true });
  return to;
}

function flip(file: string, offset: number): void {
  const data = readFileSync(file);
  data[offset] = (data[offset] as number) ^ 0x01;
  writeFileSync(file, data);
}

const expectFailure = (p: Promise<unknown>, code: VerifyErrorCode, message?: RegExp) =>
  expect(p).rejects.toMatchObject({
    name: "VerifyError",
    code,
    ...(message ? { message: expect.stringMatching(message) } : {}),
  });

/** A static file server for a log directory under /audit/, as any web server or bucket would serve it. */
async function serveDir(dir: string, status?: number) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (status !== undefined) return void res.writeHead(status).end("nope");
    readFile(join(dir, path.replace(/^\/audit\//, ""))).then(
      (data) => res.writeHead(200).end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  return { url, close: () => new Promise((resolve) => server.close(resolve)) };
}

let small: { dataDir: string; dir: string }; // 1,000 entries: tiles at levels 0 and 1 (partial)
let big: { dataDir: string; dir: string }; // 70,000 entries: a full level-1 tile and a level-2 tile
beforeAll(async () => {
  small = await buildLog(1000);
  big = await buildLog(70_000);
}, 120_000);

describe("verifyLog", () => {
  it("verifies a log read from a directory, reporting progress per bundle", async () => {
    const seen: [bigint, bigint][] = [];
    const r = await verifyLog(directorySource(small.dir), {
      verifierKey,
      onProgress: (d, t) => seen.push([d, t]),
    });
    expect(r.entries).toBe(1000n);
    expect(r.checkpoint.origin).toBe(ORIGIN);
    expect(r.previous).toBeUndefined();
    expect(seen).toEqual([256n, 512n, 768n, 1000n].map((d) => [d, 1000n]));
  });

  it("verifies a 70,000-entry log (level-2 tile) from a directory and over HTTP", async () => {
    expect(existsSync(join(big.dir, "tile/2/000.p/1"))).toBe(true);
    expect(existsSync(join(big.dir, "tile/1/000"))).toBe(true);
    expect((await verifyLog(directorySource(big.dir), { verifierKey, origin: ORIGIN })).entries).toBe(
      70_000n,
    );
    const server = await serveDir(big.dir);
    try {
      expect((await verifyLog(urlSource(server.url), { verifierKey })).entries).toBe(70_000n);
      expect((await verifyEntry(urlSource(server.url), verifierKey, 65_536n)).entry).toEqual({
        v: 1,
        type: "decision",
        i: 65_536,
      });
    } finally {
      await server.close();
    }
  });

  it("reports an HTTP error other than 404 with its status", async () => {
    const server = await serveDir(small.dir, 503);
    try {
      await expectFailure(verifyLog(urlSource(server.url), { verifierKey }), "fetch-failed", /HTTP 503/);
    } finally {
      await server.close();
    }
  });

  const flipAt = (offset: number) => (file: string) => flip(file, offset);
  const cutTo = (length: number) => (file: string) => truncateSync(file, length);
  const remove = (file: string) => rmSync(file);
  const put = (data: string | Buffer) => (file: string) => writeFileSync(file, data);
  const append = (data: Buffer) => (file: string) => writeFileSync(file, data, { flag: "a" });
  const other = (root: Buffer) =>
    signCheckpoint({ origin: ORIGIN, size: 1000n, root, extensions: [] }, signer);
  const CP = "checkpoint";
  // [what, which log, file, change, expected code, expected message]
  type Case = [string, "small" | "big", string, (file: string) => void, VerifyErrorCode, RegExp];
  // prettier-ignore
  const tampering: Case[] = [
    ["an entry bundle byte", "small", "tile/entries/001", flipAt(10), "entry-mismatch", /^tile\/entries\/001: entry 256 /],
    ["a level-0 tile byte", "small", "tile/0/002", flipAt(100), "tile-mismatch", /^tile\/0\/002: leaf hash 3 \(entry 515\)/],
    ["a partial level-0 tile byte", "small", "tile/0/003.p/232", flipAt(0), "tile-mismatch", /^tile\/0\/003\.p\/232:/],
    ["a level-1 tile byte", "small", "tile/1/000.p/3", flipAt(64), "tile-mismatch", /^tile\/1\/000\.p\/3: hash 2 /],
    ["a full level-1 tile byte", "big", "tile/1/000", flipAt(8000), "tile-mismatch", /^tile\/1\/000: hash 250 /],
    ["the level-2 tile byte", "big", "tile/2/000.p/1", flipAt(31), "tile-mismatch", /^tile\/2\/000\.p\/1: hash 0 /],
    ["a checkpoint text byte", "small", CP, flipAt(3), "bad-signature", /does not verify/],
    ["a truncated level-0 tile", "small", "tile/0/001", cutTo(8000), "truncated-tile", /^tile\/0\/001: /],
    ["a truncated entry bundle", "small", "tile/entries/002", cutTo(500), "truncated-tile", /^tile\/entries\/002: /],
    ["trailing bundle bytes", "small", "tile/entries/000", append(Buffer.of(0, 1, 65)), "malformed-tile", /^tile\/entries\/000: /],
    ["a deleted level-0 tile", "small", "tile/0/001", remove, "missing-tile", /^tile\/0\/001 is missing/],
    ["a deleted partial bundle", "small", "tile/entries/003.p/232", remove, "missing-tile", /^tile\/entries\/003\.p\/232 is/],
    ["a deleted checkpoint", "small", CP, remove, "missing-checkpoint", /no checkpoint/],
    ["a garbage checkpoint", "small", CP, put("hello\n"), "malformed-checkpoint", /malformed note/],
    ["a signed non-checkpoint", "small", CP, put(signNote(`${ORIGIN}\nlots\nxyz\n`, signer)), "malformed-checkpoint", /tree size/],
    ["a signed wrong root", "small", CP, put(other(Buffer.alloc(32, 7))), "wrong-root", /rebuild root .*, but the checkpoint says BwcH/],
  ];
  it.each(tampering)("catches %s", async (_what, log, file, change, code, message) => {
    const dir = copy((log === "small" ? small : big).dir);
    change(join(dir, file));
    await expectFailure(verifyLog(directorySource(dir), { verifierKey }), code, message);
  });

  it("rejects a checkpoint signed by another key, a malformed key and the wrong origin", async () => {
    const other = generateKey(ORIGIN).verifierKey;
    await expectFailure(
      verifyLog(directorySource(small.dir), { verifierKey: other }),
      "unknown-key",
      /not signed by test\.example\/audit\+/,
    );
    await expectFailure(verifyLog(directorySource(small.dir), { verifierKey: "nonsense" }), "bad-key");
    await expectFailure(
      verifyLog(directorySource(small.dir), { verifierKey, origin: "other.example/log" }),
      "origin-mismatch",
    );
  });

  it("expects the verifier key's name as the origin unless told another", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-verify-"));
    const log = await AuditLog.open({ ...logOptions(dataDir), origin: `${ORIGIN}/v2` });
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(entry(i, "rewritten"))));
    await log.close();
    const source = directorySource(join(dataDir, "audit"));
    const notKeyName =
      /checkpoint origin "test\.example\/audit\/v2" is not the expected "test\.example\/audit" \(the verifier key's name\)/;
    await expectFailure(verifyLog(source, { verifierKey }), "origin-mismatch", notKeyName);
    await expectFailure(verifyEntry(source, verifierKey, 1n), "origin-mismatch", notKeyName);
    await expectFailure(fetchCheckpoint(source, verifierKey), "origin-mismatch", notKeyName);
    expect((await verifyLog(source, { verifierKey, origin: `${ORIGIN}/v2` })).entries).toBe(10n);
  });

  it("uses the full tile when a partial one is gone (the log grew past the checkpoint)", async () => {
    const { dataDir } = await buildLog(1000);
    const old = readFileSync(join(dataDir, "audit/checkpoint"));
    await buildLog(1100, 1000, "decision", dataDir);
    writeFileSync(join(dataDir, "audit/checkpoint"), old);
    // Gone once the full tile is written; as a log that removes them sooner would have it, too.
    rmSync(join(dataDir, "audit/tile/0/003.p/232"), { force: true });
    rmSync(join(dataDir, "audit/tile/entries/003.p/232"), { force: true });
    expect((await verifyLog(directorySource(join(dataDir, "audit")), { verifierKey })).entries).toBe(1000n);
  });

  it("reads a newer checkpoint's wider partial when a partial and its full tile are both missing", async () => {
    const { dataDir } = await buildLog(1000);
    const dir = join(dataDir, "audit");
    const old = readFileSync(join(dir, "checkpoint"));
    await buildLog(1020, 1000, "decision", dataDir);
    // A log (or a node behind a balancer) that no longer has the width of the checkpoint read first.
    for (const p of ["tile/0/003.p/232", "tile/entries/003.p/232"]) rmSync(join(dir, p));
    const files = directorySource(dir);
    let first = true;
    const source = {
      location: files.location,
      read: (path: string) => {
        if (path !== "checkpoint" || !first) return files.read(path);
        first = false;
        return Promise.resolve(old);
      },
    };
    expect((await verifyLog(source, { verifierKey })).entries).toBe(1000n);
    first = true;
    expect((await verifyEntry(source, verifierKey, 999n)).entry).toMatchObject({ i: 999 });
    // The current checkpoint has no wider copy either: still missing, and said so.
    rmSync(join(dir, "tile/entries/003.p/252"));
    await expectFailure(
      verifyEntry(directorySource(dir), verifierKey, 1010n),
      "missing-tile",
      /^tile\/entries\/003\.p\/252 is missing from .*, as are its full tile and any wider partial/,
    );
  });

  it("checks the history against the state verified before", async () => {
    const { dataDir, dir } = await buildLog(1000);
    const first = await verifyLog(directorySource(dir), { verifierKey, state: null });
    const state = { size: first.checkpoint.size, root: first.checkpoint.root };
    await buildLog(1500, 1000, "decision", dataDir);
    const grown = await verifyLog(directorySource(dir), {
      verifierKey,
      state: (c) => (c.origin === ORIGIN ? state : null),
    });
    expect(grown.entries).toBe(1500n);
    expect(grown.previous).toEqual({ size: 1000n });
    // The same key signs a different history: 2,000 entries that are not an extension of the first 1,000.
    const forked = await buildLog(2000, 0, "rewritten");
    await expectFailure(
      verifyLog(directorySource(forked.dir), { verifierKey, state }),
      "inconsistent-history",
      /at size 1000 the log now has root/,
    );
    const later = { size: grown.checkpoint.size, root: grown.checkpoint.root };
    await expectFailure(
      verifyLog(directorySource(small.dir), { verifierKey, state: later }),
      "inconsistent-history",
      /1000 entries, fewer than the 1500/,
    );
    // Empty state (size 0) is trivially consistent.
    expect(
      (await verifyLog(directorySource(dir), { verifierKey, state: { size: 0n, root: EMPTY_ROOT } })).entries,
    ).toBe(1500n);
  });
});

describe("verifyEntry", () => {
  it("returns entries whose inclusion is proved from the published tiles", async () => {
    for (const i of [0, 255, 256, 999]) {
      const r = await verifyEntry(directorySource(small.dir), verifierKey, BigInt(i));
      expect(r).toMatchObject({ index: BigInt(i), entry: { v: 1, type: "decision", i } });
    }
    for (const i of [0, 65_535, 69_999]) {
      expect((await verifyEntry(directorySource(big.dir), verifierKey, BigInt(i))).entry).toMatchObject({
        i,
      });
    }
    await expectFailure(verifyEntry(directorySource(small.dir), verifierKey, 1000n), "index-out-of-range");
  });

  it("builds, from tiles alone, the same proofs the log serves", async () => {
    const log = await AuditLog.open(logOptions(small.dataDir));
    try {
      const read = tileHashReader(directorySource(small.dir), 1000n);
      for (const i of [0n, 1n, 300n, 767n, 768n, 999n])
        expect(await inclusionProof(read, i, 1000n)).toEqual(await log.inclusion(i, 1000n));
      for (const m of [1n, 256n, 700n, 999n])
        expect(await consistencyProof(read, m, 1000n)).toEqual(await log.consistency(m, 1000n));
    } finally {
      await log.close();
    }
  });

  it("fails when the entry or a tile on its path was altered, or the checkpoint forks the state", async () => {
    const dir = copy(small.dir);
    flip(join(dir, "tile/entries/001"), 10);
    await expectFailure(
      verifyEntry(directorySource(dir), verifierKey, 256n),
      "inclusion-failed",
      /entry 256 \(tile\/entries\/001\)/,
    );
    const tile = copy(small.dir);
    flip(join(tile, "tile/1/000.p/3"), 40);
    await expectFailure(verifyEntry(directorySource(tile), verifierKey, 0n), "inclusion-failed");
    const cp = await fetchCheckpoint(directorySource(small.dir), verifierKey);
    const forked = await buildLog(1200, 0, "rewritten");
    const state = { size: cp.size, root: cp.root };
    await expectFailure(
      verifyEntry(directorySource(forked.dir), verifierKey, 5n, { state }),
      "inconsistent-history",
    );
    const grown = await buildLog(1200, 1000, "decision", (await buildLog(1000)).dataDir);
    expect((await verifyEntry(directorySource(grown.dir), verifierKey, 1100n, { state })).previous).toEqual({
      size: 1000n,
    });
  });

  it("refuses an entry whose bytes are not the canonical JSON of what it reads as", async () => {
    // Signed and included all the same: the log's key signed them, but what a JSON reader takes
    // from them is not what was hashed (JSON.parse keeps the last "decision", another reader the
    // first; 1e400 reads as Infinity).
    const entries = [
      '{"decision":"deny","i":0,"type":"decision","v":1}',
      '{"decision":"deny","decision":"allow","type":"decision","v":1}',
      '{"v":1,"type":"decision","i":2}',
      '{"i":3,"n":1e400,"type":"decision","v":1}',
      '{"i":4,"type":"decision","v":1} ',
      // A lone surrogate escaped as JSON.stringify writes it (entries before 6 December): canonical here.
      '{"i":5,"model":"\\ud800","type":"decision","v":1}',
    ];
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-verify-"));
    const log = await AuditLog.open(logOptions(dataDir));
    for (const e of entries) await log.append(Buffer.from(e));
    await log.close();
    const source = directorySource(join(dataDir, "audit"));
    expect((await verifyEntry(source, verifierKey, 0n)).entry).toEqual({
      decision: "deny",
      i: 0,
      type: "decision",
      v: 1,
    });
    expect((await verifyEntry(source, verifierKey, 5n)).entry).toMatchObject({ model: "\ud800" });
    await expectFailure(
      verifyEntry(source, verifierKey, 1n),
      "entry-not-canonical",
      /^entry 1 \(tile\/entries\/000\.p\/6\) is included .*not RFC 8785 canonical JSON: it names "decision" more than once/,
    );
    for (const i of [2n, 3n, 4n])
      await expectFailure(
        verifyEntry(source, verifierKey, i),
        "entry-not-canonical",
        /re-encoding what it reads as/,
      );
  });
});

describe("sources", () => {
  it("reads nothing outside the log, and a missing resource is null", async () => {
    await expect(directorySource(small.dir).read("../audit.wal")).rejects.toThrow(/not a log path/);
    expect(await directorySource(small.dir).read("tile/0/999")).toBeNull();
    expect(() => urlSource("ftp://example.com/audit")).toThrow(/http/);
  });
});
