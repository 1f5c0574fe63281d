/**
 * The write-ahead file's invariant, whatever the crash: reopened, it holds exactly the entries it
 * acknowledged, in order — with the room it writes ahead of its records (filler), a crash that
 * leaves that room whole, cut short, read back as zeros, or followed by stray bytes, and a clean
 * close that cuts it.
 */
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Wal } from "./wal.js";

async function reopen(path: string): Promise<{ wal: Wal; entries: Buffer[] }> {
  const entries: Buffer[] = [];
  const wal = await Wal.open(
    path,
    null,
    async (batch) => void entries.push(...batch),
    () => undefined,
  );
  return { wal, entries };
}

/** Overwrites `length` bytes of the file at `at` with zeros. */
function zeroAt(path: string, at: number, length: number): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, Buffer.alloc(length), 0, length, at);
  } finally {
    closeSync(fd);
  }
}

const entry = (i: number, size: number) => {
  const b = Buffer.alloc(size, 0x61 + (i % 26));
  b.writeUInt32BE(i, 0);
  return b;
};

describe("the write-ahead file", () => {
  it("holds exactly the acknowledged entries after any crash, with its room ahead whole, cut, zeroed or followed by stray bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Batches of entry sizes: each batch appended at once, the batches one after another.
        fc.array(fc.array(fc.integer({ min: 4, max: 4000 }), { minLength: 1, maxLength: 60 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.constantFrom("crash", "crash-cut-room", "crash-zeroed-room", "crash-stray-bytes", "close"),
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        async (batches, ending, cutAt, stray) => {
          const dir = mkdtempSync(join(tmpdir(), "clearance-wal-"));
          const path = join(dir, "audit.wal");
          try {
            const { wal } = await reopen(path);
            const acknowledged: Buffer[] = [];
            let n = 0;
            for (const sizes of batches) {
              const batch = sizes.map((size) => entry(n++, size));
              const indexes = await Promise.all(batch.map((e) => wal.append(e)));
              expect(indexes).toEqual(batch.map((_, k) => BigInt(acknowledged.length + k)));
              acknowledged.push(...batch);
            }
            const end = wal.end;
            if (ending === "close") {
              await wal.close();
              expect(statSync(path).size).toBe(end);
            } else {
              // The process dies: the file stays as it is, room and all (its descriptor closed as at
              // exit, never by the log's close, which cuts the room).
              await wal.crash();
              const size = statSync(path).size;
              expect(size).toBeGreaterThanOrEqual(end);
              if (ending === "crash-cut-room") truncateSync(path, end + (cutAt % (size - end + 1)));
              // Blocks allocated but never written read back as zeros: part of the room, all of it, or
              // past it — at least one record header's worth, which once read as an empty entry.
              if (ending === "crash-zeroed-room") zeroAt(path, end, 8 + (cutAt % Math.max(1, size - end)));
              if (ending === "crash-stray-bytes") appendFileSync(path, stray);
            }
            const again = await reopen(path);
            expect(again.entries.length).toBe(acknowledged.length);
            expect(Buffer.concat(again.entries).equals(Buffer.concat(acknowledged))).toBe(true);
            expect(again.wal.size).toBe(BigInt(acknowledged.length));
            // It goes on from there.
            expect(await again.wal.append(entry(n, 10))).toBe(BigInt(acknowledged.length));
            await again.wal.close();
            const last = await reopen(path);
            expect(last.entries.length).toBe(acknowledged.length + 1);
            await last.wal.close();
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it("ends its records at zero bytes after the last one, and refuses an empty entry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-wal-"));
    const path = join(dir, "audit.wal");
    try {
      const { wal } = await reopen(path);
      await wal.append(entry(0, 20));
      await wal.append(entry(1, 30));
      // Eight zero bytes are a zero length and the CRC-32 of nothing: never a record.
      await expect(wal.append(Buffer.alloc(0))).rejects.toThrow("an audit entry cannot be empty");
      const end = wal.end;
      await wal.close();
      appendFileSync(path, Buffer.alloc(64));
      const again = await reopen(path);
      expect(again.entries.map((e) => e.length)).toEqual([20, 30]);
      expect(again.wal.size).toBe(2n);
      // The zeros are cut as a torn tail is, and the next entry follows the last record.
      expect(statSync(path).size).toBeGreaterThanOrEqual(end);
      expect(await again.wal.append(entry(2, 10))).toBe(2n);
      await again.wal.close();
      const last = await reopen(path);
      expect(last.entries.map((e) => e.length)).toEqual([20, 30, 10]);
      await last.wal.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the write-ahead file, damaged before its last write", () => {
  const setup = async (n: number, size: number) => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-wal-"));
    const path = join(dir, "audit.wal");
    const { wal } = await reopen(path);
    const offsets: number[] = [];
    for (let i = 0; i < n; i++) {
      offsets.push(wal.end);
      await wal.append(entry(i, size));
    }
    await wal.close();
    return { dir, path, offsets };
  };
  const flip = (path: string, at: number) => {
    const b = readFileSync(path);
    b[at]! ^= 0x01;
    writeFileSync(path, b);
  };

  it("refuses to open, naming the record's offset, and leaves the file as it is, when valid records follow a bad one beyond one write", async () => {
    // 200 records of 20 KB: records 12 and 50 lie megabytes before the end, more than one write holds.
    const { dir, path, offsets } = await setup(200, 20_000);
    try {
      flip(path, offsets[12]! + 8 + 5);
      const before = readFileSync(path);
      await expect(reopen(path)).rejects.toThrow(
        new RegExp(`record at byte ${offsets[12]} of the write-ahead file .* is damaged`),
      );
      expect(readFileSync(path).equals(before)).toBe(true);
      // A damaged length field is caught as well.
      flip(path, offsets[12]! + 8 + 5);
      flip(path, offsets[50]!);
      await expect(reopen(path)).rejects.toThrow(`record at byte ${offsets[50]} `);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a record altered in place (no sector of it old filler or zeros) that a valid record follows, however near the end", async () => {
    // 20 small records, one write each: the whole file lies within what one write could span.
    const { dir, path, offsets } = await setup(20, 60);
    try {
      flip(path, offsets[12]! + 8 + 5);
      const before = readFileSync(path);
      await expect(reopen(path)).rejects.toThrow(`record at byte ${offsets[12]} `);
      expect(readFileSync(path).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("still cuts a bad record within the last write as a torn tail, valid records after it included (blocks written out of order)", async () => {
    const { dir, path, offsets } = await setup(20, 2000);
    try {
      // A write torn out of order: a sector of record 15 never written (still filler), the
      // records after it written.
      const fd = openSync(path, "r+");
      const sector = Math.ceil((offsets[15]! + 8) / 512) * 512;
      writeSync(fd, Buffer.alloc(512, 0xff), 0, 512, sector);
      closeSync(fd);
      const again = await reopen(path);
      expect(again.entries.length).toBe(15);
      expect(statSync(path).size).toBeGreaterThanOrEqual(offsets[15]!);
      expect(await again.wal.append(entry(15, 10))).toBe(15n);
      await again.wal.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not cut the file when the caller's check refuses what was read, and closes it", async () => {
    const { dir, path, offsets } = await setup(20, 2000);
    try {
      flip(path, offsets[19]! + 8 + 5);
      const before = readFileSync(path);
      // Linux: the process's open descriptors, to see the file closed again.
      const fds = () => readdirSync("/proc/self/fd").length;
      const open = fds();
      await expect(
        Wal.open(
          path,
          null,
          async () => undefined,
          () => undefined,
          async (count) => {
            throw new Error(`only ${count}`);
          },
        ),
      ).rejects.toThrow("only 19");
      expect(fds()).toBe(open);
      expect(readFileSync(path).equals(before)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
