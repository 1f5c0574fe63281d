/**
 * The audit log's disk fills up and is freed again: requests are refused (503) while it is full,
 * and service resumes by itself once it is freed — no restart, no entry lost or written twice.
 * On a real small file system (tmpfs, mounted by the test); it needs root to mount and skips,
 * saying so, where it cannot.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle, tilePath } from "../audit/tiles.js";
import { directorySource } from "../audit/source.js";
import { verifyLog } from "../audit/verify.js";
import { ask, eventually, type Asked } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

const mountPoint = mkdtempSync(join(tmpdir(), "clearance-small-fs-"));
const mounted = (() => {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mountPoint], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!mounted) {
  console.warn(
    "disk-full test skipped: mounting a small tmpfs needs root (mount -t tmpfs); run the suite as root to include it",
  );
}

describe.skipIf(!mounted)("the audit log's disk fills up and is freed", () => {
  let t: TestGateway;
  const filler = join(mountPoint, "filler");

  beforeAll(async () => {
    t = await startTestGateway({ dataDir: join(mountPoint, "data") });
  });
  afterAll(async () => {
    await t?.gateway.close();
    execFileSync("umount", [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  /** Fills the file system to the last byte. */
  function fill(): void {
    const chunk = Buffer.alloc(64 * 1024, 1);
    let data = Buffer.alloc(0);
    for (;;) {
      try {
        writeFileSync(filler, Buffer.concat([data, chunk]));
        data = Buffer.concat([data, chunk]);
      } catch {
        break;
      }
    }
    // Smaller pieces for the last partial chunk's worth of room.
    for (let size = 32 * 1024; size >= 512; size /= 2) {
      try {
        writeFileSync(filler, Buffer.alloc(size, 1), { flag: "a" });
        size *= 2;
      } catch {
        /* the next, smaller piece */
      }
    }
  }

  it("refuses with 503 while full, resumes by itself once freed, and the log has every answered request once", async () => {
    const answered: Asked[] = [];
    const refused: Asked[] = [];
    const send = async () => {
      const r = await ask(t, "alice", "US");
      (r.status === 200 ? answered : refused).push(r);
      return r;
    };
    for (let i = 0; i < 20; i++) expect((await send()).status).toBe(200);

    fill();
    // Entries still fit in the room the log wrote ahead of its records (up to 1 MiB: about 1,500
    // entries) and in its last page; soon none does. Sixteen at a time, to use it up quickly.
    let full: Asked | undefined;
    for (let sent = 0; full === undefined && sent < 4000; sent += 16) {
      full = (await Promise.all(Array.from({ length: 16 }, send))).find((r) => r.status === 503);
    }
    expect(full?.status).toBe(503);
    if (full === undefined) return;
    expect(JSON.parse(full.text).error.code).toBe("audit_unavailable");
    expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
    expect((await send()).status).toBe(503);

    rmSync(filler);
    const back = await eventually(send, (r) => r.status === 200);
    expect(back.status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await send()).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);

    // Every answered request is in the log exactly once; no refused one is.
    await t.gateway.audit.log.publish();
    const dir = join(mountPoint, "data", "audit");
    const verifierKey = readFileSync(join(mountPoint, "data", "audit.vkey"), "utf8").trim();
    const result = await verifyLog(directorySource(dir), { verifierKey, origin: "clearance.local/audit" });
    const ids: string[] = [];
    const size = result.checkpoint.size;
    for (let i = 0n; i * 256n < size; i++) {
      const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
      const bundle = readFileSync(join(dir, tilePath({ level: "entries", index: i, width })));
      for (const e of decodeBundle(bundle, width)) {
        const entry = JSON.parse(e.toString()) as { type: string; request_id?: string };
        if (entry.type === "decision") ids.push(entry.request_id as string);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(answered.map((r) => r.requestId).filter((id) => !ids.includes(id))).toEqual([]);
    expect(refused.map((r) => r.requestId).filter((id) => ids.includes(id))).toEqual([]);
    expect(ids.length).toBe(answered.length);
  });
});
