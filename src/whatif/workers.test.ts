/**
 * The time a what-if's worker thread gets for its share: derived from the cells it decides, so that
 * a large population is never cut short while a hung thread still gives its core back.
 */
import { describe, expect, it } from "vitest";
import type { Share } from "./cells.js";
import { shareTimeoutMs } from "./workers.js";

const share = (pairs: number, models: number): Share => ({
  reps: [],
  locations: Array.from({ length: pairs }, () => ["US"]),
  models: Array.from({ length: models }, (_, i) => `m${i}`),
  time: 0,
  usage: undefined,
});

describe("a what-if share's time limit", () => {
  it("is a minute, and 10 µs more per class × location × model × action", () => {
    expect(shareTimeoutMs(share(0, 20))).toBe(60_000);
    expect(shareTimeoutMs(share(1_000, 5))).toBe(60_000 + 1_000 * 5 * 4 * 0.01);
    // Half the benchmark's 171,341 class × location pairs, 20 models: about 129 s for under 2 s of work.
    expect(shareTimeoutMs(share(85_671, 20))).toBe(128_537);
  });
});
