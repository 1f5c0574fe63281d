/** A published audit log held in memory, for tests of what reads one (reports, what-if history). */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { LogSource } from "../audit/source.js";
import { encodeBundle, tilePath } from "../audit/tiles.js";

/**
 * One partial bundle of `entries` (objects are written as their JSON) and its checkpoint; the
 * checkpoint's root is not read by these readers, so it is zeros.
 */
export function memoryLog(entries: readonly (Buffer | object)[]): LogSource {
  const bytes = entryBytes(entries);
  return {
    location: "memory",
    read: async (path) =>
      path === "checkpoint"
        ? Buffer.from(checkpointText(bytes.length))
        : path === tilePath({ level: "entries", index: 0n, width: bytes.length })
          ? encodeBundle(bytes)
          : null,
  };
}

/** The same log written into `dir` (a bundle and a checkpoint), for the command line's `--log`. */
export function writeLogDir(dir: string, entries: readonly (Buffer | object)[]): void {
  const bytes = entryBytes(entries);
  const bundle = join(dir, tilePath({ level: "entries", index: 0n, width: bytes.length }));
  mkdirSync(dirname(bundle), { recursive: true });
  writeFileSync(bundle, encodeBundle(bytes));
  writeFileSync(join(dir, "checkpoint"), checkpointText(bytes.length));
}

/** A decision entry as the gateway logs it: benoit's open-model request from France, changed by `changes`. */
export const loggedDecision = (scheme: string, time: string, changes: object = {}) => ({
  action: "infer",
  decision: "allow",
  grant: null,
  location: "FR",
  model: "mythos-4",
  node: "n",
  organization: "inria",
  principal: "benoit",
  reason: "open-model",
  request_id: `r-${time}`,
  scheme,
  served_model: "mythos-4",
  time,
  type: "decision",
  v: 1,
  ...changes,
});

const entryBytes = (entries: readonly (Buffer | object)[]) =>
  entries.map((e) => (Buffer.isBuffer(e) ? e : Buffer.from(JSON.stringify(e))));
const checkpointText = (size: number) =>
  `test/log\n${size}\n${Buffer.alloc(32).toString("base64")}\n\n— test\n`;
