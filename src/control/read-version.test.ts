/**
 * Reading a stored scheme version in a worker thread: what it answers (the version compiled, what
 * it leaves out as stored, or every problem with its file, line and column) is what reading it on
 * the event loop answers, for use and to activate it; a version read is found read by the next
 * reader; a reading past the thread's heap or time is refused as too complex, naming the version.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import { EXAMPLE, OLDER_VERSION } from "../testing/older-release.js";
import { parseVersionToActivate, readStoredVersion } from "./effective.js";
import {
  forgetReadVersions,
  readStoredVersionKept,
  readStoredVersionOffLoop,
  readVersionToActivate,
  versionReadChannel,
  versionTimeoutMs,
} from "./read-version.js";
import { INLINE_UPLOAD_CHARS } from "./upload.js";

/** Past the inline limit by a trailing comment: read in the thread, what it says unchanged. */
const large = (text: string) => `${text}\n# ${"padding ".repeat(INLINE_UPLOAD_CHARS / 8)}\n`;

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

/** Bad versions, one for each way a version is refused: parsing, its YAML, its shape, compiling it. */
const BAD: Record<string, string> = {
  "a syntax error": "version: 1\nname: [unclosed\nhome: [US]\n",
  "a duplicate key": "version: 1\nname: a\nname: b\nhome: [US]\nmodels: {}\n",
  "an alias to no anchor": "version: 1\nname: t\nhome: *nowhere\nmodels: {}\n",
  "a bad shape and an unknown key":
    "version: 1\nname: broken\nhome: [US]\nmodels:\n  m1: { control: sometimes }\n  m2: { control: open, colour: red }\n",
  "a license of a model not declared": withLicenses(3).replace("models: [mythos-5]", "models: [nova-9]"),
  // Loads as stored (what newer checks refuse left out), but is refused to activate.
  "what newer checks refuse": OLDER_VERSION,
};

interface ReadEvent {
  readonly file: string;
  readonly thread: boolean;
}
let reads: ReadEvent[] = [];
const listener = (message: unknown) => void reads.push(message as ReadEvent);
beforeEach(() => {
  forgetReadVersions();
  reads = [];
  subscribe(versionReadChannel.name, listener);
});
afterEach(() => void unsubscribe(versionReadChannel.name, listener));

/** What `read` answers or throws, as data. */
async function outcome(read: () => Promise<unknown> | unknown): Promise<object> {
  try {
    const r = (await read()) as { scheme?: { digest: string }; digest?: string; leftOut?: unknown };
    // A compiled scheme holds a WeakMap: compared by what it was compiled from.
    return r.scheme === undefined ? { digest: r.digest } : { digest: r.scheme.digest, leftOut: r.leftOut };
  } catch (err) {
    if (err instanceof InvalidInputError) return { message: err.message, problems: err.problems };
    throw err;
  }
}

describe("reading a stored version in a worker thread", () => {
  it("answers each version, good or bad, as reading it here does: for use and to activate it", async () => {
    const texts = { good: withLicenses(10), ...BAD };
    let n = 0;
    for (const [what, small] of Object.entries(texts)) {
      const version = { version: ++n, text: large(small) };
      const file = `version ${n}`;
      const stored = await outcome(() => readStoredVersion(version));
      const toActivate = await outcome(() => parseVersionToActivate(version.text, file));
      forgetReadVersions();
      expect({ what, ...(await outcome(() => readStoredVersionOffLoop(version))) }).toEqual({
        what,
        ...stored,
      });
      forgetReadVersions();
      expect({ what, ...(await outcome(() => readVersionToActivate(version.text, file))) }).toEqual({
        what,
        ...toActivate,
      });
    }
    // Each in a thread of its own.
    expect(reads.filter((r) => !r.thread)).toEqual([]);
    expect(reads).toHaveLength(Object.keys(texts).length * 2);
  }, 300_000);

  it("is read once: a reader after it, the reload's included, finds it read", async () => {
    const version = { version: 4, text: withLicenses(1_000) };
    const first = await readStoredVersionOffLoop(version);
    expect(reads).toEqual([{ file: "scheme version 4", chars: version.text.length, thread: true }]);
    expect(await readStoredVersionOffLoop(version)).toBe(first);
    expect(await readVersionToActivate(version.text, "version 4")).toBe(first.scheme);
    expect(readStoredVersionKept(version)).toBe(first);
    expect(reads).toHaveLength(1);
  }, 120_000);

  it("an activation's reading serves the reload after it; readers at once share one thread", async () => {
    const version = { version: 5, text: withLicenses(1_000) };
    const [a, b] = await Promise.all([
      readVersionToActivate(version.text, "version 5"),
      readVersionToActivate(version.text, "version 5"),
    ]);
    expect(a).toBe(b);
    expect(readStoredVersionKept(version)).toEqual({ scheme: a, leftOut: [] });
    expect(reads).toHaveLength(1);
  }, 120_000);

  it("a version that leaves anything out as stored is read again to activate it: refused, at its lines", async () => {
    const version = { version: 6, text: OLDER_VERSION };
    expect(readStoredVersionKept(version).leftOut).toHaveLength(3);
    const refused = await outcome(() => readVersionToActivate(version.text, "version 6"));
    expect(refused).toEqual(await outcome(() => parseVersionToActivate(version.text, "version 6")));
    expect(reads).toHaveLength(2);
  });

  it("keeps the last two versions read, no more", async () => {
    const versions = [1, 2, 3].map((version) => ({
      version,
      text: EXAMPLE.replace("name: g7-trusted-partners", `name: kept-${version}`),
    }));
    for (const v of versions) readStoredVersionKept(v);
    readStoredVersionKept(versions[2]!);
    readStoredVersionKept(versions[1]!);
    expect(reads).toHaveLength(3);
    readStoredVersionKept(versions[0]!);
    expect(reads).toHaveLength(4);
  });
});

async function refusal(work: Promise<unknown>): Promise<ClearanceError> {
  const err = await work.then(
    () => new Error("expected a refusal"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  return err as ClearanceError;
}

describe("a version too complex to read", () => {
  it("outlasting the thread's time: 413 scheme_too_complex naming the version", async () => {
    const version = { version: 7, text: large(EXAMPLE) };
    const err = await refusal(readStoredVersionOffLoop(version, { timeoutMs: 1 }));
    expect(err).toMatchObject({ kind: "too-large", code: "scheme_too_complex" });
    expect(err.message).toBe(
      "scheme version 7: reading it took longer than 1 ms, and was stopped: a scheme is at most a few MB " +
        "of partners and licenses written out; is it the file you meant?",
    );
    expect(err.problems).toEqual([
      expect.objectContaining({ code: "scheme_too_complex", path: ["yaml"], file: "scheme version 7" }),
    ]);
  });

  it("outgrowing the thread's heap: 413 scheme_too_complex, naming the version activated", async () => {
    const err = await refusal(readVersionToActivate(withLicenses(5_000), "version 8", { heapMb: 32 }));
    expect(err).toMatchObject({ kind: "too-large", code: "scheme_too_complex" });
    expect(err.message).toMatch(/^version 8: reading it needed more than 32 MB: /);
  }, 120_000);

  it("gives the thread two minutes, and a minute more per MB", () => {
    expect(versionTimeoutMs(0)).toBe(120_000);
    expect(versionTimeoutMs(10_000_000)).toBe(720_000);
  });
});
