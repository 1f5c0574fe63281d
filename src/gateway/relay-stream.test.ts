/**
 * Streams through a real gateway from an upstream on a real socket, split where TCP may split them:
 * a stream whose usage chunk is removed does not stall when a read completes no event after the
 * client's socket was full, and a stream cut mid-event ends in an error event every client can
 * parse (the real OpenAI and Anthropic SDKs included).
 */
import Anthropic from "@anthropic-ai/sdk";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { parseSse } from "../upstream/sse.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A promise and its resolve (Promise.withResolvers, which Node 20 lacks). */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

let t: TestGateway;
let upstream: Server;
/** How the upstream answers the next request. */
let answer: (req: IncomingMessage, res: ServerResponse) => Promise<void>;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.once("end", () => void answer(req, res));
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const { port } = upstream.address() as AddressInfo;
  t = await startTestGateway({
    providers: [
      `  upo: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
      `  upa: { type: anthropic, base_url: "http://127.0.0.1:${port}" }`,
    ].join("\n"),
    models: "  fable-4: { provider: upo }\n  mythos-4: { provider: upa }",
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "fable-4", choices: [{ index: 0, delta: { content } }] })}\n\n`;
const USAGE = `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "fable-4", choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })}\n\n`;
const event = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const MESSAGE_START = event("message_start", {
  message: {
    id: "m",
    type: "message",
    role: "assistant",
    content: [],
    model: "mythos-4",
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 1 },
  },
});
const BLOCK_START = event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
const delta = (text: string) =>
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text } });

function openai(): OpenAI {
  return new OpenAI({
    apiKey: t.keys.get("alice"),
    baseURL: `${t.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "US" },
  });
}

function ask(path: string, body: Record<string, unknown>): Promise<string> {
  const anthropic = path === "/v1/messages";
  return fetch(`${t.url}${path}`, {
    method: "POST",
    // A stall fails the test here rather than at vitest's timeout.
    signal: AbortSignal.timeout(5000),
    headers: {
      ...(anthropic
        ? { "x-api-key": t.keys.get("alice")!, "anthropic-version": "2023-06-01" }
        : { authorization: `Bearer ${t.keys.get("alice")}` }),
      "content-type": "application/json",
      "x-test-country": "US",
    },
    body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "hi" }], ...body }),
  }).then((r) => r.text());
}

describe("a stream whose usage chunk is removed (OpenAI, include_usage not asked for)", () => {
  it("does not stall when, after the client's socket was full, a read completes no event", async () => {
    const big = "x".repeat(20_000);
    const second = chunk("second");
    /** Resolved by the client once it has read the big event: the gateway's socket has drained. */
    let read = deferred();
    answer = async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk(big)); // one event over the socket's 16 KiB mark: the gateway's write says wait
      await read.promise; // the client has drained it
      res.write(second.slice(0, 20)); // a read that completes no event
      // Kept: nothing outside the gateway sees it read that part alone; should the rest come with
      // it (a loaded machine), the test passes without the case, never fails for the time.
      await sleep(100);
      res.write(second.slice(20));
      res.write(USAGE);
      res.end("data: [DONE]\n\n");
    };
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      signal: AbortSignal.timeout(5000), // a stall fails the test here rather than at vitest's timeout
      headers: {
        authorization: `Bearer ${t.keys.get("alice")}`,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: JSON.stringify({ stream: true, model: "fable-4", messages: [{ role: "user", content: "hi" }] }),
    });
    let text = "";
    for await (const piece of r.body!.pipeThrough(new TextDecoderStream())) {
      text += piece;
      if (text.length >= chunk(big).length) read.resolve();
    }
    expect(text).toBe(`${chunk(big)}${second}data: [DONE]\n\n`);
    // The same through the OpenAI SDK: every chunk, and the stream's end.
    read = deferred();
    const got: string[] = [];
    const stream = await openai().chat.completions.create({
      model: "fable-4",
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    for await (const c of stream) {
      got.push(c.choices[0]?.delta.content ?? "");
      read.resolve();
    }
    expect(got).toEqual([big, "second"]);
  });
});

describe("a stream cut mid-event", () => {
  const CUT = "the upstream failed mid-stream; the response is incomplete";
  /**
   * The upstream sends `whole`, then `partial` (half an event), then its connection drops: once the
   * bytes are handed to the system (the write's callback), the close only follows them, and TCP
   * gives the gateway every byte before the connection's end.
   */
  const cutAfter = (whole: string, partial: string) => {
    answer = async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      await new Promise<void>((resolve, reject) =>
        res.write(whole + partial, (err) => (err ? reject(err) : resolve())),
      );
      res.socket?.destroy();
    };
  };
  /** Every event the client got parses, and the last is the error event. */
  const parsedEvents = (text: string) => {
    const events = parseSse(text);
    for (const e of events) expect(() => JSON.parse(e.data) as unknown, e.data).not.toThrow();
    return events;
  };

  it("Anthropic: the client gets the whole events, then the error event", async () => {
    const whole = MESSAGE_START + BLOCK_START + delta("hello");
    const partial = delta(" world").slice(0, 60);
    cutAfter(whole, partial);
    const text = await ask("/v1/messages", { model: "mythos-4", max_tokens: 10 });
    const events = parsedEvents(text);
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "error",
    ]);
    expect(JSON.parse(events.at(-1)!.data)).toEqual({
      type: "error",
      error: { type: "api_error", message: CUT },
    });

    // The Anthropic SDK reads the text, then throws the gateway's error (not a JSON parse error).
    cutAfter(whole, partial);
    const client = new Anthropic({
      apiKey: t.keys.get("alice"),
      baseURL: t.url,
      maxRetries: 0,
      defaultHeaders: { "x-test-country": "US" },
    });
    const stream = await client.messages.create({
      model: "mythos-4",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    let got = "";
    const err = await (async () => {
      for await (const e of stream)
        if (e.type === "content_block_delta" && e.delta.type === "text_delta") got += e.delta.text;
    })().catch((e: unknown) => e);
    expect(got).toBe("hello");
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toContain(CUT);
  });

  it("OpenAI asked for usage (passed through as it came): the whole chunks, then the error event", async () => {
    const whole = chunk("hello");
    const partial = chunk(" world").slice(0, 50);
    cutAfter(whole, partial);
    const text = await ask("/v1/chat/completions", {
      model: "fable-4",
      stream_options: { include_usage: true },
    });
    const events = parsedEvents(text);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!.data)).toEqual({
      error: { message: CUT, type: "api_error", code: "upstream_error", param: null },
    });

    // The OpenAI SDK reads the text, then throws the gateway's error (not a JSON parse error).
    cutAfter(whole, partial);
    const stream = await openai().chat.completions.create({
      model: "fable-4",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hi" }],
    });
    let got = "";
    const err = await (async () => {
      for await (const c of stream) got += c.choices[0]?.delta.content ?? "";
    })().catch((e: unknown) => e);
    expect(got).toBe("hello");
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain(CUT);
  });
});

describe("lines that are no event's, split where TCP may split them", () => {
  /** The upstream sends `pieces` one by one, typed as `type`. */
  const inPieces = (pieces: readonly string[], type?: string) => {
    answer = async (_req, res) => {
      res.writeHead(200, type === undefined ? {} : { "content-type": type });
      for (const p of pieces) {
        res.write(p);
        await sleep(30);
      }
      res.end();
    };
  };
  const passedThrough = { model: "fable-4", stream_options: { include_usage: true } };

  it("a stream of event lines alone passes on as it came, a CRLF split after its CR included", async () => {
    const a = chunk("a").replace(/\n\n$/, "");
    const pieces = [`${a}\r`, "\n\r", `\n: keep-alive\r\n\r\n${chunk("b")}`, "data: [DONE]\n\n"];
    inPieces(pieces, "text/event-stream");
    expect(await ask("/v1/chat/completions", passedThrough)).toBe(pieces.join(""));
  });

  it("text between events, split across reads, is left out; the events around it pass on", async () => {
    const pieces = [`${chunk("a")}secret gpu-17 `, `text\n\n${chunk("b")}`, "data: [DONE]\n\n"];
    for (const type of [undefined, "text/plain", "text/event-stream"]) {
      inPieces(pieces, type);
      const text = await ask("/v1/chat/completions", passedThrough);
      expect(text, type).toBe(`${chunk("a")}${chunk("b")}data: [DONE]\n\n`);
    }
  });
});
