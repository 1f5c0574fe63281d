/** Raw HTTP against the gateway: every bad input, upstream failures, revocation, no store reads per request. */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, countingStore, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
const counts = new Map<string, number>();
/** An upstream that accepts connections and never answers; another that streams slowly and records aborts. */
let hanging: Server;
let slow: Server;
const slowEvents: string[] = [];
const slowAuth: (string | undefined)[] = [];

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );

beforeAll(async () => {
  hanging = createServer(() => {});
  slow = createServer((req, res) => {
    req.resume();
    slowAuth.push(req.headers.authorization);
    res.writeHead(200, { "content-type": "text/event-stream" });
    const timer = setInterval(
      () => res.write(`data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n`),
      20,
    );
    res.on("close", () => {
      clearInterval(timer);
      slowEvents.push("closed");
    });
  });
  const [hangPort, slowPort] = [await listen(hanging), await listen(slow)];
  t = await startTestGateway({
    extra: "limits: { body_bytes: 65536 }",
    providers: [
      `  dead: { type: openai, base_url: "http://127.0.0.1:1/v1" }`,
      `  hanging: { type: openai, base_url: "http://127.0.0.1:${hangPort}/v1", timeouts: { first_byte_ms: 300 } }`,
      `  slow: { type: openai, base_url: "http://127.0.0.1:${slowPort}/v1" }`,
    ].join("\n"),
    models: [
      "  mythos-4: { provider: dead }",
      "  fable-4: { provider: hanging }",
      "  eu-mythos-5: { provider: slow }",
    ].join("\n"),
    wrapStore: (s) => countingStore(s, counts),
  });
});
afterAll(async () => {
  await t.gateway.close();
  hanging.closeAllConnections();
  hanging.close();
  slow.closeAllConnections();
  slow.close();
});

/** Error and completion bodies, loosely: the tests read a few known fields. */
interface Body {
  error: { type: string; code: string; param: string | null };
  usage: unknown;
}

interface Sent {
  path?: string;
  method?: string;
  key?: string | null;
  body?: string;
  type?: string;
  headers?: Record<string, string>;
}
async function send(o: Sent) {
  const res = await fetch(`${t.url}${o.path ?? "/v1/chat/completions"}`, {
    method: o.method ?? "POST",
    headers: {
      ...(o.key === null ? {} : { authorization: `Bearer ${o.key ?? t.keys.get("alice")}` }),
      ...(o.type === undefined
        ? { "content-type": "application/json" }
        : o.type === ""
          ? {}
          : { "content-type": o.type }),
      "x-test-country": "US",
      ...o.headers,
    },
    ...(o.body === undefined ? {} : { body: o.body }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Body,
  };
}
const chat = (model: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], ...extra });

describe("bad input gets a clear error in the caller's wire format", () => {
  it("malformed JSON: 400, OpenAI shape", async () => {
    const r = await send({ body: "{nope" });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ type: "invalid_request_error", code: "invalid_json" });
    expect(r.headers.get("x-clearance-reason")).toBe("invalid_json");
  });
  it("malformed JSON on /v1/messages: 400, Anthropic shape", async () => {
    const r = await send({ path: "/v1/messages", body: "{nope" });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });
  it("missing or non-string model: 400 naming the field", async () => {
    for (const body of [JSON.stringify({ messages: [] }), chat(42), chat(""), "[1,2]"]) {
      const r = await send({ body });
      expect(r.status).toBe(400);
      expect(["invalid_model", "invalid_request"]).toContain(r.json().error.code);
    }
    expect((await send({ body: chat(42) })).json().error.param).toBe("model");
  });
  it("a member named twice at the top level: 400 naming it, before anything is decided or recorded", async () => {
    const size = t.gateway.audit.log.size;
    // JSON.parse keeps the last; an upstream that keeps the first would serve mythos-5.
    const messages = '"messages":[{"role":"user","content":"hi"}]';
    for (const body of [
      `{"model":"mythos-5",${messages},"model":"mythos-4"}`,
      `{"mo\\u0064el":"mythos-5",${messages},"model":"mythos-4"}`,
    ]) {
      const r = await send({ body });
      expect(r.status).toBe(400);
      expect(r.json().error).toMatchObject({ code: "duplicate_member", param: "model" });
      expect(r.headers.get("x-clearance-decision")).toBe("none");
    }
    const anthropic = await send({
      path: "/v1/messages",
      body: `{"model":"mythos-4","max_tokens":5,${messages},"stream":true,"stream":false}`,
    });
    expect(anthropic.status).toBe(400);
    expect(anthropic.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(anthropic.text).toContain('names \\"stream\\" more than once');
    expect(t.gateway.audit.log.size).toBe(size);
    // The same names deeper down are the body's own business.
    const nested = await send({
      body: JSON.stringify({
        model: "mythos-5",
        messages: [{ role: "user", content: '{"model":1,"model":2}' }],
        tools: [{ type: "function", function: { name: "f", parameters: { model: {}, stream: {} } } }],
      }),
    });
    expect(nested.status).toBe(200);
  });
  it("wrong content type: 400", async () => {
    const r = await send({ body: chat("mythos-5"), type: "text/plain" });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe("unsupported_media_type");
  });
  it("body over the limit: 413", async () => {
    const r = await send({ body: chat("mythos-5", { pad: "x".repeat(70_000) }) });
    expect(r.status).toBe(413);
    const a = await send({ path: "/v1/messages", body: chat("mythos-5", { pad: "x".repeat(70_000) }) });
    expect(a.json().error.type).toBe("request_too_large");
  });
  it("unknown or missing key: 401 in either format", async () => {
    expect((await send({ key: "clr_zzzzzzzzzzzz_not-a-real-secret", body: chat("mythos-5") })).status).toBe(
      401,
    );
    expect((await send({ key: "sk-somebody-elses", body: chat("mythos-5") })).status).toBe(401);
    const missing = await send({ key: null, path: "/v1/messages", body: chat("mythos-5") });
    expect(missing.status).toBe(401);
    expect(missing.json().error.type).toBe("authentication_error");
  });
  it("unknown route 404, wrong method 405 with the methods the route takes (Allow)", async () => {
    expect((await send({ path: "/v1/nothing", body: "{}" })).status).toBe(404);
    const wrong = await send({ method: "GET" });
    expect(wrong.status).toBe(405);
    expect(wrong.json().error.code).toBe("method_not_allowed");
    expect(wrong.headers.get("allow")).toBe("POST");
    const list = await send({ path: "/v1/models", method: "POST", body: "{}" });
    expect(list.status).toBe(405);
    expect(list.headers.get("allow")).toBe("GET");
  });
  it("a denial never shows another principal's data", async () => {
    const r = await send({
      key: t.keys.get("devi"),
      body: chat("mythos-5-weights"),
      headers: { "x-test-country": "IN" },
    });
    expect(r.status).toBe(403);
    expect(r.text).not.toMatch(/alice|benoit|chloe|erik|feng/);
  });
});

describe("upstream failures", () => {
  it("unreachable upstream: 502", async () => {
    const r = await send({ body: chat("mythos-4") });
    expect(r.status).toBe(502);
    expect(r.json().error).toMatchObject({ type: "api_error", code: "upstream_unreachable" });
    expect(r.text).not.toContain("127.0.0.1");
  });
  it("an upstream that does not answer: 504", async () => {
    const r = await send({ body: chat("fable-4") });
    expect(r.status).toBe(504);
    expect(r.json().error.code).toBe("upstream_timeout");
  });
  it("a failure mid-stream ends the stream with a well-formed error event", async () => {
    const r = await send({
      body: chat("mythos-5", {
        stream: true,
        messages: [{ role: "user", content: "go [demo:fail-mid-stream]" }],
      }),
    });
    expect(r.status).toBe(200);
    const events = r.text.trim().split("\n\n");
    expect(events.length).toBeGreaterThan(1);
    const last = JSON.parse(events.at(-1)!.replace(/^data: /, "")) as { error: { type: string } };
    expect(last.error.type).toBe("api_error");
    const a = await send({
      path: "/v1/messages",
      body: JSON.stringify({
        model: "mythos-5",
        max_tokens: 50,
        stream: true,
        messages: [{ role: "user", content: "[demo:fail-mid-stream]" }],
      }),
    });
    expect(a.text.trim().split("\n\n").at(-1)).toMatch(/^event: error\ndata: \{"type":"error"/);
  });
  it("a client that disconnects aborts the upstream request", async () => {
    const before = slowEvents.length;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${t.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${t.keys.get("benoit")}`,
          "content-type": "application/json",
          "x-test-country": "FR",
        },
      });
      req.on("response", (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", reject);
      req.end(chat("eu-mythos-5", { stream: true }));
    });
    await eventually(
      async () => slowEvents.length,
      (n) => n !== before,
    );
    expect(slowEvents.length).toBe(before + 1);
    // The client's Clearance key is never passed upstream (this provider has no key of its own).
    expect(slowAuth.at(-1)).toBeUndefined();
  });
});

describe("keys, metering, and the hot path", () => {
  it("a key revoked through the admin API is refused on the next request", async () => {
    const created = await fetch(`${t.url}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ principal: "alice" }),
    });
    const { key, id } = (await created.json()) as { key: string; id: string };
    expect((await send({ key, body: chat("mythos-5") })).status).toBe(200);
    const revoked = await fetch(`${t.url}/admin/v1/keys/${id}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(revoked.status).toBe(200);
    expect((await send({ key, body: chat("mythos-5") })).status).toBe(401);
  });

  it("a key revoked by another process (the CLI) is refused once the gateway notices the change", async () => {
    const other = await openStore({ dataDir: t.dataDir });
    const { key, record } = await other.keys.create("alice", "cli");
    await eventually(
      async () => (await send({ key, body: chat("mythos-5") })).status,
      (status) => status === 200,
    );
    expect((await send({ key, body: chat("mythos-5") })).status).toBe(200);
    await other.keys.revoke(record.id);
    const status = await eventually(
      async () => (await send({ key, body: chat("mythos-5") })).status,
      (s) => s !== 200,
    );
    expect(status).toBe(401);
    await other.close();
  });

  it("the admin API needs the admin token", async () => {
    expect((await fetch(`${t.url}/admin/v1/principals`)).status).toBe(401);
    const bad = await fetch(`${t.url}/admin/v1/principals`, { headers: { authorization: "Bearer wrong" } });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${t.url}/admin/v1/principals`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(((await ok.json()) as { data: unknown[] }).data.length).toBeGreaterThan(3);
    expect((await fetch(`${t.url}/v1/decisions`, { method: "POST" })).status).toBe(401);
  });

  it("metered usage is persisted and counts against the license", async () => {
    const erik = {
      key: t.keys.get("erik"),
      headers: { "x-test-country": "DE", "x-clearance-purpose": "cyber-defense" },
    };
    const r = await send({ ...erik, body: chat("fable-5") });
    expect(r.headers.get("x-clearance-reason")).toBe("license");
    const tokens = (r.json().usage as { total_tokens: number }).total_tokens;
    // Counted at once where decisions read it, and persisted with the next flush.
    expect(await t.gateway.limits.licenseUsage("BIS-2026-0001", "total", Date.now())).toBe(tokens);
    await t.gateway.meter.flush();
    const totals = await t.gateway.store.usage.totals();
    expect(totals.byLicense["BIS-2026-0001"]).toBe(tokens);
    expect(totals.byOrganization["bw-cyber"]).toBe(tokens);
  });

  it("the decision path reads no store under load", async () => {
    await t.gateway.meter.flush();
    const before = new Map(counts);
    const keys = ["alice", "benoit", "devi", "feng"];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        send({
          key: t.keys.get(keys[i % 4]!),
          body: chat("mythos-5"),
          headers: { "x-test-country": ["US", "FR", "IN", "IR"][i % 4]! },
        }),
      ),
    );
    const grew = Object.fromEntries(
      [...counts]
        .filter(([name, n]) => n !== (before.get(name) ?? 0))
        .map(([name, n]) => [name, n - (before.get(name) ?? 0)]),
    );
    // Only timers touch the store: the change-counter poll (version, and where the store stands
    // against its audit log) and the metering flush, which writes in batches (a few for 200
    // requests, not one each). No read on the request path.
    const timers = ["version", "outbox.position", "usage.add"];
    expect(Object.keys(grew).filter((name) => !timers.includes(name))).toEqual([]);
    expect(grew["usage.add"] ?? 0).toBeLessThan(5);
  });
});
