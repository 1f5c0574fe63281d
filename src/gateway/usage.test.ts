/**
 * Reading token counts from upstream answers: every count that reaches the counters and the store
 * is a non-negative safe integer, whatever the upstream sent.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { streamUsage, usageFromBody, usageOf } from "./usage.js";

const whole = (n: number) => Number.isSafeInteger(n) && n >= 0;

describe("token counts from an upstream", () => {
  it("rounds a fractional count up, and reads a count past 2^53 (or not finite) as none", () => {
    expect(usageOf({ prompt_tokens: 10.5, completion_tokens: 2.01 })).toEqual({ input: 11, output: 3 });
    expect(usageOf({ input_tokens: 1e21, output_tokens: 2 ** 53 })).toEqual({ input: 0, output: 0 });
    expect(usageOf({ input_tokens: Number.MAX_SAFE_INTEGER, output_tokens: -3 })).toEqual({
      input: Number.MAX_SAFE_INTEGER,
      output: 0,
    });
    expect(usageFromBody('{"usage":{"prompt_tokens":0.2,"completion_tokens":1e300}}')).toEqual({
      input: 1,
      output: 0,
    });
  });

  it("a stream's counts are whole too", () => {
    const s = streamUsage("anthropic", "messages", false);
    s.onEvent(
      "message_start",
      JSON.stringify({ message: { usage: { input_tokens: 3.5, output_tokens: 1 } } }),
    );
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: 9.25 } }));
    expect(s.usage).toEqual({ input: 4, output: 10 });
  });

  it("whatever numbers an upstream sends, the usage read is non-negative safe integers", () => {
    const count = fc.oneof(fc.double(), fc.integer(), fc.bigInt().map(Number), fc.constant(1e21));
    fc.assert(
      fc.property(count, count, fc.boolean(), (a, b, openai) => {
        const u = usageOf(
          openai ? { prompt_tokens: a, completion_tokens: b } : { input_tokens: a, output_tokens: b },
        );
        return u !== null && whole(u.input) && whole(u.output);
      }),
    );
  });
});
