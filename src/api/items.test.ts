/**
 * batchItems refuses a batch of more than `maxItems` items as soon as it cuts one more: a 10 MB
 * `[0,0,…]` was cut into five million strings (1.1 s, +95 MB of heap) before the count was checked.
 * The scan's progress is counted by its looks at the clock (one per SCAN_STRIDE characters), not timed.
 */
import { describe, expect, it } from "vitest";
import { ClearanceError } from "../errors/index.js";
import type { Pacing } from "./items.js";
import { batchItems } from "./items.js";

/** Pacing that never yields, counting the scan's looks at the clock. */
function counting(): Pacing & { looks: number } {
  const turns = {
    looks: 0,
    due: () => {
      turns.looks++;
      return false;
    },
    next: async () => {},
    each: async (n: number, step: (i: number) => void) => {
      for (let i = 0; i < n; i++) step(i);
    },
  };
  return turns;
}

async function refusedWith(work: Promise<unknown>): Promise<string> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClearanceError);
  return (err as ClearanceError).code;
}

describe("batchItems", () => {
  it("cuts up to maxItems items, and refuses batch_too_large at the next without scanning on", async () => {
    expect(await batchItems("[0,1,2]", counting(), 100, 3)).toEqual(["0", "1", "2"]);
    expect(await batchItems("[ ]", counting(), 100, 0)).toEqual([]);
    expect(await refusedWith(batchItems("[0,1,2,3]", counting(), 100, 3))).toBe("batch_too_large");
    // Past item maxItems + 1, an item too large and an unclosed string are never reached.
    const past = `[0,1,2,3,${"9".repeat(500)},"open`;
    expect(await refusedWith(batchItems(past, counting(), 100, 3))).toBe("batch_too_large");
    // An item too large before the limit is still named first.
    expect(await refusedWith(batchItems(`[0,${"9".repeat(500)},2,3]`, counting(), 100, 3))).toBe(
      "decision_too_large",
    );
  });

  it("reads only as far as item maxItems + 1 of a 10 MB batch of tiny items", async () => {
    const text = "[" + "0,".repeat(5_000_000 - 1) + "0]";
    const turns = counting();
    expect(await refusedWith(batchItems(text, turns, 65_536, 10_000))).toBe("batch_too_large");
    // 10,001 items of two characters: some 20,000 characters, five strides (a whole scan: 2,442).
    expect(turns.looks).toBeLessThanOrEqual(Math.ceil(20_004 / 4096));
  });
});
