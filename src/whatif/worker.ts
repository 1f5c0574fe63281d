/** A what-if worker thread: decides its share of the classes (see workers.ts) and sends its changes back. */
import { parentPort, workerData } from "node:worker_threads";
import { compileScheme, type CompiledScheme } from "../scheme/compile.js";
import type { SchemeFile } from "../scheme/schema.js";
import { decideClasses } from "./population.js";
import { ChangeCollector } from "./result.js";
import type { WorkerTask } from "./workers.js";

function compiled(source: unknown): CompiledScheme {
  const r = compileScheme(source as SchemeFile);
  if (!r.ok)
    throw new Error(`a scheme that compiled does not compile in a worker: ${r.problems[0]?.message}`);
  return r.scheme;
}

const task = workerData as WorkerTask;
const collector = new ChangeCollector(task.examples);
const steps = decideClasses(
  compiled(task.active),
  compiled(task.candidate),
  task.classes,
  task.models,
  task.time,
  task.usage,
  collector,
);
while (steps.next().done !== true);
parentPort?.postMessage(collector.exported());
