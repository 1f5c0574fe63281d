/**
 * Reading a stored scheme version: for use (`readStoredVersion`: the reload, a version read, a
 * what-if) or to activate it (`parseVersionToActivate`). YAML is read at seconds per MB, and on the
 * event loop that holds up every request the node serves, its gateway's included: an activation
 * read its version three times (the route, `activateVersion`, the reload after), and a version read
 * or report once each. So a version above INLINE_UPLOAD_CHARS is read in a worker thread, with the
 * upload's heap and time limits, in turn with every other reading (control/reading-thread.ts), and what was read is kept for the next reader,
 * by the digest of its text (a version is never changed once stored): an activation reads its
 * version once, and the reload after it and the what-if measuring it find it read.
 */
import { createHash } from "node:crypto";
import { channel } from "node:diagnostics_channel";
import { InvalidInputError } from "../errors/index.js";
import { compileScheme, type CompiledScheme } from "../scheme/compile.js";
import { parseSchemeWith, type SchemeCompiler } from "../scheme/load.js";
import type { SchemeFile } from "../scheme/schema.js";
import { compileStored, storedVersionFile, type StoredVersionRead } from "./effective.js";
import type { SchemeVersion } from "./types.js";
import {
  INLINE_UPLOAD_CHARS,
  UPLOAD_HEAP_MB,
  readInThread as readInTheThread,
  schemeUnreadable,
  type Invalid,
  type UploadLimits,
} from "./reading-thread.js";

/**
 * How a version is read: `stored` as it loads (`readStoredVersion`: what newer checks refuse in its
 * partners and licenses left out), `activate` with every check (`parseVersionToActivate`).
 */
export type ReadMode = "stored" | "activate";

/** What the worker thread is given (read-version-worker.ts). */
export interface VersionTask {
  readonly text: string;
  /** What its problems name as their file ("scheme version 3", "version 3"). */
  readonly file: string;
  readonly mode: ReadMode;
}

/**
 * The thread's answer: the version's validated source (plain data, which compiles here in a fraction
 * of its reading's time: a compiled scheme holds a WeakMap, which no thread can hand over), or its
 * problems placed at their lines, as data.
 */
export type VersionOutcome =
  { readonly ok: SchemeFile } | { readonly invalid: Invalid } | { readonly failed: string };

const COMPILERS: Record<ReadMode, SchemeCompiler<unknown>> = {
  stored: compileStored,
  activate: compileScheme,
};

/** Reads `task` as the worker thread does: its validated source, or its problems, as data. */
export function versionOutcome(task: VersionTask): VersionOutcome {
  const compile = COMPILERS[task.mode];
  try {
    const source = parseSchemeWith(
      task.text,
      task.file,
      (value: SchemeFile) => {
        const compiled = compile(value);
        return compiled.ok ? { ok: true, scheme: value } : compiled;
      },
      { tags: "as-stored" },
    );
    return { ok: source };
  } catch (err) {
    if (err instanceof InvalidInputError)
      return { invalid: { message: err.message, problems: err.problems } };
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

/** A version's reading thread's time: two minutes, and a minute more per MB (as an upload's). */
export const versionTimeoutMs = (chars: number): number => 120_000 + Math.ceil((chars / 1_000_000) * 60_000);

/**
 * Published with `{ file, chars, thread }` each time a version's text is read (not found read
 * already): `thread` true once its reading thread is running (its "online" event) — what is read
 * there no longer holds this thread's event loop — false when read here (a small one).
 */
export const versionReadChannel = channel("clearance:scheme-version-read");

function published(file: string, chars: number, thread: boolean): void {
  if (versionReadChannel.hasSubscribers) versionReadChannel.publish({ file, chars, thread });
}

/**
 * Versions read, by the SHA-256 of their text, the most recently used last. Two: the one in force
 * (which the state holds anyway) and the one an activation, a version read or a report is about.
 */
const kept = new Map<string, StoredVersionRead>();
const KEPT = 2;

const keyOf = (text: string): string => createHash("sha256").update(text).digest("base64");

function recall(key: string): StoredVersionRead | undefined {
  const read = kept.get(key);
  if (read !== undefined) {
    kept.delete(key);
    kept.set(key, read);
  }
  return read;
}

function keep(key: string, read: StoredVersionRead): void {
  kept.delete(key);
  kept.set(key, read);
  for (const oldest of kept.keys()) {
    if (kept.size <= KEPT) break;
    kept.delete(oldest);
  }
}

/** Forgets every version read (tests). */
export function forgetReadVersions(): void {
  kept.clear();
}

/**
 * What a version reads as, compiled from its source as `mode` compiles it. A version that compiles
 * with every check leaves nothing out as stored, and reads the same either way (`compileLeavingOut`'s
 * first round is that compile): kept as stored, it serves both.
 */
function compiledAs(mode: ReadMode, source: SchemeFile): StoredVersionRead {
  if (mode === "activate") {
    const strict = compileScheme(source);
    if (strict.ok) return { scheme: strict.scheme, leftOut: [] };
  } else {
    const stored = compileStored(source);
    if (stored.ok) return stored.scheme;
  }
  // The thread compiled this very source: cannot fail but would be a bug.
  throw new Error("a scheme version read in its thread did not compile here");
}

/** Read already, and usable for `mode` (one that left anything out as stored does not activate). */
function recalled(key: string, mode: ReadMode): StoredVersionRead | undefined {
  const read = recall(key);
  return read !== undefined && (mode === "stored" || read.leftOut.length === 0) ? read : undefined;
}

/** Reads `text` here, as `mode` does (its problems thrown, as InvalidInputError). */
function readHere(text: string, file: string, mode: ReadMode): StoredVersionRead {
  published(file, text.length, false);
  if (mode === "stored") return parseSchemeWith(text, file, compileStored, { tags: "as-stored" });
  return { scheme: parseSchemeWith(text, file, compileScheme, { tags: "as-stored" }), leftOut: [] };
}

/** Readings in progress, by mode, file and text: readers of one version at once share its thread. */
const reading = new Map<string, Promise<StoredVersionRead>>();

/**
 * Reads a version's text as `mode` does: found read already, else inline when small, else in a
 * worker thread. Its problems are thrown as InvalidInputError, the same either way (a version that
 * does not read is not kept: each reader is refused, as before); a reading past the thread's heap or
 * time is 413 scheme_too_complex, naming `file`.
 */
async function readText(
  text: string,
  file: string,
  mode: ReadMode,
  limits: UploadLimits,
): Promise<StoredVersionRead> {
  const key = keyOf(text);
  const found = recalled(key, mode);
  if (found !== undefined) return found;
  if (text.length <= INLINE_UPLOAD_CHARS) {
    const read = readHere(text, file, mode);
    keep(key, read);
    return read;
  }
  const progress = `${mode}\u0000${file}\u0000${key}`;
  const running = reading.get(progress);
  if (running !== undefined) return running;
  const read = readInThread({ text, file, mode }, limits).then((r) => {
    keep(key, r);
    return r;
  });
  reading.set(progress, read);
  try {
    return await read;
  } finally {
    reading.delete(progress);
  }
}

async function readInThread(task: VersionTask, limits: UploadLimits): Promise<StoredVersionRead> {
  const heapMb = limits.heapMb ?? UPLOAD_HEAP_MB;
  const timeoutMs = limits.timeoutMs ?? versionTimeoutMs(task.text.length);
  const outcome = await readInTheThread<VersionOutcome>({
    base: import.meta.url,
    worker: "read-version-worker",
    data: task,
    file: task.file,
    heapMb,
    timeoutMs,
    online: () => published(task.file, task.text.length, true),
  });
  if ("invalid" in outcome) throw new InvalidInputError(outcome.invalid.problems, outcome.invalid.message);
  if ("failed" in outcome) throw schemeUnreadable(task.file, outcome.failed);
  return compiledAs(task.mode, outcome.ok);
}

/**
 * `readStoredVersion` off the event loop when large, or as read already: the version compiled as it
 * loads, and what of it was left out.
 */
export function readStoredVersionOffLoop(
  version: Pick<SchemeVersion, "version" | "text">,
  limits: UploadLimits = {},
): Promise<StoredVersionRead> {
  return readText(version.text, storedVersionFile(version), "stored", limits);
}

/** `parseVersionToActivate` off the event loop when large, or as read already. */
export async function readVersionToActivate(
  text: string,
  file: string,
  limits: UploadLimits = {},
): Promise<CompiledScheme> {
  return (await readText(text, file, "activate", limits)).scheme;
}

/**
 * `parseVersionToActivate` here (without the thread's limits: the operator's scheme file at
 * start-up), or as read already; kept for the reload that follows.
 */
export function readVersionToActivateKept(text: string, file: string): CompiledScheme {
  const key = keyOf(text);
  const found = recalled(key, "activate");
  if (found !== undefined) return found.scheme;
  const read = readHere(text, file, "activate");
  keep(key, read);
  return read.scheme;
}

/**
 * `readStoredVersion` here, or as read already (the reload, which cannot wait: the version an
 * activation or a read just read is found read), and kept for the next reader.
 */
export function readStoredVersionKept(version: Pick<SchemeVersion, "version" | "text">): StoredVersionRead {
  const key = keyOf(version.text);
  const found = recall(key);
  if (found !== undefined) return found;
  const read = readHere(version.text, storedVersionFile(version), "stored");
  keep(key, read);
  return read;
}
