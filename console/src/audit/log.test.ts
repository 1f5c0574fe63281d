/**
 * The console's in-browser verifier, run under Node's WebCrypto against a real gateway's published
 * log (fetch given the gateway's origin, as the browser's same-origin requests would have): a good
 * log verifies; a wrong key, an altered entry, an altered hash tile with its entry, and a forged
 * inclusion proof are each refused. Runs in `npm test` with or without Chromium.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateKey } from "../../../src/audit/note.js";
import { decodeBundle, encodeBundle, encodeTile, tilePath } from "../../../src/audit/tiles.js";
import { leafHash as nodeLeafHash } from "../../../src/audit/merkle.js";
import { ask } from "../../../src/testing/admin.js";
import { startTestGateway, type TestGateway } from "../../../src/testing/gateway.js";
import { verifyEntry, verifyInclusion, verifyLog, VerificationError } from "./log.js";

let t: TestGateway;
let vkey: string;
let size: bigint;

beforeAll(async () => {
  t = await startTestGateway({ consoleDir: null });
  for (const [who, where] of [
    ["alice", "US"],
    ["devi", "IN"],
    ["benoit", "IR"],
    ["benoit", "FR"],
  ] as const) {
    await ask(t, who, where);
  }
  await t.gateway.audit.log.publish();
  size = t.gateway.audit.log.published?.size ?? 0n;
  vkey = readFileSync(join(t.dataDir, "audit.vkey"), "utf8").trim();
  const realFetch = globalThis.fetch;
  vi.stubGlobal("fetch", (input: string, init?: RequestInit) =>
    realFetch(input.startsWith("/") ? `${t.url}${input}` : input, init),
  );
});
afterAll(async () => {
  vi.unstubAllGlobals();
  await t.gateway.close();
});

/** Rewrites a file of the published log for the length of `f`. */
async function altered(rel: string, change: (b: Buffer) => Buffer, f: () => Promise<void>) {
  const file = join(t.dataDir, "audit", rel);
  const original = readFileSync(file);
  writeFileSync(file, change(Buffer.from(original)));
  try {
    await f();
  } finally {
    writeFileSync(file, original);
  }
}

const lastBundle = () => {
  const index = (size - 1n) / 256n;
  return { index, width: Number(size - index * 256n) };
};

describe("the console's verifier (WebCrypto)", () => {
  it("verifies the published log and one entry's inclusion", async () => {
    const progress: number[] = [];
    const r = await verifyLog(vkey, (done) => progress.push(done));
    expect(r.entries).toBe(Number(size));
    expect(progress.at(-1)).toBe(Number(size));
    expect((await verifyEntry(vkey, size - 1n)).size).toBe(size);
    expect((await verifyEntry(vkey, 0n)).size).toBe(size);
  });

  it("refuses a key that did not sign, and a malformed key", async () => {
    const other = generateKey("clearance.local/audit").verifierKey;
    await expect(verifyLog(other, () => {})).rejects.toThrow(/no signature from a known key/);
    await expect(verifyLog("clearance.local/audit+00000000+AAAA", () => {})).rejects.toThrow(
      VerificationError,
    );
  });

  it("an altered entry is caught", async () => {
    const { index, width } = lastBundle();
    await altered(
      tilePath({ level: "entries", index, width }),
      (b) => {
        const at = b.lastIndexOf(Buffer.from('"time"')) + 2;
        b[at] = "T".charCodeAt(0);
        return b;
      },
      async () => {
        await expect(verifyLog(vkey, () => {})).rejects.toThrow(
          new RegExp(`entry ${size - 1n} does not match its hash in the published tile`),
        );
        await expect(verifyEntry(vkey, size - 1n)).rejects.toThrow(/does not lead to the signed root/);
      },
    );
  });

  it("an altered entry with its hash tile rewritten to match is caught by the signed root", async () => {
    const { index, width } = lastBundle();
    const entriesPath = tilePath({ level: "entries", index, width });
    const tile = tilePath({ level: 0, index, width });
    const entries = decodeBundle(readFileSync(join(t.dataDir, "audit", entriesPath)), width);
    const entry = Buffer.from(entries[width - 1] as Buffer);
    entry[entry.indexOf(Buffer.from('"time"')) + 2] = "T".charCodeAt(0);
    const forged = encodeBundle([...entries.slice(0, -1), entry]);
    await altered(
      entriesPath,
      () => forged,
      async () => {
        await altered(
          tile,
          (b) => {
            const hashes = Array.from({ length: width }, (_, i) => b.subarray(i * 32, (i + 1) * 32));
            hashes[width - 1] = nodeLeafHash(entry);
            return encodeTile(hashes);
          },
          async () => {
            await expect(verifyLog(vkey, () => {})).rejects.toThrow(
              /not to the signed root .*: the log has been altered/,
            );
          },
        );
      },
    );
  });

  it("an entry's inclusion is checked for the bytes shown, not for a second read of its bundle", async () => {
    // A server that shows one entry and proves another: the bytes the page displayed are the ones
    // hashed. Read from the bundle as the page reads it, the real entry verifies; altered, it does not.
    const { index, width } = lastBundle();
    const entries = decodeBundle(
      readFileSync(join(t.dataDir, "audit", tilePath({ level: "entries", index, width }))),
      width,
    );
    const shown = Uint8Array.from(entries[width - 1] as Buffer);
    expect((await verifyEntry(vkey, size - 1n, shown)).size).toBe(size);
    const forged = Uint8Array.from(shown);
    forged[Buffer.from(forged).indexOf(Buffer.from('"time"')) + 2] = "T".charCodeAt(0);
    await expect(verifyEntry(vkey, size - 1n, forged)).rejects.toThrow(/does not lead to the signed root/);
  });

  it("a proof answered by a proxy's page (200, HTML) is said so, not as a JSON parse error", async () => {
    // Every read reaches the gateway but the proof's, which a proxy or captive portal answers.
    const toGateway = globalThis.fetch;
    for (const [body, type] of [
      ["<html><head><title>Sign in to the Wi-Fi</title></head></html>", "text/html"],
      [JSON.stringify({ hashes: [] }), "application/json"],
      ["null", "application/json"],
    ] as const) {
      vi.stubGlobal("fetch", (input: string, init?: RequestInit) =>
        input.startsWith("/audit/proof/")
          ? Promise.resolve(new Response(body, { status: 200, headers: { "content-type": type } }))
          : toGateway(input, init),
      );
      try {
        const err: unknown = await verifyEntry(vkey, size - 1n).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(VerificationError);
        expect((err as Error).message).toMatch(
          /^the inclusion proof: the server answered 200 without a proof/,
        );
        expect((err as Error).message).not.toMatch(/Unexpected token|JSON|undefined/);
      } finally {
        vi.stubGlobal("fetch", toGateway);
      }
    }
  });

  it("an inclusion proof that does not lead to the signed root is refused", async () => {
    const leaf = new Uint8Array(32).fill(7);
    const root = new Uint8Array(32).fill(9);
    await expect(verifyInclusion(leaf, 0n, 2n, [new Uint8Array(32)], root)).rejects.toThrow(/signed root/);
    await expect(verifyInclusion(leaf, 0n, 2n, [], root)).rejects.toThrow(/shorter than the path/);
    await expect(verifyInclusion(leaf, 2n, 2n, [], root)).rejects.toThrow(/not in a tree/);
  });

  // Last: it appends to the log the other tests read.
  it("an included entry that is not canonical JSON is refused: what the page shows may not be what was signed", async () => {
    const log = t.gateway.audit.log;
    const bytes = Buffer.from('{"decision":"deny","decision":"allow","type":"decision","v":1}');
    const index = await log.append(bytes);
    await log.publish();
    const err: unknown = await verifyEntry(vkey, index, Uint8Array.from(bytes)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).toMatch(
      /^entry \d+ is in the signed tree of \d+, but its bytes are not canonical JSON \(it names "decision" more than once/,
    );
  });
});
