/**
 * The audit log's durable part: an append-only file of entries, written with group commit. Every
 * caller waits for the synchronous write (O_DSYNC) that covers its entry; while one write runs, new entries queue and go
 * out together in the next write, so throughput grows with load while each entry is durable before
 * its promise resolves. Records: u32 length, u32 CRC-32 of the entry, the entry. A torn tail (a
 * crash mid-write: never acknowledged) is cut off when the file is opened.
 */
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";

const HEADER = 8;
export const MAX_ENTRY = 65535; // tlog-tiles entry bundles use a uint16 length

interface Pending {
  readonly record: Buffer;
  readonly resolve: (index: bigint) => void;
  readonly reject: (err: Error) => void;
}

export class WalError extends Error {
  override name = "WalError";
}

export class Wal {
  private queue: Pending[] = [];
  private writing = false;
  private failed: Error | null = null;
  private next: bigint;

  private constructor(
    private readonly fh: FileHandle,
    private offset: number,
    count: bigint,
    private readonly onDurable: (entries: Buffer[], first: bigint) => void,
  ) {
    this.next = count;
  }

  /**
   * Opens (or creates) the file, hands every intact entry to `recovered` in order (in batches, one
   * per chunk read), cuts a torn tail, and from then on reports each durable batch to `onDurable`.
   */
  static async open(
    path: string,
    recovered: (entries: Buffer[], first: bigint) => Promise<void>,
    onDurable: (entries: Buffer[], first: bigint) => void,
  ): Promise<Wal> {
    // O_DSYNC: a write returns once its data is on disk — one system call (one trip through the
    // thread pool) per batch instead of a write and an fdatasync.
    const fh = await open(
      path,
      constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC,
      0o600,
    );
    const { size } = await fh.stat();
    let offset = 0;
    let count = 0n;
    const chunk = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    let position = 0;
    while (position < size) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      let data =
        carry.length > 0
          ? Buffer.concat([carry, chunk.subarray(0, bytesRead)])
          : chunk.subarray(0, bytesRead);
      let at = 0;
      const batch: Buffer[] = [];
      const first = count;
      while (data.length - at >= HEADER) {
        const length = data.readUInt32BE(at);
        if (length > MAX_ENTRY) break;
        if (data.length - at < HEADER + length) break;
        const entry = data.subarray(at + HEADER, at + HEADER + length);
        if (crc32(entry) !== data.readUInt32BE(at + 4)) {
          data = data.subarray(0, at); // corrupt record: treat as the torn tail
          position = size;
          break;
        }
        batch.push(Buffer.from(entry));
        count++;
        at += HEADER + length;
        offset += HEADER + length;
      }
      if (batch.length > 0) await recovered(batch, first);
      carry = Buffer.from(data.subarray(at));
      if (data.length - at >= HEADER && data.readUInt32BE(at) > MAX_ENTRY) break;
    }
    if (offset < size) {
      await fh.truncate(offset);
      await fh.datasync();
    }
    return new Wal(fh, offset, count, onDurable);
  }

  /** Why the log stopped taking entries, or null while it takes them. */
  get failure(): Error | null {
    return this.failed;
  }

  /** Entries made durable so far. */
  get size(): bigint {
    return this.next;
  }

  /** Resolves with the entry's index once it is on disk (written with O_DSYNC); rejects if it cannot be. */
  append(entry: Uint8Array): Promise<bigint> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (entry.length > MAX_ENTRY)
      return Promise.reject(new WalError(`audit entry of ${entry.length} bytes exceeds ${MAX_ENTRY}`));
    const record = Buffer.allocUnsafe(HEADER + entry.length);
    record.writeUInt32BE(entry.length, 0);
    record.writeUInt32BE(crc32(entry), 4);
    record.set(entry, HEADER);
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0 && this.failed === null) {
      const batch = this.queue;
      this.queue = [];
      try {
        const buffers = batch.map((p) => p.record);
        const length = buffers.reduce((n, b) => n + b.length, 0);
        const { bytesWritten } = await this.fh.writev(buffers, this.offset);
        if (bytesWritten !== length)
          throw new WalError(`short write to the audit log (${bytesWritten} of ${length} bytes)`);
        this.offset += length;
        const first = this.next;
        this.next += BigInt(batch.length);
        this.onDurable(
          batch.map((p) => p.record.subarray(HEADER)),
          first,
        );
        batch.forEach((p, i) => p.resolve(first + BigInt(i)));
      } catch (err) {
        // After a failed write the file's state is unknown: stop taking entries (fail closed).
        this.failed = err instanceof Error ? err : new WalError(String(err));
        for (const p of [...batch, ...this.queue]) p.reject(this.failed);
        this.queue = [];
      }
    }
    this.writing = false;
  }

  /** Waits for queued entries, then closes the file. */
  async close(): Promise<void> {
    while (this.writing) await new Promise((r) => setImmediate(r));
    await this.fh.close();
  }
}
