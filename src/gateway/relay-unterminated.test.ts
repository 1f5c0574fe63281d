/**
 * A stream whose last event is not ended by a blank line. The SSE spec discards such an event at
 * the end of the stream, and so do both SDKs: the gateway delivers and meters the same events
 * whether it passes the stream on as it came (Anthropic; OpenAI asked for usage) or re-encodes it
 * (OpenAI, the usage chunk it asked for left out), and a stream with no whole event gets the
 * no-event error either way, never an empty success.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Wire } from "../upstream/types.js";
import { openaiChatStream } from "../testing/sdk-streams.js";
import { relay } from "./relay.js";
import type { Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** Serves `body` as the upstream's stream through relay() on a real socket; the usage it charged. */
async function serve(wire: Wire, body: string, strip: boolean) {
  let charged: Promise<Usage | null> = Promise.resolve(null);
  server = createServer((req, res) => {
    req.resume();
    charged = relay({
      wire,
      endpoint: wire === "anthropic" ? "messages" : "chat.completions",
      upstream: {
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Readable.from([Buffer.from(body)]),
      },
      res,
      headers: {},
      stripUsageChunk: strip,
      captureLimit: 1 << 20,
      requestId: "test",
      log: () => undefined,
      requestChars: 400,
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, charged: () => charged };
}

const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content } }] })}\n`;

/** What the OpenAI SDK reads of the stream, the raw text a client gets, and the usage charged. */
async function openaiRead(body: string, strip: boolean) {
  const { url, charged } = await serve("openai", body, strip);
  const raw = await (await fetch(`${url}/raw`, { method: "POST" })).text();
  const { texts, error } = await openaiChatStream({ apiKey: "k", baseURL: `${url}/v1` });
  const usage = await charged();
  server?.close();
  return { raw, texts, error, usage };
}

describe("an OpenAI stream whose last event has no closing blank line", () => {
  it("delivers and charges the same whole events passed through or re-encoded; the unended one neither", async () => {
    const body = `${chunk("a")}\n${chunk("b")}\n${chunk("c")}`;
    const passed = await openaiRead(body, false);
    const encoded = await openaiRead(body, true);
    for (const read of [passed, encoded]) {
      expect(read.texts).toEqual(["a", "b"]);
      expect(read.error).toBeNull();
      // One output token an event read: the unended one is not charged, as it is not read.
      expect(read.usage).toEqual({ input: 100, output: 2 });
      expect(read.raw).not.toContain('"content":"c"');
    }
  });

  it("with no whole event, both ways end in the no-event error the SDK raises, charging nothing", async () => {
    for (const strip of [false, true]) {
      const read = await openaiRead(chunk("a"), strip);
      expect(read.texts, `strip ${strip}`).toEqual([]);
      expect(read.error, `strip ${strip}`).toBeInstanceOf(OpenAI.APIError);
      expect((read.error as Error).message).toMatch(/without sending any event/);
      expect(read.usage).toBeNull();
    }
  });
});

describe("an Anthropic stream (passed through) whose only event has no closing blank line", () => {
  it("ends in the no-event error the SDK raises, not an empty success", async () => {
    const start = {
      type: "message_start",
      message: { id: "m", type: "message", role: "assistant", model: "m", content: [], usage: {} },
    };
    const { url, charged } = await serve(
      "anthropic",
      `event: message_start\ndata: ${JSON.stringify(start)}\n`,
      false,
    );
    const client = new Anthropic({ apiKey: "k", baseURL: url, maxRetries: 0 });
    const stream = await client.messages.create({
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    const events: unknown[] = [];
    let error: unknown = null;
    try {
      for await (const e of stream) events.push(e);
    } catch (e) {
      error = e;
    }
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as Error).message).toMatch(/without sending any event/);
    expect(await charged()).toBeNull();
  });
});
