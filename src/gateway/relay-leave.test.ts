/**
 * A client that leaves after the upstream answered but before the decision's entry is durable is
 * sent nothing, yet charged: the upstream did the work. Its answer, held while the entry was being
 * made durable, is read for the usage the upstream reported; where it had not reported any yet, the
 * estimate is charged. The log is held back on purpose (as in record-order.test.ts).
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MeteredUsage } from "../metering/index.js";
import { erikLicensedHeaders, eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { gate } from "../testing/gate.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestGateway;
let upstream: Server;
let events: string[] = [];
/** When the "slow start" upstream sent its head. */
let headersAt: number | undefined;
/** Appends to the audit log complete once this opens. */
let durable = gate();
/** What the gateway metered. */
let metered: { input: number; output: number }[] = [];

const REQUEST = JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] });

const chunk = (content: string) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content } }] })}\n\n`;
const COMPLETION = JSON.stringify({
  id: "c1",
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 500, completion_tokens: 500, total_tokens: 1000 },
});

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      res.on("close", () => {
        if (!res.writableFinished) events.push("upstream:aborted");
      });
      const body = JSON.parse(text) as { stream?: boolean; messages: { content: string }[] };
      // A long prompt being worked on: no head until the answer is ready, which never comes here.
      if (body.messages[0]?.content === "no head yet") {
        events.push("upstream:received");
        return;
      }
      if (body.stream !== true) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(COMPLETION, () => events.push("upstream:answered"));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      // A long prompt still being read: the head goes, no event yet.
      if (body.messages[0]?.content === "slow start") {
        res.flushHeaders();
        headersAt = Date.now();
        return;
      }
      void (async () => {
        // Each in its own read: the gateway holds them all while the entry is made durable.
        res.write(chunk("a"));
        await sleep(10);
        res.write(chunk("b"));
        await sleep(10);
        if (body.messages[0]?.content === "never ends") {
          events.push("upstream:answering");
          return;
        }
        res.write(`data: {"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":500}}\n\n`);
        res.end("data: [DONE]\n\n", () => events.push("upstream:answered"));
      })();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
    models: "  mythos-5: { provider: up }",
  });
  const log = t.gateway.audit.log;
  const real = log.append.bind(log);
  (log as { append: typeof real }).append = (entry) => durable.promise.then(() => real(entry));
  const meter = t.gateway.meter;
  const record = meter.record.bind(meter);
  meter.record = (usage: MeteredUsage, now: number) => {
    metered.push({ input: usage.inputTokens, output: usage.outputTokens });
    record(usage, now);
  };
});
afterEach(() => {
  durable.open();
  durable = gate();
  events = [];
  metered = [];
  headersAt = undefined;
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

/** How many connections the gateway has open. */
const connections = () =>
  new Promise<number>((resolve, reject) =>
    t.gateway.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );

/**
 * erik's request (license BIS-2026-0001), left as soon as `leave` holds: what the client got, and
 * the request body's length.
 */
async function leaveWhen(
  body: Record<string, unknown>,
  leave: () => boolean,
): Promise<{ got: string; chars: number }> {
  let got = "";
  const text = JSON.stringify({ ...(JSON.parse(REQUEST) as object), ...body });
  const url = new URL(t.url);
  const req = request({
    host: url.hostname,
    port: url.port,
    path: "/v1/chat/completions",
    method: "POST",
    headers: erikLicensedHeaders(t),
  });
  req.on("response", (res) => res.on("data", (c: Buffer) => (got += c.toString())));
  req.on("error", () => undefined);
  req.end(text);
  await eventually(async () => leave(), Boolean);
  const open = await connections();
  req.destroy();
  // The gateway sees the client go (its socket closes), and aborts the upstream call.
  await eventually(connections, (n) => n < open);
  durable.open();
  return { got, chars: text.length };
}

const quota = () => t.gateway.limits.licenseUsage("BIS-2026-0001", "total", Date.now());

describe("a client that leaves while the entry is being made durable", () => {
  for (const stream of [false, true]) {
    it(`after its ${stream ? "stream" : "answer"} came whole: charged the upstream's 500 + 500 tokens, sent nothing`, async () => {
      const before = await quota();
      const { got } = await leaveWhen({ stream }, () => events.includes("upstream:answered"));
      await eventually(
        async () => metered.length,
        (n) => n > 0,
      );
      expect(metered).toEqual([{ input: 500, output: 500 }]);
      expect((await quota()) - before).toBe(1000);
      expect(got).toBe("");
    });
  }

  it("while the upstream still streams: the call is aborted, and what it had sent is charged", async () => {
    const { got, chars } = await leaveWhen(
      { stream: true, messages: [{ role: "user", content: "never ends" }] },
      () => events.includes("upstream:answering"),
    );
    await eventually(
      async () => [...events],
      (e) => e.includes("upstream:aborted"),
    );
    await eventually(
      async () => metered.length,
      (n) => n > 0,
    );
    // No count reported: the input estimated from the request's size, an output token an event.
    expect(metered).toEqual([{ input: Math.ceil(chars / 4), output: 2 }]);
    expect(got).toBe("");
  });
});

describe("a client that leaves before the first event", () => {
  it("is charged the input estimate: the upstream had taken the prompt", async () => {
    durable.open(); // recorded at once: the relay is attached and waiting for the first event
    const { got, chars } = await leaveWhen(
      { stream: true, messages: [{ role: "user", content: "slow start" }] },
      () => headersAt !== undefined && Date.now() - headersAt > 100,
    );
    await eventually(
      async () => [...events],
      (e) => e.includes("upstream:aborted"),
    );
    await eventually(
      async () => metered.length,
      (n) => n > 0,
    );
    expect(metered).toEqual([{ input: Math.ceil(chars / 4), output: 0 }]);
    expect(got).toBe("");
  });
});

describe("a client that leaves before the upstream's head", () => {
  for (const stream of [false, true]) {
    it(`${stream ? "streamed" : "not streamed"}: once the upstream had the request whole, charged the input estimate`, async () => {
      durable.open(); // recorded at once: the gateway waits for the upstream's head
      const before = await quota();
      const { got, chars } = await leaveWhen(
        { stream, messages: [{ role: "user", content: "no head yet" }] },
        () => events.includes("upstream:received"),
      );
      await eventually(
        async () => [...events],
        (e) => e.includes("upstream:aborted"),
      );
      await eventually(
        async () => metered.length,
        (n) => n > 0,
      );
      expect(metered).toEqual([{ input: Math.ceil(chars / 4), output: 0 }]);
      expect((await quota()) - before).toBe(Math.ceil(chars / 4));
      expect(got).toBe("");
    });
  }
});
