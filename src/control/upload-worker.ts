/**
 * A worker thread that reads a scheme upload (upload.ts): parsing a large one's YAML on a node's
 * event loop would hold up every request it serves for seconds. Its problems come back as data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { uploadOutcome, type UploadTask } from "./upload.js";

parentPort?.postMessage(uploadOutcome(workerData as UploadTask));
