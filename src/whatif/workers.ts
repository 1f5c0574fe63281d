/**
 * Deciding shares of a what-if's classes in worker threads: each compiles both schemes from their
 * source once, decides its share (cells.ts) and hands back the changed cells as one buffer,
 * transferred rather than copied. The classes' members stay on the calling thread, which counts
 * them into the report's groups.
 */
import type { CompiledScheme } from "../scheme/compile.js";
import { runWorker } from "../threads/index.js";
import type { Share } from "./cells.js";

export interface WorkerTask {
  readonly active: unknown;
  readonly candidate: unknown;
  readonly share: Share;
}

export async function decideInWorkers(
  active: CompiledScheme,
  candidate: CompiledScheme,
  shares: readonly Share[],
): Promise<Int32Array[]> {
  return Promise.all(
    shares.map((share) =>
      runWorker<Int32Array>(import.meta.url, "worker", {
        active: active.source,
        candidate: candidate.source,
        share,
      } satisfies WorkerTask),
    ),
  );
}
