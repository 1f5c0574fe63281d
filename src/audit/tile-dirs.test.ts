/**
 * The directories the tiles are written into, across logs opened one after another in one process
 * on one directory (tests, an embedding application, an in-process reload): a directory made by the
 * first and removed since — the shared log's mirror is rebuilt from nothing when it opens, the
 * embedded log's tiles may be removed and made again from the write-ahead file — is made again by
 * the next write into it, not taken as still there. The shared log's case is skipped without
 * PostgreSQL.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openCheckpoint } from "./checkpoint.js";
import { AuditLog } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { SharedAuditLog } from "./shared.js";
import { directorySource } from "./source.js";
import { knownDirectories, TileTree } from "./tree.js";
import { verifyLog } from "./verify.js";

const ORIGIN = "tile-dirs.test/audit";
const KEY = generateKey(ORIGIN);
const signer = parseSignerKey(KEY.privateKey);
const verifier = parseVerifierKey(KEY.verifierKey);
const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));
const append = (log: { append(e: Uint8Array): Promise<bigint> }, from: number, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => log.append(entry(from + i))));

const stores: Store[] = [];
afterAll(async () => {
  for (const store of stores.splice(0)) await store.close();
  await dropSchemas();
});

describe("the tile directories across logs opened one after another in one process", () => {
  it.skipIf(skipReason !== undefined)(
    "a shared log opened again on the directory an earlier one used writes its mirror's tiles",
    async () => {
      const { url } = await freshSchema();
      const dir = mkdtempSync(join(tmpdir(), "clearance-tile-dirs-"));
      const open = async () => {
        const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
        stores.push(store);
        return SharedAuditLog.open({
          dir,
          origin: ORIGIN,
          signer,
          verifier,
          verifierKey: KEY.verifierKey,
          node: "node-a",
          checkpointMs: 60_000,
          db: store.sharedAudit!,
          onError: (err) => {
            throw err;
          },
        });
      };
      const first = await open();
      await append(first, 0, 300); // a full tile and partials: tile/0, tile/entries, tile/1/000.p, …
      await first.publish();
      await first.close();
      // The second removes the mirror and rebuilds it from the database: into the same directories.
      const second = await open();
      await append(second, 300, 300);
      await second.publish();
      expect(second.published?.size).toBe(600n);
      expect(readdirSync(join(dir, "tile", "0"))).toEqual(expect.arrayContaining(["000", "001"]));
      expect((await verifyLog(directorySource(dir), { verifierKey: KEY.verifierKey })).entries).toBe(600n);
      await second.close();
    },
  );

  it("an embedded log opened again after its tiles were removed writes them again from its write-ahead file", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-tile-dirs-"));
    const errors: unknown[] = [];
    const options = {
      dir: join(dataDir, "audit"),
      walPath: join(dataDir, "audit.wal"),
      origin: ORIGIN,
      signer,
      verifier,
      checkpointMs: 60_000,
      onError: (err: unknown) => void errors.push(err),
    };
    const first = await AuditLog.open(options);
    await append(first, 0, 300);
    await first.publish();
    await first.close();
    // Removed (a restore that brought back the write-ahead file and checkpoint only): a full replay.
    rmSync(join(options.dir, "tile"), { recursive: true });
    const second = await AuditLog.open(options);
    await append(second, 300, 300);
    await second.publish();
    // Said once, at start-up: the tiles are missing. Nothing failed after that.
    expect(errors.map((e) => (e as Error).message)).toEqual([
      expect.stringMatching(/^the tiles at the restore point \(300 entries\) cannot be used \(ENOENT/),
    ]);
    expect(readdirSync(join(options.dir, "tile", "0"))).toEqual(expect.arrayContaining(["000", "001"]));
    const published = openCheckpoint(second.published!.text, verifier, ORIGIN).checkpoint;
    expect(published.size).toBe(600n);
    expect((await verifyLog(directorySource(options.dir), { verifierKey: KEY.verifierKey })).entries).toBe(
      600n,
    );
    await second.close();
  });

  it("a partials directory removed once its tile is full is no longer taken to exist", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-tile-dirs-"));
    const tree = new TileTree(dir);
    // Ten checkpoints of 300 entries, each pruning the partials its full tiles cover.
    for (let round = 0; round < 10; round++) {
      await tree.append(Array.from({ length: 300 }, (_, i) => entry(round * 300 + i)));
      await tree.writePartials();
      await tree.prunePartials(tree.size);
    }
    const partials = (d: string) => d.startsWith(dir) && d.endsWith(".p");
    const onDisk = [0, 1, "entries"].flatMap((level) =>
      readdirSync(join(dir, "tile", String(level)))
        .filter((name) => name.endsWith(".p"))
        .map((name) => join(dir, "tile", String(level), name)),
    );
    // Those at the edge (level 0, entries, level 1), not all 21 the tree has written partials into.
    expect(onDisk).toHaveLength(3);
    expect([...knownDirectories()].filter(partials).sort()).toEqual(onDisk.sort());
    tree.close();
  });
});
