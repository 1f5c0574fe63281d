/**
 * `eventually()`: asks until the condition holds, with no time bound of its own (the test's time
 * limit is the guard); stopped by its signal, it says what it last saw, and so does the test's
 * time-out error. The signals here are the test's own, aborted on an event (the nth ask).
 */
import { describe, expect, it } from "vitest";
import { eventually } from "./admin.js";

/** `fn` for eventually: the nth ask returns `{ status: 503, ask: n }`, and `at(n)` runs first. */
function asks(at: (n: number) => void = () => undefined) {
  const state = { n: 0 };
  const fn = async () => {
    state.n += 1;
    at(state.n);
    return { status: 503, ask: state.n };
  };
  return { state, fn };
}

describe("eventually()", () => {
  it("asks until the condition holds, however many asks that takes (was: 100 asks, about 2 s)", async () => {
    const { state, fn } = asks();
    // Before: gave up after its 100th ask and returned that, the condition unmet.
    const got = await eventually(fn, (r) => r.ask === 101);
    expect(got).toEqual({ status: 503, ask: 101 });
    expect(state.n).toBe(101);
  });

  it("returns at once, asking once, when the condition already holds", async () => {
    const { state, fn } = asks();
    expect(await eventually(fn, (r) => r.status === 503)).toEqual({ status: 503, ask: 1 });
    expect(state.n).toBe(1);
  });

  it("stops asking once its signal is aborted, saying what it last saw", async () => {
    const stop = new AbortController();
    const { state, fn } = asks((n) => n === 3 && stop.abort(new Error("Test timed out in 60000ms.")));
    await expect(eventually(fn, (r) => r.status === 200, stop.signal)).rejects.toThrow(
      /^stopped waiting: eventually\(\): the last seen, \{ status: 503, ask: 3 \}$/,
    );
    expect(state.n).toBe(3);
  });

  it("adds what it last saw to the time-out error that aborts the test's signal", async () => {
    const stop = new AbortController();
    const timedOut = new Error("Test timed out in 60000ms.");
    const { fn } = asks((n) => n === 2 && stop.abort(timedOut));
    await eventually(fn, (r) => r.status === 200, stop.signal).catch(() => undefined);
    expect(timedOut.message).toBe(
      "Test timed out in 60000ms.\neventually(): the last seen, { status: 503, ask: 1 }",
    );
    expect(timedOut.stack).toContain(timedOut.message);
  });
});
