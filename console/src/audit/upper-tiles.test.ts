/**
 * The console's verifier against a log of 70,000 entries, whose hash tiles reach level 2 (tlog-tiles:
 * 273 hashes at level 1, in the full tile 1/0 and the partial 1/1.p/17; one at level 2, in 2/0.p/1).
 * The log is the server's own tile writer's (src/audit/tree.ts), signed with a fresh key and served
 * over HTTP from its directory as the gateway serves it. Proofs are made from the tiles above level 0,
 * so an altered one is refused, whichever level and whether full or partial.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signCheckpoint } from "../../../src/audit/checkpoint.js";
import { generateKey, parseSignerKey } from "../../../src/audit/note.js";
import { parseTilePath, tilePath } from "../../../src/audit/tiles.js";
import { TileTree } from "../../../src/audit/tree.js";
import { verifyLog } from "./log.js";

const SIZE = 70_000;
const ORIGIN = "clearance.test/upper-tiles";

let dir: string;
let server: Server;
let vkey: string;
/** The checkpoint served; the early one's partial tiles 0/3.p/232 and 1/0.p/3 are gone. */
let note: string;
let latestNote: string;
let earlyNote: string;
const EARLY = 1000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "clearance-upper-tiles-"));
  const tree = new TileTree(dir);
  const entries = Array.from({ length: SIZE }, (_, i) =>
    Buffer.from(JSON.stringify({ type: "decision", time: "2026-01-01T00:00:00Z", n: i })),
  );
  const key = generateKey(ORIGIN);
  vkey = key.verifierKey;
  const sign = () =>
    signCheckpoint(
      { origin: ORIGIN, size: tree.size, root: tree.root(), extensions: [] },
      parseSignerKey(key.privateKey),
    );
  // An early checkpoint, then the log grows on and removes the partial tiles it has covered since.
  await tree.append(entries.slice(0, EARLY));
  await tree.writePartials();
  earlyNote = sign();
  await tree.append(entries.slice(EARLY));
  await tree.writePartials();
  await tree.prunePartials(tree.size);
  tree.close();
  latestNote = sign();
  note = latestNote;
  // The published log: the checkpoint and the tiles, each at its canonical path or 404.
  server = createServer((req, res) => {
    const sub = (req.url ?? "").replace(/^\/audit\//, "");
    let body: string | Buffer | null = null;
    if (sub === "checkpoint") body = note;
    else {
      try {
        body = readFileSync(join(dir, tilePath(parseTilePath(sub))));
      } catch {
        body = null;
      }
    }
    res.writeHead(body === null ? 404 : 200).end(body ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const realFetch = globalThis.fetch;
  vi.stubGlobal("fetch", (input: string, init?: RequestInit) =>
    realFetch(input.startsWith("/") ? `${url}${input}` : input, init),
  );
});

afterAll(async () => {
  vi.unstubAllGlobals();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** Flips a bit of hash `k` of the published tile at `level`/`index`/`width` for the length of `f`. */
async function altered(level: number, index: bigint, width: number, k: number, f: () => Promise<void>) {
  const file = join(dir, tilePath({ level, index, width }));
  const original = readFileSync(file);
  expect(original.length).toBe(width * 32);
  const changed = Buffer.from(original);
  changed[k * 32 + 7] = (changed[k * 32 + 7] as number) ^ 1;
  writeFileSync(file, changed);
  try {
    await f();
  } finally {
    writeFileSync(file, original);
  }
}

describe("the console's verifier checks the published tiles above level 0", () => {
  it("verifies a log whose tiles reach level 2", async () => {
    const r = await verifyLog(vkey, () => {});
    expect(r.entries).toBe(SIZE);
  });

  it("refuses an altered hash in a full level-1 tile", async () => {
    await altered(1, 0n, 256, 5, async () => {
      await expect(verifyLog(vkey, () => {})).rejects.toThrow(
        "entries 1280–1535 do not match their hash in the published tile 1/0 (its entry 5): the log has been altered",
      );
    });
  });

  it("refuses an altered hash in the partial level-1 tile at the checkpoint's size", async () => {
    await altered(1, 1n, 17, 16, async () => {
      await expect(verifyLog(vkey, () => {})).rejects.toThrow(
        "entries 69632–69887 do not match their hash in the published tile 1/1 (its entry 16): the log has been altered",
      );
    });
  });

  it("refuses an altered hash in a level-2 tile", async () => {
    await altered(2, 0n, 1, 0, async () => {
      await expect(verifyLog(vkey, () => {})).rejects.toThrow(
        "entries 0–65535 do not match their hash in the published tile 2/0 (its entry 0): the log has been altered",
      );
    });
  });

  it("an earlier checkpoint whose partial level-1 tile is gone is checked against the full tile's first hashes", async () => {
    note = earlyNote;
    try {
      expect((await fetch("/audit/tile/1/000.p/3")).status).toBe(404);
      expect((await verifyLog(vkey, () => {})).entries).toBe(EARLY);
      await altered(1, 0n, 256, 2, async () => {
        await expect(verifyLog(vkey, () => {})).rejects.toThrow(
          "entries 512–767 do not match their hash in the published tile 1/0 (its entry 2): the log has been altered",
        );
      });
    } finally {
      note = latestNote;
    }
  });

  it("verifies again once the tiles are as published", async () => {
    expect((await verifyLog(vkey, () => {})).entries).toBe(SIZE);
  });
});
