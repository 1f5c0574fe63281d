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
import { ClearanceError, InvalidInputError, type Problem } from "../errors/index.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import { diffSchemes, formatDiff, type SchemeChange } from "../scheme/diff.js";
import { runWorker } from "../threads/index.js";
import { parseStoredVersion } from "./effective.js";
import type { SchemeVersion } from "./types.js";

/** Uploads up to this many characters are read on the event loop (64 Ki: a few tens of milliseconds). */
export const INLINE_UPLOAD_CHARS = 64 * 1024;

/** What an upload's problems name as their file, as they always have. */
export const UPLOAD_FILE = "uploaded scheme";

/** The diff of an upload against the active version, as the upload's answer carries it. */
export interface UploadDiff {
  readonly identical: boolean;
  readonly changes: readonly SchemeChange[];
  readonly text: string;
}

/** Problems as data (an InvalidInputError's), to cross from a worker thread unchanged. */
export interface Invalid {
  readonly message: string;
  readonly problems: readonly Problem[];
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

/** What the worker thread is given (upload-worker.ts): the text, and the active version's text. */
export interface UploadTask {
  readonly text: string;
  readonly base: Pick<SchemeVersion, "version" | "text">;
}

export type UploadOutcome =
  { readonly ok: UploadRead } | { readonly invalid: Invalid } | { readonly failed: string };

const invalid = (err: InvalidInputError): Invalid => ({ message: err.message, problems: err.problems });

/**
 * Reads an upload against `base` (the active version as uploaded, compiled; or a function that
 * compiles it): the upload's problems are thrown, as InvalidInputError; the base's are returned.
 */
export function readUpload(text: string, base: CompiledScheme | (() => CompiledScheme)): UploadRead {
  const uploaded = parseScheme(text, UPLOAD_FILE);
  let from: CompiledScheme;
  try {
    from = typeof base === "function" ? base() : base;
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    return { name: uploaded.name, digest: uploaded.digest, diff: { baseInvalid: invalid(err) } };
  }
  const diff = diffSchemes(from, uploaded);
  return {
    name: uploaded.name,
    digest: uploaded.digest,
    diff: { identical: diff.identical, changes: diff.changes, text: formatDiff(diff) },
  };
}

/** `readUpload` as the worker thread runs it: its outcome as data, whatever happens. */
export function uploadOutcome(task: UploadTask): UploadOutcome {
  try {
    return {
      ok: readUpload(task.text, () => parseStoredVersion(task.base as SchemeVersion)),
    };
  } catch (err) {
    if (err instanceof InvalidInputError) return { invalid: invalid(err) };
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The reading thread's heap: a 10 MB scheme (the admin API's body limit) of 60,375 licenses is read
 * in 1 GB (not in 512 MB); only a document crafted to blow up in parsing needs more.
 */
export const UPLOAD_HEAP_MB = 1024;

/**
 * The reading thread's time: two minutes, and a minute more per MB of text (the upload's and the
 * active version's). That 10 MB scheme took 48 s on an idle core and 314 s on a two-core machine
 * shared by several test runs (its limit: 12½ minutes), while a parser stuck on a crafted file still
 * gives its core back.
 */
export const uploadTimeoutMs = (task: UploadTask): number =>
  120_000 + Math.ceil(((task.text.length + task.base.text.length) / 1_000_000) * 60_000);

export interface UploadLimits {
  readonly heapMb?: number;
  readonly timeoutMs?: number;
}

/**
 * Published with `{ chars }` when an upload's reading thread is running (its "online" event): what
 * is read there no longer holds this thread's event loop.
 */
export const uploadThreadChannel = channel("clearance:scheme-upload-thread");

/**
 * A scheme whose reading outgrew the thread's heap or time: 413 scheme_too_complex, naming the upload
 * (or `file`: the stored version read, "scheme version 3").
 */
export function schemeTooComplex(why: string, file = UPLOAD_FILE): ClearanceError {
  const message = `${why}: a scheme is at most a few MB of partners and licenses written out; is it the file you meant?`;
  return new ClearanceError("too-large", "scheme_too_complex", `${file}: ${message}`, {
    problems: [{ code: "scheme_too_complex", path: ["yaml"], file, message }],
  });
}

/**
 * Reads an upload against the active version `base` (its stored record; `compiled`, when this node
 * has it compiled already): inline when both texts that would be parsed are small, else in a worker
 * thread. The upload's problems are thrown as InvalidInputError, the same either way.
 */
export async function readUploadOffLoop(
  text: string,
  base: Pick<SchemeVersion, "version" | "text">,
  compiled?: CompiledScheme,
  limits: UploadLimits = {},
): Promise<UploadRead> {
  const parsedHere = text.length + (compiled === undefined ? base.text.length : 0);
  if (parsedHere <= INLINE_UPLOAD_CHARS)
    return readUpload(text, compiled ?? (() => parseStoredVersion(base as SchemeVersion)));
  const task: UploadTask = { text, base: { version: base.version, text: base.text } };
  const heapMb = limits.heapMb ?? UPLOAD_HEAP_MB;
  const timeoutMs = limits.timeoutMs ?? uploadTimeoutMs(task);
  const outcome = await runWorker<UploadOutcome>(import.meta.url, "upload-worker", task, {
    resourceLimits: { maxOldGenerationSizeMb: heapMb },
    timeoutMs,
    started: (worker) =>
      worker.once("online", () => {
        if (uploadThreadChannel.hasSubscribers) uploadThreadChannel.publish({ chars: text.length });
      }),
  }).catch((err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (code === "ERR_WORKER_TIMEOUT")
      throw schemeTooComplex(`reading it took longer than ${timeoutMs} ms, and was stopped`);
    if (code === "ERR_WORKER_OUT_OF_MEMORY")
      throw schemeTooComplex(`reading it needed more than ${heapMb} MB`);
    throw err;
  });
  if ("invalid" in outcome) throw new InvalidInputError(outcome.invalid.problems, outcome.invalid.message);
  if ("failed" in outcome) throw new Error(`the uploaded scheme could not be read: ${outcome.failed}`);
  return outcome.ok;
}
