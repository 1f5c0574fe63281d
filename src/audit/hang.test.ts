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
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
/** Waits for a state the log's timer brings, not for speed (a loaded CI machine runs 10× slower). */
const WAIT = { timeout: 30_000, interval: 10 };
const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));
/** A few of the log's ticks (checkpointMs 20): long enough for one to see what is under way. */
const ticks = () => new Promise((r) => setTimeout(r, 100));

/** The log's options: ticks every 20 ms, time by `clock`, errors into `errors`. */
function options(dataDir: string, clock = { now: 0 }, errors: unknown[] = []) {
  return {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer: parseSignerKey(keys.privateKey),
    verifier: parseVerifierKey(keys.verifierKey),
    checkpointMs: 20,
    now: () => clock.now,
    onError: (err: unknown) => void errors.push(err),
  };
}

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
      await ticks(); // a tick has seen the write out
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
      const closed = log.close();
      await ticks();
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
      const closed = log.close();
      await ticks();
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
