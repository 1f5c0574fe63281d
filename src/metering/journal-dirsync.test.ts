/**
 * A usage journal on a file system that cannot fsync a directory (some FUSE mounts and volume
 * drivers answer EINVAL): flushes go on, as the audit log's directory sync does (from a maintainer's
 * read). Before, each flush said a bare "EINVAL … fsync" and kept the records it should drop, so
 * `usage_journal` rows and `.written` files grew with every batch, across restarts too.
 */
import fs, { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { journalDir, Meter, UsageJournal } from "./index.js";

const realFsync = fs.fsyncSync;
const realOpen = fs.openSync;
const directories = new Set<number>();
(fs as { openSync: unknown }).openSync = (path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
  const fd = realOpen(path, flags ?? "r", mode);
  if (statSync(path).isDirectory()) directories.add(fd);
  else directories.delete(fd);
  return fd;
};
(fs as { fsyncSync: unknown }).fsyncSync = (fd: number) => {
  if (directories.has(fd))
    throw Object.assign(new Error("EINVAL: invalid argument, fsync"), { code: "EINVAL" });
  realFsync(fd);
};
syncBuiltinESMExports();

const root = mkdtempSync(join(tmpdir(), "clearance-journal-dirsync-"));
afterAll(() => {
  (fs as { openSync: unknown }).openSync = realOpen;
  (fs as { fsyncSync: unknown }).fsyncSync = realFsync;
  syncBuiltinESMExports();
  rmSync(root, { recursive: true, force: true });
});

it("flushes on, dropping the records of written segments and their files, saying nothing", async () => {
  const store = await openStore({ dataDir: root });
  try {
    const errors: string[] = [];
    const journal = new UsageJournal(journalDir(root, ""), (e) => errors.push(String(e)));
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    for (let i = 0; i < 20; i++) {
      meter.record(
        {
          principalId: "erik",
          organizationId: "acme",
          licenseId: "lic-1",
          model: "m",
          inputTokens: 1,
          outputTokens: 0,
        },
        Date.now(),
      );
      journal.append();
      await meter.flush();
    }
    await meter.close();
    expect(errors).toEqual([]); // was one EINVAL a flush
    expect(readdirSync(journal.dir)).toEqual([]); // was 20 `.written` files
    expect((await store.usage.totals()).byLicense["lic-1"]).toBe(20);
  } finally {
    await store.close();
  }
});
