/**
 * The test-only crashes (Wal.crash, AuditLog.crash) are faithful to a process dying: only writes
 * already under way return; what is queued behind them is never written, and nothing is taken after.
 * Before, Wal.crash wrote (and acknowledged) entries still queued and took appends after it, and
 * AuditLog.crash ran every queued change, a round publishing a checkpoint the dead process never
 * signed — so a crash test could pass on files no crash leaves.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { openCheckpoint } from "./checkpoint.js";
import { AuditLog } from "./log.js";
import { generateKey, parseSignerKey, parseVerifierKey } from "./note.js";
import { Wal, WalError } from "./wal.js";

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);
const verifier = parseVerifierKey(keys.verifierKey);
const entry = (i: number) => Buffer.from(JSON.stringify({ i, what: "decision" }));

/** What `p` settles with: its value or its error (handled at once: no unhandled rejection). */
const settled = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((err: unknown) => err);

/** The write-ahead file at `path`, opened, and the entries it held. */
async function reopen(path: string) {
  const entries: Buffer[] = [];
  const wal = await Wal.open(
    path,
    null,
    async (batch) => void entries.push(...batch),
    () => undefined,
  );
  return { wal, entries };
}

it("Wal.crash: the write under way returns; an entry queued behind it is refused and never written, and so is an append after it", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "clearance-wal-")), "audit.wal");
  const { wal } = await reopen(path);
  expect(await wal.append(entry(0))).toBe(0n);
  // In one turn: entry 1's write begins at once, entry 2 waits in the queue for it.
  const underWay = settled(wal.append(entry(1)));
  const queued = settled(wal.append(entry(2)));
  const crashed = wal.crash();
  const after = settled(wal.append(entry(3)));
  await crashed;
  expect(await underWay).toBe(1n);
  for (const refused of [await queued, await after]) {
    expect(refused).toBeInstanceOf(WalError);
    expect((refused as Error).message).toMatch(/crashed/);
  }

  const again = await reopen(path);
  expect(again.entries).toEqual([entry(0), entry(1)]);
  await again.wal.close();
});

it("Wal.close: an append once it has begun is refused, not left queued or written to a closed file, and the file says it is closed", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "clearance-wal-")), "audit.wal");
  const { wal } = await reopen(path);
  const before = wal.append(entry(0));
  const closed = wal.close();
  const after = settled(wal.append(entry(1)));
  expect(await closed).toBe(true);
  expect(await before).toBe(0n);
  expect(await after).toBeInstanceOf(WalError);
  expect(((await after) as Error).message).toBe("the audit log is closed");
  expect(wal.closedBy).toBe(await after); // what the log says it cannot take entries for
  const again = await reopen(path);
  expect(again.entries).toEqual([entry(0)]);
  await again.wal.close();
});

it("AuditLog.crash: a round asked for and not begun never runs; the checkpoint is the last one published", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-audit-"));
  const errors: unknown[] = [];
  const o = {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer: parseSignerKey(keys.privateKey),
    verifier,
    checkpointMs: 60_000,
    onError: (err: unknown) => void errors.push(err),
  };
  const log = await AuditLog.open(o);
  await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
  void log.publish();
  await log.crash();
  const published = () =>
    openCheckpoint(readFileSync(join(o.dir, "checkpoint"), "utf8"), verifier, ORIGIN).checkpoint.size;
  expect(published()).toBe(0n);
  expect(errors).toEqual([]);
  // Every entry acknowledged is in the write-ahead file: the next start takes them in.
  const again = await AuditLog.open(o);
  expect(again.size).toBe(300n);
  await again.close();
  expect(published()).toBe(300n);
});
