/**
 * The audit log's durable part: an append-only file of entries, written with group commit. Every
 * caller waits for the synchronous write (O_DSYNC) that covers its entry; while one write runs, new entries queue and go
 * out together in the next write, so throughput grows with load while each entry is durable before
 * its promise resolves. Records: u32 length, u32 CRC-32 of the entry, the entry. A torn tail (a
 * crash mid-write: never acknowledged) is cut off when the file is opened.
 *
 * A failed write (a full or read-only disk) stops the log taking entries, and the entries of that
 * write are refused, never acknowledged. The log then mends itself: it cuts whatever the failed
 * write left at the end of the file and, once a probe write on the same file system succeeds, takes
 * entries again — retried with backoff, so service resumes when the disk does, without a restart.
 *
 * Room ahead of the last record is written in advance, filled with 0xFF bytes (RESERVE): a
 * synchronous write that overwrites blocks already in the file changes neither its size nor its
 * extents, so no allocation is recorded with it (nor a journal commit, where the file system has a
 * journal) — on this project's test machine 0.16–0.19 ms instead of 0.26 ms at the median
 * (bench:audit). Ext4 without a journal still writes the inode when the file's modification time
 * has moved on (one kernel clock tick), which no flag of ours avoids. To a reader the filler is a
 * record length beyond MAX_ENTRY, which ends the records exactly as a torn tail does (older
 * versions read it so too), and it is cut when the file is opened or closed. So does a length of
 * zero: the room may read back as zero bytes after a crash (blocks the file system had allocated
 * but not yet written, which it returns as zeros), and eight zero bytes would otherwise pass for an
 * empty entry with its CRC — a record no request made. Entries are never empty, so none is lost.
 */
import { constants, writev } from "node:fs";
import { open, unlink, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { ClearanceError } from "../errors/index.js";

const HEADER = 8;
export const MAX_ENTRY = 65535; // tlog-tiles entry bundles use a uint16 length

interface Pending {
  readonly record: Buffer;
  readonly resolve: (index: bigint) => void;
  readonly reject: (err: Error) => void;
}

/** A place in the file: `count` entries end at byte `offset`. */
export interface WalPosition {
  readonly offset: number;
  readonly count: bigint;
}

export class WalError extends Error {
  override name = "WalError";
}

/** An entry larger than the log's format allows: the request is at fault (413), not the log. */
export class EntryTooLargeError extends ClearanceError {
  constructor(size: number) {
    super(
      "too-large",
      "audit_entry_too_large",
      `the request's audit entry would be ${size} bytes, more than the ${MAX_ENTRY} an entry may have`,
    );
    this.name = "EntryTooLargeError";
  }
}

/** A length a record can have: not zero (zeroed room) and not beyond MAX_ENTRY (filler, torn tail). */
const isRecordLength = (length: number): boolean => length > 0 && length <= MAX_ENTRY;

/** Backoff between attempts to resume after a failed write. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;
/** Bytes the probe writes: room for a few batches of entries. */
const PROBE_BYTES = 64 * 1024;
/** Room written ahead of the records at a time, and how little is left before more is written. */
const RESERVE = 1 << 20;
const RESERVE_LOW = 512 * 1024;
/** Bytes of records one write carries at most (a single larger record aside): see TORN_WINDOW. */
const MAX_WRITE = 1 << 20;
/** How far the last write can reach past a bad record it tore: one write and one more record. */
const TORN_WINDOW = MAX_WRITE + HEADER + MAX_ENTRY;
/** The unit a device writes whole: a torn write leaves whole sectors old. */
const SECTOR = 512;
let filler: Buffer | undefined;

export class Wal {
  private queue: Pending[] = [];
  private writing = false;
  private failed: Error | null = null;
  private next: bigint;
  private retryMs = RETRY_FIRST_MS;
  private retry: NodeJS.Timeout | undefined;
  private closing = false;
  /**
   * Why the file takes no more entries once close() or crash() has begun (see `closedBy`); crash()'s
   * refuses the entries not yet being written.
   */
  private closed: Error | null = null;
  private crashed = false;
  /** The file's size: past `offset`, filler only (see RESERVE). */
  private allocated: number;
  /** Filler being written at `allocated`: no record may be written past `allocated` meanwhile. */
  private reserving: Promise<void> | null = null;
  /** The group commit under way (see append), settled once its write has returned. */
  private flushing: Promise<void> = Promise.resolve();
  /** The batch whose write is under way, if any. */
  private inFlight: Pending[] | null = null;
  /** Writes begun so far (records and filler), and the numbers of those that have not returned. */
  private begun = 0;
  private readonly outstanding = new Set<number>();
  /** The write under way was given up on (see abandon): its result, when it comes, is not used. */
  private abandoned = false;
  /** Wakes a close waiting for a write that has just been given up on. */
  private wake: () => void = () => undefined;

  private constructor(
    private readonly path: string,
    private readonly fh: FileHandle,
    private offset: number,
    count: bigint,
    private readonly onDurable: (entries: Buffer[], first: bigint, end: number) => void,
  ) {
    this.next = count;
    this.allocated = offset;
    this.reserve();
  }

  /**
   * Opens (or creates) the file, hands every intact entry after `from` to `recovered` in order (in
   * batches, one per chunk read), cuts a torn tail, and from then on reports each durable batch to
   * `onDurable` with the file offset it ends at. `from`: where a restore point left off (the
   * entries before it are already in the tree); null reads the whole file. `check` sees how many
   * entries were read before anything is cut (the caller compares with its signed checkpoint):
   * if it throws, the file is left as it is and closed.
   *
   * A bad record is a torn tail only when no valid record ends more than one write (TORN_WINDOW)
   * after it: writes go out one after another, so a crash can only tear the last — and only when
   * a sector of it is still old bytes (see alteredInPlace), or valid records do not follow it.
   * Otherwise the file was damaged in the middle, and cutting there would drop acknowledged
   * entries — then the file is refused, untouched, naming the offset.
   */
  static async open(
    path: string,
    from: WalPosition | null,
    recovered: (entries: Buffer[], first: bigint) => Promise<void>,
    onDurable: (entries: Buffer[], first: bigint, end: number) => void,
    check?: (count: bigint) => Promise<void>,
  ): Promise<Wal> {
    // O_DSYNC: a write returns once its data is on disk — one system call (one trip through the
    // thread pool) per batch instead of a write and an fdatasync. Not O_APPEND: records are written
    // at their offset, over the filler reserved ahead of them.
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o600);
    try {
      const { offset, count, size } = await readRecords(fh, path, from, recovered);
      await check?.(count);
      if (offset < size) {
        await fh.truncate(offset);
        await fh.datasync();
      }
      return new Wal(path, fh, offset, count, onDurable);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** Why the log stopped taking entries, or null while it takes them. */
  get failure(): Error | null {
    return this.failed;
  }

  /** Null until close() or crash() has begun; then why an append is refused (the file is closed). */
  get closedBy(): Error | null {
    return this.closed;
  }

  /** Entries made durable so far. */
  get size(): bigint {
    return this.next;
  }

  /** The end of the last durable record. */
  get end(): number {
    return this.offset;
  }

  /** Resolves with the entry's index once it is on disk (written with O_DSYNC); rejects if it cannot be. */
  append(entry: Uint8Array): Promise<bigint> {
    // Once closing, too: taken after close() (or crash()) has waited for the queue, an entry would
    // be left queued for ever or written to a closed descriptor (before, it was taken).
    const refused = this.failed ?? this.closed;
    if (refused !== null) return Promise.reject(refused);
    if (entry.length > MAX_ENTRY) return Promise.reject(new EntryTooLargeError(entry.length));
    // Read back, a zero length ends the records (see the top of this file).
    if (entry.length === 0) return Promise.reject(new WalError("an audit entry cannot be empty"));
    const record = Buffer.allocUnsafe(HEADER + entry.length);
    record.writeUInt32BE(entry.length, 0);
    record.writeUInt32BE(crc32(entry), 4);
    record.set(entry, HEADER);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.writing) this.flushing = this.flush();
    });
  }

  /**
   * The oldest write (of records or filler) that has not returned, by number, or null: the owner
   * calls `abandon` when the same one is still out after its bound (see AuditLog).
   */
  get oldestWrite(): number | null {
    for (const n of this.outstanding) return n;
    return null;
  }

  /**
   * Gives up on a write that has not returned (a hung disk or mount): its entries and those queued
   * are refused with `why`, as after a failed write, and the log takes no entry until that write
   * has returned and the file is cut back to its last acknowledged record (the usual recovery), so
   * a write landing late can neither be acknowledged nor overwrite a later one. False if the log
   * had already stopped taking entries.
   */
  abandon(why: Error): boolean {
    if (this.failed !== null || this.outstanding.size === 0) return false;
    this.failed = why;
    for (const p of [...(this.inFlight ?? []), ...this.queue]) p.reject(why);
    this.queue = [];
    // Only filler is out: recovery waits for it before cutting the file.
    if (this.inFlight === null) this.scheduleRecovery();
    else this.abandoned = true;
    this.wake();
    return true;
  }

  private begin(): number {
    const n = ++this.begun;
    this.outstanding.add(n);
    return n;
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0 && this.failed === null) {
      // At most MAX_WRITE bytes a write, so a crash tears at most that much (see Wal.open).
      let length = 0;
      let take = 0;
      while (take < this.queue.length && length < MAX_WRITE) length += this.queue[take++]!.record.length;
      const batch = take === this.queue.length ? this.queue : this.queue.splice(0, take);
      if (batch === this.queue) this.queue = [];
      this.inFlight = batch;
      const write = this.begin();
      try {
        const buffers = batch.map((p) => p.record);
        // The filler being written must not land over these records.
        if (this.offset + length > this.allocated && this.reserving !== null) await this.reserving;
        // The process died meanwhile (see crash): these records were never written.
        if (this.closed !== null && this.crashed) throw this.closed;
        const bytesWritten = await writevAt(this.fh.fd, buffers, this.offset);
        this.outstanding.delete(write);
        // Given up on while it hung: refused already, and cut off by the recovery below.
        if (this.abandoned) break;
        if (bytesWritten !== length)
          throw new WalError(`short write to the audit log (${bytesWritten} of ${length} bytes)`);
        this.offset += length;
        if (this.offset > this.allocated) this.allocated = this.offset;
        this.reserve();
        const first = this.next;
        this.next += BigInt(batch.length);
        this.onDurable(
          batch.map((p) => p.record.subarray(HEADER)),
          first,
          this.offset,
        );
        batch.forEach((p, i) => p.resolve(first + BigInt(i)));
      } catch (err) {
        this.outstanding.delete(write);
        // After a failed write the file's tail is unknown: stop taking entries (fail closed) until
        // it is cut back to the last acknowledged record.
        if (!this.abandoned) {
          this.failed = err instanceof Error ? err : new WalError(String(err));
          for (const p of [...batch, ...this.queue]) p.reject(this.failed);
          this.queue = [];
        }
        this.scheduleRecovery();
      } finally {
        this.inFlight = null;
      }
    }
    if (this.abandoned) {
      this.abandoned = false;
      this.scheduleRecovery();
    }
    this.writing = false;
  }

  /**
   * Writes more filler when little is left ahead of the records, in the background. A failure (a
   * full disk) is left to the records' own writes to meet: they extend the file as they go.
   */
  private reserve(): void {
    if (this.reserving !== null || this.failed !== null || this.closing) return;
    if (this.allocated - this.offset >= RESERVE_LOW) return;
    const fill = (filler ??= Buffer.alloc(RESERVE, 0xff));
    const at = this.allocated;
    const write = this.begin();
    this.reserving = this.fh
      .write(fill, 0, fill.length, at)
      .finally(() => this.outstanding.delete(write))
      .then(
        ({ bytesWritten }) => {
          // Only what is wholly filler counts: a short write leaves the rest to the records.
          if (this.allocated === at) this.allocated = at + bytesWritten;
        },
        () => undefined,
      )
      .finally(() => {
        this.reserving = null;
      });
  }

  private scheduleRecovery(): void {
    if (this.retry !== undefined || this.closing) return;
    this.retry = setTimeout(() => void this.recover(), this.retryMs);
    this.retry.unref();
  }

  /** Cuts the failed write's leftovers, checks the file system takes writes again, and resumes. */
  private async recover(): Promise<void> {
    this.retry = undefined;
    try {
      await this.reserving;
      await this.fh.truncate(this.offset);
      await this.fh.datasync();
      this.allocated = this.offset;
      await probe(`${this.path}.probe`);
      this.failed = null;
      this.retryMs = RETRY_FIRST_MS;
    } catch {
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      this.scheduleRecovery();
    }
  }

  /**
   * The process dying, for tests: the descriptor closed as the kernel closes it at exit, nothing
   * cut or written after it (the file keeps its room, which close() cuts). Only writes under way
   * return first (a descriptor closed under a write could be reused by the next file opened, and
   * take its bytes); entries queued behind them are refused, never written, and so is any append
   * after it. Before, the queued ones were written and acknowledged, and appends were still taken.
   * A test that left the log open instead handed its handle to the garbage collector (Node's
   * DEP0137).
   *
   * @internal Test-only: no production path calls it.
   */
  async crash(): Promise<void> {
    this.closing = true;
    this.crashed = true;
    this.closed = new WalError("the process crashed (simulated) before the entry was written");
    clearTimeout(this.retry);
    for (const p of this.queue) p.reject(this.closed);
    this.queue = [];
    while (this.writing) await this.flushing;
    // FileHandle.close() waits for the handle's own operations: a write of filler under way.
    await this.fh.close();
  }

  /**
   * Waits for queued entries, then closes the file. A write given up on (see abandon), before or
   * while this waits, is not waited for, and the file is left open under it: closed, its descriptor
   * could be reused by another file and take that write's bytes. False then (the process is ending).
   */
  async close(): Promise<boolean> {
    this.closing = true;
    this.closed ??= new WalError("the audit log is closed");
    clearTimeout(this.retry);
    const givenUp = new Promise<void>((resolve) => (this.wake = resolve));
    const hung = () => this.failed !== null && this.outstanding.size > 0;
    while (this.writing && !hung()) await Promise.race([this.flushing, givenUp]);
    if (!hung()) await Promise.race([this.reserving, givenUp]);
    if (hung()) return false;
    // The filler is cut (a reader stops at it anyway): the file ends with its last record.
    if (this.failed === null) await this.fh.truncate(this.offset).catch(() => undefined);
    await this.fh.close();
    return true;
  }
}

/**
 * A group commit's write, through the callback API on the handle's descriptor: `FileHandle.writev`
 * costs seven promises and two ArrayBuffers (its request's stats array) a call, and at concurrency
 * 1 there is a call a request.
 */
function writevAt(fd: number, buffers: readonly Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, buffers, position, (err, written) => {
      if (err !== null) reject(err);
      else resolve(written);
    });
  });
}

/** A synchronous write of PROBE_BYTES beside the log, removed again: does the disk take data? */
async function probe(path: string): Promise<void> {
  const fh = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC,
    0o600,
  );
  try {
    const { bytesWritten } = await fh.write(Buffer.alloc(PROBE_BYTES), 0, PROBE_BYTES, 0);
    if (bytesWritten !== PROBE_BYTES) throw new WalError("short probe write");
  } finally {
    await fh.close();
    await unlink(path).catch(() => undefined);
  }
}

/**
 * Reads the records from `from` on, handing them to `recovered`; returns where the valid records
 * end. Throws if a bad record has valid ones after it beyond one write (see Wal.open).
 */
async function readRecords(
  fh: FileHandle,
  path: string,
  from: WalPosition | null,
  recovered: (entries: Buffer[], first: bigint) => Promise<void>,
): Promise<{ offset: number; count: bigint; size: number }> {
  const { size } = await fh.stat();
  if (from !== null && from.offset > size) {
    throw new WalError(
      `the audit log's restore point is at byte ${from.offset} of the write-ahead file, which has only ${size}`,
    );
  }
  let offset = from?.offset ?? 0;
  let count = from?.count ?? 0n;
  const chunk = Buffer.alloc(1 << 20);
  let carry = Buffer.alloc(0);
  let position = offset;
  while (position < size) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const data =
      carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    let at = 0;
    let bad = false;
    const batch: Buffer[] = [];
    const first = count;
    while (data.length - at >= HEADER) {
      const length = data.readUInt32BE(at);
      if (!isRecordLength(length)) {
        bad = true;
        break;
      }
      if (data.length - at < HEADER + length) break;
      const entry = data.subarray(at + HEADER, at + HEADER + length);
      if (crc32(entry) !== data.readUInt32BE(at + 4)) {
        bad = true;
        break;
      }
      batch.push(Buffer.from(entry));
      count++;
      at += HEADER + length;
      offset += HEADER + length;
    }
    if (batch.length > 0) await recovered(batch, first);
    if (bad) break;
    carry = Buffer.from(data.subarray(at));
  }
  // The records end at `offset`: anything after it must be the torn last write, filler or zeros.
  if (offset < size) {
    const found = (await alteredInPlace(fh, offset, size)) ?? (await validRecordBeyond(fh, offset, size));
    if (found !== null) {
      throw new WalError(
        `the record at byte ${offset} of the write-ahead file ${path} is damaged and a valid record follows it at byte ${found}, which an interrupted write cannot leave: the file was damaged, not cut short by a crash. It was left as it is; entries ${count} on may be lost — restore the file from a backup, or copy it aside and cut it at byte ${offset} to accept the loss`,
      );
    }
  }
  return { offset, count, size };
}

/**
 * A torn write leaves whole sectors as they were — filler (0xFF) or zeros, the only bytes ever
 * past the records — so a record it tore has a sector's worth of its bytes all 0xFF or all zero
 * (entries are JSON: neither byte occurs in them). A complete record with a bad CRC and no such
 * sector was altered in place; if a valid record follows it, the file is damaged, however near
 * its end: returns that record's offset (else null).
 */
async function alteredInPlace(fh: FileHandle, bad: number, size: number): Promise<number | null> {
  const header = Buffer.alloc(HEADER);
  if ((await fh.read(header, 0, HEADER, bad)).bytesRead < HEADER) return null;
  const length = header.readUInt32BE(0);
  if (!isRecordLength(length) || bad + HEADER + length > size) return null;
  const record = Buffer.alloc(HEADER + length);
  await fh.read(record, 0, record.length, bad);
  for (let from = bad; from < bad + record.length; from = (Math.floor(from / SECTOR) + 1) * SECTOR) {
    const part = record.subarray(
      from - bad,
      Math.min(record.length, (Math.floor(from / SECTOR) + 1) * SECTOR - bad),
    );
    if (part.every((b) => b === 0xff) || part.every((b) => b === 0)) return null;
  }
  const next = bad + record.length;
  const following = Buffer.alloc(Math.min(HEADER + MAX_ENTRY, size - next));
  const { bytesRead } = await fh.read(following, 0, following.length, next);
  if (bytesRead < HEADER) return null;
  const n = following.readUInt32BE(0);
  if (!isRecordLength(n) || bytesRead < HEADER + n) return null;
  return crc32(following.subarray(HEADER, HEADER + n)) === following.readUInt32BE(4) ? next : null;
}

/**
 * The offset of a valid record (length and CRC) after a bad one at `bad` that ends beyond
 * TORN_WINDOW from it, or null. Scans each byte for a record start up to the window's end
 * (0xFF filler and zeros are refused by their length at once) and follows each valid record found.
 */
async function validRecordBeyond(fh: FileHandle, bad: number, size: number): Promise<number | null> {
  const limit = Math.min(size, bad + TORN_WINDOW + HEADER + MAX_ENTRY);
  const buf = Buffer.alloc(limit - bad);
  const { bytesRead } = await fh.read(buf, 0, buf.length, bad);
  const data = buf.subarray(0, bytesRead);
  const valid = (at: number): number | null => {
    if (data.length - at < HEADER) return null;
    const length = data.readUInt32BE(at);
    if (!isRecordLength(length) || data.length - at < HEADER + length) return null;
    return crc32(data.subarray(at + HEADER, at + HEADER + length)) === data.readUInt32BE(at + 4)
      ? HEADER + length
      : null;
  };
  for (let at = 1; at <= TORN_WINDOW && at < data.length; at++) {
    // Follows a chain of valid records from here; one ending past the window is not a torn write.
    let next = at;
    let length = valid(next);
    while (length !== null) {
      if (next + length > TORN_WINDOW) return bad + at;
      next += length;
      length = valid(next);
    }
  }
  return null;
}
