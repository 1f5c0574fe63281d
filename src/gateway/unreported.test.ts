/**
 * Answers that end normally without a usage report are still charged: at least what a stream cut
 * short would be (one output token an event, the input estimated from the request's size), and for a
 * JSON body, an estimate from the request's and the body's sizes. Metering nothing would let an
 * upstream that omits usage (or a client that can make it omit it) serve without touching a quota.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint, Wire } from "../upstream/types.js";
import { relay } from "./relay.js";
import type { Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** Relays `parts` as the upstream's body through a real socket; returns the usage to meter. */
async function through(
  parts: readonly string[],
  o: { wire: Wire; endpoint: Endpoint; sse: boolean; strip?: boolean; fail?: boolean },
): Promise<Usage | null> {
  let seen: Promise<Usage | null> = Promise.resolve(null);
  server = createServer((_req, res) => {
    async function* body() {
      for (const p of parts) yield Buffer.from(p);
      if (o.fail === true) throw new Error("upstream reset");
    }
    seen = relay({
      wire: o.wire,
      endpoint: o.endpoint,
      upstream: {
        status: 200,
        headers: { "content-type": o.sse ? "text/event-stream" : "application/json" },
        body: Readable.from(body()),
      },
      res,
      headers: {},
      stripUsageChunk: o.strip ?? false,
      captureLimit: 1 << 20,
      requestId: "test",
      log: () => undefined,
      requestChars: 4_000,
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await (await fetch(`http://127.0.0.1:${port}/`)).text().catch(() => "");
  return seen;
}

const chunk = (i: number) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: `w${i} ` } }] })}\n\n`;
const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const delta = (i: number) =>
  event("content_block_delta", {
    type: "content_block_delta",
    index: 0,
    delta: { type: "text_delta", text: `w${i}` },
  });
const chat = { wire: "openai", endpoint: "chat.completions", sse: true, strip: true } as const;
const messages = { wire: "anthropic", endpoint: "messages", sse: true } as const;

describe("a stream that ends without a usage report", () => {
  it("is charged as much as the same stream cut short: an output token an event, the input from the request", async () => {
    const events = Array.from({ length: 500 }, (_, i) => chunk(i));
    const complete = await through([...events, "data: [DONE]\n\n"], chat);
    expect(complete).toEqual({ input: 1_000, output: 500 });
    expect(await through(events, { ...chat, fail: true })).toEqual(complete);
  });

  it("Anthropic: a message_start without usage and no message_delta", async () => {
    const events = [
      event("message_start", { type: "message_start", message: { id: "m", role: "assistant", content: [] } }),
      ...Array.from({ length: 300 }, (_, i) => delta(i)),
      event("message_stop", { type: "message_stop" }),
    ];
    expect(await through(events, messages)).toEqual({ input: 1_000, output: 300 });
  });

  it("Anthropic: the input message_start reported, and at least the deltas passed on when no final count came", async () => {
    const events = [
      event("message_start", {
        type: "message_start",
        message: { usage: { input_tokens: 50, output_tokens: 1 } },
      }),
      ...Array.from({ length: 10 }, (_, i) => delta(i)),
      event("message_stop", { type: "message_stop" }),
    ];
    expect(await through(events, messages)).toEqual({ input: 50, output: 10 });
  });

  it("a stream that reports its usage is charged what it reports", async () => {
    const usage = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } })}\n\n`;
    const events = [chunk(0), chunk(1), chunk(2), usage, "data: [DONE]\n\n"];
    expect(await through(events, chat)).toEqual({ input: 7, output: 3 });
  });
});

describe("a JSON answer without a usage report", () => {
  it("is charged the input estimated from the request, and the output from the body's length", async () => {
    const body = JSON.stringify({
      id: "c",
      choices: [{ message: { role: "assistant", content: "x".repeat(4_000) } }],
    });
    expect(await through([body], { wire: "openai", endpoint: "chat.completions", sse: false })).toEqual({
      input: 1_000,
      output: Math.ceil(body.length / 4),
    });
  });

  it("embeddings produce no output tokens (the body is vectors); a token count is not a model run", async () => {
    const vectors = JSON.stringify({ object: "list", data: [{ embedding: [0.5, 0.25] }] });
    expect(await through([vectors], { wire: "openai", endpoint: "embeddings", sse: false })).toEqual({
      input: 1_000,
      output: 0,
    });
    const count = JSON.stringify({ input_tokens: 12 });
    expect(
      await through([count], { wire: "anthropic", endpoint: "messages.count_tokens", sse: false }),
    ).toBeNull();
  });

  it("a body that reports its usage is charged what it reports", async () => {
    const body = JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 4 } });
    expect(await through([body], { wire: "openai", endpoint: "chat.completions", sse: false })).toEqual({
      input: 9,
      output: 4,
    });
  });

  it("a body reporting no input (none, or a count no one could have used) is charged the input estimate", async () => {
    const json = { wire: "openai", endpoint: "chat.completions", sse: false } as const;
    const unreadable = JSON.stringify({ choices: [], usage: { prompt_tokens: 1e21, completion_tokens: 5 } });
    expect(await through([unreadable], json)).toEqual({ input: 1_000, output: 5 });
    const none = JSON.stringify({ choices: [], usage: { completion_tokens: 5 } });
    expect(await through([none], json)).toEqual({ input: 1_000, output: 5 });
  });
});
