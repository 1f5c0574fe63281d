/**
 * Traces: one span per request, exported over OTLP/HTTP to a receiver, with the decision and the
 * GenAI attributes; the upstream receives the span as its parent (W3C traceparent), and a client's
 * own trace context is continued. Tracing off: the client's valid trace context still reaches the
 * upstream (its traceparent, and its tracestate normalised as W3C says), and nothing else of it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { RunningGateway } from "../gateway/server.js";
import { startTestGateway } from "../testing/gateway.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

const exported: OtlpSpan[] = [];
const upstreamHeaders: Record<string, string | string[] | undefined>[] = [];
let receiver: Server;
let upstream: Server;

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const json = JSON.parse(body) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const r of json.resourceSpans) for (const s of r.scopeSpans) exported.push(...s.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  upstream = createServer((req, res) => {
    upstreamHeaders.push(req.headers);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "x",
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
        }),
      );
    });
  });
  await Promise.all([listen(receiver), listen(upstream)]);
});
afterAll(() => {
  receiver.close();
  upstream.closeAllConnections();
  upstream.close();
});

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const MEMBERS = Array.from({ length: 40 }, (_, i) => `k${i}=v${i}`);

/** Gateways a test started and has not closed: closed after it, failed or not. */
const running = new Set<RunningGateway>();
afterEach(async () => {
  const left = [...running];
  running.clear();
  for (const g of left) await g.close();
});

async function gateway(tracing: string) {
  const up = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  const rx = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
  const t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "${up}" }`,
    models: "  mythos-5: { provider: up }",
    monitoring: `{ tracing: { enabled: ${tracing}, endpoint: "${rx}", service_name: clearance-test } }`,
  });
  running.add(t.gateway);
  return t;
}

/** Closes a gateway `gateway` started (its last spans exported), before the test's checks. */
async function close(t: { gateway: RunningGateway }): Promise<void> {
  running.delete(t.gateway);
  await t.gateway.close();
}

const chat = (
  url: string,
  key: string,
  country: string,
  traceparent?: string,
  tracestate?: string,
  model = "mythos-5",
) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
      "x-test-country": country,
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(tracestate === undefined ? {} : { tracestate }),
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });

const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
};

/** Waits for a state the exporter brings, not for speed (a loaded CI machine runs 10× slower). */
const WAIT = { timeout: 30_000, interval: 10 };

/**
 * The span `match` picks, once the receiver has it: the request's span ends when the gateway has
 * observed it (after the response closed), and its batch is exported within 500 ms. Fails (after
 * WAIT) if no such span comes, naming the span waited for (`what`).
 */
const exportedSpan = (what: string, match: (s: OtlpSpan) => boolean): Promise<OtlpSpan> =>
  vi.waitFor(() => {
    const span = exported.find(match);
    if (span === undefined)
      throw new Error(`no span ${what} exported yet (${exported.length} spans exported in all)`);
    return span;
  }, WAIT);

describe("traces", () => {
  it("exports a span per request, the upstream's parent, continuing the client's trace", async () => {
    const t = await gateway("true");
    const alice = t.keys.get("alice") as string;
    const allowed = await chat(t.url, alice, "US", `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`);
    expect(allowed.status).toBe(200);
    await allowed.text();
    const denied = await chat(t.url, alice, "IR");
    expect(denied.status).toBe(403);
    await denied.text();
    const deniedId = denied.headers.get("x-clearance-request-id");
    const sent = upstreamHeaders.at(-1)?.traceparent as string;
    const [, traceId, parentId] = sent.split("-");
    expect(traceId).toBe(CLIENT_TRACE);
    const span = await exportedSpan(
      `with span id ${parentId} (the upstream's parent)`,
      (s) => s.spanId === parentId,
    );
    const refused = await exportedSpan(
      `of the denied request ${deniedId}`,
      (s) => attr(s, "clearance.request_id") === deniedId,
    );
    await close(t);

    expect(span.traceId).toBe(CLIENT_TRACE);
    expect(span.parentSpanId).toBe(CLIENT_SPAN);
    expect(span.name).toBe("chat mythos-5");
    expect(attr(span, "clearance.decision")).toBe("allow");
    expect(attr(span, "clearance.reason")).toBe("home-person");
    expect(attr(span, "gen_ai.operation.name")).toBe("chat");
    expect(attr(span, "gen_ai.request.model")).toBe("mythos-5");
    expect(attr(span, "gen_ai.response.model")).toBe("mythos-5");
    expect(Number(attr(span, "gen_ai.usage.input_tokens"))).toBe(7);
    expect(Number(attr(span, "gen_ai.usage.output_tokens"))).toBe(3);

    expect(attr(refused, "clearance.reason")).toBe("embargoed-location");
    expect(Number(attr(refused, "http.response.status_code"))).toBe(403);
    expect(refused.traceId).not.toBe(CLIENT_TRACE); // a trace of its own
  });

  // A span name is what a tracing backend indexes and lists: the client's made-up model (any 256
  // characters, right-to-left overrides included) made one name per request.
  it("names a span after the scheme's model only; a model it does not know leaves the operation", async () => {
    const t = await gateway("true");
    const alice = t.keys.get("alice") as string;
    const madeUp = `\u202e${"x".repeat(200)}-${Date.now()}`;
    const r = await chat(t.url, alice, "US", undefined, undefined, madeUp);
    expect(r.status).toBeGreaterThanOrEqual(400);
    await r.text();
    const id = r.headers.get("x-clearance-request-id");
    const known = await chat(t.url, alice, "IR");
    expect(known.status).toBe(403);
    await known.text();
    const knownId = known.headers.get("x-clearance-request-id");
    const span = await exportedSpan(
      `of the request ${id} for a model the scheme does not know`,
      (s) => attr(s, "clearance.request_id") === id,
    );
    const denied = await exportedSpan(
      `of the denied request ${knownId}`,
      (s) => attr(s, "clearance.request_id") === knownId,
    );
    await close(t);

    expect(span.name).toBe("chat");
    expect(attr(span, "gen_ai.request.model")).toBe(madeUp); // as sent, where it is read as data
    // A scheme model is named, allowed or denied.
    expect(denied.name).toBe("chat mythos-5");
  });

  it("passes the client's tracestate on with the trace it continues, and none with a trace of its own", async () => {
    const t = await gateway("true");
    const alice = t.keys.get("alice") as string;
    const state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    const continued = await chat(t.url, alice, "US", `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, state);
    await continued.text();
    const sent = upstreamHeaders.at(-1) as Record<string, string | undefined>;
    expect(sent.traceparent?.split("-")[1]).toBe(CLIENT_TRACE);
    expect(sent.tracestate).toBe(state);
    // Past 32 members: the first 32, in their order (the API's own parser kept them reversed).
    const many = await chat(t.url, alice, "US", `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, MEMBERS.join(","));
    await many.text();
    expect(upstreamHeaders.at(-1)?.tracestate).toBe(MEMBERS.slice(0, 32).join(","));
    // A traceparent that cannot be read: a new trace, and its tracestate is not read either (W3C).
    const fresh = await chat(t.url, alice, "US", "garbage", state);
    await fresh.text();
    const own = upstreamHeaders.at(-1) as Record<string, string | undefined>;
    expect(own.traceparent?.split("-")[1]).not.toBe(CLIENT_TRACE);
    expect(own.tracestate).toBeUndefined();
    await close(t);
  });

  it("off: exports nothing, and passes the client's traceparent to the upstream unchanged", async () => {
    const before = exported.length;
    const t = await gateway("false");
    const parent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const r = await chat(t.url, t.keys.get("alice") as string, "US", parent);
    await r.text();
    await close(t);
    expect(upstreamHeaders.at(-1)?.traceparent).toBe(parent);
    expect(upstreamHeaders.at(-1)?.tracestate).toBeUndefined();
    expect(exported.length).toBe(before);
  });

  it("off: passes only a valid trace context, its tracestate normalised as W3C says", async () => {
    const t = await gateway("false");
    const alice = t.keys.get("alice") as string;
    const parent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const sent = async (traceparent: string, tracestate?: string) => {
      const r = await chat(t.url, alice, "US", traceparent, tracestate);
      expect(r.status).toBe(200);
      await r.text();
      const h = upstreamHeaders.at(-1) as Record<string, string | undefined>;
      return { traceparent: h.traceparent, tracestate: h.tracestate };
    };
    // Well-formed members pass as sent (optional whitespace dropped).
    expect(await sent(parent, "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7")).toEqual({
      traceparent: parent,
      tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    });
    // A traceparent that cannot be read is not passed, nor the tracestate beside it.
    for (const bad of [
      "garbage",
      `00-${"0".repeat(32)}-${CLIENT_SPAN}-01`,
      `ff-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
    ]) {
      expect(await sent(bad, "congo=t61rcWkgMzE")).toEqual({ traceparent: undefined, tracestate: undefined });
    }
    // Invalid members (an upper-case key, a value with "=", bytes past ASCII) are dropped.
    expect(await sent(parent, "Upper=1,x=a=b,caf=\u00e9,congo=t61rcWkgMzE")).toEqual({
      traceparent: parent,
      tracestate: "congo=t61rcWkgMzE",
    });
    expect(await sent(parent, "Upper=1,x=a=b")).toEqual({ traceparent: parent, tracestate: undefined });
    // At most 32 members, in their order (the first of a key repeated).
    expect((await sent(parent, [MEMBERS[0], "k0=dup", ...MEMBERS.slice(1)].join(","))).tracestate).toBe(
      MEMBERS.slice(0, 32).join(","),
    );
    // Within 512 characters: members over 128 characters dropped first, then members from the end.
    const big = Array.from({ length: 40 }, (_, i) => `k${i}=${"v".repeat(250)}`).join(",");
    expect(big.length).toBeGreaterThan(8000);
    expect(await sent(parent, big)).toEqual({ traceparent: parent, tracestate: undefined });
    const mid = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, "0")}=${"v".repeat(46)}`);
    const kept = (await sent(parent, [`huge=${"v".repeat(200)}`, ...mid].join(","))).tracestate as string;
    expect(kept).toBe(mid.slice(0, 10).join(","));
    expect(kept.length).toBeLessThanOrEqual(512);
    await close(t);
  });
});
