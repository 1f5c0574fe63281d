/** A what-if worker thread: decides its share of the classes (see workers.ts) and sends the changed cells back. */
import { parentPort, workerData } from "node:worker_threads";
import { compileScheme, type CompiledScheme } from "../scheme/compile.js";
import type { SchemeFile } from "../scheme/schema.js";
import { CodeBuffer, decideShare } from "./cells.js";
import type { WorkerTask } from "./workers.js";

function compiled(source: unknown): CompiledScheme {
  const r = compileScheme(source as SchemeFile);
  if (!r.ok)
    throw new Error(`a scheme that compiled does not compile in a worker: ${r.problems[0]?.message}`);
  return r.scheme;
}

const task = workerData as WorkerTask;
const out = new CodeBuffer();
const steps = decideShare(compiled(task.active), compiled(task.candidate), task.share, out);
while (steps.next().done !== true);
const changes = out.done();
parentPort?.postMessage(changes, [changes.buffer as ArrayBuffer]);
