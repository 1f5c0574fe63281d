/**
 * The disk side of `npm run bench:audit`: raw sync latency (write + fdatasync, and an O_DSYNC write —
 * what the WAL uses), the naive one-durable-write-per-entry log in both forms, and a probe that
 * observes the WAL's own durable writes while the real log runs.
 */
import fs, { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { nowMs, removeDir, summaryMs, tempDir, type LatencyMs } from "./audit-entries.js";
import { round } from "./results.js";

/** A WAL-framed record (u32 length, u32 CRC-32, entry), so naive and group commit write the same bytes. */
function frame(entry: Buffer): Buffer {
  const record = Buffer.allocUnsafe(8 + entry.length);
  record.writeUInt32BE(entry.length, 0);
  record.writeUInt32BE(crc32(entry), 4);
  entry.copy(record, 8);
  return record;
}

/**
 * "fdatasync": write then fdatasync; "o_dsync": one write appended to a file opened with O_DSYNC;
 * "o_dsync_reserved": one O_DSYNC write over room written (and made durable) in advance, as the
 * WAL writes its records (no change to the file's size: the data alone is made durable).
 */
export type SyncMode = "fdatasync" | "o_dsync" | "o_dsync_reserved";

async function openLog(path: string, mode: SyncMode): Promise<FileHandle> {
  if (mode === "fdatasync") return open(path, "a", 0o600);
  if (mode === "o_dsync_reserved") return open(path, constants.O_WRONLY | constants.O_DSYNC, 0o600);
  return open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, 0o600);
}

/** `bytes` of filler written and made durable at `path` (the WAL's room ahead of its records). */
async function reserve(path: string, bytes: number): Promise<void> {
  const fh = await open(path, "w", 0o600);
  try {
    await fh.write(Buffer.alloc(bytes, 0xff));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** One durable append of `record`; resolves once it is on disk. */
async function durableWrite(fh: FileHandle, mode: SyncMode, record: Buffer): Promise<void> {
  await fh.write(record);
  if (mode === "fdatasync") await fh.datasync();
}

/**
 * Raw latency of one durable single-record append (the sync alone for fdatasync: the write before
 * it is untimed): what the disk charges per durable batch.
 */
export async function rawSync(entries: readonly Buffer[], mode: SyncMode, count = 200): Promise<LatencyMs> {
  const dir = await tempDir(`raw-${mode}`);
  const path = join(dir, "raw.wal");
  if (mode === "o_dsync_reserved")
    await reserve(path, count * (8 + Math.max(...entries.map((e) => e.length))));
  const fh = await openLog(path, mode);
  const times: number[] = [];
  let offset = 0;
  try {
    for (let i = 0; i < count; i++) {
      const record = frame(entries[i % entries.length] as Buffer);
      if (mode === "fdatasync") await fh.write(record);
      const t0 = nowMs();
      if (mode === "fdatasync") await fh.datasync();
      else if (mode === "o_dsync_reserved") await fh.write(record, 0, record.length, offset);
      else await fh.write(record);
      times.push(nowMs() - t0);
      offset += record.length;
    }
  } finally {
    await fh.close();
    await removeDir(dir);
  }
  return summaryMs(times);
}

/** The naive WAL: one durable write per entry, one entry at a time. */
export async function naive(entries: readonly Buffer[], seconds: number, mode: SyncMode) {
  const dir = await tempDir(`naive-${mode}`);
  const fh = await openLog(join(dir, "naive.wal"), mode);
  const records = entries.map(frame);
  const times: number[] = [];
  const t0 = nowMs();
  const end = t0 + seconds * 1000;
  try {
    for (let i = 0; nowMs() < end; i++) {
      const s = nowMs();
      await durableWrite(fh, mode, records[i % records.length] as Buffer);
      times.push(nowMs() - s);
    }
  } finally {
    await fh.close();
    await removeDir(dir);
  }
  const elapsed = (nowMs() - t0) / 1000;
  return {
    appends: times.length,
    seconds: round(elapsed, 2),
    appends_per_sec: Math.round(times.length / elapsed),
    latency: summaryMs(times),
  };
}

type Method = (this: FileHandle, ...args: never[]) => Promise<unknown>;

type WritevCallback = (err: NodeJS.ErrnoException | null, written: number, buffers: unknown) => void;

/**
 * Counts and times every writev (the callback API on a descriptor, as the WAL writes its batches,
 * and FileHandle.writev()) and FileHandle.datasync() in this process while installed. The WAL's
 * descriptor is private, so its batches are observed by wrapping `fs.writev` (the named import the
 * WAL holds follows it after syncBuiltinESMExports) and the shared FileHandle prototype; remove()
 * restores both. Only the WAL uses writev (tiles and checkpoints go through writeFile), so writev
 * calls = group-commit batches; with O_DSYNC each is also the batch's sync.
 */
export class DurableProbe {
  writev: number[] = [];
  datasync: number[] = [];
  private readonly saved: [string, Method][] = [];

  private constructor(private readonly proto: Record<string, Method>) {}

  static async install(dir: string): Promise<DurableProbe> {
    const fh = await open(join(dir, "probe"), "w");
    const probe = new DurableProbe(Object.getPrototypeOf(fh) as Record<string, Method>);
    await fh.close();
    probe.wrap("writev", probe.writev);
    probe.wrap("datasync", probe.datasync);
    probe.wrapCallbackWritev();
    return probe;
  }

  private restoreWritev: (() => void) | null = null;

  private wrapCallbackWritev(): void {
    const original = fs.writev;
    const times = this.writev;
    const timed = (fd: number, buffers: readonly NodeJS.ArrayBufferView[], ...rest: unknown[]) => {
      const callback = rest.pop() as WritevCallback;
      const t0 = nowMs();
      const done: WritevCallback = (err, written, bufs) => {
        times.push(nowMs() - t0);
        callback(err, written, bufs);
      };
      (original as (...args: unknown[]) => void)(fd, buffers, ...rest, done);
    };
    fs.writev = timed as typeof fs.writev;
    syncBuiltinESMExports();
    this.restoreWritev = () => {
      fs.writev = original;
      syncBuiltinESMExports();
    };
  }

  private wrap(name: "writev" | "datasync", into: number[]): void {
    const original = this.proto[name] as Method;
    this.saved.push([name, original]);
    this.proto[name] = async function (this: FileHandle, ...args: never[]) {
      const t0 = nowMs();
      const result = await original.apply(this, args);
      into.push(nowMs() - t0);
      return result;
    };
  }

  reset(): void {
    this.writev.length = 0;
    this.datasync.length = 0;
  }

  /** Batches (writev calls) behind `appends` durable appends, and how long their writes and syncs took. */
  summary(appends: number) {
    const w = summaryMs(this.writev);
    const s = summaryMs(this.datasync);
    return {
      batches: this.writev.length,
      entries_per_batch: round(appends / Math.max(1, this.writev.length), 1),
      batch_write_p50_ms: w.p50_ms,
      batch_write_p99_ms: w.p99_ms,
      fdatasyncs: this.datasync.length,
      ...(this.datasync.length > 0 ? { fdatasync_p50_ms: s.p50_ms, fdatasync_p99_ms: s.p99_ms } : {}),
    };
  }

  remove(): void {
    for (const [name, original] of this.saved) this.proto[name] = original;
    this.restoreWritev?.();
    this.restoreWritev = null;
  }
}
