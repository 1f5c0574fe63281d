/**
 * An upstream that never ends its event (no blank line) is held only up to the capture limit
 * (`limits.body_bytes`) on every path: passed through as it came, re-encoded (the usage chunk left
 * out), and read for usage after the client left. Past it the stream ends with the error event the
 * SDKs raise, after the whole events before it; the relay meters it as a stream cut short, logs it,
 * and stops reading the upstream.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { startTestGateway } from "../testing/gateway.js";
import { openaiChatStream } from "../testing/sdk-streams.js";
import type { Wire } from "../upstream/types.js";
import { relay } from "./relay.js";
import type { Usage } from "./usage.js";

const LIMIT = 64 * 1024;
const PIECE = 4 * 1024;
/** The most the upstream would send: far past the limit, so that reading it all is seen. */
const MOST = 64 * LIMIT;
const MESSAGE = "the upstream sent an event too large to relay; the response is incomplete";
/** An upstream's event that never ends, through the gateway: far more than sockets buffer. */
const UNENDING = 256 * 1024 * 1024;

let server: Server | undefined;
afterEach(() => server?.close());

interface Upstream {
  /** Bytes the relay drew from the upstream. */
  pulled: number;
  destroyed: boolean;
}

/**
 * Serves `whole` (whole events), then one event that never ends (pieces of `x`, up to MOST bytes),
 * through relay() on a real socket. `leave`: the client has gone before the relay starts.
 */
async function serve(wire: Wire, whole: string, strip: boolean, leave = false) {
  const upstream: Upstream = { pulled: 0, destroyed: false };
  const logged: string[] = [];
  let charged: Promise<Usage | null> = Promise.resolve(null);
  const opening = wire === "anthropic" ? "event: content_block_delta\ndata: " : "data: ";
  server = createServer((req, res) => {
    req.resume();
    const body = new Readable({
      read() {
        if (upstream.pulled === 0) this.push(Buffer.from(whole + opening));
        else if (upstream.pulled >= MOST) this.push(null);
        else this.push(Buffer.alloc(PIECE, "x"));
        upstream.pulled += upstream.pulled === 0 ? whole.length + opening.length : PIECE;
      },
      destroy(err, done) {
        upstream.destroyed = true;
        done(err);
      },
    });
    if (leave) res.destroy();
    charged = relay({
      wire,
      endpoint: wire === "anthropic" ? "messages" : "chat.completions",
      upstream: { status: 200, headers: { "content-type": "text/event-stream" }, body },
      res,
      headers: {},
      stripUsageChunk: strip,
      captureLimit: LIMIT,
      requestId: "req-cap",
      log: (line) => logged.push(line),
      requestChars: 400,
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, upstream, logged, charged: () => charged };
}

const chunk = (content: string) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content } }] })}\n\n`;

/** What was held, read and charged: the upstream stopped soon after the limit, the cut logged. */
function expectCut(upstream: Upstream, logged: readonly string[]) {
  expect(upstream.destroyed).toBe(true);
  // The limit, and what the stream's own buffering had drawn before the cut (a few pieces).
  expect(upstream.pulled).toBeLessThan(LIMIT + 8 * PIECE);
  expect(logged).toEqual([
    `clearance: request req-cap: the upstream's stream held an event over the capture limit (limits.body_bytes, ${LIMIT} bytes) not yet ended; the stream was cut`,
  ]);
}

describe("an OpenAI stream whose last event never ends", () => {
  for (const strip of [true, false]) {
    it(`${strip ? "re-encoded" : "passed through"}: the SDK reads the whole events, then raises the cut`, async () => {
      const { url, upstream, logged, charged } = await serve("openai", chunk("a") + chunk("b"), strip);
      const { texts, error } = await openaiChatStream({ apiKey: "k", baseURL: `${url}/v1` });
      expect(texts).toEqual(["a", "b"]);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as Error).message).toContain(MESSAGE);
      // As a stream cut short: one output token an event relayed, the input estimated (400 / 4).
      expect(await charged()).toEqual({ input: 100, output: 2 });
      expectCut(upstream, logged);
    });
  }

  it("the raw stream is the whole events, then the error event, on an event's boundary", async () => {
    const { url, upstream, logged } = await serve("openai", chunk("a"), false);
    const text = await (await fetch(url, { method: "POST" })).text();
    const error = { error: { message: MESSAGE, type: "api_error", code: "upstream_error", param: null } };
    expect(text).toBe(`${chunk("a")}data: ${JSON.stringify(error)}\n\n`);
    expectCut(upstream, logged);
  });

  it("read for its usage after the client left: read no further than the limit, charged as cut", async () => {
    const { url, upstream, logged, charged } = await serve("openai", chunk("a") + chunk("b"), true, true);
    await fetch(url, { method: "POST" }).catch(() => undefined);
    expect(await charged()).toEqual({ input: 100, output: 2 });
    expectCut(upstream, logged);
  });
});

describe("an Anthropic stream (passed through) whose last event never ends", () => {
  it("the SDK reads the whole events, then raises the cut", async () => {
    const start = {
      type: "message_start",
      message: {
        id: "m",
        type: "message",
        role: "assistant",
        model: "m",
        content: [],
        usage: { input_tokens: 25, output_tokens: 1 },
      },
    };
    const { url, upstream, logged, charged } = await serve(
      "anthropic",
      `event: message_start\ndata: ${JSON.stringify(start)}\n\n`,
      false,
    );
    const client = new Anthropic({ apiKey: "k", baseURL: url, maxRetries: 0 });
    const stream = await client.messages.create({
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    });
    const events: string[] = [];
    let error: unknown = null;
    try {
      for await (const e of stream) events.push(e.type);
    } catch (e) {
      error = e;
    }
    expect(events).toEqual(["message_start"]);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as Error).message).toContain(MESSAGE);
    expect(await charged()).toEqual({ input: 25, output: 1 });
    expectCut(upstream, logged);
  });
});

describe("through the gateway, with the HTTP provider", () => {
  it("limits.body_bytes bounds the event held; the upstream request is aborted, the cut metered and logged", async () => {
    // Whether the upstream's answer was closed before the upstream ended it (the gateway aborted it).
    let upstreamClosed: (aborted: boolean) => void = () => undefined;
    const closed = new Promise<boolean>((r) => (upstreamClosed = r));
    const up = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.on("close", () => upstreamClosed(!res.writableEnded));
        res.write(chunk("a") + "data: ");
        // The event never ends: written, with backpressure, until the gateway closes the connection.
        // What the upstream gets to write before then is what the sockets' buffers take (about 4 MB
        // on loopback, more under load: counting it against a bound raced them), so only a broken
        // gateway, reading on, ever reaches the end, far past any socket buffer.
        let sent = 0;
        const more = () => {
          while (!res.destroyed && sent < UNENDING) {
            sent += PIECE;
            if (!res.write(Buffer.alloc(PIECE, "x"))) return void res.once("drain", more);
          }
          if (!res.destroyed) res.end();
        };
        more();
      });
    });
    await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
    const logged: string[] = [];
    const t = await startTestGateway({
      providers: `  up: { type: openai, base_url: "http://127.0.0.1:${(up.address() as AddressInfo).port}/v1" }`,
      models: "  mythos-5: { provider: up }",
      extra: `limits: { body_bytes: ${LIMIT} }`,
      log: (line) => logged.push(line),
    });
    const metered: { input: number; output: number }[] = [];
    const record = t.gateway.meter.record.bind(t.gateway.meter);
    t.gateway.meter.record = (usage, now) => {
      metered.push({ input: usage.inputTokens, output: usage.outputTokens });
      record(usage, now);
    };
    try {
      const { texts, error } = await openaiChatStream(
        { apiKey: t.keys.get("alice"), baseURL: `${t.url}/v1`, defaultHeaders: { "x-test-country": "US" } },
        "mythos-5",
        "x".repeat(400),
      );
      expect(texts).toEqual(["a"]);
      expect((error as Error).message).toContain(MESSAGE);
      expect(await closed).toBe(true);
      expect(logged.some((l) => l.includes("an event over the capture limit"))).toBe(true);
      // One output token for the event relayed; the input estimated from the request body.
      expect(metered).toHaveLength(1);
      expect(metered[0]?.output).toBe(1);
      expect(metered[0]?.input).toBeGreaterThan(100);
    } finally {
      await t.gateway.close();
      up.closeAllConnections();
      up.close();
    }
  });
});
