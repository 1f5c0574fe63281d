/**
 * The write-ahead file's invariant, whatever the crash: reopened, it holds exactly the entries it
 * acknowledged, in order — with the room it writes ahead of its records (filler), a crash that
 * leaves that room whole, cut short, or followed by stray bytes, and a clean close that cuts it.
 */
import { mkdtempSync, statSync, truncateSync, appendFileSync, rmSync } from "node:fs";
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

const entry = (i: number, size: number) => {
  const b = Buffer.alloc(size, 0x61 + (i % 26));
  b.writeUInt32BE(i, 0);
  return b;
};

describe("the write-ahead file", () => {
  it("holds exactly the acknowledged entries after any crash, with its room ahead whole, cut or followed by stray bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Batches of entry sizes: each batch appended at once, the batches one after another.
        fc.array(fc.array(fc.integer({ min: 4, max: 4000 }), { minLength: 1, maxLength: 60 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.constantFrom("crash", "crash-cut-room", "crash-stray-bytes", "close"),
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
              // The process dies: the file stays as it is, room and all (the handle is never closed).
              const size = statSync(path).size;
              expect(size).toBeGreaterThanOrEqual(end);
              if (ending === "crash-cut-room") truncateSync(path, end + (cutAt % (size - end + 1)));
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
});
