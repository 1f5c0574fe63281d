/**
 * What the upstream receives: the client's body as it came when nothing in it changes; for a
 * streamed chat completion that does not ask for usage, the same text with
 * stream_options.include_usage added at its front (no second serialisation of the prompt); a full
 * re-serialisation only when the model is renamed or stream_options is there (so that the upstream
 * reads the one include_usage decided on).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let upstream: Server;
const received: string[] = [];

const SSE = [
  { id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "hi" } }] },
  {
    id: "c",
    object: "chat.completion.chunk",
    choices: [],
    usage: { prompt_tokens: 3, completion_tokens: 1 },
  },
]
  .map((e) => `data: ${JSON.stringify(e)}\n\n`)
  .join("");

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push(body);
      if ((JSON.parse(body) as { stream?: boolean }).stream === true) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(`${SSE}data: [DONE]\n\n`);
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "c", choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
    models: `  mythos-5: { provider: up }\n  mythos-4: { provider: up, upstream_model: "mythos-4-2026" }`,
  });
});
afterAll(async () => {
  await t.gateway.close();
  await new Promise((r) => upstream.close(r));
});

/** Posts `text` as alice's chat completion body. */
const post = (text: string) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${t.keys.get("alice") as string}`,
      "x-test-country": "US",
    },
    body: text,
  });

/** Sends `text` as the body; returns what the upstream received and what the client got. */
async function send(text: string): Promise<{ upstream: string; client: string }> {
  const r = await post(text);
  const client = await r.text();
  expect(r.status, client).toBe(200);
  return { upstream: received.at(-1) as string, client };
}

const PROMPT = "a long prompt ".repeat(5_000);

describe("the body forwarded upstream", () => {
  it("is the client's text, byte for byte, when nothing in it changes", async () => {
    const text = ` {"model":"mythos-5",  "messages":[{"role":"user","content":${JSON.stringify(PROMPT)}}]}`;
    expect((await send(text)).upstream).toBe(text);
  });

  it("a stream that does not ask for usage: the same text with include_usage added at its front", async () => {
    const text = `\n {"messages":[{"role":"user","content":${JSON.stringify(PROMPT)}}],"model":"mythos-5","stream":true}`;
    const { upstream: sent, client } = await send(text);
    expect(sent).toBe(`\n {"stream_options":{"include_usage":true},${text.slice(3)}`);
    // The usage chunk the gateway asked for is not passed on to a client that did not.
    expect(client).not.toContain('"usage"');
    expect(client).toContain("[DONE]");
  });

  it("stream_options there but not asking for usage (null, false, other members): re-serialised with it", async () => {
    for (const [given, expected] of [
      [null, { include_usage: true }],
      [
        { include_usage: false, extra: 1 },
        { include_usage: true, extra: 1 },
      ],
      ["no", { include_usage: true }],
    ] as const) {
      const text = JSON.stringify({ model: "mythos-5", stream: true, stream_options: given, messages: [] });
      const sent = JSON.parse((await send(text)).upstream) as Record<string, unknown>;
      expect(sent.stream_options).toEqual(expected);
      expect(sent.model).toBe("mythos-5");
    }
  });

  it("a stream already asking for usage: the upstream reads what it asked, and its client sees the usage", async () => {
    const text = JSON.stringify({
      model: "mythos-5",
      stream: true,
      stream_options: { include_usage: true },
      messages: [],
    });
    const { upstream: sent, client } = await send(text);
    expect(sent).toBe(text);
    expect(client).toContain('"usage"');
  });

  it("include_usage named twice goes upstream once, as decided on (a first-wins upstream would not meter)", async () => {
    const text = `{"model":"mythos-5","stream":true,"stream_options":{"include_usage":false,"include_usage":true},"messages":[]}`;
    const { upstream: sent } = await send(text);
    expect(sent.match(/include_usage/g)).toEqual(["include_usage"]);
    expect((JSON.parse(sent) as { stream_options: unknown }).stream_options).toEqual({ include_usage: true });
  });

  it("a stream flag that is not a boolean is refused, naming it", async () => {
    const r = await post(JSON.stringify({ model: "mythos-5", stream: "true", messages: [] }));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string; param: string } }).error).toMatchObject({
      code: "invalid_stream",
      param: "stream",
    });
  });

  it("a renamed model is re-serialised with the upstream's name (and usage asked for when streamed)", async () => {
    const plain = JSON.parse(
      (await send(JSON.stringify({ model: "mythos-4", messages: [] }))).upstream,
    ) as Record<string, unknown>;
    expect(plain.model).toBe("mythos-4-2026");
    const streamed = JSON.parse(
      (await send(JSON.stringify({ model: "mythos-4", stream: true, messages: [] }))).upstream,
    ) as Record<string, unknown>;
    expect(streamed).toMatchObject({ model: "mythos-4-2026", stream_options: { include_usage: true } });
  });
});
