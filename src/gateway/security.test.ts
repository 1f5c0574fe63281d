/**
 * Regressions of the hostile-input review, each reproduced as the review described it: conflicting
 * location headers, upstream error texts passed on, a 100,000-level body, a 65,300-character model,
 * idle and slow connections, Node parser errors without a body, a lower-case `bearer`.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../http/security-headers.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let upstream: Server;
let upstreamCalls = 0;
const logged: string[] = [];
const UPSTREAM_KEY = "corp-upstream-key-0123456789";

/** What the leaky upstream answers for each upstream model name: errors that name internal hosts and secrets. */
const LEAKS: Record<string, { status: number; type: string; body: string }> = {
  "leak-500": {
    status: 500,
    type: "text/plain",
    body: "internal error at db-internal.corp:5432 (user=svc password=hunter2)",
  },
  "leak-400": {
    status: 400,
    type: "application/json",
    body: JSON.stringify({
      error: {
        message: "prompt too long for shard gpu-17.internal.corp, key sk-live-hunter2",
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: "messages",
      },
    }),
  },
  "leak-529": {
    status: 529,
    type: "application/json",
    body: JSON.stringify({
      type: "error",
      error: { type: "overloaded_error", message: "pool gpu-17.internal.corp password=hunter2 is full" },
    }),
  },
};

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamCalls++;
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      const model = (JSON.parse(text) as { model: string }).model;
      if (model === "leak-echo") {
        // An upstream that echoes the key it was sent (some do, in their 401s).
        const sent = req.headers.authorization?.replace(/^Bearer /, "") ?? "";
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${sent}` } }));
        return;
      }
      const leak = LEAKS[model];
      if (leak === undefined) {
        res.writeHead(500).end("no such test model");
        return;
      }
      res.writeHead(leak.status, { "content-type": leak.type, "retry-after": "7" });
      res.end(leak.body);
    });
  });
  const port = await listen(upstream);
  t = await startTestGateway({
    providers: [
      `  leaky: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
      `  leaky-anthropic: { type: anthropic, base_url: "http://127.0.0.1:${port}" }`,
      `  keyed: { type: openai, base_url: "http://127.0.0.1:${port}/v1", api_key_env: KEYED_UPSTREAM_KEY }`,
    ].join("\n"),
    models: [
      "  fable-4: { provider: leaky, upstream_model: leak-500 }",
      "  mythos-4: { provider: leaky, upstream_model: leak-400 }",
      "  fable-5: { provider: keyed, upstream_model: leak-echo }",
      // No fallback: one to mythos-4 (OpenAI only) could never be served in the Anthropic format.
      "  mythos-5-weights: { provider: leaky-anthropic, upstream_model: leak-529 }",
    ].join("\n"),
    env: { KEYED_UPSTREAM_KEY: UPSTREAM_KEY },
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => { error: { message: string; type: string; code: string | null; param: string | null } };
}

/** One request with node:http, so that a header can be sent twice. */
function send(o: {
  path?: string;
  body: string;
  headers?: Record<string, string | string[]>;
  key?: string;
}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${t.url}${o.path ?? "/v1/chat/completions"}`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${o.key ?? t.keys.get("alice")}`,
          "content-type": "application/json",
          ...o.headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }),
        );
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

const chat = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "hello" }], ...extra });

/** Raw bytes over a socket; resolves with everything the server sent before closing. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(t.url);
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(bytes));
    let got = "";
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => (got += c));
    socket.on("close", () => resolve(got));
    socket.on("error", reject);
  });
}

const headerOf = (response: string, name: string) =>
  new RegExp(`^${name}: (.*)\\r$`, "im").exec(response)?.[1];
const bodyOf = (response: string) => response.slice(response.indexOf("\r\n\r\n") + 4);

describe("1. conflicting location headers", () => {
  it("a header given twice with an embargoed country applies the embargo (was: served as unknown)", async () => {
    for (const values of [
      ["IR", "US"],
      ["US", "IR"],
    ]) {
      const r = await send({ body: chat("mythos-5"), headers: { "x-test-country": values } });
      expect({ status: r.status, reason: r.headers["x-clearance-reason"] }, values.join()).toEqual({
        status: 403,
        reason: "embargoed-location",
      });
      expect(r.headers["x-clearance-decision"]).toBe("deny");
    }
    // The same in one header value, as a proxy that appends would forward it.
    const joined = await send({ body: chat("mythos-4"), headers: { "x-test-country": "XX, US, IR" } });
    expect(joined.status).toBe(403);
    expect(joined.json().error.code).toBe("embargoed-location");
  });

  it("disagreeing countries with no embargo among them are refused as ambiguous, before any decision", async () => {
    const before = t.gateway.audit.log.size;
    const r = await send({ body: chat("mythos-5"), headers: { "x-test-country": ["FR", "US"] } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ code: "ambiguous-location", type: "invalid_request_error" });
    expect(r.json().error.message).toMatch(/FR, US/);
    expect(r.headers["x-clearance-decision"]).toBe("none");
    expect(t.gateway.audit.log.size).toBe(before);
    // Values that agree are no dispute; a value naming no country (Tor's T1) beside one that does is
    // (a proxy's "unknown" appended to the client's own copy must not make it that country).
    const same = await send({ body: chat("mythos-5"), headers: { "x-test-country": ["US", "us"] } });
    expect({ status: same.status, reason: same.headers["x-clearance-reason"] }).toEqual({
      status: 200,
      reason: "home-person",
    });
    const tor = await send({ body: chat("mythos-5"), headers: { "x-test-country": ["T1", "US"] } });
    expect(tor.status).toBe(400);
    expect(tor.json().error.code).toBe("ambiguous-location");
  });
});

describe("2. upstream error bodies", () => {
  const secrets = /hunter2|internal\.corp|db-internal|sk-live/;

  it("a 500 or 400 from the upstream passes on its status, never its text, streamed or not", async () => {
    for (const stream of [false, true]) {
      const r500 = await send({ body: chat("fable-4", { stream }) });
      expect(r500.status).toBe(500);
      expect(r500.text).not.toMatch(secrets);
      expect(r500.json().error).toMatchObject({ type: "api_error", code: null });
      expect(r500.headers["x-clearance-decision"]).toBe("allow");

      const r400 = await send({ body: chat("mythos-4", { stream }) });
      expect(r400.status).toBe(400);
      expect(r400.text).not.toMatch(secrets);
      // The provider's standard type and code are kept: SDKs and clients act on them.
      expect(r400.json().error).toMatchObject({
        type: "invalid_request_error",
        code: "context_length_exceeded",
        param: null,
      });
      expect(r400.json().error.message).toMatch(/not passed on/);
      // Only a 429 or a 5xx says when to retry (a 400 will fail again): the 500's is passed on.
      expect(r400.headers["retry-after"]).toBeUndefined();
      expect(r500.headers["retry-after"]).toBe("7");
    }
    // The original text is in the gateway's own log, under the request id.
    // (Its credentials taken out: see the next test.)
    expect(logged.some((l) => l.includes("db-internal.corp:5432") && /request [0-9a-f-]{36}/.test(l))).toBe(
      true,
    );
    expect(logged.some((l) => l.includes("password=[redacted]"))).toBe(true);
    expect(logged.join("\n")).not.toContain("hunter2");
  });

  it("the gateway's log keeps the upstream's text but not a credential in it (its own key echoed, sk- keys)", async () => {
    const r = await send({ body: chat("fable-5") });
    expect(r.status).toBe(502);
    const id = r.headers["x-clearance-request-id"] as string;
    const line = logged.find((l) => l.includes(`request ${id}: upstream answered 401`));
    expect(line).toContain("Incorrect API key provided: [redacted]");
    expect(logged.join("\n")).not.toContain(UPSTREAM_KEY);
    await send({ body: chat("mythos-4") });
    expect(logged.join("\n")).not.toContain("sk-live-hunter2");
  });

  it("the upstream refusing the gateway's own credentials is a 502, not the client's 401", async () => {
    const r = await send({ body: chat("fable-5") });
    expect(r.status).toBe(502);
    expect(r.text).not.toMatch(secrets);
  });

  it("an Anthropic upstream's overloaded error keeps its type and drops its message", async () => {
    const r = await send({
      path: "/v1/messages",
      key: "",
      headers: {
        "x-api-key": t.keys.get("alice") as string,
        "anthropic-version": "2023-06-01",
        "x-test-country": "US",
      },
      body: JSON.stringify({
        model: "mythos-5-weights",
        max_tokens: 10,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    expect(r.status).toBe(529);
    expect(r.text).not.toMatch(secrets);
    expect(JSON.parse(r.text)).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
  });
});

describe("3. deeply nested bodies", () => {
  it("100,000 levels are refused with 400 while being read: nothing decided, recorded or forwarded", async () => {
    const before = t.gateway.audit.log.size;
    const calls = upstreamCalls;
    const deep = `{"model":"fable-4","messages":[{"role":"user","content":${"[".repeat(100_000)}${"]".repeat(100_000)}}]}`;
    const r = await send({ body: deep });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe("json_too_deep");
    expect(r.headers["x-clearance-decision"]).toBe("none");
    expect(t.gateway.audit.log.size).toBe(before);
    expect(upstreamCalls).toBe(calls);
    // Brackets inside strings are text, not nesting.
    const text = await send({ body: chat("fable-5", { user: "[".repeat(10_000) }) });
    expect(text.status).not.toBe(400);
  });
});

describe("4. unbounded strings", () => {
  it("a 65,300-character model is a 400 naming the field (was: 503 audit_unavailable)", async () => {
    const before = t.gateway.audit.log.size;
    for (const length of [65_300, 257]) {
      const r = await send({ body: chat("m".repeat(length)) });
      expect(r.status).toBe(400);
      expect(r.json().error).toMatchObject({ code: "invalid_model", param: "model" });
      expect(r.text.length).toBeLessThan(1000); // the name is not echoed back
    }
    const control = await send({ body: chat("mythos-5\u0000") });
    expect(control.json().error.code).toBe("invalid_model");
    // A lone surrogate is not Unicode: RFC 8785 would refuse the entry holding it, so it is refused
    // before any entry (a well-formed pair, an emoji, is decided as usual).
    const lone = await send({ body: '{"model":"mythos-5\\ud800","messages":[]}' });
    expect(lone.status).toBe(400);
    expect(lone.json().error).toMatchObject({ code: "invalid_model", param: "model" });
    expect(lone.json().error.message).toContain("lone surrogate");
    expect(t.gateway.audit.log.size).toBe(before);
    const pair = await send({ body: chat("mythos-5\u{1F600}") });
    expect(pair.status).toBe(403);
    // A name of up to 256 characters is decided as usual (unknown here).
    const long = await send({ body: chat("m".repeat(256)) });
    expect({ status: long.status, reason: long.headers["x-clearance-reason"] }).toEqual({
      status: 403,
      reason: "unknown-model",
    });
  });

  it("the purpose header and a model id in the path are bounded the same way", async () => {
    const purpose = await send({
      body: chat("mythos-5"),
      headers: { "x-clearance-purpose": "p".repeat(300) },
    });
    expect(purpose.status).toBe(400);
    expect(purpose.json().error).toMatchObject({ code: "invalid_purpose", param: "x-clearance-purpose" });
    const model = await fetch(`${t.url}/v1/models/${"m".repeat(300)}`, {
      headers: { authorization: `Bearer ${t.keys.get("alice")}` },
    });
    expect(model.status).toBe(400);
    const escape = await fetch(`${t.url}/v1/models/%E0%A4%A`, {
      headers: { authorization: `Bearer ${t.keys.get("alice")}` },
    });
    expect(escape.status).toBe(400);
  });
});

describe("9. errors of Node's HTTP parser, and the Bearer scheme", () => {
  it("a duplicate content-length gets a 400 with a body and the x-clearance headers", async () => {
    const got = await raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    );
    expect(got).toMatch(/^HTTP\/1\.1 400 /);
    expect(headerOf(got, "x-clearance-decision")).toBe("none");
    expect(headerOf(got, "x-clearance-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    // The same id where the OpenAI SDKs read one (no audit entry: nothing was decided).
    expect(headerOf(got, "x-request-id")).toBe(headerOf(got, "x-clearance-request-id"));
    expect(headerOf(got, "x-clearance-reason")).toBe("malformed_http");
    expect(JSON.parse(bodyOf(got))).toMatchObject({
      error: { type: "invalid_request_error", code: "malformed_http" },
    });
  });

  it("oversized headers get a 431 in the caller's format (Anthropic here)", async () => {
    const got = await raw(
      `POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(bodyOf(got))).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error" },
    });
    expect(headerOf(got, "x-clearance-served-model")).toBe("none");
    expect(headerOf(got, "request-id")).toBe(headerOf(got, "x-clearance-request-id"));
    // And in the body, where Anthropic's error shape has it.
    expect(JSON.parse(bodyOf(got)).request_id).toBe(headerOf(got, "request-id"));
  });

  it("`bearer` in any case is accepted on the data plane and the admin API (RFC 9110)", async () => {
    const data = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `bearer ${t.keys.get("alice")}`,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(data.headers.get("x-clearance-reason")).toBe("home-person");
    const admin = await fetch(`${t.url}/admin/v1/partners`, {
      headers: { authorization: `BEARER ${ADMIN_TOKEN}` },
    });
    expect(admin.status).toBe(200);
  });
});

describe("5. idle, slow and too many connections", () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway({
      providers: "  slowdemo: { type: demo, token_delay_ms: 150 }",
      models: "  mythos-5: { provider: slowdemo }",
      listen: "{ host: 127.0.0.1, port: 0, headers_timeout_ms: 700, request_timeout_ms: 1000 }",
    });
  });
  afterAll(() => g.gateway.close());

  const open = (at: TestGateway = g): Promise<Socket> =>
    new Promise((resolve) => {
      const s = connect(Number(new URL(at.url).port), "127.0.0.1", () => resolve(s));
      s.on("error", () => undefined);
    });
  const closed = (s: Socket) =>
    new Promise<string>((resolve) => {
      let got = "";
      s.setEncoding("latin1");
      s.on("data", (c: string) => (got += c));
      s.on("close", () => resolve(got));
    });

  it("connections beyond the limit are dropped as they arrive; the ones held are kept", async () => {
    // Its own gateway, whose headers time-out (10 minutes) cannot close the six held meanwhile, so
    // that the seventh meets six connections however slowly the machine runs.
    const limited = await startTestGateway({
      listen:
        "{ host: 127.0.0.1, port: 0, headers_timeout_ms: 600000, request_timeout_ms: 600000, max_connections: 6 }",
    });
    const server = limited.gateway.server;
    try {
      // Counted by the server's own events: the six accepted before the seventh comes.
      let accepted = 0;
      const six = new Promise<void>((resolve) =>
        server.on("connection", () => ++accepted === 6 && resolve()),
      );
      const held = await Promise.all(Array.from({ length: 6 }, () => open(limited)));
      await six;
      // The seventh: dropped at arrival ("drop"), or taken (its "connection", as with no limit).
      const fate = new Promise<string>((resolve) => {
        server.once("drop", () => resolve("dropped"));
        server.once("connection", () => resolve("accepted"));
      });
      const extra = await open(limited);
      const extraEnd = closed(extra);
      expect(await fate).toBe("dropped");
      expect(await extraEnd).toBe(""); // closed, nothing written
      expect(held.every((s) => !s.destroyed)).toBe(true);
      held.forEach((s) => s.destroy());
    } finally {
      await limited.gateway.close();
    }
  });

  it("connections that never send a byte are closed without an answer once the headers time runs out", async () => {
    const idle = await Promise.all(Array.from({ length: 3 }, () => open()));
    // Closed, and nothing written: no request came, so none is answered (an unasked-for 408 would
    // reach a client that chose this connection for its next request as that request's answer).
    for (const got of await Promise.all(idle.map(closed))) expect(got).toBe("");
  });

  it("a connection that sent part of a request and stalls gets a 408 in time", async () => {
    const s = await open();
    const end = closed(s);
    s.write("POST /v1/chat/com");
    const got = await end;
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(bodyOf(got)).error.code).toBe("request_timeout");
  });

  it("a slowloris sending one header line at a time is cut off at the headers time limit", async () => {
    const s = await open();
    const end = closed(s);
    s.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");
    const drip = setInterval(() => s.writable && s.write("x-drip: 1\r\n"), 100);
    const got = await end;
    clearInterval(drip);
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("a stream that lasts longer than every request time limit still completes", async () => {
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${g.keys.get("alice")}`,
        "content-type": "application/json",
        "x-test-country": "US",
      },
      body: JSON.stringify({
        model: "mythos-5",
        stream: true,
        messages: [
          { role: "user", content: "one two three four five six seven eight nine ten eleven twelve" },
        ],
      }),
    });
    const text = await res.text();
    // 150 ms between events: more than 7 events outlast request_timeout_ms (1000 ms).
    expect(text.split("\n\n").filter((e) => e.startsWith("data: {")).length).toBeGreaterThan(7);
    expect(text).toContain("data: [DONE]");
  });
});

describe("every proxied answer's head", () => {
  /** Every answer carries the security headers, its own request id and the decision's headers. */
  const head = (a: Answer) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(a.headers[name], name).toBe(value);
    expect(a.headers["x-clearance-request-id"]).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    return {
      status: a.status,
      decision: a.headers["x-clearance-decision"],
      reason: a.headers["x-clearance-reason"],
      served: a.headers["x-clearance-served-model"],
    };
  };
  const us = { "x-test-country": "US" };

  it("an allowed answer, plain and streamed, keeps the upstream's content type and gets its length", async () => {
    const plain = await send({ body: chat("mythos-5"), headers: us });
    expect(head(plain)).toEqual({
      status: 200,
      decision: "allow",
      reason: "home-person",
      served: "mythos-5",
    });
    expect(plain.headers["content-type"]).toMatch(/^application\/json/);
    expect(plain.headers["content-length"]).toBe(String(Buffer.byteLength(plain.text)));
    const streamed = await send({ body: chat("mythos-5", { stream: true }), headers: us });
    expect(head(streamed)).toEqual({
      status: 200,
      decision: "allow",
      reason: "home-person",
      served: "mythos-5",
    });
    expect(streamed.headers["content-type"]).toMatch(/^text\/event-stream/);
  });

  it("refusals before, at and after the decision", async () => {
    const badBody = await send({ body: "{", headers: us });
    expect(head(badBody)).toEqual({
      status: 400,
      decision: "none",
      reason: badBody.json().error.code,
      served: "none",
    });
    const badKey = await send({ body: chat("mythos-5"), headers: us, key: "ck_not_a_key" });
    expect(head(badKey)).toMatchObject({ status: 401, decision: "none", served: "none" });
    const denied = await send({
      key: t.keys.get("devi"),
      body: chat("mythos-5-weights"),
      headers: { "x-test-country": "IN" },
    });
    expect(head(denied)).toMatchObject({ status: 403, decision: "deny", served: "none" });
    expect(denied.headers["x-clearance-reason"]).toBe(denied.json().error.code);
    // Allowed, then the upstream failed: the decision stands on the error, with the upstream's retry-after.
    const failed = await send({ body: chat("fable-4"), headers: us });
    expect(head(failed)).toEqual({ status: 500, decision: "allow", reason: "open-model", served: "fable-4" });
    expect(failed.headers["retry-after"]).toBe("7");
  });

  it("two requests never share a head", async () => {
    const [a, b] = await Promise.all([
      send({ body: chat("mythos-5"), headers: us }),
      send({ body: "{", headers: us }),
    ]);
    expect(a.headers["x-clearance-request-id"]).not.toBe(b.headers["x-clearance-request-id"]);
    expect(head(a).decision).toBe("allow");
    expect(head(b).decision).toBe("none");
  });
});
