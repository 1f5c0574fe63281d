/**
 * `eventually()`: asks until the condition holds, bounded by the running test, not by a time of its
 * own; stopped by its signal, it says what it last saw, and so does the test's time-out error. It
 * stops when its test finishes, however that ends, and in a hook, where no test runs, after half of
 * vitest's hookTimeout. The signals here are the test's own, aborted on an event (the nth ask).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
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

  // The outcome of eventually() in a test that fails beside it, for the test after it to read.
  let besideFailure: Promise<string> = Promise.resolve("not asked");
  const besideAsks = asks();

  it.fails("(a test failing beside eventually(), at its 3rd ask)", async () => {
    let fail: (e: Error) => void = () => undefined;
    const failing = new Promise<never>((_, reject) => (fail = reject));
    const { fn } = asks((n) => n === 3 && fail(new Error("failed beside eventually()")));
    const asking = eventually(
      async () => (await fn(), besideAsks.fn()),
      (r) => r.status === 200,
    );
    besideFailure = asking.then(
      () => "returned",
      (e: Error) => e.message,
    );
    await Promise.all([asking, failing]);
  });

  it("stops asking when its test finishes failing otherwise (was: asked on into later tests)", async () => {
    // Before: vitest aborts the test's signal only on a time-out, so this never settled.
    expect(await besideFailure).toMatch(
      /^stopped waiting: eventually\(\): the last seen, \{ status: 503, ask: \d+ \}$/,
    );
    const asked = besideAsks.state.n;
    expect(await besideFailure).toContain(`ask: ${asked} }`);
  });
});

describe("eventually() in a hook, where no test runs", () => {
  // Half of it is 1 s; vitest's own limit for the hook below (registered after this) is 2 s.
  vi.setConfig({ hookTimeout: 2_000 });
  afterAll(() => vi.resetConfig());
  const { state, fn } = asks();
  let outcome = "not asked";
  beforeAll(async () => {
    outcome = await eventually(fn, (r) => r.status === 200).then(
      () => "returned",
      (e: Error) => e.message,
    );
  });

  it("gives up after half of vitest's hookTimeout, saying what it last saw (was: asked until a bare 'Hook timed out', and on)", () => {
    // Before: the hook failed with vitest's "Hook timed out in 2000ms." and the asking went on.
    expect(outcome).toBe(
      `stopped waiting after 1000 ms in a hook: eventually(): the last seen, { status: 503, ask: ${state.n} }`,
    );
  });
});
