/**
 * Worker threads for work too long for the event loop (a what-if's classes, parsing a sanctions
 * list): the compiled worker module beside the caller; under a TypeScript loader (tests run the
 * sources), a small script that registers tsx in the thread first, then imports the .ts module.
 */
import { inspect } from "node:util";
import { Worker, type ResourceLimits } from "node:worker_threads";

/** Starts `name` (without extension) from the caller's directory (`base`: its import.meta.url). */
export function startWorker(
  base: string,
  name: string,
  workerData: unknown,
  resourceLimits?: ResourceLimits,
): Worker {
  const options = { workerData, ...(resourceLimits === undefined ? {} : { resourceLimits }) };
  if (!base.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, base), options);
  const source = JSON.stringify(new URL(`./${name}.ts`, base).href);
  const script = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(script, { eval: true, ...options });
}

/**
 * What a worker threw, as an Error. A thread hands over only what it can clone: an Error arrives as
 * one (message, stack, code), anything else as itself (null, a string) or as a plain object (a
 * DataCloneError from an answer it could not send), which callers reading `err.code` would trip on.
 */
function workerError(name: string, thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  const message = (thrown as { message?: unknown } | null | undefined)?.message;
  const shown =
    typeof message === "string" && message !== ""
      ? message
      : typeof thrown === "string"
        ? thrown
        : inspect(thrown, { depth: 2, breakLength: Infinity, maxStringLength: 200 });
  return new Error(`the ${name} worker thread failed: ${shown}`, { cause: thrown });
}

/** What a worker may take: its heap and, for one run, its time. */
export interface WorkerLimits {
  readonly resourceLimits?: ResourceLimits;
  /**
   * How long the worker may run without answering: then it is terminated and the run rejects with a
   * WorkerTimeoutError. Without it, a worker that neither answers nor exits (a parser stuck on a
   * crafted file) would hold a core until the process ends.
   */
  readonly timeoutMs?: number;
  /**
   * Aborting it terminates the worker, and the run rejects with the signal's reason once the thread
   * is gone: work whose result is no longer wanted (another share of it failed) gives its core back.
   */
  readonly signal?: AbortSignal;
  /** Called with the thread once started (to watch it: its "online" event, say). */
  readonly started?: (worker: Worker) => void;
}

/** The longest delay a Node timer keeps (a longer one fires after 1 ms): about 24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A worker stopped for running past its time limit; `code` is ERR_WORKER_TIMEOUT. */
export class WorkerTimeoutError extends Error {
  override name = "WorkerTimeoutError";
  readonly code = "ERR_WORKER_TIMEOUT";
  constructor(
    readonly worker: string,
    readonly timeoutMs: number,
  ) {
    super(`the ${worker} worker thread did not answer within ${timeoutMs} ms and was stopped`);
  }
}

/**
 * Runs a worker to its one message, then ends it; rejects with an Error on its error (whatever it
 * threw), an early exit (past its resource limits: an error whose code is ERR_WORKER_OUT_OF_MEMORY),
 * or no answer within `timeoutMs` (the worker terminated: a WorkerTimeoutError, ERR_WORKER_TIMEOUT).
 */
export function runWorker<T>(
  base: string,
  name: string,
  workerData: unknown,
  limits: WorkerLimits = {},
): Promise<T> {
  const { resourceLimits, timeoutMs, signal, started } = limits;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) {
    return Promise.reject(new RangeError(`a worker's time limit must be positive, not ${timeoutMs}`));
  }
  return new Promise<T>((resolve, reject) => {
    const worker = startWorker(base, name, workerData, resourceLimits);
    started?.(worker);
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // The first of answer, error, exit and time-out decides; whatever follows is ignored.
    const settle = (decide: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      decide();
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () =>
          settle(() => {
            // terminate() stops even a thread spinning in JavaScript (V8 interrupts it).
            void worker.terminate();
            reject(new WorkerTimeoutError(name, timeoutMs));
          }),
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
    }
    // Rejected once the thread has stopped: a caller that goes on knows its core is free again.
    function aborted(): void {
      settle(() => void worker.terminate().then(() => reject(signal?.reason)));
    }
    if (signal?.aborted === true) aborted();
    else signal?.addEventListener("abort", aborted, { once: true });
    worker.once("message", (message: T) => {
      settle(() => resolve(message));
      void worker.terminate();
    });
    worker.once("error", (err: unknown) => settle(() => reject(workerError(name, err))));
    worker.once("exit", (code) =>
      settle(() =>
        reject(new Error(`the ${name} worker thread stopped with exit code ${code} before answering`)),
      ),
    );
  });
}
