/**
 * The wire formats' edges with the real SDKs, against an upstream on a real socket that misbehaves
 * on request (the `openai-beta` / `anthropic-beta` header, passed through, names how): error texts
 * inside a stream or a 200, an encoded body it was not asked for, a 200 with nothing in it.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { deflateSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let upstream: Server;
const logged: string[] = [];
/** What an upstream's error text may say: nothing of it may reach a client. */
const LEAK = "shard gpu-17.internal.corp password=hunter2";

const completion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "mythos-5",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
};
const sse = (...events: [string | null, unknown][]) =>
  events.map(([e, d]) => `${e === null ? "" : `event: ${e}\n`}data: ${JSON.stringify(d)}\n\n`).join("");
const chunk = (content: string) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "mythos-5",
  choices: [{ index: 0, delta: { content } }],
});
const messageStart = {
  type: "message_start",
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "fable-5",
    content: [],
    stop_reason: null,
    usage: { input_tokens: 3, output_tokens: 1 },
  },
};
const created = {
  type: "response.created",
  sequence_number: 0,
  response: { id: "resp_1", object: "response", status: "in_progress", output: [], error: null },
};

/** Each way the upstream answers, by name. */
const ANSWERS: Record<string, { status?: number; headers: Record<string, string>; body: string | Buffer }> = {
  gzip: {
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: gzipSync(JSON.stringify(completion)),
  },
  "gzip-stream": {
    headers: { "content-type": "text/event-stream", "content-encoding": "gzip" },
    body: gzipSync(sse([null, chunk("hel")], [null, chunk("lo")]) + "data: [DONE]\n\n"),
  },
  deflate: {
    headers: { "content-type": "application/json", "content-encoding": "deflate" },
    body: deflateSync(JSON.stringify(completion)),
  },
  // Compressed as a transfer coding: undici undoes only the chunked framing.
  "transfer-gzip": {
    headers: { "content-type": "application/json", "transfer-encoding": "gzip, chunked" },
    body: gzipSync(JSON.stringify(completion)),
  },
  empty: { headers: { "content-type": "application/json" }, body: "" },
  "empty-stream": { headers: { "content-type": "text/event-stream" }, body: ": nothing to say\n\n" },
  zstd: {
    headers: { "content-type": "application/json", "content-encoding": "zstd" },
    body: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
  },
  "chat-error": {
    headers: { "content-type": "text/event-stream" },
    body: sse(
      [null, chunk("a")],
      [null, { error: { message: LEAK, type: "server_error", code: "server_error", param: "x" } }],
    ),
  },
  // A server's own error shapes: the error as a string, and vLLM's error object at the top.
  "chat-error-string": {
    headers: { "content-type": "text/event-stream" },
    body: sse([null, chunk("a")], [null, { error: LEAK }]),
  },
  "chat-error-vllm": {
    headers: { "content-type": "text/event-stream" },
    body: sse(
      [null, chunk("a")],
      [null, { object: "error", message: LEAK, type: "BadRequestError", param: null, code: 400 }],
    ),
  },
  // A non-compliant server: its only event is not ended by a blank line.
  unterminated: {
    headers: { "content-type": "text/event-stream" },
    body: `data: ${JSON.stringify(chunk("a"))}\n`,
  },
  "messages-error": {
    headers: { "content-type": "text/event-stream" },
    body: sse(
      ["message_start", messageStart],
      ["error", { type: "error", error: { type: "overloaded_error", message: LEAK } }],
    ),
  },
  "responses-error": {
    headers: { "content-type": "text/event-stream" },
    body: sse(
      ["response.created", created],
      ["error", { type: "error", sequence_number: 1, code: "server_error", message: LEAK, param: null }],
    ),
  },
  "responses-failed": {
    headers: { "content-type": "text/event-stream" },
    body: sse(
      ["response.created", created],
      [
        "response.failed",
        {
          type: "response.failed",
          sequence_number: 1,
          response: {
            ...created.response,
            status: "failed",
            error: { code: "server_error", message: LEAK },
            usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
          },
        },
      ],
    ),
  },
  // A 2xx whose body is the upstream's error all the same (a proxy's, vLLM's, Anthropic's shape).
  "chat-error-200": {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: { message: LEAK, type: "server_error", code: "server_error" } }),
  },
  "chat-error-200-vllm": {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ object: "error", message: LEAK, type: "BadRequestError", param: null, code: 400 }),
  },
  "messages-error-200": {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: LEAK } }),
  },
  // A Responses object that failed: an answer (its usage is charged), its error's text not.
  "responses-failed-200": {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ...created.response,
      status: "failed",
      error: { code: "server_error", message: LEAK },
      usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    }),
  },
  // Media types are case-insensitive: a stream all the same, its error event replaced.
  "chat-error-mixed-case": {
    headers: { "content-type": "Text/Event-Stream; charset=utf-8" },
    body: sse([null, chunk("a")], [null, { error: { message: LEAK, type: "server_error" } }]),
  },
};

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const how = String(req.headers["openai-beta"] ?? req.headers["anthropic-beta"] ?? "");
      const answer = ANSWERS[how];
      if (answer === undefined) {
        res.writeHead(500).end(`no answer named ${how}`);
        return;
      }
      res.writeHead(answer.status ?? 200, answer.headers);
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: [
      `  mock: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
      `  mock-anthropic: { type: anthropic, base_url: "http://127.0.0.1:${port}" }`,
    ].join("\n"),
    models: ["  mythos-5: { provider: mock }", "  fable-5: { provider: mock-anthropic }"].join("\n"),
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

const openai = (how: string) =>
  new OpenAI({
    apiKey: t.keys.get("alice"),
    baseURL: `${t.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "US", "openai-beta": how },
  });
const anthropic = (how: string) =>
  new Anthropic({
    apiKey: t.keys.get("alice"),
    baseURL: t.url,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "US", "anthropic-beta": how },
  });
const messages = [{ role: "user" as const, content: "Say hello" }];

/**
 * The bytes a client gets for a chat completions stream, read raw. `usage`: the client asks for the
 * usage chunk itself, so the stream is passed on as it comes (else re-encoded event by event, the
 * chunk the gateway asked for left out).
 */
async function rawStream(how: string, usage = false): Promise<string> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("alice")}`,
      "content-type": "application/json",
      "x-test-country": "US",
      "openai-beta": how,
    },
    body: JSON.stringify({
      model: "mythos-5",
      messages,
      stream: true,
      ...(usage ? { stream_options: { include_usage: true } } : {}),
    }),
  });
  expect(res.status).toBe(200);
  return res.text();
}

async function drain<T>(stream: AsyncIterable<T>): Promise<{ events: T[]; error: unknown }> {
  const events: T[] = [];
  try {
    for await (const e of stream) events.push(e);
    return { events, error: null };
  } catch (error) {
    return { events, error };
  }
}

describe("an upstream's error text inside a stream is not passed on", () => {
  it("chat completions: the SDK's APIError says the gateway's words, with the standard type and code", async () => {
    const stream = await openai("chat-error").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
    });
    const { events, error } = await drain(stream);
    expect(events.map((c) => c.choices[0]?.delta.content)).toEqual(["a"]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const e = error as InstanceType<typeof OpenAI.APIError>;
    expect(e.message).not.toContain("gpu-17");
    expect(e.message).toMatch(/upstream failed mid-stream/);
    expect(e.type).toBe("server_error");
    expect(e.code).toBe("server_error");
    expect(e.param).toBeNull();
    // Kept for the operator, in the gateway's log, without the credential.
    const line = logged.find((l) => l.includes("gpu-17") && l.includes("mid-stream"));
    expect(line).toBeDefined();
    expect(line).not.toContain("hunter2");
  });

  it("chat completions: an error as a string, or vLLM's top-level error object, is replaced the same way", async () => {
    for (const how of ["chat-error-string", "chat-error-vllm"]) {
      const stream = await openai(how).chat.completions.create({
        model: "mythos-5",
        messages,
        stream: true,
      });
      const { events, error } = await drain(stream);
      expect(
        events.map((c) => c.choices[0]?.delta.content),
        how,
      ).toEqual(["a"]);
      expect(error, how).toBeInstanceOf(OpenAI.APIError);
      const e = error as InstanceType<typeof OpenAI.APIError>;
      expect(e.message, how).toMatch(/upstream failed mid-stream/);
      expect(e.type, how).toBe("api_error");
      expect(e.code, how).toBeNull();
      // Not a byte of the text on the wire, for a client that is not an SDK, the stream re-encoded
      // or passed on as it came.
      for (const usage of [false, true]) {
        const text = await rawStream(how, usage);
        expect(text, how).not.toContain("gpu-17");
        expect(text, how).not.toContain("hunter2");
        expect(text, how).toMatch(/upstream failed mid-stream/);
        expect(text, how).toContain('"content":"a"');
      }
    }
    const line = logged.find((l) => l.includes("gpu-17") && l.includes("BadRequestError"));
    expect(line).toBeDefined();
    expect(line).not.toContain("hunter2");
  });

  it("Anthropic messages: the SDK's error carries the standard type, not the text", async () => {
    const stream = await anthropic("messages-error").messages.create({
      model: "fable-5",
      max_tokens: 10,
      messages,
      stream: true,
    });
    const { events, error } = await drain(stream);
    expect(events.map((e) => e.type)).toEqual(["message_start"]);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const body = (error as InstanceType<typeof Anthropic.APIError>).error as {
      type: string;
      error: { type: string; message: string };
    };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("overloaded_error");
    expect(body.error.message).not.toContain("gpu-17");
    expect(String((error as Error).message)).not.toContain("hunter2");
  });

  it("a stream whose content type is spelled in capitals is read as one: its error event replaced", async () => {
    const stream = await openai("chat-error-mixed-case").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
    });
    const { events, error } = await drain(stream);
    expect(events.map((c) => c.choices[0]?.delta.content)).toEqual(["a"]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toMatch(/upstream failed mid-stream/);
    for (const usage of [false, true]) {
      const text = await rawStream("chat-error-mixed-case", usage);
      expect(text).not.toContain("gpu-17");
      expect(text).toMatch(/upstream failed mid-stream/);
    }
  });

  it("the Responses API: an `error` event and `response.failed` keep their shape, not the text", async () => {
    const errored = await drain(
      await openai("responses-error").responses.create({ model: "mythos-5", input: "hi", stream: true }),
    );
    expect(errored.error).toBeNull();
    const [error, failedEnd] = errored.events.slice(-2) as {
      type: string;
      code: string;
      message: string;
      sequence_number: number;
      response?: { status: string; error: { code: string; message: string } };
    }[];
    expect(error).toMatchObject({ type: "error", code: "server_error", sequence_number: 1 });
    expect(error?.message).not.toContain("gpu-17");
    // The upstream ended its stream there: the gateway fails the response, its terminal event.
    expect(failedEnd).toMatchObject({
      type: "response.failed",
      sequence_number: 2,
      response: { status: "failed" },
    });
    expect(failedEnd?.response?.error).toEqual({ code: "server_error", message: error?.message });

    const failed = await drain(
      await openai("responses-failed").responses.create({ model: "mythos-5", input: "hi", stream: true }),
    );
    const end = failed.events.at(-1);
    expect(end?.type).toBe("response.failed");
    const response = (
      end as { response: { status: string; error: { code: string; message: string }; usage: unknown } }
    ).response;
    expect(response.status).toBe("failed");
    expect(response.error.code).toBe("server_error");
    expect(response.error.message).not.toContain("gpu-17");
    expect(response.usage).toEqual({ input_tokens: 3, output_tokens: 2, total_tokens: 5 });
  });
});

describe("an upstream's error text in a 2xx answer is not passed on", () => {
  it('chat completions: `{error:…}` and vLLM\'s `{object:"error"}` in a 200 are a 502 the SDK raises, the text logged', async () => {
    for (const how of ["chat-error-200", "chat-error-200-vllm"]) {
      const err = await openai(how)
        .chat.completions.create({ model: "mythos-5", messages })
        .catch((e: unknown) => e);
      expect(err, how).toBeInstanceOf(OpenAI.InternalServerError);
      const e = err as InstanceType<typeof OpenAI.APIError>;
      expect(e.status, how).toBe(502);
      expect(e.code, how).toBe("upstream_failed");
      expect(e.message, how).not.toContain("gpu-17");
      expect(e.message, how).toMatch(/answered 200 with an error/);
    }
    const line = logged.find((l) => l.includes("gpu-17") && l.includes("answered 200 with an error"));
    expect(line).toBeDefined();
    expect(line).not.toContain("hunter2");
  });

  it('Anthropic messages: `{type:"error"}` in a 200 is a 502 in Anthropic\'s format', async () => {
    const err = await anthropic("messages-error-200")
      .messages.create({ model: "fable-5", max_tokens: 10, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    expect(String((err as Error).message)).not.toContain("gpu-17");
  });

  it("the Responses API: a failed response keeps its shape and usage, not the text", async () => {
    const response = await openai("responses-failed-200").responses.create({
      model: "mythos-5",
      input: "hi",
    });
    expect(response.status).toBe("failed");
    expect(response.error?.code).toBe("server_error");
    expect(response.error?.message).not.toContain("gpu-17");
    expect(response.error?.message).toMatch(/request [0-9a-f-]+ in the gateway's log/);
    expect(response.usage).toEqual({ input_tokens: 3, output_tokens: 2, total_tokens: 5 });
  });
});

describe("an upstream's body encoded although the gateway asked for identity", () => {
  it("gzip and deflate JSON, a content or a transfer coding, reach the SDK decoded (they were passed on compressed)", async () => {
    for (const how of ["gzip", "deflate", "transfer-gzip"]) {
      const { data, response } = await openai(how)
        .chat.completions.create({ model: "mythos-5", messages })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe("hello");
      expect(response.headers.get("content-encoding")).toBeNull();
    }
  });

  it("a gzip stream reaches the SDK decoded, event by event", async () => {
    const stream = await openai("gzip-stream").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
    });
    const { events, error } = await drain(stream);
    expect(error).toBeNull();
    expect(events.map((c) => c.choices[0]?.delta.content).join("")).toBe("hello");
  });
});

describe("a 200 with an empty body", () => {
  it("is a 502 the SDKs raise and retry, not `undefined` handed to the caller as the answer", async () => {
    const err = await openai("empty")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("upstream_empty");
    const anthropicErr = await anthropic("empty")
      .messages.create({ model: "fable-5", max_tokens: 10, messages })
      .catch((e: unknown) => e);
    expect(anthropicErr).toBeInstanceOf(Anthropic.InternalServerError);
    expect((anthropicErr as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
  });

  it("a stream with no event in it ends with the error event the SDK raises (it was an empty success)", async () => {
    const stream = await openai("empty-stream").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
    });
    const { events, error } = await drain(stream);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toMatch(/without sending any event/);
  });
});

describe("a stream whose only event is not ended by a blank line", () => {
  it("is no event (the SSE spec and the SDKs drop it): the no-event error, passed through or re-encoded", async () => {
    for (const usage of [true, false]) {
      const text = await rawStream("unterminated", usage);
      expect(text).not.toContain('"content":"a"');
      expect(text).toMatch(/without sending any event/);
    }
  });
});

describe("a coding the gateway cannot undo", () => {
  it("is a 502 upstream_failed, the bytes never passed on as JSON", async () => {
    const err = await openai("zstd")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("upstream_failed");
  });
});
