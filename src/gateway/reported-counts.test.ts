/**
 * What an upstream's reported counts charge to a license's quota, through the real gateway and a
 * real upstream on a socket: counts at the edge of what the counters keep must never charge
 * nothing, and a count that cannot be read must not charge less than an answer with no usage at all.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { erikLicensedHeaders } from "../testing/admin.js";
import { licenseUsageAfter, startTestGateway, type TestGateway } from "../testing/gateway.js";

/** The upstream's answers, chosen by the request's prompt (the gateway forwards it unchanged). */
const ANSWERS: Record<string, { sse: boolean; body: string }> = {};

let upstream: Server;
let t: TestGateway;
beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        messages: { content: string }[];
      };
      const answer = ANSWERS[body.messages[0]?.content ?? ""];
      if (answer === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": answer.sse ? "text/event-stream" : "application/json" });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
    models: "  mythos-5: { provider: up }",
  });
});
afterAll(async () => {
  await t.gateway.close();
  await new Promise((r) => upstream.close(r));
});

const LICENSE = "BIS-2026-0001"; // erik's, for mythos-5 and cyber-defense, from Germany
const quota = () => t.gateway.limits.licenseUsage(LICENSE, "total", Date.now());

/** The license's usage once it has moved past `from` (see licenseUsageAfter). */
const quotaAfter = (from: number) => licenseUsageAfter(t, LICENSE, from);

/** erik's chat completion whose prompt names the upstream's answer. */
const ask = (prompt: string, stream = false) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: erikLicensedHeaders(t),
    body: JSON.stringify({ model: "mythos-5", stream, messages: [{ role: "user", content: prompt }] }),
  });

/** The quota charged for one request answered with `answer`. */
async function charged(prompt: string, answer: { sse: boolean; body: string }): Promise<number> {
  ANSWERS[prompt] = answer;
  const before = await quota();
  const res = await ask(prompt, answer.sse);
  expect(res.headers.get("x-clearance-reason")).toBe("license");
  await res.text();
  return (await quotaAfter(before)) - before;
}

const json = (usage: unknown, content = "done") => ({
  sse: false,
  body: JSON.stringify({
    id: "c",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage,
  }),
});

const chunk = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const words = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    chunk({
      id: "c",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { content: `w${i} ` } }],
    }),
  );

describe("counts an upstream reports, against the quota", () => {
  it("a stream whose final output count is unreadable is charged at least a token per content event", async () => {
    const final = chunk({ id: "c", choices: [], usage: { prompt_tokens: 7, completion_tokens: null } });
    const body = [...words(500), final, "data: [DONE]\n\n"].join("");
    // The input as reported; the output as if the stream had ended without its count (was 0).
    expect(await charged("a null final count", { sse: true, body })).toBeGreaterThanOrEqual(7 + 500);
  });

  it("a stream whose count came before its content is charged at least a token per content event after it", async () => {
    // The count is the upstream's last word only when no content follows it: here it came first
    // (the prompt's count, no output yet) and the 500 chunks after it went unmetered (was 7 + 1).
    const early = chunk({ id: "c", choices: [], usage: { prompt_tokens: 7, completion_tokens: 1 } });
    const body = [early, ...words(500), "data: [DONE]\n\n"].join("");
    expect(await charged("an early count", { sse: true, body })).toBeGreaterThanOrEqual(7 + 500);
  });

  it("a stream whose count comes with every chunk is charged its last count", async () => {
    // Cumulative usage on each chunk (vLLM's continuous usage stats): the last one is the final count.
    const body = [
      ...Array.from({ length: 20 }, (_, i) =>
        chunk({
          id: "c",
          choices: [{ index: 0, delta: { content: `w${i} ` } }],
          usage: { prompt_tokens: 7, completion_tokens: i + 1 },
        }),
      ),
      chunk({ id: "c", choices: [], usage: { prompt_tokens: 7, completion_tokens: 20 } }),
      "data: [DONE]\n\n",
    ].join("");
    expect(await charged("a count on every chunk", { sse: true, body })).toBe(27);
  });

  it("a JSON answer whose output count is a string is charged the estimate an answer without one is", async () => {
    const answer = json({ prompt_tokens: 7, completion_tokens: "9000" }, "x".repeat(4_000));
    // The input as reported; the output at one token per 4 bytes of the body (was 0).
    expect(await charged("a string count", answer)).toBe(7 + Math.ceil(answer.body.length / 4));
  });

  it("a JSON answer with readable counts is charged them, not an estimate", async () => {
    const answer = json({ prompt_tokens: 7, completion_tokens: 3 }, "x".repeat(4_000));
    expect(await charged("readable counts", answer)).toBe(10);
  });

  // Last: it uses the license up.
  it("input and output that sum past 2^53 use the license up, rather than charging nothing", async () => {
    // Each part is a count the counters keep; their sum is not, and was read as none (fail open).
    const answer = json({ prompt_tokens: Number.MAX_SAFE_INTEGER, completion_tokens: 5 });
    expect(await charged("edge of the counters", answer)).toBeGreaterThanOrEqual(50_000_000);
    const next = await ask("edge of the counters");
    await next.text();
    expect(next.headers.get("x-clearance-reason")).toBe("license-quota-exhausted");
  });
});
