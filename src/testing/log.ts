/** A published audit log held in memory, for tests of what reads one (reports, what-if history). */
import type { LogSource } from "../audit/source.js";
import { encodeBundle, tilePath } from "../audit/tiles.js";

/**
 * One partial bundle of `entries` (objects are written as their JSON) and its checkpoint; the
 * checkpoint's root is not read by these readers, so it is zeros.
 */
export function memoryLog(entries: readonly (Buffer | object)[]): LogSource {
  const bytes = entries.map((e) => (Buffer.isBuffer(e) ? e : Buffer.from(JSON.stringify(e))));
  return {
    location: "memory",
    read: async (path) =>
      path === "checkpoint"
        ? Buffer.from(`test/log\n${bytes.length}\n${Buffer.alloc(32).toString("base64")}\n\n— test\n`)
        : path === tilePath({ level: "entries", index: 0n, width: bytes.length })
          ? encodeBundle(bytes)
          : null,
  };
}
