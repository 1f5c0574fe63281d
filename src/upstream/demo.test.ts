import { describe, expect, it } from "vitest";
import { createDemoProvider, type DemoResponse } from "./demo.js";
import { parseSse, type SseEvent } from "./sse.js";
import { Cancellation, type Endpoint, type Wire } from "./types.js";

const demo = createDemoProvider();
const MODEL = "m5-large";
const ASK = "What  is the capital\nof France?";
const ANSWER = `[demo] ${MODEL} answering: What is the capital of France?`;
type Body = Record<string, unknown>;
/** Wire JSON, poked at freely: the assertions check its shape, not the types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

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

async function json(res: DemoResponse): Promise<Loose> {
  expect(res.headers["content-type"]).toBe("application/json");
  return JSON.parse((await read(res)).bytes.toString());
}

/** The events of a stream, checking that each chunk holds exactly one event. */
async function events(res: DemoResponse): Promise<SseEvent[]> {
  expect(res.status).toBe(200);
  expect(res.headers).toEqual({ "content-type": "text/event-stream", "x-demo-upstream": "1" });
  const { chunks } = await read(res);
  const all = chunks.map((c) => parseSse(c));
  for (const one of all) expect(one).toHaveLength(1);
  return all.flat();
}

const data = (es: SseEvent[]) =>
  es.filter((e) => e.data !== "[DONE]").map((e) => JSON.parse(e.data) as Loose);

const post = async (wire: Wire, endpoint: Endpoint, body: Body) => json(await call(wire, endpoint, body));
const streamed = async (wire: Wire, endpoint: Endpoint, body: Body) =>
  data(await events(await call(wire, endpoint, body)));

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

describe("demo provider: OpenAI chat completions", () => {
  it("answers with a chat.completion naming the model", async () => {
    const res = await call("openai", "chat.completions", chat());
    expect(res.status).toBe(200);
    expect(res.headers["x-demo-upstream"]).toBe("1");
    const body = await json(res);
    expect(body).toEqual({
      id: expect.stringMatching(/^chatcmpl-[0-9a-f]{24}$/),
      object: "chat.completion",
      created: 1767225600,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: ANSWER, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 8, completion_tokens: 9, total_tokens: 17 },
    });
  });

  it("streams chunks that rebuild the same text, then [DONE]", async () => {
    const es = await events(await call("openai", "chat.completions", chat({ stream: true })));
    expect(es.at(-1)).toEqual({ data: "[DONE]" });
    const chunks = data(es);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "", refusal: null });
    expect(
      chunks.every((c) => c.object === "chat.completion.chunk" && c.model === MODEL && !("usage" in c)),
    ).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe(ANSWER);
    expect(chunks.slice(1, -1).map((c) => c.choices[0].delta.content)).toHaveLength(9);
    expect(chunks.at(-1).choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: "stop" });
  });

  it("ends with a usage chunk only when stream_options.include_usage is set", async () => {
    const es = await events(
      await call(
        "openai",
        "chat.completions",
        chat({ stream: true, stream_options: { include_usage: true } }),
      ),
    );
    const chunks = data(es);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 8, completion_tokens: 9, total_tokens: 17 },
    });
    const off = await streamed(
      "openai",
      "chat.completions",
      chat({ stream: true, stream_options: { include_usage: false } }),
    );
    expect(off.at(-1).choices[0].finish_reason).toBe("stop");
  });

  it("cuts the answer at max_completion_tokens or max_tokens", async () => {
    for (const limit of [{ max_completion_tokens: 4 }, { max_tokens: 4 }]) {
      const body = await post("openai", "chat.completions", chat(limit));
      expect(body.choices[0]).toMatchObject({
        message: { content: `[demo] ${MODEL} answering: What` },
        finish_reason: "length",
      });
      expect(body.usage.completion_tokens).toBe(4);
      const chunks = await streamed("openai", "chat.completions", chat({ ...limit, stream: true }));
      expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe(
        body.choices[0].message.content,
      );
      expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
    }
  });

  it("echoes at most 12 words, and says so when the user said nothing", async () => {
    const long = chat({
      messages: [
        { role: "user", content: "one two three four five six seven eight nine ten eleven twelve thirteen" },
      ],
    });
    const body = await post("openai", "chat.completions", long);
    expect(body.choices[0].message.content).toBe(
      `[demo] ${MODEL} answering: one two three four five six seven eight nine ten eleven twelve…`,
    );
    const none = await post(
      "openai",
      "chat.completions",
      chat({ messages: [{ role: "system", content: "hi" }] }),
    );
    expect(none.choices[0].message.content).toBe(`[demo] ${MODEL} answering: (nothing)`);
  });
});

describe("demo provider: OpenAI completions, embeddings, responses", () => {
  it("answers legacy completions, one choice per prompt, streamed or not", async () => {
    const req = { model: MODEL, prompt: ["Say hi", ASK], max_tokens: 5 };
    const body = await post("openai", "completions", req);
    expect(body).toMatchObject({
      object: "text_completion",
      created: 1767225600,
      model: MODEL,
      usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 },
    });
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.choices).toEqual([
      { text: `[demo] ${MODEL} answering: Say hi`, index: 0, logprobs: null, finish_reason: "stop" },
      { text: `[demo] ${MODEL} answering: What is`, index: 1, logprobs: null, finish_reason: "length" },
    ]);
    const chunks = await streamed("openai", "completions", {
      ...req,
      stream: true,
      stream_options: { include_usage: true },
    });
    for (const i of [0, 1]) {
      const mine = chunks.filter((c) => c.choices[0]?.index === i);
      expect(mine.map((c) => c.choices[0].text).join("")).toBe(body.choices[i].text);
      expect(mine.at(-1).choices[0].finish_reason).toBe(body.choices[i].finish_reason);
    }
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: body.usage });
  });

  it("embeds strings as deterministic unit vectors, as floats or float32 base64", async () => {
    const body = await post("openai", "embeddings", { model: "e1", input: ["a b", "c"] });
    expect(body).toMatchObject({ object: "list", model: "e1", usage: { prompt_tokens: 3, total_tokens: 3 } });
    const [a, c] = body.data.map((d: Loose) => d.embedding as number[]);
    expect(body.data.map((d: Loose) => [d.object, d.index])).toEqual([
      ["embedding", 0],
      ["embedding", 1],
    ]);
    expect(a).toHaveLength(8);
    expect(Math.hypot(...a)).toBeCloseTo(1, 5);
    expect(a).not.toEqual(c);
    const single = await post("openai", "embeddings", {
      model: "e1",
      input: "a b",
      encoding_format: "base64",
      dimensions: 8,
    });
    const decoded = new Float32Array(Uint8Array.from(Buffer.from(single.data[0].embedding, "base64")).buffer);
    expect(Array.from(decoded)).toEqual(a.map(Math.fround));
    const wide = await post("openai", "embeddings", { model: "e1", input: "x", dimensions: 20 });
    expect(wide.data[0].embedding).toHaveLength(20);
  });

  it("answers the Responses API, and streams its typed events", async () => {
    const req = {
      model: MODEL,
      instructions: "Be brief.",
      input: [{ role: "user", content: [{ type: "input_text", text: ASK }] }],
    };
    const body = await post("openai", "responses", req);
    expect(body).toMatchObject({
      object: "response",
      created_at: 1767225600,
      status: "completed",
      model: MODEL,
      incomplete_details: null,
    });
    expect(body.id).toMatch(/^resp_/);
    expect(body.output).toEqual([
      {
        type: "message",
        id: expect.stringMatching(/^msg_/),
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: ANSWER, annotations: [] }],
      },
    ]);
    expect(body.usage).toMatchObject({ input_tokens: 8, output_tokens: 9, total_tokens: 17 });

    const es = await events(await call("openai", "responses", { ...req, stream: true }));
    const payloads = data(es);
    expect(es.map((e) => e.event)).toEqual(payloads.map((p) => p.type));
    expect(payloads.map((p) => p.sequence_number)).toEqual(payloads.map((_, i) => i));
    expect(payloads[0].type).toBe("response.created");
    const deltas = payloads.filter((p) => p.type === "response.output_text.delta");
    expect(deltas.map((p) => p.delta).join("")).toBe(ANSWER);
    const last = payloads.at(-1);
    expect(last.type).toBe("response.completed");
    expect({
      ...last.response,
      id: body.id,
      output: [{ ...last.response.output[0], id: body.output[0].id }],
    }).toEqual(body);
  });

  it("marks a Responses answer cut at max_output_tokens incomplete", async () => {
    const req = { model: MODEL, input: ASK, max_output_tokens: 3 };
    const body = await post("openai", "responses", req);
    expect(body).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      usage: { output_tokens: 3 },
    });
    const payloads = await streamed("openai", "responses", { ...req, stream: true });
    expect(payloads.at(-1)).toMatchObject({
      type: "response.incomplete",
      response: { status: "incomplete" },
    });
  });
});

describe("demo provider: Anthropic messages", () => {
  it("answers with a message naming the model", async () => {
    const body = await json(await call("anthropic", "messages", messages()));
    expect(body).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{24}$/),
      type: "message",
      role: "assistant",
      model: MODEL,
      content: [{ type: "text", text: ANSWER }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: 8,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 9,
      },
    });
  });

  it("streams the event sequence, rebuilding the same text and usage", async () => {
    const es = await events(await call("anthropic", "messages", messages({ stream: true })));
    const payloads = data(es);
    expect(es.map((e) => e.event)).toEqual(payloads.map((p) => p.type));
    const names = payloads.map((p) => p.type);
    expect(names.slice(0, 3)).toEqual(["message_start", "content_block_start", "ping"]);
    expect(names.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(payloads[0].message.usage).toMatchObject({ input_tokens: 8, output_tokens: 1 });
    const deltas = payloads.filter((p) => p.type === "content_block_delta");
    expect(deltas).toHaveLength(9);
    expect(deltas.map((p) => p.delta.text).join("")).toBe(ANSWER);
    expect(payloads.at(-2)).toEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 9 },
    });
  });

  it("stops at max_tokens", async () => {
    const body = await post("anthropic", "messages", messages({ max_tokens: 2 }));
    expect(body).toMatchObject({
      content: [{ text: `[demo] ${MODEL}` }],
      stop_reason: "max_tokens",
      usage: { output_tokens: 2 },
    });
  });

  it("counts tokens as messages would", async () => {
    const { max_tokens: _, ...req } = messages();
    expect(await json(await call("anthropic", "messages.count_tokens", req))).toEqual({ input_tokens: 8 });
  });
});
