/**
 * The thread a large scheme is read in (an upload: upload.ts; a stored version: read-version.ts):
 * its heap and time limits, what outgrowing them answers, and the one such thread a node runs at a
 * time. Each takes a heap of up to UPLOAD_HEAP_MB: five uploads at once, each with a thread of its
 * own, could take the node's memory (and its cores) from the gateway it serves. So readings take
 * turns, in arrival order; a few wait, and one past them is refused at once (503
 * scheme_reading_busy), the node unharmed.
 */
import type { Worker } from "node:worker_threads";
import { ClearanceError, type Problem } from "../errors/index.js";
import { runWorker } from "../threads/index.js";

/** Uploads and versions up to this many characters are read on the event loop (64 Ki: a few tens of milliseconds). */
export const INLINE_UPLOAD_CHARS = 64 * 1024;

/** What an upload's problems name as their file, as they always have. */
export const UPLOAD_FILE = "uploaded scheme";

/**
 * The reading thread's heap: a 10 MB scheme (the admin API's body limit) of 60,375 licenses is read
 * in 1 GB (not in 512 MB); only a document crafted to blow up in parsing needs more. A thread reads
 * one scheme: an upload's diff is against the active version read apart (compiled on this node
 * already, kept, or read in a thread of its own).
 */
export const UPLOAD_HEAP_MB = 1024;

export interface UploadLimits {
  readonly heapMb?: number;
  readonly timeoutMs?: number;
}

/** Problems as data (an InvalidInputError's), to cross from a worker thread unchanged. */
export interface Invalid {
  readonly message: string;
  readonly problems: readonly Problem[];
}

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
 * A reading thread that failed otherwise than by its limits (it crashed, its answer could not be
 * sent, compiling threw something unforeseen): 500 scheme_unreadable, saying which scheme and why
 * (the thread's message, never its stack); the whole error is its cause, logged as every 5xx is.
 */
export function schemeUnreadable(file: string, why: string, cause?: unknown): ClearanceError {
  return new ClearanceError("internal", "scheme_unreadable", `${file} could not be read: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/** How many readings may wait for the node's reading thread; one more is refused at once. */
export const READING_QUEUE = 4;

let busy = false;
const waiting: (() => void)[] = [];

/** Readings running (0 or 1) and waiting, on this node (tests, diagnostics). */
export function readingThreads(): { readonly running: number; readonly waiting: number } {
  return { running: busy ? 1 : 0, waiting: waiting.length };
}

/** Runs `work` once no other reading thread runs on this node (in arrival order); refuses past the queue. */
async function inTurn<T>(file: string, work: () => Promise<T>): Promise<T> {
  if (busy) {
    if (waiting.length >= READING_QUEUE)
      throw new ClearanceError(
        "unavailable",
        "scheme_reading_busy",
        `${file} cannot be read now: this node is reading ${READING_QUEUE + 1} large schemes already, ` +
          "one at a time; try again when they are done",
      );
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else busy = true;
  try {
    return await work();
  } finally {
    // The turn passes to the next waiting, or the thread is free.
    const next = waiting.shift();
    if (next !== undefined) next();
    else busy = false;
  }
}

/** A reading's thread: the worker module beside `base`, what it is given, and what it reads. */
export interface ReadingTask {
  readonly base: string;
  readonly worker: string;
  readonly data: unknown;
  /** What it reads, as its errors name it ("uploaded scheme", "scheme version 3"). */
  readonly file: string;
  readonly heapMb: number;
  readonly timeoutMs: number;
  /** Called once the thread runs (its "online" event). */
  readonly online?: () => void;
}

/**
 * Runs a reading in the node's reading thread, in turn: its answer; past its time or heap 413
 * scheme_too_complex, any other failure 500 scheme_unreadable, each naming `file`.
 */
export function readInThread<T>(task: ReadingTask): Promise<T> {
  const { file, heapMb, timeoutMs, online } = task;
  return inTurn(file, () =>
    runWorker<T>(task.base, task.worker, task.data, {
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      timeoutMs,
      ...(online === undefined ? {} : { started: (worker: Worker) => worker.once("online", online) }),
    }).catch((err: unknown) => {
      const code = (err as { code?: unknown }).code;
      if (code === "ERR_WORKER_TIMEOUT")
        throw schemeTooComplex(`reading it took longer than ${timeoutMs} ms, and was stopped`, file);
      if (code === "ERR_WORKER_OUT_OF_MEMORY")
        throw schemeTooComplex(`reading it needed more than ${heapMb} MB`, file);
      throw schemeUnreadable(file, err instanceof Error ? err.message : String(err), err);
    }),
  );
}
