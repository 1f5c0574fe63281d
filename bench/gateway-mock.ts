/**
 * The mock upstream of `npm run bench:gateway`, run in its own process (forked by the bench) so that
 * its work never shares an event loop with a proxy under test. An OpenAI-compatible
 * `POST /v1/chat/completions` on 127.0.0.1: a small fixed chat.completion with usage, or with
 * `stream: true` an SSE stream of a few chunks (+ a usage chunk when asked) and `data: [DONE]`.
 *
 * argv[2]: milliseconds between streamed chunks after the first (default 2). The gap is there so
 * that a proxy which buffers a stream shows up as added time to the first chunk, as it would with a
 * real model producing tokens one by one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const GAP_MS = Number(process.argv[2] ?? 2);
const MODEL = "mythos-5";
const USAGE = { prompt_tokens: 8, completion_tokens: 5, total_tokens: 13 };

// Built once: the mock should cost as little CPU as possible per request.
const COMPLETION = Buffer.from(
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 1_767_225_600,
    model: MODEL,
    choices: [{ index: 0, message: { role: "assistant", content: "Hello there." }, finish_reason: "stop" }],
    usage: USAGE,
  }),
);

const chunk = (delta: object, finish: string | null, extra: object = {}) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: 1_767_225_600,
    model: MODEL,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  })}\n\n`;
const WORDS = ["Hello", " there", ",", " friend", "."];
const CHUNKS = WORDS.map((w, i) =>
  chunk(i === 0 ? { role: "assistant", content: w } : { content: w }, i === WORDS.length - 1 ? "stop" : null),
);
const USAGE_CHUNK = `data: ${JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion.chunk",
  created: 1_767_225_600,
  model: MODEL,
  choices: [],
  usage: USAGE,
})}\n\n`;
const DONE = "data: [DONE]\n\n";

function stream(res: ServerResponse, withUsage: boolean): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const parts = withUsage ? [...CHUNKS, USAGE_CHUNK, DONE] : [...CHUNKS, DONE];
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    res.write(parts[i++]);
    if (i < parts.length) setTimeout(next, GAP_MS);
    else res.end();
  };
  next();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    let body: { stream?: unknown; stream_options?: { include_usage?: unknown } } = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"bad json"}');
      return;
    }
    if (body.stream === true) return stream(res, body.stream_options?.include_usage === true);
    res.writeHead(200, { "content-type": "application/json", "content-length": COMPLETION.length });
    res.end(COMPLETION);
  });
}

const server = createServer({ keepAliveTimeout: 65_000 }, handle);
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
// The bench going away (even killed) closes the IPC channel: never outlive it.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
