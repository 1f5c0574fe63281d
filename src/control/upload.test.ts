/**
 * Reading a scheme upload in a worker thread: what it answers (the diff, or every problem with its
 * file, line and column) is what reading it on the event loop answers; a reading that outgrows the
 * thread's heap or time is refused as too complex, naming the upload.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import { parseStoredVersion } from "./effective.js";
import { readStoredVersionOffLoop, versionReadChannel } from "./read-version.js";
import { READING_QUEUE, readInThread, readingThreads } from "./reading-thread.js";
import type { SchemeVersion } from "./types.js";
import {
  INLINE_UPLOAD_CHARS,
  readUpload,
  readUploadOffLoop,
  uploadThreadChannel,
  uploadTimeoutMs,
  type UploadRead,
} from "./upload.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const BASE = { version: 1, text: EXAMPLE } as SchemeVersion;

/** The example with `count` more (pending) licenses: about 200 bytes each. */
function withLicenses(count: number, text = EXAMPLE): string {
  const out = [text.endsWith("\n") ? text : `${text}\n`];
  for (let i = 0; i < count; i++)
    out.push(
      `  - {id: X-${i}, licensee: {principal: p-${i}}, models: [mythos-5], actions: [infer], ` +
        `destinations: [GB], valid_from: 2026-01-01, valid_until: 2028-01-01, status: pending}\n`,
    );
  return out.join("");
}

/** Past the inline limit by a trailing comment: read in the thread, its problems unchanged. */
const large = (text: string) => `${text}\n# ${"padding ".repeat(INLINE_UPLOAD_CHARS / 8)}\n`;

/** Bad documents, one for each way a scheme is refused: parsing, its YAML, its shape, compiling it. */
const BAD: Record<string, string> = {
  "a syntax error": "version: 1\nname: [unclosed\nhome: [US]\n",
  "more than one document": "version: 1\n---\nname: two\n",
  "a duplicate key": "version: 1\nname: a\nname: b\nhome: [US]\nmodels: {}\n",
  "an unknown tag": "version: 1\nname: t\nhome: !foo [US]\nmodels: {}\n",
  "a control character": 'version: 1\nname: t\ndescription: "bell \\a"\nhome: [US]\nmodels: {}\n',
  "a bidirectional control": "version: 1\nname: t\ndescription: a\u202eb\nhome: [US]\nmodels: {}\n",
  "a lone surrogate": 'version: 1\nname: t\ndescription: "\\ud800"\nhome: [US]\nmodels: {}\n',
  "an alias to no anchor": "version: 1\nname: t\nhome: *nowhere\nmodels: {}\n",
  "an alias bomb":
    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
  "nesting too deep": `version: 1\nname: t\nhome: ${"[".repeat(300)}${"]".repeat(300)}\n`,
  "a bad shape and an unknown key":
    "version: 1\nname: broken\nhome: [US]\nmodels:\n  m1: { control: sometimes }\n  m2: { control: open, colour: red }\n",
  "a destination that is no country or set": withLicenses(2).replace(
    "destinations: [GB]",
    "destinations: [NOWHERE]",
  ),
  "a license of a model not declared": withLicenses(3).replace("models: [mythos-5]", "models: [nova-9]"),
};

/** What reading `text` throws, as data. */
async function problems(read: () => Promise<unknown> | unknown): Promise<unknown> {
  try {
    await read();
  } catch (err) {
    if (err instanceof InvalidInputError) return { message: err.message, problems: err.problems };
    throw err;
  }
  throw new Error("expected the upload to be refused");
}

let threads = 0;
const counted = () => threads++;
beforeAll(() => subscribe(uploadThreadChannel.name, counted));
afterAll(() => unsubscribe(uploadThreadChannel.name, counted));

describe("reading an upload in a worker thread", () => {
  it("refuses each bad document with exactly the problems reading it here gives", async () => {
    const before = threads;
    const texts = Object.entries(BAD).map(([what, text]) => [what, large(text)] as const);
    for (const [what, text] of texts) {
      const here = await problems(() => readUpload(text, parseStoredVersion(BASE)));
      const there = await problems(() => readUploadOffLoop(text, BASE));
      expect({ what, ...(there as object) }).toEqual({ what, ...(here as object) });
      // Placed in the upload, at a line: never the thread's own error.
      expect((there as { problems: { file?: string }[] }).problems[0]?.file).toBe("uploaded scheme");
    }
    // Every one was read in a thread of its own.
    expect(threads - before).toBe(texts.length);
  }, 300_000);

  it("answers a valid upload's name, digest and diff as reading it here does", async () => {
    const text = withLicenses(2_000);
    const before = threads;
    const there: UploadRead = await readUploadOffLoop(text, BASE);
    expect(threads - before).toBe(1);
    expect(there).toEqual(readUpload(text, parseStoredVersion(BASE)));
    expect(there.diff).toMatchObject({ identical: false });
  }, 120_000);

  it("reads a small upload here, with the active version this node has compiled", async () => {
    const before = threads;
    const text = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, BR]");
    const read = await readUploadOffLoop(text, BASE, parseStoredVersion(BASE));
    expect(threads).toBe(before);
    expect(read.diff).toMatchObject({ text: expect.stringContaining("BR") });
  });

  it("the active version's own problems are returned, not thrown (the upload may mend it)", async () => {
    const broken = { version: 7, text: large("version: 1\nname: [unclosed\n") } as SchemeVersion;
    const read = await readUploadOffLoop(EXAMPLE, broken);
    expect(read).toMatchObject({
      name: "g7-trusted-partners",
      diff: { baseInvalid: { problems: [expect.objectContaining({ file: "scheme version 7" })] } },
    });
  }, 120_000);
});

async function refusal(work: Promise<unknown>): Promise<ClearanceError> {
  const err = await work.then(
    () => new Error("expected a refusal"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  return err as ClearanceError;
}

describe("an upload too complex to read", () => {
  it("outlasting the thread's time: 413 scheme_too_complex naming the upload", async () => {
    // 1 ms: the thread cannot even start in it (a parser stuck on a crafted file is stopped the same way).
    const err = await refusal(readUploadOffLoop(large(EXAMPLE), BASE, undefined, { timeoutMs: 1 }));
    expect(err).toMatchObject({ kind: "too-large", code: "scheme_too_complex" });
    expect(err.message).toBe(
      "uploaded scheme: reading it took longer than 1 ms, and was stopped: a scheme is at most a few MB " +
        "of partners and licenses written out; is it the file you meant?",
    );
    expect(err.problems).toEqual([
      expect.objectContaining({ code: "scheme_too_complex", path: ["yaml"], file: "uploaded scheme" }),
    ]);
  });

  it("outgrowing the thread's heap: 413 scheme_too_complex, this thread unharmed", async () => {
    // 5,000 licenses (1 MB) parse into far more than 32 MB of YAML nodes.
    const err = await refusal(readUploadOffLoop(withLicenses(5_000), BASE, undefined, { heapMb: 32 }));
    expect(err).toMatchObject({ kind: "too-large", code: "scheme_too_complex" });
    expect(err.message).toMatch(/^uploaded scheme: reading it needed more than 32 MB: /);
  }, 120_000);

  it("gives the thread two minutes, and a minute more per MB of the upload", () => {
    expect(uploadTimeoutMs({ text: "" })).toBe(120_000);
    expect(uploadTimeoutMs({ text: "x".repeat(10_000_000) })).toBe(720_000);
  });
});

describe("the next revision of a large scheme", () => {
  // 5,000 licenses (0.86 MB): a 96 MB heap holds the reading of one such scheme, not of two.
  const active = withLicenses(5_000);
  const next = active.replace("X-0,", "X-0b,");
  const limits = { heapMb: 96 };

  it("is read alone in the thread's heap, against the active version this node has compiled", async () => {
    const alone = await readUploadOffLoop(next, BASE, parseStoredVersion(BASE), limits);
    expect(alone.name).toBe("g7-trusted-partners");
    const base = { version: 7, text: active } as SchemeVersion;
    const read = await readUploadOffLoop(next, base, parseStoredVersion(base), limits);
    expect(read.diff).toMatchObject({ identical: false, changes: [expect.anything(), expect.anything()] });
    expect(read).toEqual(readUpload(next, parseStoredVersion(base)));
  }, 300_000);

  it("is read apart from the active version when this node has not compiled it, each in its own heap", async () => {
    const base = { version: 8, text: active.replace("X-1,", "X-1c,") } as SchemeVersion;
    const read = await readUploadOffLoop(next, base, undefined, limits);
    expect(read).toEqual(readUpload(next, parseStoredVersion(base)));
  }, 300_000);
});

describe("the node's one reading thread", () => {
  it("reads an upload and a version one after the other: the second thread starts once the first has answered", async () => {
    const order: string[] = [];
    const upload = () => order.push("upload thread");
    const version = (m: unknown) => void ((m as { thread: boolean }).thread && order.push("version thread"));
    subscribe(uploadThreadChannel.name, upload);
    subscribe(versionReadChannel.name, version);
    try {
      const started = new Promise<void>((resolve) => {
        const once = () => {
          unsubscribe(uploadThreadChannel.name, once);
          resolve();
        };
        subscribe(uploadThreadChannel.name, once);
      });
      const first = readUploadOffLoop(withLicenses(3_000), BASE).then(() => order.push("upload answered"));
      await started;
      const stored = { version: 9, text: withLicenses(3_001) };
      const second = readStoredVersionOffLoop(stored).then(() => order.push("version answered"));
      expect(readingThreads()).toEqual({ running: 1, waiting: 1 });
      await Promise.all([first, second]);
      expect(order).toEqual(["upload thread", "upload answered", "version thread", "version answered"]);
      expect(readingThreads()).toEqual({ running: 0, waiting: 0 });
    } finally {
      unsubscribe(uploadThreadChannel.name, upload);
      unsubscribe(versionReadChannel.name, version);
    }
  }, 300_000);

  it("lets a few readings wait, and refuses one more at once: 503 scheme_reading_busy", async () => {
    const text = withLicenses(1_000);
    const readings = Array.from({ length: READING_QUEUE + 1 }, () =>
      readUploadOffLoop(text, BASE).then(
        () => "read",
        (e: unknown) => e,
      ),
    );
    expect(readingThreads()).toEqual({ running: 1, waiting: READING_QUEUE });
    const err = await refusal(readUploadOffLoop(text, BASE));
    expect(err).toMatchObject({ kind: "unavailable", code: "scheme_reading_busy" });
    expect(err.message).toMatch(/^uploaded scheme cannot be read now: this node is reading 5 large schemes/);
    expect(await Promise.all(readings)).toEqual(Array(READING_QUEUE + 1).fill("read"));
  }, 300_000);
});

describe("a reading thread that fails otherwise than by its limits", () => {
  it("is 500 scheme_unreadable, naming the scheme and why, without a stack", async () => {
    const err = await refusal(
      readInThread({
        base: import.meta.url,
        worker: "no-such-worker",
        data: null,
        file: "uploaded scheme",
        heapMb: 64,
        timeoutMs: 60_000,
      }),
    );
    expect(err).toMatchObject({ kind: "internal", code: "scheme_unreadable" });
    expect(err.message).toMatch(/^uploaded scheme could not be read: .*no-such-worker/);
    expect(err.message).not.toMatch(/\n\s+at /);
    expect(err.cause).toBeInstanceOf(Error);
  }, 120_000);
});
