/**
 * Deciding shares of a what-if's classes in worker threads: each compiles both schemes from their
 * source once, decides its share (cells.ts) and hands back the changed cells as one buffer,
 * transferred rather than copied. The classes' members stay on the calling thread, which counts
 * them into the report's groups.
 */
import { Worker } from "node:worker_threads";
import type { CompiledScheme } from "../scheme/compile.js";
import type { Share } from "./cells.js";

export interface WorkerTask {
  readonly active: unknown;
  readonly candidate: unknown;
  readonly share: Share;
}

/**
 * A worker running worker.js; under a TypeScript loader (tests run the sources), a small script
 * that registers tsx in the thread first, then imports worker.ts.
 */
function startWorker(task: WorkerTask): Worker {
  if (!import.meta.url.endsWith(".ts"))
    return new Worker(new URL("./worker.js", import.meta.url), { workerData: task });
  const source = JSON.stringify(new URL("./worker.ts", import.meta.url).href);
  const script = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${source}); })`;
  return new Worker(script, { eval: true, workerData: task });
}

export async function decideInWorkers(
  active: CompiledScheme,
  candidate: CompiledScheme,
  shares: readonly Share[],
): Promise<Int32Array[]> {
  return Promise.all(
    shares.map(
      (share) =>
        new Promise<Int32Array>((resolve, reject) => {
          const worker = startWorker({ active: active.source, candidate: candidate.source, share });
          worker.once("message", (changes: Int32Array) => {
            resolve(changes);
            void worker.terminate();
          });
          worker.once("error", reject);
          worker.once("exit", (code) => {
            if (code !== 0) reject(new Error(`a what-if worker thread stopped with exit code ${code}`));
          });
        }),
    ),
  );
}
