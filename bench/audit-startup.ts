/**
 * Start-up of a large log in `npm run bench:audit`: a tree built by the inclusion phase gets what a
 * running node leaves behind (its write-ahead file, a signed checkpoint, the restore point), and
 * AuditLog.open is timed until the log is serving (open, checked against the checkpoint, one proof
 * answered). With `replay`, the restore point is removed first: the whole write-ahead file is
 * replayed into a fresh tree, as every start-up did before restore points.
 */
import { rm } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { signCheckpoint } from "../src/audit/checkpoint.js";
import { AuditLog, restorePath, writeRestorePoint } from "../src/audit/log.js";
import { writeAtomic, type TileTree } from "../src/audit/tree.js";
import { ORIGIN, nowMs, type Keys } from "./audit-entries.js";
import { log, round } from "./results.js";

/** Writes the write-ahead file of `size` entries made by `entryAt`, as the WAL frames them. */
async function writeWal(path: string, size: number, entryAt: (i: number) => Buffer): Promise<number> {
  const out = createWriteStream(path);
  let bytes = 0;
  const CHUNK = 1 << 16;
  for (let from = 0; from < size; from += CHUNK) {
    const parts: Buffer[] = [];
    for (let i = from; i < Math.min(size, from + CHUNK); i++) {
      const e = entryAt(i);
      const header = Buffer.allocUnsafe(8);
      header.writeUInt32BE(e.length, 0);
      header.writeUInt32BE(crc32(e), 4);
      parts.push(header, Buffer.from(e));
      bytes += 8 + e.length;
    }
    if (!out.write(Buffer.concat(parts))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return bytes;
}

export async function startupAt(
  dir: string,
  tree: TileTree,
  size: number,
  keys: Keys,
  entryAt: (i: number) => Buffer,
  replay: boolean,
) {
  const walPath = join(dir, "audit.wal");
  log(`start-up: writing the write-ahead file and checkpoint of ${size.toLocaleString("en")} entries`);
  const walBytes = await writeWal(walPath, size, entryAt);
  const text = signCheckpoint(
    { origin: ORIGIN, size: tree.size, root: tree.root(), extensions: [] },
    keys.signer,
  );
  await writeAtomic(join(dir, "checkpoint"), Buffer.from(text));
  await writeRestorePoint(walPath, { size: tree.size, walOffset: walBytes, mark: 0 });
  const errors: unknown[] = [];
  const open = async () => {
    const t0 = nowMs();
    const auditLog = await AuditLog.open({
      dir,
      walPath,
      origin: ORIGIN,
      signer: keys.signer,
      verifier: keys.verifier,
      checkpointMs: 1_000,
      onError: (err) => errors.push(err),
    });
    const opened = nowMs() - t0;
    await auditLog.inclusion(BigInt(size - 1), BigInt(size));
    const serving = nowMs() - t0;
    if (auditLog.size !== BigInt(size)) throw new Error(`reopened log has ${auditLog.size} entries`);
    await auditLog.close();
    return { open_ms: round(opened, 1), serving_ms: round(serving, 1) };
  };
  log(`start-up: opening from the restore point (${size.toLocaleString("en")} entries)`);
  const restored = await open();
  let replayed: { open_ms: number; serving_ms: number } | null = null;
  if (replay) {
    log(`start-up: opening by replaying the whole write-ahead file (${size.toLocaleString("en")} entries)`);
    await rm(restorePath(walPath));
    replayed = await open();
  }
  if (errors.length > 0) throw new Error(`audit log reported an error: ${String(errors[0])}`);
  return {
    entries: size,
    wal_bytes: walBytes,
    from_restore_point: restored,
    ...(replayed === null ? {} : { full_wal_replay: replayed }),
  };
}
