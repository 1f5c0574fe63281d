/**
 * Reading a live log for a report: the last bundle's partial tile can be gone while the report reads,
 * before the full bundle exists (the gateway keeps a checkpoint's partials until then, but a log
 * served otherwise — a mirror, a server that prunes sooner, as this gateway once did two checkpoints
 * on — may not). The reader then takes the entries from the wider partial bundle of a newer
 * checkpoint, and only once they hash to the root of the checkpoint it started from. The pruning is
 * injected between the reader's reads: two checkpoints are published, and the partial removed.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource, type LogSource } from "../audit/source.js";
import { decodeBundle, encodeBundle, tilePath } from "../audit/tiles.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { publishedSize, readEntries } from "../audit/read.js";

let t: TestGateway;
let dir: string;
let plain: LogSource;
let n = 0;

const entry = () =>
  Buffer.from(
    JSON.stringify({
      action: "infer",
      decision: "allow",
      grant: null,
      location: "FR",
      model: "mythos-4",
      node: "n",
      organization: null,
      principal: "benoit",
      reason: "open-model",
      request_id: `r${n++}`,
      scheme: "s",
      served_model: "mythos-4",
      time: new Date().toISOString(),
      type: "decision",
    }),
  );

/** Appends `k` entries and publishes a checkpoint of them. */
async function add(k: number): Promise<void> {
  const log = t.gateway.audit.log;
  await Promise.all(Array.from({ length: k }, () => log.append(entry())));
  await log.publish();
}

async function readAll(source: LogSource): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of readEntries(source)) out.push(...batch.entries);
  return out;
}

/** The last bundle of the published log, which must be partial. */
async function lastBundle(): Promise<{ index: bigint; width: number; path: string }> {
  const size = await publishedSize(plain);
  const index = size / 256n;
  const width = Number(size % 256n);
  expect(width).toBeGreaterThan(0);
  return { index, width, path: tilePath({ level: "entries", index, width }) };
}

/**
 * A source that, the first time each of `paths` is asked for, publishes two checkpoints and removes
 * that partial first, then reads: the partial is gone when the read lands.
 */
function pruningBefore(
  paths: (path: string) => boolean,
  also?: (path: string, data: Buffer | null) => Buffer | null,
) {
  const done = new Set<string>();
  const source: LogSource = {
    location: plain.location,
    async read(path) {
      if (paths(path) && !done.has(path)) {
        done.add(path);
        await add(3);
        await add(3);
        rmSync(join(dir, path), { force: true });
        expect(existsSync(join(dir, path))).toBe(false);
      }
      const data = await plain.read(path);
      return also === undefined ? data : also(path, data);
    },
  };
  return source;
}

beforeAll(async () => {
  // Checkpoints only when the test publishes one.
  t = await startTestGateway({ extra: "audit: { checkpoint_ms: 3600000 }" });
  dir = join(t.dataDir, "audit");
  plain = directorySource(dir);
  await t.gateway.audit.log.publish();
  // Two full bundles and a partial one.
  await add(2 * 256 + 40 - Number(await publishedSize(plain)));
  expect(await publishedSize(plain)).toBe(2n * 256n + 40n);
}, 60_000);
afterAll(() => t.gateway.close());

describe("reading a log whose last partial bundle is pruned meanwhile", () => {
  it("takes the entries from the newer checkpoint's wider partial bundle: exactly the checkpoint's", async () => {
    const { path } = await lastBundle();
    const want = await readAll(plain);
    expect(want).toHaveLength(2 * 256 + 40);
    expect(await readAll(pruningBefore((p) => p === path))).toEqual(want);
  });

  it("reads newer checkpoints until a wider bundle stays long enough to be read", async () => {
    const { index } = await lastBundle();
    const want = await readAll(plain);
    // The named partial pruned, then the first wider one too: the third checkpoint's is read.
    const partials = `tile/entries/${tilePath({ level: "entries", index, width: 256 }).split("/").at(-1)}.p/`;
    const seen: string[] = [];
    const source = pruningBefore((p) => p.startsWith(partials) && seen.push(p) <= 2);
    expect(await readAll(source)).toEqual(want);
    expect(seen.length).toBeGreaterThanOrEqual(3);
  });

  it("refuses entries of a wider bundle that do not hash to the checkpoint's root", async () => {
    const { index, path } = await lastBundle();
    const partials = `tile/entries/${tilePath({ level: "entries", index, width: 256 }).split("/").at(-1)}.p/`;
    const source = pruningBefore(
      (p) => p === path,
      (p, data) => {
        if (data === null || p === path || !p.startsWith(partials)) return data;
        // A server (or a disk) giving other entries than those signed.
        const entries = decodeBundle(data);
        entries[0] = Buffer.from(entries[0]!.toString("utf8").replace('"allow"', '"deny"'));
        return encodeBundle(entries);
      },
    );
    await expect(readAll(source)).rejects.toMatchObject({
      code: "log_unreadable",
      message: expect.stringMatching(
        /cannot read entry bundle 2 .*\.p\/\d+ is missing, and the first \d+ entries of .* do not hash to the root of the checkpoint of \d+ entries/,
      ),
    });
  });
});
