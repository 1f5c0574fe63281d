/**
 * Writes that never return (a stuck NFS mount, a frozen disk): a write-ahead write that hangs is
 * given up on after a bounded wait, its requests refused and the log not ready, and the log
 * resumes once the write returns; closing the log during a hung write ends after the same bound,
 * saying so, with every acknowledged entry kept.
 */
import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { hangingDisk } from "./hanging-disk.js";
import { AuditLog, AuditLogError, hungMs } from "./log.js";
import { ticked as tickedBy, tickingLogOptions, WAIT } from "../testing/ticks.js";

const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));
/** Each tick of the log sees what is under way (tick: where a tick looks). */
const ticked = (log: AuditLog, n = 2) => tickedBy(log, "tick", n);
const options = tickingLogOptions;

/** A log running its ticks, with its clock and the errors it reported. */
async function hungLog() {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
  const clock = { now: 0 };
  const errors: unknown[] = [];
  const o = options(dataDir, clock, errors);
  const log = await AuditLog.open(o);
  log.start();
  return { log, o, clock, errors, dataDir };
}

describe("the audit log on a disk that stops answering", () => {
  it("refuses the entries waiting for a hung write-ahead write after its bound, and resumes once it returns", async () => {
    const { log, o, clock, errors, dataDir } = await hungLog();
    expect(await log.append(entry(0))).toBe(0n);
    // Entry 0's checkpoint first: on a loaded machine its tile write could otherwise be the one held.
    await vi.waitFor(() => expect(log.published?.size).toBe(1n), WAIT);
    const disk = await hangingDisk(o.dir, "writev");
    try {
      disk.on();
      const waiting = Array.from({ length: 5 }, (_, i) => log.append(entry(1 + i)));
      waiting.forEach((w) => w.catch(() => undefined));
      await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
      await ticked(log); // a tick has seen the write out (and has not judged it hung before its time)
      expect(log.failure).toBeNull();
      clock.now += hungMs(o.checkpointMs) + 1;
      await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
      // Every request waiting for it is refused with the reason: 503, and /readyz not ready.
      const why = log.failure;
      expect(why).toBeInstanceOf(AuditLogError);
      expect(why?.message).toMatch(/a write to its write-ahead file .* has not returned for \d+ ms/);
      for (const w of waiting) await expect(w).rejects.toBe(why);
      await expect(log.append(entry(9))).rejects.toBe(why);
      expect(errors).toContain(why);
      expect(log.size).toBe(1n);
      // The write returns: its refused records are cut off, and the log takes entries again.
      disk.release();
      await vi.waitFor(() => expect(log.failure).toBeNull(), WAIT);
      expect(await log.append(entry(100))).toBe(1n);
      await log.close();
      expect(errors.map((e) => (e as Error).message).join("\n")).not.toMatch(/closed without/);
    } finally {
      disk.release();
      disk.restore();
    }
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(2n);
    await again.close();
  });

  it("closes within the bound while a write of its tiles hangs, saying so, and keeps every durable entry", async () => {
    const { log, o, clock, errors, dataDir } = await hungLog();
    const disk = await hangingDisk(o.dir, "rename");
    try {
      disk.on();
      // 300 entries fill a tile, whose write hangs; the write-ahead file has them all.
      await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      let done = false;
      const closed = log.close().finally(() => (done = true));
      await ticked(log); // close() waits while nothing is judged hung (and a tick has seen the write out)
      expect(done).toBe(false);
      clock.now += hungMs(o.checkpointMs) + 1;
      await closed;
      expect(errors.map((e) => (e as Error).message).join("\n")).toMatch(
        /the audit log closed without a last checkpoint: a write of its tiles in .* has not returned/,
      );
      // What the disk holds as the log closed: every entry acknowledged, taken in at the next start.
      const copy = mkdtempSync(join(tmpdir(), "clearance-audit-"));
      cpSync(dataDir, copy, { recursive: true });
      disk.restore();
      const again = await AuditLog.open(options(copy));
      expect(again.size).toBe(300n);
      expect(again.published?.size).toBe(300n);
      await again.close();
    } finally {
      disk.release();
      disk.restore();
    }
  });

  // Before: the judgement held until a round succeeded, so once the write had failed /readyz still
  // said it "not having returned", and close() skipped its last round, saying the same (and left the
  // tiles' inner-node file open).
  it("a write of its tiles judged hung that then fails is hung no more: the stall says no checkpoint can be published, and close() runs its last round and fails as it does", async () => {
    const { log, o, clock, errors, dataDir } = await hungLog();
    const disk = await hangingDisk(o.dir, "rename");
    const eio = Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
    try {
      disk.on();
      await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      clock.now += hungMs(o.checkpointMs) + 1;
      await vi.waitFor(() => expect(log.failure).not.toBeNull(), WAIT);
      expect(log.failure?.message).toMatch(/a write of its tiles not having returned/);
      // The disk answers, with an error, for that write and every later one.
      disk.fail(eio);
      await vi.waitFor(() => expect(errors).toContain(eio), WAIT);
      // Still no entries taken (no checkpoint can be published), but no write is said to hang.
      const why = log.failure;
      expect(why).toBeInstanceOf(AuditLogError);
      expect(why?.message).toMatch(
        /no checkpoint could be published for \d+ ms while 300 entries wait for one/,
      );
      expect(why?.message).not.toMatch(/not having returned/);
      expect(errors).toContain(why);
      await expect(log.append(entry(300))).rejects.toBe(why);
      // The last round runs, and fails as the disk does.
      const before = errors.length;
      await expect(log.close()).rejects.toBe(eio);
      expect(
        errors
          .slice(before)
          .map((e) => (e as Error).message)
          .join("\n"),
      ).not.toMatch(/closed without/);
    } finally {
      disk.release();
      disk.restore();
    }
    // Every entry acknowledged is kept: the next start takes them in and publishes them.
    const again = await AuditLog.open(options(dataDir));
    expect(again.size).toBe(300n);
    expect(again.published?.size).toBe(300n);
    await again.close();
  });

  // Before: a hang was judged only while the log was not stalled already, so a write that hung after
  // failed rounds had stalled it was never judged, and close() waited for it for ever.
  it("judges a write of its tiles hung though failed rounds stalled the log, and again after a judged one failed: close() stays bounded", async () => {
    const { log, o, clock, errors } = await hungLog();
    const disk = await hangingDisk(o.dir, "rename");
    const eio = Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
    const hung = /a write of its tiles not having returned/;
    try {
      // Every write of the tiles fails: three intervals later the log stalls.
      disk.fail(eio);
      await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
      clock.now += 3 * o.checkpointMs + 1;
      await vi.waitFor(() => expect(log.failure?.message).toMatch(/no checkpoint could be published/), WAIT);
      expect(log.failure?.message).not.toMatch(hung);
      // Then one hangs: judged all the same.
      disk.on();
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      clock.now += hungMs(o.checkpointMs) + 1;
      await vi.waitFor(() => expect(log.failure?.message).toMatch(hung), WAIT);
      expect(errors).toContain(log.failure);
      // It fails, and the next one hangs: judged again, and close() does not wait for it.
      disk.fail(eio);
      await vi.waitFor(() => expect(log.failure?.message).not.toMatch(hung), WAIT);
      disk.on();
      await vi.waitFor(() => expect(disk.held()).toBeGreaterThan(0), WAIT);
      const closed = log.close();
      clock.now += hungMs(o.checkpointMs) + 1;
      await closed;
      expect(log.failure?.message).toMatch(hung);
      expect(errors.map((e) => (e as Error).message).join("\n")).toMatch(
        /the audit log closed without a last checkpoint: a write of its tiles in .* has not returned/,
      );
    } finally {
      disk.release();
      disk.restore();
    }
  });

  it("closes within the bound while a write-ahead write hangs, saying so", async () => {
    const { log, o, clock, errors } = await hungLog();
    expect(await log.append(entry(0))).toBe(0n);
    // Entry 0's checkpoint first: on a loaded machine its tile write could otherwise be the one held.
    await vi.waitFor(() => expect(log.published?.size).toBe(1n), WAIT);
    const disk = await hangingDisk(o.dir, "writev");
    try {
      disk.on();
      const waiting = log.append(entry(1));
      waiting.catch(() => undefined);
      await vi.waitFor(() => expect(disk.held()).toBe(1), WAIT);
      let done = false;
      const closed = log.close().finally(() => (done = true));
      await ticked(log); // close() waits while nothing is judged hung (and a tick has seen the write out)
      expect(done).toBe(false);
      clock.now += hungMs(o.checkpointMs) + 1;
      await closed;
      await expect(waiting).rejects.toBeInstanceOf(AuditLogError);
      expect(errors.map((e) => (e as Error).message).join("\n")).toMatch(
        /the audit log closed without closing its write-ahead file/,
      );
    } finally {
      disk.release();
      disk.restore();
    }
  });
});
