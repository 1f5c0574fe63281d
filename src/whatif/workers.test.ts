/**
 * A what-if's worker threads: the time each gets for its share, derived from the cells it decides,
 * so that a large population is never cut short while a hung thread still gives its core back; and
 * one thread failing fails the whole at once, the others stopped rather than left to decide on.
 */
import { describe, expect, it, vi } from "vitest";
import type { Principal } from "../policy/types.js";
import { parseScheme } from "../scheme/index.js";
import type * as Cells from "./cells.js";
import type { Share } from "./cells.js";
import { populationWhatIfYielding } from "./population.js";
import { decideInWorkers, shareTimeoutMs } from "./workers.js";

/** Set: this thread's share of a what-if never ends (its workers' shares are decided as ever). */
let endless = false;
vi.mock("./cells.js", async (original) => {
  const cells = await original<typeof Cells>();
  return {
    ...cells,
    decideShare: (...args: Parameters<typeof cells.decideShare>) =>
      endless
        ? (function* () {
            for (;;) yield;
          })()
        : cells.decideShare(...args),
  };
});

const share = (pairs: number, models: number): Share => ({
  reps: [],
  locations: Array.from({ length: pairs }, () => ["US"]),
  models: Array.from({ length: models }, (_, i) => `m${i}`),
  time: 0,
  usage: undefined,
  candidateUsage: undefined,
});

describe("a what-if share's time limit", () => {
  it("is a minute, and 10 µs more per class × location × model × action", () => {
    expect(shareTimeoutMs(share(0, 20))).toBe(60_000);
    expect(shareTimeoutMs(share(1_000, 5))).toBe(60_000 + 1_000 * 5 * 4 * 0.01);
    // Half the benchmark's 171,341 class × location pairs, 20 models: about 129 s for under 2 s of work.
    expect(shareTimeoutMs(share(85_671, 20))).toBe(128_537);
  });
});

const SCHEME = parseScheme(
  `
version: 1
name: base
home: [US]
nationality_rule: most-recent
embargoed: [IR]
models:
  m5: {control: controlled, fallback: m4}
  m4: {control: open}
`,
  "base.yaml",
);
const person: Principal = {
  id: "benoit",
  citizenships: [{ country: "FR", since: "1990-01-01" }],
  residence: "FR",
  assurance: "verified",
};
/** Message ports open in this process: each live worker thread holds one. */
const ports = () => process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;

describe("a what-if worker that fails", () => {
  it("fails the what-if with its error, and the other threads are stopped by then", async () => {
    const before = ports();
    // One class at 2 million locations × 2 models × 4 actions: 16 million cells, seconds of work.
    const long: Share = {
      reps: [person],
      locations: [Array.from({ length: 2_000_000 }, (_, i) => (i % 2 === 0 ? "FR" : "DE"))],
      models: ["m5", "m4"],
      time: 0,
      usage: undefined,
      candidateUsage: undefined,
    };
    // A share the thread cannot decide (no principal where one must be): it throws at once.
    const broken: Share = { ...long, reps: [null as unknown as Principal], locations: [["FR"]] };
    await expect(decideInWorkers(SCHEME, SCHEME, [long, broken])).rejects.toThrow(TypeError);
    // No thread is left deciding the long share for a result nobody will read.
    expect(ports()).toBe(before);
  }, 60_000);
});

describe("a what-if aborted by its caller", () => {
  it("starts no thread when already aborted, and leaves no listener on the caller's signal after it ends", async () => {
    const before = ports();
    const failed = new AbortController();
    failed.abort(new RangeError("this thread's share failed"));
    await expect(decideInWorkers(SCHEME, SCHEME, [share(1, 1)], failed.signal)).rejects.toThrow(RangeError);
    expect(ports()).toBe(before);
    // A what-if that ends well takes its listener off the caller's signal, which lives on.
    const caller = new AbortController();
    const listening = vi.spyOn(caller.signal, "removeEventListener");
    const tiny: Share = { ...share(1, 1), reps: [person], locations: [["FR"]] };
    await decideInWorkers(SCHEME, SCHEME, [tiny], caller.signal);
    expect(listening).toHaveBeenCalledWith("abort", expect.any(Function));
  }, 60_000);
});

describe("a what-if whose worker fails", () => {
  it("fails at once, without waiting for this thread's own share", async () => {
    endless = true;
    try {
      // The candidate as a worker gets it cannot be compiled there: that worker fails as it starts.
      const candidate = { ...SCHEME, source: { version: 1 } as unknown as typeof SCHEME.source };
      // Three classes (a home person, an embargoed nationality, a foreign person): a share each.
      const principals = ["US", "IR", "FR"].map((c) => ({
        ...person,
        id: c,
        citizenships: [{ country: c, since: "1990-01-01" }],
        residence: c,
      }));
      await expect(
        populationWhatIfYielding({
          active: SCHEME,
          candidate,
          principals,
          time: 0,
          threads: 2,
          minClassesPerThread: 1,
        }),
      ).rejects.toThrow(TypeError); // the worker's, as it threw it
    } finally {
      endless = false;
    }
  }, 30_000);
});
