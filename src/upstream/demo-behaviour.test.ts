import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createDemoProvider, type DemoResponse } from "./demo.js";
import { parseSse } from "./sse.js";
import { Cancellation, UpstreamError, type Endpoint, type Wire } from "./types.js";

const demo = createDemoProvider();
const MODEL = "m5-large";
const ASK = "What  is the capital\nof France?";
type Body = Record<string, unknown>;

function call(wire: Wire, endpoint: Endpoint, json: Body, signal = new Cancellation()) {
  const body = JSON.stringify(json);
  return demo.request({ wire, endpoint, body, json, stream: json.stream === true, headers: {}, signal });
}

/** Reads a body to its end, keeping the chunks. */
async function read(res: DemoResponse): Promise<{ chunks: Buffer[]; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) chunks.push(chunk as Buffer);
  return { chunks, bytes: Buffer.concat(chunks) };
}

async function json(res: DemoResponse): Promise<Body> {
  expect(res.headers["content-type"]).toBe("application/json");
  return JSON.parse((await read(res)).bytes.toString()) as Body;
}

const chat = (extra: Body = {}) => ({
  model: MODEL,
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: ASK },
  ],
  ...extra,
});
const messages = (extra: Body = {}) => ({
  model: MODEL,
  max_tokens: 100,
  system: "Be brief.",
  messages: [{ role: "user", content: [{ type: "text", text: ASK }] }],
  ...extra,
});

/** One request of every kind, streamed or not. */
const EVERY: [Wire, Endpoint, Body][] = [
  ["openai", "chat.completions", chat()],
  ["openai", "chat.completions", chat({ stream: true, stream_options: { include_usage: true } })],
  ["openai", "completions", { model: MODEL, prompt: ASK }],
  ["openai", "completions", { model: MODEL, prompt: ASK, stream: true }],
  ["openai", "embeddings", { model: MODEL, input: ASK }],
  ["openai", "responses", { model: MODEL, input: ASK }],
  ["openai", "responses", { model: MODEL, input: ASK, stream: true }],
  ["anthropic", "messages", messages()],
  ["anthropic", "messages", messages({ stream: true })],
  ["anthropic", "messages.count_tokens", { model: MODEL, messages: [{ role: "user", content: ASK }] }],
];

describe("demo provider: behaviour", () => {
  it("is deterministic: the same request gives the same bytes, on any tick rate", async () => {
    const slow = createDemoProvider({ tokenDelayMs: 1 });
    for (const [wire, endpoint, json] of EVERY) {
      const first = await read(await call(wire, endpoint, json));
      const second = await read(await call(wire, endpoint, json));
      const body = JSON.stringify(json);
      const signal = new Cancellation();
      const third = await read(
        await slow.request({ wire, endpoint, body, json, stream: json.stream === true, headers: {}, signal }),
      );
      expect(second.bytes.equals(first.bytes), `${endpoint}`).toBe(true);
      expect(third.bytes.equals(first.bytes), `${endpoint} slow`).toBe(true);
    }
    const other = await read(await call("openai", "chat.completions", chat({ model: "m4" })));
    expect(JSON.parse(other.bytes.toString()).id).not.toBe(
      JSON.parse((await read(await call("openai", "chat.completions", chat()))).bytes.toString()).id,
    );
  });

  it("spaces events by tokenDelayMs", async () => {
    const slow = createDemoProvider({ tokenDelayMs: 20 });
    const json = chat({ stream: true });
    const started = Date.now();
    const res = await slow.request({
      wire: "openai",
      endpoint: "chat.completions",
      body: JSON.stringify(json),
      json,
      stream: true,
      headers: {},
      signal: new Cancellation(),
    });
    const { chunks } = await read(res);
    expect(chunks).toHaveLength(12); // role, 9 tokens, finish, [DONE]
    expect(Date.now() - started).toBeGreaterThanOrEqual(11 * 20);
  });

  it("stops streaming and destroys the body when the signal aborts", async () => {
    const controller = new Cancellation();
    const res = await call("anthropic", "messages", messages({ stream: true }), controller);
    const got: Buffer[] = [];
    const closed = new Promise<void>((resolve) => res.body.on("close", resolve));
    res.body.on("error", () => expect.fail("an abort is not an error"));
    res.body.on("data", (chunk: Buffer) => {
      got.push(chunk);
      if (got.length === 2) controller.cancel();
    });
    await closed;
    expect(res.body.destroyed).toBe(true);
    expect(got).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toHaveLength(2);
  });

  it("gives an already-aborted call a destroyed body", async () => {
    const controller = new Cancellation();
    controller.cancel();
    const res = await call("openai", "chat.completions", chat({ stream: true }), controller);
    expect(res.body.destroyed).toBe(true);
  });

  it("answers bad OpenAI bodies with a 400 in OpenAI's error format", async () => {
    const cases: [Endpoint, Body, string | null][] = [
      ["chat.completions", { model: MODEL }, "messages"],
      ["chat.completions", { model: MODEL, messages: [] }, "messages"],
      ["chat.completions", { model: MODEL, messages: "hi" }, "messages"],
      [
        "chat.completions",
        { model: MODEL, messages: [{ role: "robot", content: "hi" }] },
        "messages[0].role",
      ],
      ["chat.completions", { model: MODEL, messages: [{ role: "user", content: 5 }] }, "messages[0].content"],
      ["chat.completions", { messages: [{ role: "user", content: "hi" }] }, "model"],
      ["chat.completions", chat({ max_tokens: 0 }), "max_tokens"],
      [
        "chat.completions",
        chat({ stream: true, stream_options: { include_usage: "yes" } }),
        "stream_options.include_usage",
      ],
      ["completions", { model: MODEL, prompt: [1, 2] }, "prompt"],
      ["embeddings", { model: MODEL }, "input"],
      ["embeddings", { model: MODEL, input: "x", encoding_format: "hex" }, "encoding_format"],
      ["embeddings", { model: MODEL, input: "x", stream: true }, "stream"],
      ["responses", { model: MODEL, input: 3 }, "input"],
      ["responses", { model: MODEL, input: "x", max_output_tokens: 1.5 }, "max_output_tokens"],
    ];
    for (const [endpoint, body, param] of cases) {
      const res = await call("openai", endpoint, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await json(res)).toEqual({
        error: { message: expect.any(String), type: "invalid_request_error", param, code: null },
      });
    }
  });

  it("answers bad Anthropic bodies with a 400 in Anthropic's error format", async () => {
    const cases: [Endpoint, Body][] = [
      ["messages", { model: MODEL, max_tokens: 10 }],
      ["messages", { model: MODEL, max_tokens: 10, messages: [{ role: "tool", content: "x" }] }],
      ["messages", { model: MODEL, max_tokens: 10, messages: [{ role: "user" }] }],
      ["messages", { model: MODEL, messages: [{ role: "user", content: "x" }] }],
      ["messages", messages({ system: 42 })],
      ["messages.count_tokens", { model: MODEL, messages: {} }],
      ["messages.count_tokens", { ...messages(), stream: true }],
    ];
    for (const [endpoint, body] of cases) {
      const res = await call("anthropic", endpoint, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await json(res)).toEqual({
        type: "error",
        error: { type: "invalid_request_error", message: expect.any(String) },
      });
    }
  });

  it("answers an endpoint foreign to the wire with a 404, and a non-object body with a 400", async () => {
    const res = await call("anthropic", "embeddings", { model: MODEL, input: "x" });
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    const arr = await demo.request({
      wire: "openai",
      endpoint: "chat.completions",
      body: "[]",
      json: [] as never,
      stream: false,
      headers: {},
      signal: new Cancellation(),
    });
    expect(arr.status).toBe(400);
  });

  it("never throws, whatever the fields hold (property)", async () => {
    const fields = ["model", "messages", "prompt", "input", "instructions", "system", "max_tokens"] as const;
    const more = [
      "max_completion_tokens",
      "max_output_tokens",
      "stream_options",
      "encoding_format",
      "dimensions",
    ];
    const junk = fc.dictionary(fc.constantFrom(...fields, ...more), fc.jsonValue(), { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...EVERY), junk, async ([wire, endpoint, valid], overrides) => {
        const res = await call(wire, endpoint, { ...valid, ...overrides });
        expect([200, 400]).toContain(res.status);
        await read(res);
      }),
      { numRuns: 500 },
    );
  });

  it("[demo:fail] makes the upstream unreachable", async () => {
    const ask = (content: string) => chat({ messages: [{ role: "user", content }] });
    for (const stream of [false, true]) {
      const failed = call("openai", "chat.completions", { ...ask("please [demo:fail] now"), stream });
      await expect(failed).rejects.toBeInstanceOf(UpstreamError);
      await expect(failed).rejects.toMatchObject({ kind: "unreachable" });
    }
    await expect(
      call("anthropic", "messages", messages({ messages: [{ role: "user", content: "[demo:fail]" }] })),
    ).rejects.toMatchObject({ kind: "unreachable" });
  });

  it("[demo:fail-mid-stream] sends a few tokens, then fails the body", async () => {
    const cases: [Wire, Endpoint, Body][] = [
      [
        "openai",
        "chat.completions",
        chat({
          stream: true,
          messages: [{ role: "user", content: "go [demo:fail-mid-stream] a b c d e f g" }],
        }),
      ],
      [
        "anthropic",
        "messages",
        messages({ stream: true, messages: [{ role: "user", content: "[demo:fail-mid-stream]" }] }),
      ],
      ["openai", "responses", { model: MODEL, input: "x [demo:fail-mid-stream]", stream: true }],
      [
        "openai",
        "chat.completions",
        chat({ messages: [{ role: "user", content: "[demo:fail-mid-stream]" }] }),
      ],
    ];
    for (const [wire, endpoint, body] of cases) {
      const res = await call(wire, endpoint, body);
      expect(res.status).toBe(200);
      const got: Buffer[] = [];
      await expect(
        (async () => {
          for await (const chunk of res.body) got.push(chunk as Buffer);
        })(),
      ).rejects.toThrow(/mid-stream/);
      if (body.stream) expect(parseSse(Buffer.concat(got)).length).toBeGreaterThanOrEqual(4);
      else expect(got.length).toBe(1);
    }
  });
});
