/**
 * A Responses API stream relayed on a real socket and read with the real openai SDK: the stream the
 * gateway ends itself (the upstream failed mid-stream, sent no event, or an event too large) ends in
 * the Responses `error` event the SDK raises, numbered after the last event, then `response.failed`,
 * the response's terminal event; and output the client was given whole in `.done` events, with no
 * deltas, is charged when the stream is cut before its final count.
 */
import OpenAI from "openai";
import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { relay } from "./relay.js";
import { IMAGE_TOKENS, type Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** An SSE event as the Responses API names and numbers it. */
const event = (type: string, sequence: number, extra: Record<string, unknown> = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...extra })}\n\n`;

const TEXT = "The quarterly export figures, in full: ".repeat(40);
const item = (status: string, text: string) => ({
  id: "msg_1",
  type: "message",
  role: "assistant",
  status,
  content: text === "" ? [] : [{ type: "output_text", text, annotations: [] }],
});

/** A response whose text comes whole in its `.done` events (no deltas), up to its item's end. */
const DONE_ONLY = [
  event("response.created", 0, {
    response: {
      id: "resp_1",
      object: "response",
      created_at: 1765090800,
      model: "m-1",
      status: "in_progress",
      output: [],
    },
  }),
  event("response.output_item.added", 1, { output_index: 0, item: item("in_progress", "") }),
  event("response.output_text.done", 2, { item_id: "msg_1", output_index: 0, content_index: 0, text: TEXT }),
  event("response.output_item.done", 3, { output_index: 0, item: item("completed", TEXT) }),
];

/** The same response with every event the API sends for it, as the SDK's accumulator needs them. */
const PART = { type: "output_text", text: "", annotations: [] };
const WHOLE = [
  ...DONE_ONLY.slice(0, 2),
  event("response.content_part.added", 2, {
    item_id: "msg_1",
    output_index: 0,
    content_index: 0,
    part: PART,
  }),
  event("response.output_text.done", 3, { item_id: "msg_1", output_index: 0, content_index: 0, text: TEXT }),
  event("response.content_part.done", 4, {
    item_id: "msg_1",
    output_index: 0,
    content_index: 0,
    part: { ...PART, text: TEXT },
  }),
  event("response.output_item.done", 5, { output_index: 0, item: item("completed", TEXT) }),
];

/**
 * Serves `chunks` as the upstream's stream through relay(), then fails it (`fail`) or ends it; a
 * client reads it with the openai SDK. What the SDK handed over, what it raised, the raw text, and
 * what was charged.
 */
async function read(chunks: string[], fail: boolean, captureLimit = 1 << 20, helper = false) {
  let charged: Promise<Usage | null> = Promise.resolve(null);
  let raw = "";
  server = createServer((req, res) => {
    req.resume();
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    // What went out, as the client's socket got it.
    res.write = ((c: unknown, ...rest: never[]) => (
      (raw += String(c)),
      write(c as string, ...rest)
    )) as never;
    res.end = ((c?: unknown, ...rest: never[]) => {
      if (typeof c === "string" || Buffer.isBuffer(c)) raw += String(c);
      return end(c as string, ...rest);
    }) as never;
    charged = relay({
      wire: "openai",
      endpoint: "responses",
      stream: true,
      upstream: {
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Readable.from(
          (async function* () {
            for (const c of chunks) yield Buffer.from(c);
            if (fail) throw new Error("connection reset by the upstream");
          })(),
        ),
      },
      res,
      headers: {},
      stripUsageChunk: false,
      captureLimit,
      requestId: "test",
      log: () => undefined,
      requestChars: 400,
      model: "m",
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const client = new OpenAI({ apiKey: "k", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  const types: string[] = [];
  let error: unknown = null;
  try {
    if (helper) {
      // The SDK's stream helper (ResponseStream), which builds the final response from the events.
      const stream = client.responses.stream({ model: "m", input: "hi" });
      for await (const e of stream) types.push(e.type);
      await stream.finalResponse();
    } else {
      const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
      for await (const e of stream) types.push(e.type);
    }
  } catch (err) {
    error = err;
  }
  return { types, error, raw, usage: await charged };
}

/** The events of a raw stream, parsed. */
function events(raw: string): { event: string | undefined; data: Record<string, unknown> }[] {
  return raw
    .trimEnd()
    .split("\n\n")
    .filter((e) => /^data: /m.test(e))
    .map((e) => ({
      event: /^event: (.*)$/m.exec(e)?.[1],
      data: JSON.parse(/^data: (.*)$/m.exec(e)?.[1] ?? "null") as Record<string, unknown>,
    }));
}

/** The last event of a raw stream, parsed. */
const lastEvent = (raw: string) => events(raw).at(-1)!;
/** The stream's `error` event. */
const errorEvent = (raw: string) => events(raw).find((e) => e.event === "error");

describe("a Responses stream the gateway ends itself", () => {
  it("ends in a Responses error event, numbered after the last one, that the openai SDK raises", async () => {
    const got = await read(DONE_ONLY, true);
    expect(got.types).toEqual([
      "response.created",
      "response.output_item.added",
      "response.output_text.done",
      "response.output_item.done",
    ]);
    expect(got.error).toBeInstanceOf(OpenAI.APIError);
    expect((got.error as InstanceType<typeof OpenAI.APIError>).message).toContain(
      "the upstream failed mid-stream",
    );
    const last = errorEvent(got.raw)!;
    expect(last.event).toBe("error");
    expect(last.data).toMatchObject({
      type: "error",
      code: "upstream_error",
      message: "the upstream failed mid-stream; the response is incomplete",
      param: null,
      sequence_number: 4,
    });
  });

  it("then fails the response with `response.failed`, the terminal event clients wait for", async () => {
    const got = await read(WHOLE, true);
    const all = events(got.raw);
    expect(all.map((e) => e.data.type)).toEqual([
      "response.created",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "error",
      "response.failed",
    ]);
    // The upstream's response (its id, model, creation time), failed, numbered after the error.
    expect(lastEvent(got.raw)).toMatchObject({
      event: "response.failed",
      data: {
        type: "response.failed",
        sequence_number: 7,
        response: {
          id: "resp_1",
          object: "response",
          created_at: 1765090800,
          model: "m-1",
          status: "failed",
          error: {
            code: "server_error",
            message: "the upstream failed mid-stream; the response is incomplete",
          },
          // The item completed before the cut, as the upstream's own failed response carries it.
          output: [item("completed", TEXT)],
        },
      },
    });
    // The SDK's own accumulator (what its stream helper and typed clients build the response with)
    // reads the whole stream to a failed response, not one still in progress.
    let snapshot: Response | undefined;
    for (const e of all) snapshot = accumulateResponse(e.data as unknown as ResponseStreamEvent, snapshot);
    expect(snapshot).toMatchObject({ id: "resp_1", status: "failed", error: { code: "server_error" } });
    expect(snapshot?.output_text).toBe(TEXT);
  });

  it("the SDK's stream helper raises the error rather than waiting or handing over a partial response", async () => {
    const got = await read(WHOLE, true, 1 << 20, true);
    expect(got.types).toContain("response.output_item.done");
    expect(got.error).toBeInstanceOf(OpenAI.APIError);
    expect((got.error as Error).message).toContain("the upstream failed mid-stream");
  });

  it("a stream with no event, or one too large, ends the same way (numbered 0 where none went out)", async () => {
    const none = await read([": keep-alive\n\n"], false);
    expect(none.error).toBeInstanceOf(OpenAI.APIError);
    // No response was announced: the failed one is the gateway's, naming the model asked for.
    expect(lastEvent(none.raw)).toMatchObject({
      event: "response.failed",
      data: {
        sequence_number: 1,
        response: { id: "resp_test", object: "response", model: "m", status: "failed", output: [] },
      },
    });
    expect(errorEvent(none.raw)).toMatchObject({
      event: "error",
      data: { type: "error", code: "upstream_error", sequence_number: 0 },
    });
    // An event not yet ended, over the capture limit: cut.
    const big = event("response.output_text.delta", 2, { delta: "x".repeat(4096) }).trimEnd();
    const tooLarge = await read([...DONE_ONLY.slice(0, 2), big], false, 1024);
    expect(tooLarge.types).toEqual(["response.created", "response.output_item.added"]);
    expect(tooLarge.error).toBeInstanceOf(OpenAI.APIError);
    expect(errorEvent(tooLarge.raw)).toMatchObject({
      event: "error",
      data: { type: "error", code: "upstream_error", sequence_number: 2 },
    });
    expect(lastEvent(tooLarge.raw)).toMatchObject({
      event: "response.failed",
      data: { sequence_number: 3, response: { id: "resp_1", status: "failed" } },
    });
  });
});

describe("a Responses stream whose output came only in `.done` events, cut before its final count", () => {
  it("is charged that output, estimated from its size (not nothing)", async () => {
    const got = await read(DONE_ONLY, true);
    // The item's text, once (its text and item events repeat it): a token per 4 characters.
    expect(got.usage?.input).toBe(100);
    expect(got.usage?.output).toBeGreaterThanOrEqual(Math.ceil(TEXT.length / 4));
    expect(got.usage?.output).toBeLessThan(Math.ceil((2 * TEXT.length) / 4));
  });

  it("is charged for its text alone: what the same text given as deltas is charged, not its JSON too", async () => {
    // A token a delta, as an upstream sends them: here 4 characters each.
    expect(TEXT.length % 4).toBe(0);
    const pieces = TEXT.match(/.{4}/g)!;
    const deltas = [
      ...WHOLE.slice(0, 3),
      ...pieces.map((delta, i) =>
        event("response.output_text.delta", 3 + i, {
          item_id: "msg_1",
          output_index: 0,
          content_index: 0,
          delta,
        }),
      ),
    ];
    const asDeltas = await read(deltas, true);
    const asDone = await read(WHOLE, true);
    expect(asDeltas.usage?.output).toBe(TEXT.length / 4);
    // Before: 30 tokens more (the item event's JSON: names, ids, braces), cut streams only.
    expect(asDone.usage?.output).toBe(asDeltas.usage?.output);
    expect((await read(DONE_ONLY, true)).usage?.output).toBe(TEXT.length / 4);
  });

  it("a stream that also sent deltas is charged the larger estimate, not both added", async () => {
    const words = TEXT.split(" ");
    const deltas = words.map((w, i) =>
      event("response.output_text.delta", 2 + i, { output_index: 0, delta: `${w} ` }),
    );
    const n = 2 + deltas.length;
    const chunks = [
      ...DONE_ONLY.slice(0, 2),
      ...deltas,
      event("response.output_text.done", n, { output_index: 0, content_index: 0, text: TEXT }),
      event("response.output_item.done", n + 1, { output_index: 0, item: item("completed", TEXT) }),
    ];
    const got = await read(chunks, true);
    const itemEstimate = Math.ceil(chunks.at(-1)!.length / 4);
    expect(got.usage?.output).toBeLessThanOrEqual(Math.max(deltas.length, itemEstimate));
    expect(got.usage?.output).toBeGreaterThanOrEqual(deltas.length);
  });
});

describe("a Responses stream cut after an image given whole in its `.done` event", () => {
  it("is charged the image as an image, not its base64 at a token per 4 characters", async () => {
    const image = Buffer.alloc(1_500_000, 7).toString("base64"); // 2 MB of base64
    const call = { type: "image_generation_call", id: "ig_1", status: "completed", result: image };
    const chunks = [
      ...DONE_ONLY.slice(0, 2),
      event("response.image_generation_call.completed", 2, { output_index: 0, item_id: "ig_1" }),
      event("response.output_item.done", 3, { output_index: 0, item: call }),
    ];
    const got = await read(chunks, true);
    // Before item 473: 500,000 output tokens and more (2 MB / 4). Now the image's figure alone.
    expect(got.usage?.output).toBe(IMAGE_TOKENS);
  });

  it("a stream cut after a partial image is charged that image (it was charged nothing)", async () => {
    const partial = Buffer.alloc(1_000_000, 9).toString("base64");
    const chunks = [
      ...DONE_ONLY.slice(0, 2),
      event("response.image_generation_call.partial_image", 2, {
        output_index: 0,
        item_id: "ig_1",
        partial_image_index: 0,
        partial_image_b64: partial,
      }),
    ];
    const got = await read(chunks, true);
    expect(got.usage?.output).toBe(IMAGE_TOKENS);
  });

  it("long base64-like text that is no image (reasoning's encrypted_content) is text, a token per 4 characters", async () => {
    const encrypted = Buffer.alloc(3_000, 5).toString("base64"); // 4,000 characters
    const reasoning = { type: "reasoning", id: "rs_1", summary: [], encrypted_content: encrypted };
    const chunks = [
      ...DONE_ONLY.slice(0, 2),
      event("response.output_item.done", 2, { output_index: 0, item: reasoning }),
    ];
    const got = await read(chunks, true);
    expect(got.usage?.output).toBe(1_000);
  });
});

describe("a Responses stream whose upstream sends its own error event", () => {
  it("with the error object the API sends it with: still raised by the openai SDK, its text replaced", async () => {
    const leak = "rate limiter at db-7.corp.internal";
    const upstreamError = event("error", 2, {
      error: { type: "too_many_requests", code: "rate_limit_exceeded", message: leak, param: null },
    });
    const got = await read([...DONE_ONLY.slice(0, 2), upstreamError], false);
    expect(got.types).toEqual(["response.created", "response.output_item.added"]);
    expect(got.error).toBeInstanceOf(OpenAI.APIError);
    expect((got.error as InstanceType<typeof OpenAI.APIError>).message).toContain(
      "its message is not passed on",
    );
    expect(got.raw).not.toContain("db-7");
    expect(errorEvent(got.raw)).toMatchObject({
      event: "error",
      data: { type: "error", code: "rate_limit_exceeded", sequence_number: 2 },
    });
    // The upstream ended its stream there: the gateway's response.failed follows it.
    expect(lastEvent(got.raw)).toMatchObject({
      event: "response.failed",
      data: { sequence_number: 3, response: { status: "failed", error: { code: "rate_limit_exceeded" } } },
    });
  });
});
