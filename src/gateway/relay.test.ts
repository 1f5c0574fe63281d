/**
 * Metering responses too large to keep: a body over the capture limit is relayed whole, and its
 * usage is still read from its end, so a big embeddings batch counts against quotas.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { parseSse } from "../upstream/sse.js";
import { relay } from "./relay.js";
import { usageFromTail, type Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** Relays `body` (in 1 KiB chunks) through a real socket; returns what the client got and the usage read. */
async function through(body: string, captureLimit: number) {
  let seen: Promise<Usage | null> = Promise.resolve(null);
  server = createServer((_req, res) => {
    const chunks =
      Buffer.from(body)
        .toString("latin1")
        .match(/[\s\S]{1,1024}/g) ?? [];
    seen = relay({
      wire: "openai",
      endpoint: "embeddings",
      upstream: {
        status: 200,
        headers: { "content-type": "application/json" },
        body: Readable.from(chunks.map((c) => Buffer.from(c, "latin1"))),
      },
      res,
      headers: {},
      stripUsageChunk: false,
      captureLimit,
      requestId: "test",
      log: () => undefined,
      requestChars: 0,
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const received = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  return { received, usage: await seen };
}

const embeddings = (n: number) =>
  JSON.stringify({
    object: "list",
    data: Array.from({ length: n }, (_, i) => ({
      object: "embedding",
      index: i,
      embedding: [0.125, -0.5, 0.25],
    })),
    model: "m",
    usage: { prompt_tokens: 4321, total_tokens: 4321 },
  });

describe("relaying a large body", () => {
  it("reads the usage of a body within the capture limit", async () => {
    const body = embeddings(10);
    expect(await through(body, 1 << 20)).toEqual({ received: body, usage: { input: 4321, output: 0 } });
  });

  it("reads a large body's usage from its end, or from the whole body where it is not at the end", async () => {
    const body = embeddings(20_000); // about 1.2 MB, kept whole (within the capture limit)
    expect(await through(body, 16 << 20)).toEqual({ received: body, usage: { input: 4321, output: 0 } });
    // Usage first: not in the last 64 KiB, so the body kept whole is parsed.
    const { usage, ...rest } = JSON.parse(body) as Record<string, unknown>;
    const first = JSON.stringify({ usage, ...rest });
    expect(await through(first, 16 << 20)).toEqual({ received: first, usage: { input: 4321, output: 0 } });
  });

  it("relays a body over the capture limit whole, and still reads its usage from the end", async () => {
    const body = embeddings(20_000); // about 1.2 MB
    const { received, usage } = await through(body, 64 * 1024);
    expect(received).toBe(body);
    expect(usage).toEqual({ input: 4321, output: 0 });
  });
});

describe("usageFromTail", () => {
  it("takes the last whole usage object, skipping strings and nested objects", () => {
    const tail = `..."text":"a \\"usage\\": {\\"prompt_tokens\\": 1}"}],"usage":{"input_tokens":7,"output_tokens":9,"details":{"x":"}"}}}`;
    expect(usageFromTail(tail)).toEqual({ input: 7, output: 9 });
  });
  it("finds nothing in a tail cut inside the usage object, or without one", () => {
    expect(usageFromTail(`"usage":{"prompt_tokens":12`)).toBeNull();
    expect(usageFromTail(`{"data":[1,2,3]}`)).toBeNull();
  });
});

describe("an upstream that fails mid-answer", () => {
  /** Relays a JSON body that fails after `sent` bytes; what the relay settled with and what the client saw. */
  async function failing(sent: number) {
    let settled: Promise<unknown> = Promise.resolve();
    let headersSent: boolean | undefined;
    server = createServer((_req, res) => {
      const body = new Readable({ read() {} });
      // The start of a JSON answer (a body that is not one is refused before any of it is sent).
      body.push(Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(sent, "a")]));
      setImmediate(() => body.destroy(new Error("socket hang up at 10.0.0.7")));
      settled = relay({
        wire: "openai",
        endpoint: "chat.completions",
        upstream: { status: 200, headers: { "content-type": "application/json" }, body },
        res,
        headers: {},
        stripUsageChunk: false,
        captureLimit: 1 << 20,
        requestId: "test",
        log: () => undefined,
        requestChars: 0,
      }).then(
        (usage) => ({ usage }),
        (err: unknown) => {
          headersSent = res.headersSent;
          // The gateway renders this error; here the test answers for it.
          res.writeHead(502).end("rendered");
          return { error: err };
        },
      );
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const client = await fetch(`http://127.0.0.1:${port}/`)
      .then(async (r) => ({ status: r.status, text: await r.text() }))
      .catch((err: unknown) => ({ failed: String(err) }));
    return { outcome: (await settled) as { usage?: unknown; error?: unknown }, headersSent, client };
  }

  it("while its answer is still held, nothing has been sent: the relay fails with upstream_failed (a 502)", async () => {
    const { outcome, headersSent, client } = await failing(1000);
    expect(outcome.error).toMatchObject({ kind: "upstream", code: "upstream_failed" });
    // The cause stays in the gateway: upstream texts can name internal hosts.
    expect(String((outcome.error as Error).message)).not.toContain("10.0.0.7");
    expect(headersSent).toBe(false);
    expect(client).toEqual({ status: 502, text: "rendered" });
  });

  it("once part of a large answer is sent, the client's connection is reset, never a well-formed 200", async () => {
    const { outcome, client } = await failing(200 * 1024);
    expect(outcome.error).toBeUndefined();
    expect(client).toHaveProperty("failed");
  });
});

describe("a stream passed through as it came (Anthropic; OpenAI asked for usage)", () => {
  const CUT = "the upstream failed mid-stream; the response is incomplete";
  const TOO_LARGE = "the upstream sent an event too large to relay; the response is incomplete";

  /**
   * Relays `chunks` (each its own read) over a real socket, then ends the body or, with `cut`, fails
   * it; with `onText`, the test sees the client's text as it arrives and says when to go on (after
   * the first chunk). Returns what the client got.
   */
  async function stream(
    wire: "openai" | "anthropic",
    chunks: readonly string[],
    cut: boolean,
    waitFor?: (text: string) => boolean,
  ): Promise<string> {
    let go: () => void = () => undefined;
    const gate = new Promise<void>((r) => (go = r));
    server = createServer((_req, res) => {
      const body = new Readable({ read() {} });
      void (async () => {
        for (const [i, c] of chunks.entries()) {
          body.push(Buffer.from(c, "latin1"));
          await (i === 0 && waitFor !== undefined ? gate : new Promise((r) => setImmediate(r)));
        }
        if (cut) body.destroy(new Error("socket hang up at 10.0.0.7"));
        else body.push(null);
      })();
      void relay({
        wire,
        endpoint: wire === "anthropic" ? "messages" : "chat.completions",
        upstream: { status: 200, headers: { "content-type": "text/event-stream" }, body },
        res,
        headers: {},
        stripUsageChunk: false,
        captureLimit: 1 << 20,
        requestId: "test",
        log: () => undefined,
        requestChars: 0,
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      if (waitFor !== undefined) {
        const timer = setTimeout(() => reject(new Error("the client waited in vain")), 3000);
        void gate.then(() => clearTimeout(timer));
      }
      request({ host: "127.0.0.1", port }, (res) => {
        let text = "";
        res.setEncoding("latin1");
        res.on("data", (c: string) => {
          text += c;
          if (waitFor?.(text)) go();
        });
        res.on("end", () => resolve(text));
        res.on("error", reject);
      })
        .on("error", reject)
        .end();
    });
  }

  const event = (type: string, i: number, nl: string) =>
    `event: ${type}${nl}data: {"type":"${type}","index":${i},"text":"é ${"x".repeat(i)}"}${nl}${nl}`;

  it("after a cut mid-event, the error event follows the last whole event, whatever the line ends and splits", async () => {
    for (const nl of ["\n", "\r\n", "\r"]) {
      const whole = event("message_start", 1, nl) + event("content_block_delta", 2, nl);
      const broken = event("content_block_delta", 3, nl);
      // Cut anywhere in the third event (also right after its blank line's first half), read in
      // pieces that split lines, line ends and the UTF-8 "é" anywhere.
      for (let at = 0; at < broken.length; at++) {
        const bytes = Buffer.from(whole + broken.slice(0, at)).toString("latin1");
        const size = 1 + (at % 9);
        const chunks = bytes.match(new RegExp(`[\\s\\S]{1,${size}}`, "g")) ?? [];
        const text = await stream("anthropic", chunks, true);
        server?.close();
        const label = `${JSON.stringify(nl)}, cut at ${at}, pieces of ${size}`;
        // The third event is whole once the parser has seen its blank line's end (with CRLF, its CR).
        const sent = parseSse(whole + broken.slice(0, at)).length === 3 ? whole + broken.slice(0, at) : whole;
        expect(Buffer.from(text, "latin1").toString(), label).toBe(
          `${sent}event: error\ndata: ${JSON.stringify({ type: "error", error: { type: "api_error", message: CUT } })}\n\n`,
        );
        const events = parseSse(Buffer.from(text, "latin1"));
        expect(events.at(-1)?.event, label).toBe("error");
        expect(events.length, label).toBe(parseSse(sent).length + 1);
        for (const e of events) expect(() => JSON.parse(e.data) as unknown, label).not.toThrow();
      }
    }
  });

  it("an OpenAI stream cut mid-event ends in a parseable error event too", async () => {
    const chunk = (n: number) => `data: {"choices":[{"index":0,"delta":{"content":"${n}"}}]}\n\n`;
    const text = await stream("openai", [chunk(1) + chunk(2).slice(0, 20), chunk(2).slice(20, 30)], true);
    expect(text).toBe(
      `${chunk(1)}data: ${JSON.stringify({ error: { message: CUT, type: "api_error", code: "upstream_error", param: null } })}\n\n`,
    );
  });

  it("sends each whole event at once, holding only the bytes after it; an unended last event is not sent", async () => {
    const first = event("message_start", 1, "\n");
    const second = event("content_block_delta", 2, "\n");
    // The first read holds the first event and half the second: the client must get the first
    // before the rest is sent (the upstream waits until it has).
    const text = await stream(
      "anthropic",
      [first + second.slice(0, 25), second.slice(25), "event: ping\ndata: {}"],
      false,
      (got) => got.startsWith(first),
    );
    // Ended without its blank line, the last event is no event (the spec and the SDKs drop it).
    expect(text).toBe(`${first}${second}`);
  });

  it("an unended event larger than the capture limit is not passed on: the stream ends with the error event", async () => {
    const first = event("message_start", 1, "\n");
    const big = `event: content_block_delta\ndata: ${"x".repeat((1 << 20) + 10)}`;
    const text = await stream(
      "anthropic",
      [first + big.slice(0, 1000), big.slice(1000, -5), big.slice(-5)],
      false,
    );
    // None of it went out, so the error event starts on an event's boundary, where SDKs read it.
    const error = { type: "error", error: { type: "api_error", message: TOO_LARGE } };
    expect(text).toBe(`${first}event: error\ndata: ${JSON.stringify(error)}\n\n`);
  });
});

describe("a 2xx that is the upstream's error", () => {
  /** Relays `body` as a 200 on `endpoint`; what the client got and how the relay settled. */
  async function answered(endpoint: "chat.completions" | "responses", body: string) {
    let settled: Promise<Usage | null> = Promise.resolve(null);
    server = createServer((_req, res) => {
      settled = relay({
        wire: "openai",
        endpoint,
        upstream: {
          status: 200,
          headers: { "content-type": "application/json" },
          body: Readable.from([Buffer.from(body)]),
        },
        res,
        headers: {},
        stripUsageChunk: false,
        captureLimit: 1 << 20,
        requestId: "test",
        log: () => undefined,
        requestChars: 40,
      });
      // Refused, it is answered by the gateway's error handler; here, by its code.
      settled.catch((err: { code?: string }) => res.writeHead(502).end(String(err.code)));
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    const received = await res.text();
    return { status: res.status, received, usage: await settled.catch(() => "refused") };
  }

  it("is refused as upstream_failed and charged nothing (not charged 1 token per 4 bytes of its text)", async () => {
    const got = await answered("chat.completions", JSON.stringify({ error: { message: "db01 down" } }));
    expect(got).toEqual({ status: 502, received: "upstream_failed", usage: "refused" });
  });

  it("a failed Responses object is passed on without its message, and charged its usage", async () => {
    const body = JSON.stringify({
      id: "resp_1",
      object: "response",
      status: "failed",
      error: { code: "server_error", message: "db01 down" },
      output: [],
      usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    });
    const got = await answered("responses", body);
    expect(got.status).toBe(200);
    expect(got.received).not.toContain("db01");
    expect(JSON.parse(got.received)).toMatchObject({ status: "failed", error: { code: "server_error" } });
    expect(got.usage).toEqual({ input: 3, output: 2 });
  });
});
