/**
 * What a streamed answer counts against its license's quota: the upstream's own report when the
 * stream ends, whichever way it ends (a Responses stream cut by max_output_tokens included), and —
 * when the client leaves before that report — never less than what it was sent.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { licenseUsageAfter, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    providers: "  slow: { type: demo, token_delay_ms: 100 }",
    models: "  mythos-5: { provider: slow }",
  });
});
afterAll(() => t.gateway.close());

const quota = () => t.gateway.limits.licenseUsage("BIS-2026-0001", "total", Date.now());

/** The license's usage once it has moved past `from` (see licenseUsageAfter). */
const quotaAfter = (from: number) => licenseUsageAfter(t, "BIS-2026-0001", from);

/** erik holds license BIS-2026-0001 for mythos-5 (purpose cyber-defense), from Germany. */
function ask(
  path: string,
  body: string,
  leaveAfter: number | null,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, t.url);
    const anthropic = path === "/v1/messages";
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: {
          ...(anthropic
            ? { "x-api-key": t.keys.get("erik"), "anthropic-version": "2023-06-01" }
            : { authorization: `Bearer ${t.keys.get("erik")}` }),
          "content-type": "application/json",
          "x-test-country": "DE",
          "x-clearance-purpose": "cyber-defense",
          connection: "close",
        },
      },
      (res) => {
        let text = "";
        let events = 0;
        res.on("data", (c: Buffer) => {
          text += c.toString();
          events = text.split("\n\n").length - 1;
          if (leaveAfter !== null && events >= leaveAfter) {
            res.destroy();
            resolve({ status: res.statusCode ?? 0, text });
          }
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", (err) => (leaveAfter === null ? reject(err) : undefined));
    req.end(body);
  });
}

const words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
const chat = JSON.stringify({
  model: "mythos-5",
  stream: true,
  messages: [{ role: "user", content: words }],
});

describe("streamed answers against the quota", () => {
  it("a client that leaves mid-stream is charged at least what it was sent", async () => {
    const before = await quota();
    const cut = await ask("/v1/chat/completions", chat, 4);
    expect(cut.status).toBe(200);
    expect(cut.text).not.toContain("[DONE]");
    const after = await quotaAfter(before);
    // No usage was reported (it comes last): the input is estimated from the request's size (a
    // token per 4 characters), and each chunk passed on is at least one token.
    expect(after - before).toBeGreaterThanOrEqual(Math.ceil(chat.length / 4) + 4);

    // The same request read to its end is charged what the upstream reported.
    const full = await ask("/v1/chat/completions", chat, null);
    expect(full.text).toContain("[DONE]");
    expect(await quotaAfter(after)).toBeGreaterThan(after);
  });

  it("an Anthropic client that leaves mid-stream: the reported input, and at least the deltas sent", async () => {
    const body = JSON.stringify({
      model: "mythos-5",
      max_tokens: 64,
      stream: true,
      messages: [{ role: "user", content: words }],
    });
    const before = await quota();
    const cut = await ask("/v1/messages", body, 6);
    expect(cut.text).toContain("event: message_start");
    expect(cut.text).not.toContain("event: message_stop");
    const input = Number(/"input_tokens":(\d+)/.exec(cut.text)?.[1]);
    const deltas = cut.text.split("event: content_block_delta").length - 1;
    expect(deltas).toBeGreaterThan(0);
    expect((await quotaAfter(before)) - before).toBeGreaterThanOrEqual(input + deltas);
  });

  it("a Responses stream cut by max_output_tokens counts what it reports, as the same request unstreamed", async () => {
    const responses = (stream: boolean) =>
      JSON.stringify({
        model: "mythos-5",
        input: words,
        max_output_tokens: 5,
        ...(stream ? { stream } : {}),
      });
    const q0 = await quota();
    const plain = await ask("/v1/responses", responses(false), null);
    expect(plain.status).toBe(200);
    const q1 = await quotaAfter(q0);
    const streamed = await ask("/v1/responses", responses(true), null);
    expect(streamed.text).toContain("response.incomplete");
    expect((await quotaAfter(q1)) - q1).toBe(q1 - q0);
  });
});
