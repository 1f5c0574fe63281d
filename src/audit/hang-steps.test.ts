/**
 * A change of the tree that hangs at a step other than a write of its tiles — the restore point's
 * rename, the removal of partial tiles a checkpoint covers, a step of the one-time sweep — while no
 * entry waits for a checkpoint, then while entries do: the log stops taking entries once they wait
 * (so /readyz, which reads `failure`, is not ready), and says which step has not returned.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { hangingDisk } from "./hanging-disk.js";
import { AuditLog, AuditLogError, hungMs, restorePath } from "./log.js";
import { ticked as tickedBy, tickingLogOptions, WAIT } from "../testing/ticks.js";

const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));
/** Resolves once ticks have looked at the change out with the clock as it is now (see checkHung). */
const ticked = (log: AuditLog, n = 2) => tickedBy(log, "tick", n);
const options = tickingLogOptions;

describe("a change of the audit log's tree that hangs while no entry waits for a checkpoint", () => {
  // Before: the tick judged the change hung, found no entry waiting and so nothing to stall on, and
  // never looked again: the log took entries for ever with no checkpoint covering them, its failure
  // null (/readyz ready) and its durable batches growing. And the stall, when there was one, said "a
  // write of its tiles" whatever the change waited for.
  it("the restore point's rename: the entries taken next stall the log, which names the restore point, and it resumes once the rename returns", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const clock = { now: 0 };
    const errors: unknown[] = [];
    const o = options(dataDir, clock, errors);
    const log = await AuditLog.open(o);
    log.start();
    expect(await log.append(entry(0))).toBe(0n);
    await vi.waitFor(() => expect(log.published?.size).toBe(1n), WAIT);
    const point = resolve(restorePath(o.walPath));
    const disk = await hangingDisk(dataDir, "rename", (path) => path.startsWith(`${point}.tmp-`));
    try {
      disk.on();
      expect(await log.append(entry(1))).toBe(1n);
      await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
      // Its checkpoint is out: no entry waits for one.
      expect(log.published?.size).toBe(2n);
      clock.now += hungMs(o.checkpointMs) + 1;
      await ticked(log);
      expect(log.failure).toBeNull();

      // Entries arrive; the rename has not returned.
      expect(await log.append(entry(2))).toBe(2n);
      await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
      const why = log.failure;
      expect(why).toBeInstanceOf(AuditLogError);
      expect(why?.message).toMatch(
        /no checkpoint could be published for \d+ ms while 1 entries wait for one, the write of its restore point not having returned \(a hung disk or mount\?\) — the restore point .*audit\.wal\.restore cannot be written/,
      );
      expect(why?.message).not.toMatch(/tiles/);
      expect(errors).toContain(why);
      await expect(log.append(entry(3))).rejects.toBe(why);

      disk.release();
      await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
      expect(await log.append(entry(3))).toBe(3n);
      await log.close();
      expect(log.published?.size).toBe(4n);
    } finally {
      disk.release();
      disk.restore();
    }
  });

  it("the removal of partial tiles its checkpoint covers: the entries taken next stall the log, which names the removal", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
    const clock = { now: 0 };
    const errors: unknown[] = [];
    const o = options(dataDir, clock, errors);
    const log = await AuditLog.open(o);
    log.start();
    expect(await log.append(entry(0))).toBe(0n);
    // Its checkpoint leaves tile 0's partials of width 1.
    await vi.waitFor(() => expect(log.published?.size).toBe(1n), WAIT);
    const disk = await hangingDisk(o.dir, "unlink");
    try {
      disk.on();
      // Tile 0 full: once its checkpoint is out, the round removes those partials, and hangs there.
      await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(1 + i))));
      await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
      expect(log.published?.size).toBe(301n);
      clock.now += hungMs(o.checkpointMs) + 1;
      await ticked(log);
      expect(log.failure).toBeNull();

      expect(await log.append(entry(301))).toBe(301n);
      await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
      expect(log.failure?.message).toMatch(
        /while 1 entries wait for one, the removal of partial tiles a checkpoint covers not having returned \(a hung disk or mount\?\) — the partial tiles in .* cannot be removed/,
      );
      await expect(log.append(entry(302))).rejects.toBe(log.failure);

      disk.release();
      await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
      await log.close();
      expect(log.published?.size).toBe(302n);
    } finally {
      disk.release();
      disk.restore();
    }
  });
});

// Before: a failed step of the sweep was not looked at (only rounds and integration steps were), so
// a stall that said the step had not returned went on saying so after it had failed, while the
// next change was out.
it("a step of the one-time sweep judged hung that then fails is hung no more: the stall says no checkpoint can be published", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
  const tiles = join(dataDir, "audit", "tile");
  const clock = { now: 0 };
  const errors: unknown[] = [];
  const o = options(dataDir, clock, errors);
  const first = await AuditLog.open(o);
  await Promise.all(Array.from({ length: 600 }, (_, i) => first.append(entry(i))));
  await first.close();
  // As a build before the sweep left it: a partial of a full tile, and no marker of a sweep.
  rmSync(join(dataDir, "audit", "tile-partials-swept"));
  mkdirSync(dirname(join(tiles, "0/000.p/7")), { recursive: true });
  writeFileSync(join(tiles, "0/000.p/7"), "stale");

  const removal = await hangingDisk(o.dir, "unlink");
  const renames = await hangingDisk(o.dir, "rename");
  const eio = Object.assign(new Error("EIO: i/o error, unlink"), { code: "EIO" });
  try {
    removal.on();
    const log = await AuditLog.open(o);
    log.start();
    await vi.waitFor(() => expect(removal.held()).toBe(1), WAIT);
    expect(await log.append(entry(600))).toBe(600n);
    clock.now += hungMs(o.checkpointMs) + 1;
    await vi.waitFor(() => expect(log.failure?.message ?? "").toMatch(/not having returned/), WAIT);
    expect(log.failure?.message).toMatch(
      /the removal of partial tiles a checkpoint covers not having returned/,
    );

    // The removal fails; the next change (a round: its clock has not moved, so it is not judged)
    // hangs at the write of its tiles.
    renames.on();
    removal.fail(eio);
    await vi.waitFor(() => expect(renames.held()).toBeGreaterThan(0), WAIT);
    expect(errors).toContain(eio);
    const why = log.failure;
    expect(why).toBeInstanceOf(AuditLogError);
    expect(why?.message).toMatch(/no checkpoint could be published for \d+ ms while 1 entries wait for one/);
    expect(why?.message).not.toMatch(/not having returned/);
    // The step it failed at, which a round does not need: the stall ends once one publishes.
    expect(why?.message).toMatch(
      /— the removal of partial tiles in .* failed after holding up the checkpoints; it resumes once one is published$/,
    );
    await expect(log.append(entry(601))).rejects.toBe(why);

    renames.release();
    removal.release();
    await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
    await log.close();
    expect(log.published?.size).toBe(601n);
  } finally {
    removal.release();
    removal.restore();
    renames.release();
    renames.restore();
  }
});

// Before: the stall named the step the change was at when the log stalled, until the stall ended:
// once the sync of its tiles returned and the same round hung at its checkpoint's write, the log
// still said the tiles had not returned.
it("a round judged hung at the sync of its tiles that moves on and hangs at its checkpoint's write: the stall names the checkpoint", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
  const clock = { now: 0 };
  const errors: unknown[] = [];
  const o = options(dataDir, clock, errors);
  const log = await AuditLog.open(o);
  log.start();
  const sync = await hangingDisk(o.dir, "sync");
  const checkpoint = `${resolve(o.dir, "checkpoint")}.tmp-`;
  const rename = await hangingDisk(o.dir, "rename", (path) => path.startsWith(checkpoint));
  try {
    sync.on();
    // 300 entries fill a tile; the round's sync of the tiles before its checkpoint hangs.
    await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
    await vi.waitFor(() => expect(sync.held()).toBe(1), WAIT);
    clock.now += hungMs(o.checkpointMs) + 1;
    await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
    expect(log.failure?.message).toMatch(
      /while 300 entries wait for one, a write of its tiles not having returned \(a hung disk or mount\?\) — the tiles in .* cannot be written/,
    );
    const first = log.failure;

    // The sync returns; the same round goes on to its checkpoint, whose write hangs.
    rename.on();
    sync.release();
    await vi.waitFor(() => expect(rename.held()).toBe(1), WAIT);
    await ticked(log);
    const why = log.failure;
    expect(why).toBeInstanceOf(AuditLogError);
    expect(why?.message).toMatch(
      /no checkpoint could be published for \d+ ms while 300 entries wait for one, the write of its checkpoint not having returned \(a hung disk or mount\?\) — the checkpoint .*checkpoint cannot be written; it resumes once it can$/,
    );
    expect(why?.message).not.toMatch(/tiles/);
    expect(errors).toEqual(expect.arrayContaining([first, why]));
    await expect(log.append(entry(300))).rejects.toBe(why);

    rename.release();
    await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
    expect(await log.append(entry(300))).toBe(300n);
    await log.close();
    expect(log.published?.size).toBe(301n);
  } finally {
    rename.release();
    rename.restore();
    sync.release();
    sync.restore();
  }
});

// Before: the stall went on naming the checkpoint, and refusing entries, after the checkpoint was
// published and the round had moved on to its restore point.
it("a round judged hung at its checkpoint's write that moves on and hangs at its restore point: the stall ends with the checkpoint out, and the entries taken next stall the log naming the restore point", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
  const clock = { now: 0 };
  const errors: unknown[] = [];
  const o = options(dataDir, clock, errors);
  const log = await AuditLog.open(o);
  log.start();
  const checkpoint = `${resolve(o.dir, "checkpoint")}.tmp-`;
  const point = `${resolve(restorePath(o.walPath))}.tmp-`;
  let holds = checkpoint;
  const disk = await hangingDisk(dataDir, "rename", (path) => path.startsWith(holds));
  try {
    disk.on();
    expect(await log.append(entry(0))).toBe(0n);
    await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
    clock.now += hungMs(o.checkpointMs) + 1;
    await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
    expect(log.failure?.message).toMatch(/the write of its checkpoint not having returned/);

    // The checkpoint's write returns (entry 0 is published); the round hangs at its restore point.
    holds = point;
    disk.release();
    disk.on();
    await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
    await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
    expect(log.published?.size).toBe(1n);
    expect(await log.append(entry(1))).toBe(1n);
    await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
    const why = log.failure;
    expect(why?.message).toMatch(
      /while 1 entries wait for one, the write of its restore point not having returned \(a hung disk or mount\?\) — the restore point .*audit\.wal\.restore cannot be written/,
    );
    expect(errors).toContain(why);
    await expect(log.append(entry(2))).rejects.toBe(why);

    disk.release();
    await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
    expect(await log.append(entry(2))).toBe(2n);
    await log.close();
    expect(log.published?.size).toBe(3n);
  } finally {
    disk.release();
    disk.restore();
  }
});
