/**
 * A worker thread that parses a list file into what the store imports (lists.ts): the official
 * files run to tens of megabytes, and parsing them on a gateway's event loop would hold up every
 * request for a second or more. A malformed file's problems come back as data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ClearanceError, InvalidInputError } from "../errors/index.js";
import { loadList } from "./loaders/index.js";
import { importInput, type ParseTask, type ParseOutcome } from "./lists.js";

const task = workerData as ParseTask;
// Buffers arrive as plain Uint8Arrays (structured clone): the loaders read them as Buffers.
const files = task.files.map((f) => ({
  ...f,
  bytes: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength),
}));
let outcome: ParseOutcome;
try {
  outcome = { ok: importInput(loadList(files, task.options)) };
} catch (err) {
  outcome =
    err instanceof InvalidInputError
      ? { invalid: { message: err.message, problems: err.problems } }
      : err instanceof ClearanceError
        ? { refused: { kind: err.kind, code: err.code, message: err.message, problems: err.problems } }
        : { failed: err instanceof Error ? err.message : String(err) };
}
parentPort?.postMessage(outcome);
