/**
 * An upstream that resets its connection after its stream's terminal event (Responses'
 * response.completed, response.incomplete or its own response.failed; Anthropic's message_stop;
 * chat's `[DONE]`): the client already has the whole answer, so the gateway just ends the stream —
 * no error event, no second terminal event after it — and charges it as a stream that ended.
 * Relayed on a real socket; the Responses stream read with the real openai SDK.
 */
import OpenAI from "openai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint, Wire } from "../upstream/types.js";
import { relay } from "./relay.js";
import type { Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** An SSE event as the Responses API names and numbers it. */
const event = (type: string, sequence: number, extra: Record<string, unknown> = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...extra })}\n\n`;
const response = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "resp_1",
  object: "response",
  created_at: 1765090800,
  model: "m-1",
  status,
  output: [],
  ...extra,
});
const usage = { input_tokens: 10, output_tokens: 20, total_tokens: 30 };
const CREATED = event("response.created", 0, { response: response("in_progress") });

interface Relayed {
  readonly raw: string;
  readonly usage: Usage | null;
}

/** Serves `chunks` through relay(), then resets (`reset`) or ends the upstream's body. */
async function serve(
  chunks: string[],
  reset: boolean,
  opts: { wire?: Wire; endpoint?: Endpoint; stripUsageChunk?: boolean } = {},
  read: (url: string) => Promise<string> = async (url) => (await fetch(url, { method: "POST" })).text(),
): Promise<Relayed> {
  let charged: Promise<Usage | null> = Promise.resolve(null);
  server = createServer((req, res) => {
    req.resume();
    charged = relay({
      wire: opts.wire ?? "openai",
      endpoint: opts.endpoint ?? "responses",
      stream: true,
      upstream: {
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Readable.from(
          (async function* () {
            for (const c of chunks) yield Buffer.from(c);
            if (reset) throw new Error("connection reset by the upstream");
          })(),
        ),
      },
      res,
      headers: {},
      stripUsageChunk: opts.stripUsageChunk ?? false,
      captureLimit: 1 << 20,
      requestId: "test",
      log: () => undefined,
      requestChars: 400,
      model: "m",
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const raw = await read(`http://127.0.0.1:${port}/v1`);
  return { raw, usage: await charged };
}

/** The `type` (and `event:` name where the data has none) of each event of a raw stream. */
const types = (raw: string): string[] =>
  raw
    .trimEnd()
    .split("\n\n")
    .filter((e) => /^data: /m.test(e))
    .map((e) => {
      const data = /^data: (.*)$/m.exec(e)![1]!;
      if (data === "[DONE]") return data;
      const json = JSON.parse(data) as { type?: string; object?: string };
      return json.type ?? json.object ?? /^event: (.*)$/m.exec(e)?.[1] ?? "message";
    });

/** The Responses stream read with the openai SDK: the event types it handed over, what it raised. */
async function sdkRead(url: string): Promise<{ types: string[]; error: unknown }> {
  const client = new OpenAI({ apiKey: "k", baseURL: url, maxRetries: 0 });
  const seen: string[] = [];
  try {
    const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
    for await (const e of stream) seen.push(e.type);
    return { types: seen, error: null };
  } catch (error) {
    return { types: seen, error };
  }
}

const COMPLETED = [CREATED, event("response.completed", 1, { response: response("completed", { usage }) })];
const INCOMPLETE = [
  CREATED,
  event("response.incomplete", 1, { response: response("incomplete", { usage }) }),
];
const FAILED = [
  CREATED,
  event("response.failed", 1, {
    response: response("failed", { error: { code: "server_error", message: "overloaded" } }),
  }),
];

describe("a Responses stream whose upstream resets after its terminal event", () => {
  it("completed then reset: ends after response.completed, no error nor response.failed, charged its usage", async () => {
    for (const stripUsageChunk of [false, true]) {
      const got = await serve(COMPLETED, true, { stripUsageChunk });
      expect(types(got.raw)).toEqual(["response.created", "response.completed"]);
      expect(got.usage).toEqual({ input: 10, output: 20 });
    }
    // The openai SDK hands over the completed response and raises nothing.
    let sdk: { types: string[]; error: unknown } | undefined;
    await serve(COMPLETED, true, {}, async (url) => {
      sdk = await sdkRead(url);
      return "";
    });
    expect(sdk).toEqual({ types: ["response.created", "response.completed"], error: null });
  });

  it("failed then reset: the upstream's own response.failed is the only terminal event, charged as if it ended", async () => {
    const got = await serve(FAILED, true);
    expect(types(got.raw)).toEqual(["response.created", "response.failed"]);
    // The one response.failed is the upstream's (its text replaced, as an upstream error's is), not the gateway's.
    expect(got.raw).not.toContain("the response is incomplete");
    const ended = await serve(FAILED, false);
    expect(got.usage).toEqual(ended.usage);
  });

  it("incomplete then reset: ends after response.incomplete, charged its usage", async () => {
    const got = await serve(INCOMPLETE, true);
    expect(types(got.raw)).toEqual(["response.created", "response.incomplete"]);
    expect(got.usage).toEqual({ input: 10, output: 20 });
  });

  it("a reset before the terminal event still fails the response (an event merely naming one is not it)", async () => {
    // A delta whose text names response.completed: escaped inside its JSON string, no terminal event.
    const delta = event("response.output_text.delta", 1, { delta: '"response.completed"' });
    const got = await serve([CREATED, delta], true);
    expect(types(got.raw)).toEqual([
      "response.created",
      "response.output_text.delta",
      "error",
      "response.failed",
    ]);
  });
});

describe("chat and Anthropic streams whose upstream resets after their last event", () => {
  it("chat: nothing after `[DONE]`", async () => {
    const chunk = {
      id: "c1",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { content: "hi" } }],
    };
    const got = await serve([`data: ${JSON.stringify(chunk)}\n\n`, "data: [DONE]\n\n"], true, {
      endpoint: "chat.completions",
    });
    expect(types(got.raw)).toEqual(["chat.completion.chunk", "[DONE]"]);
  });

  it("Anthropic: nothing after message_stop", async () => {
    const a = (type: string, extra: Record<string, unknown> = {}) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...extra })}\n\n`;
    const got = await serve(
      [
        a("message_start", { message: { id: "m1", usage: { input_tokens: 10, output_tokens: 1 } } }),
        a("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 20 } }),
        a("message_stop"),
      ],
      true,
      { wire: "anthropic", endpoint: "messages" },
    );
    expect(types(got.raw)).toEqual(["message_start", "message_delta", "message_stop"]);
    expect(got.usage).toEqual({ input: 10, output: 20 });
  });
});
