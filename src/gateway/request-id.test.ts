/**
 * The request id the official SDKs surface (openai: `x-request-id`, as `_request_id` and
 * `APIError.requestID`; Anthropic: `request-id`, as `_request_id` and `requestID`) is the gateway's
 * own on every answer — allowed, refused, failed upstream — and names the decision's audit entry.
 * The upstream's own id is passed on under a name of its own. And a timeout in Anthropic's format is
 * its documented `timeout_error`.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle } from "../audit/tiles.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let upstream: Server;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const completion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "mythos-5",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
};
const message = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "fable-5",
  content: [{ type: "text", text: "hello" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 3, output_tokens: 5 },
};

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const how = String(req.headers["openai-beta"] ?? req.headers["anthropic-beta"] ?? "");
      if (how === "hang") return; // never answers: the gateway's first-byte timeout answers 504
      if (how === "401") {
        // The upstream refusing the gateway's own key: the client gets 502.
        res.writeHead(401, { "content-type": "application/json", "x-request-id": "up-401" });
        res.end('{"error":{"message":"bad key","type":"authentication_error"}}');
      } else if (how === "504") {
        res.writeHead(504, { "content-type": "text/html", "request-id": "up-504" });
        res.end("<html>gateway timeout at lb-3.internal</html>");
      } else if (req.url === "/v1/messages") {
        res.writeHead(200, { "content-type": "application/json", "request-id": "up-anthropic" });
        res.end(JSON.stringify(message));
      } else {
        res.writeHead(200, { "content-type": "application/json", "x-request-id": "up-openai" });
        res.end(JSON.stringify(completion));
      }
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  const timeouts = "timeouts: { first_byte_ms: 300 }";
  t = await startTestGateway({
    providers: [
      `  mock: { type: openai, base_url: "http://127.0.0.1:${port}/v1", ${timeouts} }`,
      `  mock-anthropic: { type: anthropic, base_url: "http://127.0.0.1:${port}", ${timeouts} }`,
    ].join("\n"),
    models: ["  mythos-5: { provider: mock }", "  fable-5: { provider: mock-anthropic }"].join("\n"),
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

const openai = (principal: string, country: string, how = "") =>
  new OpenAI({
    apiKey: t.keys.get(principal) ?? "sk-unknown-key-0123456789",
    baseURL: `${t.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": country, "openai-beta": how },
  });
const anthropic = (principal: string, country: string, how = "") =>
  new Anthropic({
    apiKey: t.keys.get(principal) ?? "sk-unknown-key-0123456789",
    baseURL: t.url,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": country, "anthropic-beta": how },
  });
const messages = [{ role: "user" as const, content: "Say hello" }];

/** The audit log's decision entries by request id. */
async function decisions(): Promise<Map<unknown, Record<string, unknown>>> {
  await t.gateway.audit.log.publish();
  const size = t.gateway.audit.log.published!.size;
  const out = new Map<unknown, Record<string, unknown>>();
  for (let i = 0n; i * 256n < size; i++) {
    const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
    const path = `tile/entries/${String(i).padStart(3, "0")}${width === 256 ? "" : `.p/${width}`}`;
    const res = await fetch(`${t.url}/audit/${path}`);
    for (const e of decodeBundle(Buffer.from(await res.arrayBuffer()), width)) {
      const entry = JSON.parse(e.toString()) as Record<string, unknown>;
      if (entry.type === "decision") out.set(entry.request_id, entry);
    }
  }
  return out;
}

describe("the OpenAI SDK's request id", () => {
  it("an allowed answer: the gateway's id, naming its audit entry; the upstream's under its own name", async () => {
    const { response, request_id } = await openai("alice", "US")
      .chat.completions.create({ model: "mythos-5", messages })
      .withResponse();
    expect(request_id).toMatch(UUID);
    const direct = await openai("alice", "US").chat.completions.create({ model: "mythos-5", messages });
    expect(direct._request_id).toMatch(UUID);
    expect(response.headers.get("x-clearance-request-id")).toBe(request_id);
    expect(response.headers.get("x-clearance-upstream-request-id")).toBe("up-openai");
    expect((await decisions()).get(request_id)).toMatchObject({ decision: "allow", principal: "alice" });
  });

  it("a streamed answer carries it too", async () => {
    const { data, request_id } = await openai("alice", "US")
      .chat.completions.create({ model: "mythos-5", messages, stream: true })
      .withResponse();
    for await (const chunk of data) void chunk;
    expect(request_id).toMatch(UUID);
    expect((await decisions()).get(request_id)).toMatchObject({ decision: "allow" });
  });

  it("a refusal (403), upstream failures (504, 502) and a bad key (401) carry it as APIError.requestID", async () => {
    const refused = (await openai("feng", "IR")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.status).toBe(403);
    expect(refused.requestID).toMatch(UUID);
    expect((await decisions()).get(refused.requestID)).toMatchObject({
      decision: "deny",
      reason: "embargoed-location",
    });
    for (const [how, status] of [
      ["hang", 504],
      ["504", 504],
      ["401", 502],
    ] as const) {
      const failed = (await openai("alice", "US", how)
        .chat.completions.create({ model: "mythos-5", messages })
        .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
      expect(failed.status, how).toBe(status);
      expect(failed.requestID, how).toMatch(UUID);
      expect(failed.headers?.get("x-clearance-request-id"), how).toBe(failed.requestID);
      // The upstream's own id stays out of an answer whose text is the gateway's.
      expect(failed.headers?.get("x-clearance-upstream-request-id"), how).toBeNull();
      expect((await decisions()).get(failed.requestID), how).toMatchObject({ decision: "allow" });
    }
    const unknown = (await openai("nobody", "US")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(unknown.status).toBe(401);
    expect(unknown.requestID).toMatch(UUID);
  });
});

describe("the Anthropic SDK's request id", () => {
  it("an allowed message: the gateway's id, naming its audit entry", async () => {
    const { response, request_id } = await anthropic("alice", "US")
      .messages.create({ model: "fable-5", max_tokens: 10, messages })
      .withResponse();
    expect(request_id).toMatch(UUID);
    const direct = await anthropic("alice", "US").messages.create({
      model: "fable-5",
      max_tokens: 10,
      messages,
    });
    expect(direct._request_id).toMatch(UUID);
    expect(response.headers.get("x-clearance-upstream-request-id")).toBe("up-anthropic");
    expect((await decisions()).get(request_id)).toMatchObject({ decision: "allow", model: "fable-5" });
  });

  it("a refusal carries it as requestID", async () => {
    const refused = (await anthropic("feng", "IR")
      .messages.create({ model: "fable-5", max_tokens: 10, messages })
      .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(refused.status).toBe(403);
    expect(refused.requestID).toMatch(UUID);
    expect((await decisions()).get(refused.requestID)).toMatchObject({ decision: "deny" });
  });

  it("every error body says it as its top-level request_id, Anthropic's documented shape", async () => {
    const failures: [string, () => Promise<unknown>][] = [
      [
        "refused",
        () => anthropic("feng", "IR").messages.create({ model: "fable-5", max_tokens: 10, messages }),
      ],
      [
        "bad key",
        () => anthropic("nobody", "US").messages.create({ model: "fable-5", max_tokens: 10, messages }),
      ],
      [
        "upstream 401",
        () => anthropic("alice", "US", "401").messages.create({ model: "fable-5", max_tokens: 10, messages }),
      ],
      [
        "upstream 504",
        () => anthropic("alice", "US", "504").messages.create({ model: "fable-5", max_tokens: 10, messages }),
      ],
      [
        "timeout",
        () =>
          anthropic("alice", "US", "hang").messages.create({ model: "fable-5", max_tokens: 10, messages }),
      ],
      ["no route", () => anthropic("alice", "US").models.retrieve("no-such-model")],
    ];
    for (const [what, call] of failures) {
      const failed = (await call().catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(failed, what).toBeInstanceOf(Anthropic.APIError);
      expect(failed.requestID, what).toMatch(UUID);
      // The SDK keeps the body as `error`: the id there is the one its header gave.
      expect(failed.error, what).toMatchObject({ type: "error", request_id: failed.requestID });
    }
    // Refused before the SDK could send it: a body that is not JSON.
    const res = await fetch(`${t.url}/v1/messages`, {
      method: "POST",
      headers: {
        "x-api-key": t.keys.get("alice")!,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: "{",
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["type", "error", "request_id"]);
    expect(body.request_id).toBe(res.headers.get("request-id"));
    expect(body.request_id).toBe(res.headers.get("x-clearance-request-id"));
  });

  it("an OpenAI error body is as OpenAI documents it: no request id in it (the header carries it)", async () => {
    const refused = (await openai("feng", "IR")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused.requestID).toMatch(UUID);
    expect(JSON.stringify(refused.error)).not.toContain(refused.requestID!);
  });

  it("an upstream timeout, or the upstream's own 504, is Anthropic's documented timeout_error", async () => {
    for (const how of ["hang", "504"]) {
      const failed = (await anthropic("alice", "US", how)
        .messages.create({ model: "fable-5", max_tokens: 10, messages })
        .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(failed.status, how).toBe(504);
      expect(failed.error, how).toMatchObject({ type: "error", error: { type: "timeout_error" } });
      expect(failed.requestID, how).toMatch(UUID);
      expect(JSON.stringify(failed.error)).not.toContain("lb-3.internal");
    }
  });
});
