/**
 * Upstream answers that are malformed at the HTTP level, from a raw socket (node:http would mend
 * them): a stream without its media type, a Content-Length shorter than the body, an unbounded
 * Retry-After, a head over undici's header limit, an error body trickling in, an error or a stream
 * in a 2xx body too large to hold. The `openai-beta` header, passed through, names the answer.
 */
import OpenAI from "openai";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let upstream: Server;
const sockets = new Set<Socket>();
const logged: string[] = [];
/** What an upstream's error text may say: nothing of it may reach a client. */
const LEAK = "shard gpu-17.internal.corp password=hunter2";
/** Sockets the upstream was still trickling an error body into when the gateway closed them. */
let cutWhileTrickling = 0;

const completion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "mythos-5",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
};
const chunk = (content: string) => ({
  id: "c",
  object: "chat.completion.chunk",
  created: 1,
  model: "mythos-5",
  choices: [{ index: 0, delta: { content } }],
});
const errorEvents =
  `data: ${JSON.stringify(chunk("a"))}\n\n` +
  `data: ${JSON.stringify({ error: { message: LEAK, type: "server_error" } })}\n\n`;

/** A raw HTTP/1.1 answer: the status line, the header lines as given, the body. */
const raw = (status: string, headers: readonly string[], body: string | Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`, "latin1"),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);
const sized = (status: string, headers: readonly string[], body: string): Buffer =>
  raw(status, [...headers, `content-length: ${Buffer.byteLength(body)}`, "connection: close"], body);

const bigText = "x".repeat(100 * 1024);
/** 100 KiB that gzip cannot shrink much, in a completion, compressed. */
const noisyText = randomBytes(75 * 1024).toString("base64");
const noisyGzip = gzipSync(
  JSON.stringify({
    ...completion,
    choices: [{ ...completion.choices[0], message: { role: "assistant", content: noisyText } }],
  }),
);
/** A stream of every kind of line an event stream has, in every line end: passed on as it came. */
const FIELDS =
  `: a comment\r\nid: 1\rretry: 10\nevent\ndata\n\n:\n\r\n` +
  `id\nretry\ndata: ${JSON.stringify(chunk("a"))}\r\n\r\ndata: [DONE]\n\n`;
const ANSWERS: Record<string, Buffer | ((socket: Socket) => void)> = {
  // A stream whose media type is missing, sent twice (the gateway drops a header sent twice), or other.
  "stream-untyped": sized("200 OK", [], errorEvents),
  "stream-typed-twice": sized(
    "200 OK",
    ["content-type: text/event-stream", "content-type: text/event-stream"],
    errorEvents,
  ),
  "stream-plain": sized("200 OK", ["content-type: text/plain"], errorEvents),
  // The same events labelled JSON, small and large.
  "stream-as-json": sized("200 OK", ["content-type: application/json"], errorEvents),
  "stream-as-json-large": sized(
    "200 OK",
    ["content-type: application/json"],
    `data: ${JSON.stringify(chunk(bigText))}\n\n${errorEvents}`,
  ),
  // A long answer on a connection the upstream closes after it (undici 7 asserts if its parser is
  // paused then: an uncaught exception that ended the process).
  "large-then-close": sized(
    "200 OK",
    ["content-type: application/json"],
    JSON.stringify({
      ...completion,
      choices: [{ ...completion.choices[0], message: { role: "assistant", content: bigText } }],
    }),
  ),
  // The same compressed, as an upstream that ignores the ask for identity may send it: the decoder
  // must not pause undici either.
  "large-gzip-then-close": raw(
    "200 OK",
    [
      "content-type: application/json",
      "content-encoding: gzip",
      `content-length: ${noisyGzip.length}`,
      "connection: close",
    ],
    noisyGzip,
  ),
  "large-close-delimited": raw(
    "200 OK",
    ["content-type: application/json", "connection: close"],
    JSON.stringify({
      ...completion,
      choices: [{ ...completion.choices[0], message: { role: "assistant", content: bigText } }],
    }),
  ),
  // A Content-Length shorter than the body: the declared bytes are half a JSON document.
  "short-length": raw(
    "200 OK",
    ["content-type: application/json", "content-length: 40"],
    JSON.stringify(completion),
  ),
  "retry-after-huge-ok": sized(
    "200 OK",
    ["content-type: application/json", "retry-after: 99999999999"],
    JSON.stringify(completion),
  ),
  "retry-after-huge-429": sized(
    "429 Too Many Requests",
    ["content-type: application/json", "retry-after: 99999999999"],
    JSON.stringify({ error: { message: LEAK, type: "rate_limit_error" } }),
  ),
  "retry-after-garbage-503": sized(
    "503 Service Unavailable",
    ["content-type: application/json", `retry-after: ${LEAK}`],
    JSON.stringify({ error: { message: LEAK } }),
  ),
  "retry-after-date-503": sized(
    "503 Service Unavailable",
    [
      "content-type: application/json",
      `retry-after: ${new Date(Date.now() + 10 * 86_400_000).toUTCString()}`,
    ],
    JSON.stringify({ error: { message: LEAK } }),
  ),
  "retry-after-7-400": sized(
    "400 Bad Request",
    ["content-type: application/json", "retry-after: 7"],
    JSON.stringify({ error: { message: LEAK, type: "invalid_request_error" } }),
  ),
  // A head over undici's 16 KiB header limit.
  "huge-head": sized("200 OK", ["content-type: application/json", `x-pad: ${"p".repeat(20_000)}`], "{}"),
  // No HTTP at all.
  "not-http": Buffer.from(`${LEAK}\r\n\r\n`),
  // An error body that never ends, a byte at a time, each well within the idle timeout.
  trickle: (socket) => {
    socket.write(raw("500 Internal Server Error", ["content-type: application/json"], '{"error":'));
    const every = setInterval(() => {
      if (socket.destroyed) return clearInterval(every);
      socket.write(" ");
    }, 100);
    socket.once("close", () => {
      clearInterval(every);
      cutWhileTrickling++;
    });
  },
  // Answers to a stream that hold no events, or text among their events, with blank lines: read as
  // a stream (not typed JSON), they must not pass on as they came.
  "stream-untyped-no-event": sized("200 OK", [], `${JSON.stringify({ error: { message: LEAK } })}\n\n`),
  "stream-html": sized(
    "200 OK",
    ["content-type: text/html"],
    `<html>\n\n<body>${LEAK}</body>\n\n</html>\n\n`,
  ),
  "stream-plain-mixed": sized(
    "200 OK",
    ["content-type: text/plain"],
    `data: ${JSON.stringify(chunk("a"))}\n\n${LEAK}\n\ndata: [DONE]\n\n`,
  ),
  "stream-typed-text": sized(
    "200 OK",
    ["content-type: text/event-stream"],
    `: a comment\nid: 1\nretry: 10\ndata: ${JSON.stringify(chunk("a"))}\n\nInternal error: ${LEAK}\r\n\r\ndata: [DONE]\n\n`,
  ),
  "stream-typed-fields": sized("200 OK", ["content-type: text/event-stream"], FIELDS),
  // A JSON error in a 2xx, after a BOM.
  "bom-error-200": sized(
    "200 OK",
    ["content-type: application/json"],
    `\uFEFF${JSON.stringify({ error: { message: LEAK, type: "server_error" } })}`,
  ),
  // An error in a 2xx body larger than the gateway holds before passing a body on.
  "large-error-200": sized(
    "200 OK",
    ["content-type: application/json"],
    JSON.stringify({ error: { message: `${LEAK} ${bigText}`, type: "server_error" } }),
  ),
};

beforeAll(async () => {
  upstream = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("close", () => sockets.delete(socket));
    let got = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      got = Buffer.concat([got, data]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = got.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (got.length < end + 4 + length) return;
      socket.off("data", onData);
      const how = /\r\nopenai-beta: *([^\r]*)/i.exec(head)?.[1] ?? "";
      const answer = ANSWERS[how];
      if (answer === undefined) socket.end(sized("500 Internal Server Error", [], `no answer named ${how}`));
      else if (Buffer.isBuffer(answer)) socket.end(answer);
      else answer(socket);
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  mock: { type: openai, base_url: "http://127.0.0.1:${port}/v1", timeouts: { connect_ms: 5000, first_byte_ms: 5000, idle_ms: 1000 } }`,
    models: "  mythos-5: { provider: mock }",
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  upstream.close();
  await t.gateway.close();
});

const messages = [{ role: "user" as const, content: "Say hello" }];

/** One chat completions request, raw: the status, the headers and the text the client gets. */
async function send(how: string, stream = false, path = "/v1/chat/completions", extra = {}) {
  const body =
    path === "/v1/responses"
      ? { model: "mythos-5", input: "Say hello", stream }
      : { model: "mythos-5", messages, stream, ...extra };
  const res = await fetch(`${t.url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("alice")}`,
      "content-type": "application/json",
      "x-test-country": "US",
      "openai-beta": how,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("a stream is known by what the request asked, not only by the upstream's media type", () => {
  it("a stream without its type, with it sent twice, or typed text/plain: its error event replaced", async () => {
    for (const how of ["stream-untyped", "stream-typed-twice", "stream-plain"]) {
      const { status, headers, text } = await send(how, true);
      expect(status, how).toBe(200);
      expect(headers.get("content-type"), how).toBe("text/event-stream");
      expect(text, how).not.toContain("gpu-17");
      expect(text, how).toContain('"content":"a"');
      expect(text, how).toMatch(/upstream failed mid-stream/);
    }
    // And the SDK reads it as the stream it asked for, raising the sanitised error.
    const client = new OpenAI({
      apiKey: t.keys.get("alice"),
      baseURL: `${t.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { "x-test-country": "US", "openai-beta": "stream-untyped" },
    });
    const stream = await client.chat.completions.create({ model: "mythos-5", messages, stream: true });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? "");
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["a"]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).not.toContain("gpu-17");
  });

  it("events labelled JSON, or sent to a request that asked for no stream, are a 502: not JSON, not passed on", async () => {
    for (const [how, stream] of [
      ["stream-untyped", false],
      ["stream-as-json", true],
      ["stream-as-json-large", true],
    ] as const) {
      const { status, text } = await send(how, stream);
      expect(status, how).toBe(502);
      expect(text, how).not.toContain("gpu-17");
      expect(JSON.parse(text).error.code, how).toBe("upstream_failed");
      expect(JSON.parse(text).error.message, how).toMatch(/not JSON/);
    }
  });
});

describe("a long answer on a connection the upstream closes", () => {
  it("is passed on whole, however the reader keeps up, and the gateway keeps running", async () => {
    for (let i = 0; i < 5; i++) {
      for (const how of ["large-then-close", "large-close-delimited", "large-gzip-then-close"]) {
        const { status, text } = await send(how);
        expect(status, how).toBe(200);
        const content = JSON.parse(text).choices[0].message.content;
        expect(content, how).toBe(how === "large-gzip-then-close" ? noisyText : bigText);
      }
    }
  });
});

describe("a stream's text that is no event is not passed on", () => {
  /** Streamed requests relayed as they come (no usage chunk to strip) and re-encoded (one to strip). */
  const asked = [
    ["/v1/chat/completions", { stream_options: { include_usage: true } }],
    ["/v1/responses", {}],
    ["/v1/chat/completions", {}],
  ] as const;

  it("an answer with no event at all ends as a stream without any event, its text not passed on", async () => {
    for (const how of ["stream-untyped-no-event", "stream-html"]) {
      for (const [path, extra] of asked) {
        const { status, headers, text } = await send(how, true, path, extra);
        expect(status, `${how} ${path}`).toBe(200);
        expect(headers.get("content-type"), how).toBe("text/event-stream");
        expect(text, `${how} ${path}`).not.toContain("gpu-17");
        expect(text, `${how} ${path}`).not.toContain("html");
        expect(text, `${how} ${path}`).toMatch(/ended the stream without sending any event/);
      }
    }
  });

  it("text among events, typed as a stream or not, is left out; the events pass on", async () => {
    for (const how of ["stream-plain-mixed", "stream-typed-text"]) {
      for (const [path, extra] of asked) {
        const { status, text } = await send(how, true, path, extra);
        expect(status, `${how} ${path}`).toBe(200);
        expect(text, `${how} ${path}`).not.toContain("gpu-17");
        expect(text, `${how} ${path}`).toContain('"content":"a"');
        expect(text, `${how} ${path}`).toContain("data: [DONE]");
        expect(text, `${how} ${path}`).not.toMatch(/without sending any event/);
      }
    }
  });

  it("a stream of field lines, comments and blank lines only still passes on as it came", async () => {
    const { text } = await send("stream-typed-fields", true, "/v1/chat/completions", {
      stream_options: { include_usage: true },
    });
    expect(text).toBe(FIELDS);
  });
});

describe("a 2xx body that is not the answer it claims to be", () => {
  it("an error after a BOM is a 502, its text not passed on", async () => {
    const { status, text } = await send("bom-error-200");
    expect(status).toBe(502);
    expect(text).not.toContain("gpu-17");
    expect(JSON.parse(text).error.code).toBe("upstream_failed");
  });

  it("a Content-Length shorter than the body is a 502 upstream_failed, not half a JSON document as a 200", async () => {
    const { status, text } = await send("short-length");
    expect(status).toBe(502);
    expect(JSON.parse(text).error.code).toBe("upstream_failed");
  });

  it("an error in a 2xx body larger than the gateway holds is a 502, its text not passed on", async () => {
    const { status, text } = await send("large-error-200");
    expect(status).toBe(502);
    expect(text).not.toContain("gpu-17");
    expect(JSON.parse(text).error.code).toBe("upstream_failed");
    const line = logged.find((l) => l.includes("gpu-17") && l.includes("answered 200 with an error"));
    expect(line).toBeDefined();
    expect(line).not.toContain("hunter2");
  });
});

describe("the upstream's Retry-After", () => {
  it("is not passed on with a success", async () => {
    const { status, headers } = await send("retry-after-huge-ok");
    expect(status).toBe(200);
    expect(headers.get("retry-after")).toBeNull();
  });

  it("is passed on with a 429 or a 5xx in delta-seconds, capped at an hour; a malformed one is not", async () => {
    const huge = await send("retry-after-huge-429");
    expect(huge.status).toBe(429);
    expect(huge.headers.get("retry-after")).toBe("3600");
    const garbage = await send("retry-after-garbage-503");
    expect(garbage.status).toBe(503);
    expect(garbage.headers.get("retry-after")).toBeNull();
    const date = await send("retry-after-date-503");
    expect(date.status).toBe(503);
    expect(date.headers.get("retry-after")).toBe("3600");
    // A 400 is not to be retried: no Retry-After for it.
    const bad = await send("retry-after-7-400");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("retry-after")).toBeNull();
  });
});

describe("an upstream head or error body the gateway cannot take", () => {
  it("a head over the header limit is a 502 saying so, not `upstream_unreachable`", async () => {
    const { status, text } = await send("huge-head");
    expect(status).toBe(502);
    const error = JSON.parse(text).error as { code: string; message: string };
    expect(error.code).toBe("upstream_failed");
    expect(error.message).toMatch(/header/);
  });

  it("an answer that is not HTTP is a 502 saying so, its text not passed on", async () => {
    const { status, text } = await send("not-http");
    expect(status).toBe(502);
    expect(text).not.toContain("gpu-17");
    const error = JSON.parse(text).error as { code: string; message: string };
    expect(error.code).toBe("upstream_failed");
    expect(error.message).toMatch(/malformed HTTP head/);
  });

  it("an error body trickling in is bounded as a whole: the client gets its error, the upstream is cut", async () => {
    const before = cutWhileTrickling;
    const { status, text } = await send("trickle");
    expect(status).toBe(500);
    expect(JSON.parse(text).error.message).toMatch(/not passed on/);
    await expect.poll(() => cutWhileTrickling).toBe(before + 1);
  });
});
