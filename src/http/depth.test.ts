import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DepthGauge } from "./index.js";

/** The deepest nesting of `text`, byte by byte, brackets inside strings not counted. */
function deepest(text: Buffer): number {
  let depth = 0;
  let most = 0;
  let inString = false;
  let escaped = false;
  for (const b of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (b === 0x5c) escaped = true;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) most = Math.max(most, ++depth);
    else if (b === 0x7d || b === 0x5d) depth--;
  }
  return most;
}

/** Whether the gauge refuses `text` when it arrives cut at `cuts`. */
function refuses(text: Buffer, cuts: number[], max: number): boolean {
  const gauge = new DepthGauge(max);
  let from = 0;
  try {
    for (const at of [...cuts.filter((c) => c < text.length).sort((a, b) => a - b), text.length]) {
      gauge.scan(text.subarray(from, at));
      from = at;
    }
    return false;
  } catch (err) {
    expect((err as { code: string }).code).toBe("json_too_deep");
    return true;
  }
}

describe("the JSON depth gauge", () => {
  it("refuses exactly the texts that nest deeper than the limit, however they are cut", () => {
    const byte = fc.constantFrom(...'{}[]"\\ a,é'.split("").map((c) => Buffer.from(c)));
    fc.assert(
      fc.property(
        fc.array(byte, { maxLength: 80 }),
        fc.array(fc.nat(80), { maxLength: 6 }),
        fc.nat(8),
        (bytes, cuts, max) => {
          const text = Buffer.concat(bytes);
          expect(refuses(text, cuts, max)).toBe(deepest(text) > max);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("a large prompt with few brackets is accepted; brackets inside its strings count only if scanned", () => {
    const prompt = Buffer.from(
      JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(200_000) }] }),
    );
    expect(refuses(prompt, [1000, 70_000], 128)).toBe(false);
    // 200 brackets inside a string: counted first, then the exact scan sees they are text.
    const quoted = Buffer.from(JSON.stringify({ content: "[".repeat(200) }));
    expect(refuses(quoted, [5, 50], 128)).toBe(false);
    const deep = Buffer.from(`${"[".repeat(129)}${"]".repeat(129)}`);
    expect(refuses(deep, [3, 100], 128)).toBe(true);
  });
});
