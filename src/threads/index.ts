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

/**
 * Runs a worker to its one message, then ends it; rejects with an Error on its error (whatever it
 * threw) or an early exit (past its resource limits: an error whose code is ERR_WORKER_OUT_OF_MEMORY).
 */
export function runWorker<T>(
  base: string,
  name: string,
  workerData: unknown,
  resourceLimits?: ResourceLimits,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = startWorker(base, name, workerData, resourceLimits);
    let done = false;
    worker.once("message", (message: T) => {
      done = true;
      resolve(message);
      void worker.terminate();
    });
    worker.once("error", (err: unknown) => reject(workerError(name, err)));
    worker.once("exit", (code) => {
      if (!done)
        reject(new Error(`the ${name} worker thread stopped with exit code ${code} before answering`));
    });
  });
}
