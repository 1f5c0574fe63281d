import { expect, vi } from "vitest";

/** Waits for a state a log's timer brings, not for speed (a loaded CI machine runs 10× slower). */
export const WAIT = { timeout: 30_000, interval: 10 };

/**
 * Resolves once `target`'s `method`, called by its timer at each tick, has run `n` more times:
 * counted, not guessed from a time, which a loaded machine may pass with no tick run.
 */
export async function ticked(target: object, method: string, n = 2): Promise<void> {
  const tick = vi.spyOn(target as Record<string, () => void>, method);
  try {
    const from = tick.mock.calls.length;
    await vi.waitFor(
      () => expect(tick.mock.calls.length - from, "ticks of the log's timer").toBeGreaterThanOrEqual(n),
      WAIT,
    );
  } finally {
    tick.mockRestore();
  }
}
