/**
 * Deciding shares of a what-if's classes in worker threads: each compiles both schemes from their
 * source once, decides its share (cells.ts) and hands back the changed cells as one buffer,
 * transferred rather than copied. The classes' members stay on the calling thread, which counts
 * them into the report's groups.
 */
import { ACTIONS } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { runWorker } from "../threads/index.js";
import type { Share } from "./cells.js";

export interface WorkerTask {
  readonly active: unknown;
  readonly candidate: unknown;
  readonly share: Share;
}

/**
 * A share's time: a minute (starting the thread, compiling both schemes), and 10 µs more per cell it
 * decides (class × location × model × action). The benchmark decides 13.7 million cells (1,000,000
 * principals in 171,341 class × location pairs, 20 models) in 3.3 s of CPU, about 0.24 µs a cell,
 * so each of its two shares gets 129 s for well under 2 s of work: room for a machine several times
 * busier, while a thread that hangs (a bug: deciding always ends) gives its core back.
 */
export function shareTimeoutMs(share: Share): number {
  let pairs = 0;
  for (const places of share.locations) pairs += places.length;
  return 60_000 + Math.ceil(pairs * share.models.length * ACTIONS.length * 0.01);
}

/**
 * Decides each share in a thread of its own. The first failure (an error, its time limit) fails the
 * whole: the other threads are stopped rather than left deciding what nobody will read, and the
 * failure is thrown once they are gone. Aborting `signal` (the caller's own share failed) stops them too.
 */
export async function decideInWorkers(
  active: CompiledScheme,
  candidate: CompiledScheme,
  shares: readonly Share[],
  signal?: AbortSignal,
): Promise<Int32Array[]> {
  const stop = new AbortController();
  // Already aborted (the caller's share failed while this module loaded): no thread is started.
  if (signal?.aborted === true) throw signal.reason;
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const runs = shares.map((share) =>
    runWorker<Int32Array>(
      import.meta.url,
      "worker",
      { active: active.source, candidate: candidate.source, share } satisfies WorkerTask,
      { timeoutMs: shareTimeoutMs(share), signal: stop.signal },
    ).catch((err: unknown) => {
      stop.abort(err);
      throw err;
    }),
  );
  const done = await Promise.allSettled(runs);
  signal?.removeEventListener("abort", onAbort);
  // The first to fail: the others were stopped with its error as their reason.
  if (stop.signal.aborted) throw stop.signal.reason;
  return done.map((r) => (r as PromiseFulfilledResult<Int32Array>).value);
}
