/**
 * Usage in the shapes an upstream may legitimately send it, through the real gateway and a real
 * upstream on a socket: an Anthropic stream whose events carry no `event:` line (SSE allows leaving
 * it out; the `type` member says what each event is), and a large JSON answer holding a `usage`
 * object of the client's own (echoed from its request) besides, or instead of, the answer's own.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { erikLicensedHeaders } from "../testing/admin.js";
import { licenseUsageAfter, startTestGateway, type TestGateway } from "../testing/gateway.js";

/** The upstream's next answer. */
let answer: { sse: boolean; body: string; type?: string } = { sse: false, body: "{}" };

let upstream: Server;
let t: TestGateway;
beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, {
        "content-type": answer.type ?? (answer.sse ? "text/event-stream" : "application/json"),
      });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: [
      `  upo: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
      `  upa: { type: anthropic, base_url: "http://127.0.0.1:${port}" }`,
    ].join("\n"),
    models: "  fable-5: { provider: upo }\n  mythos-5: { provider: upa }",
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const LICENSE = "BIS-2026-0001"; // erik's, for fable-5 and mythos-5, cyber-defense, from Germany
const quota = () => t.gateway.limits.licenseUsage(LICENSE, "total", Date.now());

/** What one request, answered with `next`, charged to erik's license; and the client's text. */
async function charged(
  path: string,
  body: Record<string, unknown>,
  next: { sse: boolean; body: string; type?: string },
): Promise<{ tokens: number; text: string; sent: string }> {
  answer = next;
  const before = await quota();
  const sent = JSON.stringify(body);
  const res = await fetch(`${t.url}${path}`, {
    method: "POST",
    headers: { ...erikLicensedHeaders(t), "anthropic-version": "2023-06-01" },
    body: sent,
  });
  expect(res.headers.get("x-clearance-reason")).toBe("license");
  const text = await res.text();
  return { tokens: (await licenseUsageAfter(t, LICENSE, before)) - before, text, sent };
}

describe("an Anthropic stream without event: lines, or with lines that name no Anthropic event", () => {
  /**
   * The events as Anthropic sends them, but each only as `data:` (its `type` names it), or under
   * `event: message` (SSE's name for an event without one), or a name of no Anthropic event: the
   * Anthropic SDK reads all three by their `type`.
   */
  for (const line of ["", "event: message\n", "event: chunk\n"]) {
    it(`is charged the counts its events report, and a token per content delta, read from their type (${JSON.stringify(line)})`, async () => {
      const data = (v: Record<string, unknown>) => `${line}data: ${JSON.stringify(v)}\n\n`;
      const head = [
        data({
          type: "message_start",
          message: {
            id: "m",
            type: "message",
            role: "assistant",
            content: [],
            model: "mythos-5",
            usage: { input_tokens: 3, output_tokens: 1 },
          },
        }),
        data({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
      ];
      const deltas = Array.from({ length: 300 }, (_, i) =>
        data({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: `w${i} ` } }),
      );
      const end = [
        data({ type: "content_block_stop", index: 0 }),
        data({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 900 } }),
        data({ type: "message_stop" }),
      ];
      const ask = {
        model: "mythos-5",
        max_tokens: 1000,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      };

      // Complete: the final count (it was charged only the input estimate, a token: output escaped).
      const whole = await charged("/v1/messages", ask, {
        sse: true,
        body: [...head, ...deltas, ...end].join(""),
      });
      expect(whole.text).toContain('"usage":{"output_tokens":900}');
      expect(whole.tokens).toBe(3 + 900);

      // Ended without its final count: the input reported, and at least a token per delta passed on.
      const cut = await charged("/v1/messages", ask, { sse: true, body: [...head, ...deltas].join("") });
      expect(cut.tokens).toBeGreaterThanOrEqual(3 + 300);
    });
  }
});

describe("a large JSON answer charged by its own usage only", () => {
  /** A Responses answer over 64 KiB echoing the client's tools, whose schema has a `usage` member. */
  const tools = [
    {
      type: "function",
      name: "report",
      parameters: {
        type: "object",
        properties: { usage: { input_tokens: 1, output_tokens: 0 } },
      },
    },
  ];
  const response = (usage: Record<string, unknown>) =>
    JSON.stringify({
      id: "resp_1",
      object: "response",
      status: "completed",
      model: "fable-5",
      output: [
        {
          type: "message",
          id: "msg_1",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: "x".repeat(100_000), annotations: [] }],
        },
      ],
      ...usage,
      tools,
      metadata: {},
    });
  const ask = { model: "fable-5", input: "write a lot", tools };

  it("an answer without usage is charged the estimate, not the client's echoed object", async () => {
    const body = response({});
    const got = await charged("/v1/responses", ask, { sse: false, body });
    expect(got.text).toBe(body);
    // An output token per 4 bytes of the body (it was charged the echoed 0, and the input estimate).
    expect(got.tokens).toBe(Math.ceil(got.sent.length / 4) + Math.ceil(body.length / 4));
  });

  it("an answer whose usage comes before the echo is charged its usage", async () => {
    const body = response({ usage: { input_tokens: 7, output_tokens: 30_000, total_tokens: 30_007 } });
    // It was charged the echo's count (the last "usage" object in the body's tail): 1 token.
    expect((await charged("/v1/responses", ask, { sse: false, body })).tokens).toBe(30_007);
  });

  it("an answer whose usage comes last, as every API puts it, is charged it", async () => {
    const body = response({}).replace(
      /\}$/,
      ',"usage":{"input_tokens":5,"output_tokens":40000,"total_tokens":40005}}',
    );
    expect((await charged("/v1/responses", ask, { sse: false, body })).tokens).toBe(40_005);
  });
});

describe("a stream whose media type is spelt in capitals", () => {
  it("is still a stream: charged its reported usage, the usage chunk the client did not ask for removed", async () => {
    // Media types are case-insensitive (RFC 9110): the SDKs read this as the stream it is.
    const data = (v: Record<string, unknown>) => `data: ${JSON.stringify(v)}\n\n`;
    const chunk = (content: string) =>
      data({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content } }] });
    const body = [
      chunk("one "),
      chunk("two"),
      data({
        id: "c",
        object: "chat.completion.chunk",
        choices: [],
        usage: { prompt_tokens: 7, completion_tokens: 5000 },
      }),
      "data: [DONE]\n\n",
    ].join("");
    const ask = { model: "fable-5", stream: true, messages: [{ role: "user", content: "hi" }] };
    const got = await charged("/v1/chat/completions", ask, {
      sse: true,
      body,
      type: "Text/Event-Stream; charset=UTF-8",
    });
    // It was read as a JSON body: charged an estimate from its size, the usage chunk passed on.
    expect(got.tokens).toBe(7 + 5000);
    expect(got.text).toContain('"content":"two"');
    expect(got.text).not.toContain("completion_tokens");
  });
});
