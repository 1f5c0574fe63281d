/**
 * Reading token counts from upstream answers: every count that reaches the counters and the store
 * is a non-negative safe integer, whatever the upstream sent.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bodyCharge,
  streamCharge,
  streamUsage,
  unansweredCharge,
  usageFromBody,
  usageFromTail,
  usageOf,
} from "./usage.js";

const whole = (n: number) => Number.isSafeInteger(n) && n >= 0;

describe("token counts from an upstream", () => {
  it("rounds a fractional count up, and reads a count past 2^53 (or not finite) as none, an output marked unread", () => {
    expect(usageOf({ prompt_tokens: 10.5, completion_tokens: 2.01 })).toEqual({ input: 11, output: 3 });
    expect(usageOf({ input_tokens: 1e21, output_tokens: 2 ** 53 })).toEqual({
      input: 0,
      output: 0,
      outputUnread: true,
    });
    expect(usageOf({ input_tokens: Number.MAX_SAFE_INTEGER, output_tokens: -3 })).toEqual({
      input: Number.MAX_SAFE_INTEGER,
      output: 0,
      outputUnread: true,
    });
    expect(usageFromBody('{"usage":{"prompt_tokens":0.2,"completion_tokens":1e300}}')).toEqual({
      input: 1,
      output: 0,
      outputUnread: true,
    });
  });

  it("an output count missing, null or not a number is unread; 0 and the largest safe count are read", () => {
    for (const odd of [null, "9000", [3], { n: 3 }, Number.NaN, -0.5, Infinity]) {
      expect(usageOf({ prompt_tokens: 7, completion_tokens: odd })).toEqual({
        input: 7,
        output: 0,
        outputUnread: true,
      });
      expect(usageOf({ input_tokens: 7, output_tokens: odd })).toEqual({
        input: 7,
        output: 0,
        outputUnread: true,
      });
    }
    expect(usageOf({ prompt_tokens: 7, total_tokens: 7 })).toEqual({
      input: 7,
      output: 0,
      outputUnread: true,
    });
    expect(usageOf({ prompt_tokens: 7, completion_tokens: 0 })).toEqual({ input: 7, output: 0 });
    expect(usageOf({ input_tokens: 7, output_tokens: Number.MAX_SAFE_INTEGER })).toEqual({
      input: 7,
      output: Number.MAX_SAFE_INTEGER,
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

describe("an unread output count is charged as a missing one", () => {
  const REQUEST_CHARS = 4_000; // an input estimate of 1 000
  const BODY_BYTES = 2_000; // an output estimate of 500

  it("a JSON answer: the output estimated from the body's size, the input as reported", () => {
    const unread = usageFromBody('{"usage":{"prompt_tokens":7,"completion_tokens":"9000"}}');
    expect(bodyCharge(unread, "chat.completions", REQUEST_CHARS, BODY_BYTES)).toEqual({
      input: 7,
      output: 500,
    });
    expect(bodyCharge(unread, "embeddings", REQUEST_CHARS, BODY_BYTES)).toEqual({ input: 7, output: 0 });
    // Neither count readable: both estimated, as for an answer with no usage.
    const none = usageOf({ input_tokens: -1, output_tokens: null });
    expect(bodyCharge(none, "messages", REQUEST_CHARS, BODY_BYTES)).toEqual({ input: 1_000, output: 500 });
  });

  it("a JSON answer with readable counts is charged them (OpenAI embeddings report no output)", () => {
    const read = usageOf({ prompt_tokens: 7, completion_tokens: 3 });
    expect(bodyCharge(read, "chat.completions", REQUEST_CHARS, BODY_BYTES)).toEqual({ input: 7, output: 3 });
    const zero = usageOf({ prompt_tokens: 7, completion_tokens: 0 });
    expect(bodyCharge(zero, "chat.completions", REQUEST_CHARS, BODY_BYTES)).toEqual({ input: 7, output: 0 });
    const embeddings = usageOf({ prompt_tokens: 7, total_tokens: 7 });
    expect(bodyCharge(embeddings, "embeddings", REQUEST_CHARS, BODY_BYTES)).toEqual({ input: 7, output: 0 });
  });

  it("an OpenAI stream's final count unreadable: not final, so a token per content event is charged", () => {
    const s = streamUsage("openai", "chat.completions", true);
    for (let i = 0; i < 500; i++)
      s.onEvent(undefined, JSON.stringify({ choices: [{ index: 0, delta: { content: `w${i}` } }] }));
    const last = { choices: [], usage: { prompt_tokens: 7, completion_tokens: null } };
    expect(s.onEvent(undefined, JSON.stringify(last))).toBe(true); // still removed for the client
    expect(s.final).toBe(false);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 500 });
  });

  it("a Responses stream's final count unreadable: not final", () => {
    const s = streamUsage("openai", "responses", false);
    for (let i = 0; i < 20; i++)
      s.onEvent(
        "response.output_text.delta",
        JSON.stringify({ type: "response.output_text.delta", delta: "w" }),
      );
    const usage = { input_tokens: 7, output_tokens: "20" };
    s.onEvent("response.completed", JSON.stringify({ type: "response.completed", response: { usage } }));
    expect(s.final).toBe(false);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 20 });
  });

  it("an Anthropic stream's final count unreadable: not final, and what message_start said is kept", () => {
    const s = streamUsage("anthropic", "messages", false);
    const start = { message: { usage: { input_tokens: 7, output_tokens: 1 } } };
    s.onEvent("message_start", JSON.stringify(start));
    for (let i = 0; i < 30; i++) s.onEvent("content_block_delta", JSON.stringify({ delta: { text: "w" } }));
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: null } }));
    expect(s.final).toBe(false);
    expect(s.usage).toEqual({ input: 7, output: 1 });
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 30 });
    // A readable final count is taken as it is, as before.
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: 12 } }));
    expect(s.final).toBe(true);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 12 });
  });
});

describe("a count followed by content is not the upstream's last word", () => {
  const REQUEST_CHARS = 40;

  it("Anthropic: content deltas after message_delta's count are charged at least a token each", () => {
    const s = streamUsage("anthropic", "messages", false);
    s.onEvent("message_start", JSON.stringify({ message: { usage: { input_tokens: 7, output_tokens: 1 } } }));
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: 1 } }));
    for (let i = 0; i < 300; i++) s.onEvent("content_block_delta", JSON.stringify({ delta: { text: "w" } }));
    expect(s.final).toBe(false);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 300 });
    // A count after them is the last word again, taken as it is.
    s.onEvent("message_delta", JSON.stringify({ usage: { output_tokens: 280 } }));
    expect(s.final).toBe(true);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 280 });
  });

  it("Responses: deltas after a final event's count are charged at least a token each", () => {
    const s = streamUsage("openai", "responses", false);
    const usage = { input_tokens: 7, output_tokens: 1 };
    s.onEvent("response.completed", JSON.stringify({ type: "response.completed", response: { usage } }));
    for (let i = 0; i < 40; i++)
      s.onEvent(
        "response.output_text.delta",
        JSON.stringify({ type: "response.output_text.delta", delta: "w" }),
      );
    expect(s.final).toBe(false);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 40 });
  });

  it("OpenAI chat: a chunk with content and a null usage after the count makes it no final count", () => {
    const s = streamUsage("openai", "chat.completions", false);
    s.onEvent(undefined, JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 0 } }));
    for (let i = 0; i < 25; i++)
      s.onEvent(undefined, JSON.stringify({ choices: [{ index: 0, delta: { content: "w" } }], usage: null }));
    expect(s.final).toBe(false);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 25 });
  });

  it("OpenAI chat: a finish, a filter's verdict or a role alone after the count leave it final", () => {
    for (const after of [
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      { choices: [{ index: 0, content_filter_results: { hate: { filtered: false } } }] },
      { choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
      { choices: [] },
    ]) {
      const s = streamUsage("openai", "chat.completions", false);
      s.onEvent(undefined, JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant" } }] }));
      for (let i = 0; i < 10; i++)
        s.onEvent(undefined, JSON.stringify({ choices: [{ index: 0, delta: { content: "w" } }] }));
      s.onEvent(
        undefined,
        JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 10 } }),
      );
      s.onEvent(undefined, JSON.stringify(after));
      s.onEvent(undefined, "[DONE]");
      expect(s.final, JSON.stringify(after)).toBe(true);
      expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 10 });
    }
  });

  it("OpenAI chat and completions: a tool call, a refusal or text after the count make it no final count", () => {
    for (const [endpoint, after] of [
      [
        "chat.completions",
        { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{" } }] } }] },
      ],
      ["chat.completions", { choices: [{ index: 0, delta: { refusal: "no" } }] }],
      ["completions", { choices: [{ index: 0, text: "w" }] }],
    ] as const) {
      const s = streamUsage("openai", endpoint, false);
      s.onEvent(
        undefined,
        JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 1 } }),
      );
      s.onEvent(undefined, JSON.stringify(after));
      expect(s.final, JSON.stringify(after)).toBe(false);
    }
  });

  it("OpenAI chat: content chunks each carrying the cumulative count end on a final count", () => {
    const s = streamUsage("openai", "chat.completions", false);
    for (let i = 0; i < 25; i++)
      s.onEvent(
        undefined,
        JSON.stringify({
          choices: [{ index: 0, delta: { content: "w" } }],
          usage: { prompt_tokens: 7, completion_tokens: i + 1 },
        }),
      );
    expect(s.final).toBe(true);
    expect(streamCharge(s, REQUEST_CHARS, true)).toEqual({ input: 7, output: 25 });
  });
});

describe("a request left before the upstream's head", () => {
  it("is charged the input estimate, but a token count nothing (it runs no model)", () => {
    expect(unansweredCharge("chat.completions", 4_001)).toEqual({ input: 1_001, output: 0 });
    expect(unansweredCharge("embeddings", 8)).toEqual({ input: 2, output: 0 });
    expect(unansweredCharge("messages.count_tokens", 4_000)).toBeNull();
  });
});

describe("the usage of a large body, from its tail", () => {
  const echo = { type: "function", name: "f", parameters: { usage: { input_tokens: 1, output_tokens: 0 } } };

  it("is only ever the answer's own top-level usage, wherever the tail starts", () => {
    const own = { input_tokens: 7, output_tokens: 9 };
    fc.assert(
      fc.property(fc.string(), fc.boolean(), fc.boolean(), fc.nat(), (text, withUsage, usageFirst, cut) => {
        const members: [string, unknown][] = [
          ["output", [{ text, note: { usage: echo.parameters.usage } }]],
          ["tools", [echo]],
        ];
        if (withUsage) members.splice(usageFirst ? 0 : 2, 0, ["usage", own]);
        const body = JSON.stringify(Object.fromEntries(members), null, cut % 2 === 0 ? 0 : 1);
        const found = usageFromTail(body.slice(cut % (body.length + 1)));
        // The echo is never taken; the answer's own is, whenever the tail holds it whole.
        if (found !== null) expect(found).toEqual({ input: 7, output: 9 });
        if (withUsage && cut % (body.length + 1) === 0) expect(found).toEqual({ input: 7, output: 9 });
      }),
    );
  });

  it("a member name spelt with escapes is still read; a usage of null is none", () => {
    expect(usageFromTail('{"a":1,"us\\u0061ge" : {"prompt_tokens":2,"completion_tokens":3}}\n')).toEqual({
      input: 2,
      output: 3,
    });
    expect(usageFromTail(`{"usage":null,"tools":${JSON.stringify([echo])}}`)).toBeNull();
    // A tail starting among the top-level members still knows them as such (read from the end).
    expect(usageFromTail('"usage":{"input_tokens":1,"output_tokens":1}}')).toEqual({ input: 1, output: 1 });
  });
});
