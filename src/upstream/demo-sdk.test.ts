/** The demo's answers, read by the real SDKs: the proof that the wire shapes are the ones they parse. */
import { Readable } from "node:stream";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { createDemoProvider } from "./demo.js";
import { Cancellation, type Endpoint, type Wire } from "./types.js";

const MODEL = "m5-large";
const ASK = "What is the capital of France?";
const ANSWER = `[demo] ${MODEL} answering: ${ASK}`;

const ROUTES: Readonly<Record<string, [Wire, Endpoint]>> = {
  "/v1/chat/completions": ["openai", "chat.completions"],
  "/v1/completions": ["openai", "completions"],
  "/v1/embeddings": ["openai", "embeddings"],
  "/v1/responses": ["openai", "responses"],
  "/v1/messages": ["anthropic", "messages"],
  "/v1/messages/count_tokens": ["anthropic", "messages.count_tokens"],
};

/** A `fetch` that hands the SDK's requests to the demo provider, as the gateway would. */
function demoFetch(tokenDelayMs = 0) {
  const demo = createDemoProvider({ tokenDelayMs });
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const route = ROUTES[url.pathname];
    if (route === undefined) throw new Error(`no route for ${url.pathname}`);
    const body = String(init?.body);
    const json = JSON.parse(body) as Record<string, unknown>;
    // The SDK's fetch signal, carried over to the provider's cancellation.
    const signal = new Cancellation();
    if (init?.signal?.aborted) signal.cancel();
    else init?.signal?.addEventListener("abort", () => signal.cancel(), { once: true });
    const [wire, endpoint] = route;
    const res = await demo.request({
      wire,
      endpoint,
      body,
      json,
      stream: json.stream === true,
      headers: {},
      signal,
    });
    return new Response(Readable.toWeb(res.body) as ReadableStream, {
      status: res.status,
      headers: res.headers,
    });
  };
}

const openai = new OpenAI({
  apiKey: "demo",
  baseURL: "http://demo.invalid/v1",
  fetch: demoFetch(),
  maxRetries: 0,
});
const anthropic = new Anthropic({
  apiKey: "demo",
  baseURL: "http://demo.invalid",
  fetch: demoFetch(),
  maxRetries: 0,
});
const user = (content: string) => [{ role: "user" as const, content }];

describe("the openai SDK reads the demo", () => {
  it("chat completions, plain, streamed and through the stream helper", async () => {
    const plain = await openai.chat.completions.create({ model: MODEL, messages: user(ASK) });
    expect(plain.choices[0]?.message.content).toBe(ANSWER);

    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: user(ASK),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(ANSWER);
    expect(usage).toEqual(plain.usage);

    const helper = openai.chat.completions.stream({
      model: MODEL,
      messages: user(ASK),
      max_completion_tokens: 3,
    });
    const final = await helper.finalChatCompletion();
    expect(final.choices[0]).toMatchObject({
      message: { content: `[demo] ${MODEL} answering:` },
      finish_reason: "length",
    });
  });

  it("legacy completions and embeddings (base64 by default, floats on request)", async () => {
    const completion = await openai.completions.create({ model: MODEL, prompt: ASK });
    expect(completion.choices[0]?.text).toBe(ANSWER);

    const base64 = await openai.embeddings.create({ model: "e1", input: ["a", "b"] });
    const floats = await openai.embeddings.create({
      model: "e1",
      input: ["a", "b"],
      encoding_format: "float",
    });
    expect(base64.data).toHaveLength(2);
    expect(base64.data.map((d) => Array.from(d.embedding))).toEqual(
      floats.data.map((d) => d.embedding.map(Math.fround)),
    );
  });

  it("the Responses API, plain and streamed", async () => {
    const plain = await openai.responses.create({ model: MODEL, input: ASK });
    expect(plain.output_text).toBe(ANSWER);

    const stream = openai.responses.stream({ model: MODEL, input: ASK });
    let deltas = "";
    stream.on("response.output_text.delta", (e) => (deltas += e.delta));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(ANSWER);
    expect(deltas).toBe(ANSWER);
    expect(final.usage).toEqual(plain.usage);
  });

  it("a 400, and a stream that fails midway", async () => {
    const bad = openai.chat.completions.create({ model: MODEL, messages: [] });
    await expect(bad).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad).rejects.toMatchObject({
      status: 400,
      param: "messages",
      type: "invalid_request_error",
    });

    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: user("[demo:fail-mid-stream] go on"),
      stream: true,
    });
    const read = async () => {
      for await (const _ of stream);
    };
    await expect(read()).rejects.toThrow();
  });
});

describe("the Anthropic SDK reads the demo", () => {
  it("messages, plain and through the stream helper, and count_tokens", async () => {
    const params = { model: MODEL, max_tokens: 100, system: "Be brief.", messages: user(ASK) };
    const plain = await anthropic.messages.create(params);
    expect(plain.content).toEqual([{ type: "text", text: ANSWER }]);

    const stream = anthropic.messages.stream(params);
    const final = await stream.finalMessage();
    expect(await stream.finalText()).toBe(ANSWER);
    expect(final.usage).toEqual(plain.usage);
    expect(final.stop_reason).toBe("end_turn");

    const count = await anthropic.messages.countTokens({
      model: MODEL,
      system: "Be brief.",
      messages: user(ASK),
    });
    expect(count.input_tokens).toBe(plain.usage.input_tokens);
  });

  it("a 400", async () => {
    const bad = anthropic.messages.create({ model: MODEL, max_tokens: 10, messages: [] });
    await expect(bad).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(bad).rejects.toMatchObject({
      status: 400,
      error: { type: "error", error: { type: "invalid_request_error" } },
    });
  });
});
