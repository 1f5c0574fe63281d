/**
 * A worker thread that reads a stored scheme version (read-version.ts): parsing a large one's YAML
 * on a node's event loop would hold up every request it serves for seconds. Its validated source, or
 * its problems, come back as data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { versionOutcome, type VersionTask } from "./read-version.js";

parentPort?.postMessage(versionOutcome(workerData as VersionTask));
