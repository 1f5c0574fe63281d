/**
 * A Responses API request run in the background (`background: true`) is answered at once with a
 * "queued" response and no usage; the model works on after the answer, and its output is read later
 * with GET /v1/responses/{id}, which the gateway does not serve. It is refused before anything is
 * decided, recorded or forwarded, with the real openai client and a real upstream on a socket.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { licenseUsageAfter, startTestGateway, type TestGateway } from "../testing/gateway.js";

/** The request bodies the upstream received. */
const received: string[] = [];

let upstream: Server;
let t: TestGateway;
beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push(body);
      const json = JSON.parse(body) as { background?: boolean };
      // As OpenAI answers: a background response is queued, with no output and no usage yet.
      const answer =
        json.background === true
          ? { id: "resp_bg", object: "response", status: "queued", background: true, output: [], usage: null }
          : {
              id: "resp_fg",
              object: "response",
              status: "completed",
              output: [
                {
                  type: "message",
                  id: "msg_1",
                  role: "assistant",
                  status: "completed",
                  content: [{ type: "output_text", text: "done", annotations: [] }],
                },
              ],
              usage: { input_tokens: 7, output_tokens: 3, total_tokens: 10 },
            };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  upo: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
    models: "  fable-5: { provider: upo }",
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

const LICENSE = "BIS-2026-0001"; // erik's, for fable-5, cyber-defense, from Germany
const quota = () => t.gateway.limits.licenseUsage(LICENSE, "total", Date.now());

const client = () =>
  new OpenAI({
    apiKey: t.keys.get("erik"),
    baseURL: `${t.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "DE", "x-clearance-purpose": "cyber-defense" },
  });

describe("a background Responses request", () => {
  it("is refused naming the member, before anything is decided, recorded or forwarded", async () => {
    const size = t.gateway.audit.log.size;
    for (const stream of [false, true]) {
      received.length = 0;
      const err = await client()
        .responses.create({ model: "fable-5", input: "write a long essay", background: true, stream })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      const e = err as InstanceType<typeof OpenAI.BadRequestError>;
      expect(e.code).toBe("unsupported_member");
      expect(e.param).toBe("background");
      expect(e.message).toContain("GET /v1/responses/{id}");
      expect(e.headers?.get("x-clearance-decision")).toBe("none");
      // Forwarded, the upstream would work on after the queued answer, charged a guess at that answer.
      expect(received).toEqual([]);
    }
    expect(t.gateway.audit.log.size).toBe(size);
  });

  it("set to false (or null) is served and charged its usage as any request", async () => {
    const before = await quota();
    const r = await client().responses.create({ model: "fable-5", input: "hello", background: false });
    expect(r.output_text).toBe("done");
    expect((await licenseUsageAfter(t, LICENSE, before)) - before).toBe(10);
    const after = await quota();
    const n = await client().responses.create({ model: "fable-5", input: "hello", background: null });
    expect(n.output_text).toBe("done");
    expect((await licenseUsageAfter(t, LICENSE, after)) - after).toBe(10);
  });
});
