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

  it("Anthropic's cached input counts as input: tokens read from and written to the prompt cache", () => {
    const usage = {
      input_tokens: 3,
      cache_creation_input_tokens: 2_000,
      cache_read_input_tokens: 120_000,
      output_tokens: 10,
    };
    expect(usageFromBody(JSON.stringify({ type: "message", usage }))).toEqual({ input: 122_003, output: 10 });
    // The Responses API counts cached tokens inside input_tokens already.
    const responses = { input_tokens: 500, input_tokens_details: { cached_tokens: 400 }, output_tokens: 2 };
    expect(usageOf(responses)).toEqual({ input: 500, output: 2 });
  });

  it("Anthropic streams: the cached input of message_start, not lowered or counted twice by message_delta", () => {
    const s = streamUsage("anthropic", "messages", false);
    const start = { input_tokens: 3, cache_read_input_tokens: 120_000, output_tokens: 1 };
    s.onEvent("message_start", JSON.stringify({ message: { usage: start } }));
    expect(s.usage).toEqual({ input: 120_003, output: 1 });
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: 10 } }));
    expect(s.usage).toEqual({ input: 120_003, output: 10 });
    // A final count that repeats the input, as Anthropic's now does.
    s.onEvent("message_delta", JSON.stringify({ usage: { ...start, output_tokens: 12 } }));
    expect(s.usage).toEqual({ input: 120_003, output: 12 });
    const t = streamUsage("anthropic", "messages", false);
    t.onEvent("message_start", JSON.stringify({ message: { usage: { input_tokens: 0, output_tokens: 1 } } }));
    t.onEvent(
      "message_delta",
      JSON.stringify({ usage: { input_tokens: 5, cache_creation_input_tokens: 70 } }),
    );
    expect(t.usage).toEqual({ input: 75, output: 1 });
  });
});
