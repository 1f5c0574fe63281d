/**
 * Reading a scheme upload: its YAML parsed, validated and compiled, and its diff against the store's
 * active version. Parsing YAML takes seconds per MB (a 1 MB scheme of licenses about 4 s, a 10 MB
 * one most of a minute), and on the event loop that holds up every request the node serves, its
 * gateway's included. So an upload above INLINE_UPLOAD_CHARS is read in a worker thread, with a
 * heap and a time limit; a small one (any hand-written scheme) is read here, which is cheaper than
 * starting a thread. Both read it with `readUpload`, so the answer (or every problem, with its file,
 * line and column) is the same either way.
 */
import { channel } from "node:diagnostics_channel";
import { InvalidInputError } from "../errors/index.js";
import { compileScheme } from "../scheme/compile.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import { diffSchemes, formatDiff, type SchemeChange } from "../scheme/diff.js";
import { parseSchemeWith } from "../scheme/load.js";
import type { SchemeFile } from "../scheme/schema.js";
import { parseStoredVersion } from "./effective.js";
import { readStoredVersionOffLoop } from "./read-version.js";
import {
  INLINE_UPLOAD_CHARS,
  UPLOAD_FILE,
  UPLOAD_HEAP_MB,
  readInThread,
  schemeUnreadable,
  type Invalid,
  type UploadLimits,
} from "./reading-thread.js";
import type { SchemeVersion } from "./types.js";

export {
  INLINE_UPLOAD_CHARS,
  UPLOAD_FILE,
  UPLOAD_HEAP_MB,
  schemeTooComplex,
  type Invalid,
  type UploadLimits,
} from "./reading-thread.js";

/** The diff of an upload against the active version, as the upload's answer carries it. */
export interface UploadDiff {
  readonly identical: boolean;
  readonly changes: readonly SchemeChange[];
  readonly text: string;
}

/**
 * An upload read: its name and digest (what storing it takes), and its diff against the active
 * version, or, when that stored version does not load itself, its problems (the upload is still
 * stored: it may be the version that mends it).
 */
export interface UploadRead {
  readonly name: string;
  readonly digest: string;
  readonly diff: UploadDiff | { readonly baseInvalid: Invalid };
}

/** What the worker thread is given (upload-worker.ts): the upload's text, and only that. */
export interface UploadTask {
  readonly text: string;
}

/**
 * The thread's answer: the upload's validated source (plain data, compiled here in a fraction of its
 * reading's time: a compiled scheme holds a WeakMap, which no thread can hand over), or its problems
 * placed at their lines, as data.
 */
export type UploadOutcome =
  { readonly ok: SchemeFile } | { readonly invalid: Invalid } | { readonly failed: string };

const invalid = (err: InvalidInputError): Invalid => ({ message: err.message, problems: err.problems });

/** The answer for `uploaded` against `base` (compiled, or its problems). */
function answer(uploaded: CompiledScheme, base: CompiledScheme | Invalid): UploadRead {
  const { name, digest } = uploaded;
  if (!("digest" in base)) return { name, digest, diff: { baseInvalid: base } };
  const diff = diffSchemes(base, uploaded);
  return { name, digest, diff: { identical: diff.identical, changes: diff.changes, text: formatDiff(diff) } };
}

/**
 * Reads an upload against `base` (the active version as uploaded, compiled; or a function that
 * compiles it): the upload's problems are thrown, as InvalidInputError; the base's are returned.
 */
export function readUpload(text: string, base: CompiledScheme | (() => CompiledScheme)): UploadRead {
  const uploaded = parseScheme(text, UPLOAD_FILE);
  let from: CompiledScheme | Invalid;
  try {
    from = typeof base === "function" ? base() : base;
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    from = invalid(err);
  }
  return answer(uploaded, from);
}

/** The upload read as the worker thread reads it: its validated source, or its problems, as data. */
export function uploadOutcome(task: UploadTask): UploadOutcome {
  try {
    const source = parseSchemeWith(task.text, UPLOAD_FILE, (value: SchemeFile) => {
      const compiled = compileScheme(value);
      return compiled.ok ? { ok: true, scheme: value } : compiled;
    });
    return { ok: source };
  } catch (err) {
    if (err instanceof InvalidInputError) return { invalid: invalid(err) };
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The reading thread's time: two minutes, and a minute more per MB of the upload. A 10 MB scheme
 * took 48 s on an idle core and 314 s on a two-core machine shared by several test runs (its limit:
 * 12 minutes), while a parser stuck on a crafted file still gives its core back.
 */
export const uploadTimeoutMs = (task: UploadTask): number =>
  120_000 + Math.ceil((task.text.length / 1_000_000) * 60_000);

/**
 * Published with `{ chars }` when an upload's reading thread is running (its "online" event): what
 * is read there no longer holds this thread's event loop.
 */
export const uploadThreadChannel = channel("clearance:scheme-upload-thread");

/**
 * The upload alone, compiled: inline when small, else in the node's reading thread (in turn), its
 * validated source compiled here. Its problems are thrown as InvalidInputError.
 */
export async function readUploadAlone(text: string, limits: UploadLimits = {}): Promise<CompiledScheme> {
  return text.length <= INLINE_UPLOAD_CHARS ? parseScheme(text, UPLOAD_FILE) : readInItsThread(text, limits);
}

async function readInItsThread(text: string, limits: UploadLimits): Promise<CompiledScheme> {
  const task: UploadTask = { text };
  const outcome = await readInThread<UploadOutcome>({
    base: import.meta.url,
    worker: "upload-worker",
    data: task,
    file: UPLOAD_FILE,
    heapMb: limits.heapMb ?? UPLOAD_HEAP_MB,
    timeoutMs: limits.timeoutMs ?? uploadTimeoutMs(task),
    online: () => {
      if (uploadThreadChannel.hasSubscribers) uploadThreadChannel.publish({ chars: text.length });
    },
  });
  if ("invalid" in outcome) throw new InvalidInputError(outcome.invalid.problems, outcome.invalid.message);
  if ("failed" in outcome) throw schemeUnreadable(UPLOAD_FILE, outcome.failed);
  const compiled = compileScheme(outcome.ok);
  // The thread compiled this very source: cannot fail but would be a bug.
  if (!compiled.ok) throw schemeUnreadable(UPLOAD_FILE, "it was read in its thread but did not compile here");
  return compiled.scheme;
}

/**
 * Reads an upload against the active version `base` (its stored record; `compiled`, when this node
 * has it compiled already): the upload inline when small, else in the node's reading thread, alone;
 * the active version as this node has it compiled, else as read already (kept), else read on its own
 * (in a thread of its own when large: read-version.ts), so that each is read in a heap of its own and
 * a refusal names the one that did not fit. The upload's problems are thrown as InvalidInputError,
 * the same either way; the active version's are returned (the upload may mend it).
 */
export async function readUploadOffLoop(
  text: string,
  base: Pick<SchemeVersion, "version" | "text">,
  compiled?: CompiledScheme,
  limits: UploadLimits = {},
): Promise<UploadRead> {
  if (
    text.length <= INLINE_UPLOAD_CHARS &&
    (compiled !== undefined || base.text.length <= INLINE_UPLOAD_CHARS)
  )
    return readUpload(text, compiled ?? (() => parseStoredVersion(base)));
  const uploaded = await readUploadAlone(text, limits);
  if (compiled !== undefined) return answer(uploaded, compiled);
  const from = await readStoredVersionOffLoop(base, limits).then(
    (read): CompiledScheme | Invalid => read.scheme,
    (err: unknown) => {
      if (err instanceof InvalidInputError) return invalid(err);
      throw err;
    },
  );
  return answer(uploaded, from);
}
