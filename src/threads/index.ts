/**
 * Worker threads for work too long for the event loop (a what-if's classes, parsing a sanctions
 * list): the compiled worker module beside the caller; under a TypeScript loader (tests run the
 * sources), a small script that registers tsx in the thread first, then imports the .ts module.
 */
import { Worker } from "node:worker_threads";

/** Starts `name` (without extension) from the caller's directory (`base`: its import.meta.url). */
export function startWorker(base: string, name: string, workerData: unknown): Worker {
  if (!base.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, base), { workerData });
  const source = JSON.stringify(new URL(`./${name}.ts`, base).href);
  const script = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(script, { eval: true, workerData });
}

/** Runs a worker to its one message, then ends it; rejects on its error or an early exit. */
export function runWorker<T>(base: string, name: string, workerData: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = startWorker(base, name, workerData);
    let done = false;
    worker.once("message", (message: T) => {
      done = true;
      resolve(message);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (!done)
        reject(new Error(`the ${name} worker thread stopped with exit code ${code} before answering`));
    });
  });
}
