/**
 * Deciding a what-if's classes in worker threads: each compiles both schemes from their source
 * once, decides its share of the classes, and sends back its groups of changed decisions, which are
 * merged here. Shares are dealt round-robin, so each gets a mix of large and small classes.
 */
import { Worker } from "node:worker_threads";
import type { Class, PopulationInput } from "./population.js";
import type { ExportedChanges } from "./result.js";

export interface WorkerTask {
  readonly active: unknown;
  readonly candidate: unknown;
  readonly classes: readonly Class[];
  readonly models: readonly string[];
  readonly time: number;
  readonly usage: PopulationInput["usage"];
  readonly examples: number;
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
  input: PopulationInput,
  classes: readonly Class[],
  models: readonly string[],
  threads: number,
): Promise<ExportedChanges[]> {
  const shares: Class[][] = Array.from({ length: threads }, () => []);
  classes.forEach((c, i) => shares[i % threads]?.push(c));
  return Promise.all(
    shares.map(
      (share) =>
        new Promise<ExportedChanges>((resolve, reject) => {
          const task: WorkerTask = {
            active: input.active.source,
            candidate: input.candidate.source,
            classes: share,
            models,
            time: input.time,
            usage: input.usage,
            examples: input.examples ?? 5,
          };
          const worker = startWorker(task);
          worker.once("message", (m: ExportedChanges) => {
            resolve(m);
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
