import { join } from "node:path";
import { expect, vi } from "vitest";
import { generateKey, parseSignerKey, parseVerifierKey } from "../audit/note.js";

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

const ORIGIN = "test.example/audit";
const keys = generateKey(ORIGIN);

/**
 * An embedded audit log's options in `dataDir` for tests of what its ticks see: a tick every 20 ms,
 * the time read from `clock` (the test moves it), errors pushed onto `errors`.
 */
export function tickingLogOptions(dataDir: string, clock = { now: 0 }, errors: unknown[] = []) {
  return {
    dir: join(dataDir, "audit"),
    walPath: join(dataDir, "audit.wal"),
    origin: ORIGIN,
    signer: parseSignerKey(keys.privateKey),
    verifier: parseVerifierKey(keys.verifierKey),
    checkpointMs: 20,
    now: () => clock.now,
    onError: (err: unknown) => void errors.push(err),
  };
}
