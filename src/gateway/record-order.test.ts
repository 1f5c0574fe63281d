/**
 * The durable record without the wait (issue 14): the upstream request goes out at once, in
 * parallel with the audit log's group commit, yet no byte of an allowed response and no 403 reaches
 * the client before the decision's entry is durable. Proven in both orders with a log held back on
 * purpose, and with a log that fails (the upstream call is aborted, 503). A request refused for a
 * missing route or the wrong wire format is refused before anything is recorded, and its place in
 * the rate limit is given back.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { adminPost, eventually, rateLimitedMember } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { gate } from "../testing/gate.js";

/** A few turns of the event loop and the network: long enough for a wrongly early answer to show. */
const settle = () => new Promise((r) => setTimeout(r, 50));

let t: TestGateway;
let upstream: Server;
let events: string[] = [];
/** The upstream answers once this opens (a new gate per test). */
let answer = gate();
/** Appends to the audit log complete once this opens; rejecting it makes them fail. */
let durable = gate();
let append: (entry: Uint8Array) => Promise<bigint>;
let gwenKey = "";

const COMPLETION = JSON.stringify({
  id: "c1",
  object: "chat.completion",
  model: "mythos-5",
  choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    events.push("upstream:received");
    res.on("close", () => {
      if (!res.writableFinished) events.push("upstream:aborted");
    });
    void answer.promise.then(() => {
      if (res.destroyed) return;
      events.push("upstream:answered");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(COMPLETION);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "http://127.0.0.1:${port}/v1" }`,
    models: "  mythos-5: { provider: up }",
  });
  gwenKey = await rateLimitedMember((path, body) =>
    fetch(`${t.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  // The log made slow (or failing) on purpose: every append waits for `durable`.
  const log = t.gateway.audit.log;
  const real = log.append.bind(log);
  append = (entry) => {
    events.push("log:append");
    return durable.promise.then(async () => {
      const index = await real(entry);
      events.push("log:durable");
      return index;
    });
  };
  (log as { append: typeof append }).append = append;
});
afterEach(() => {
  // Nothing left waiting for the next test.
  answer.open();
  durable.open();
  answer = gate();
  durable = gate();
  events = [];
});
afterAll(async () => {
  await t.gateway.close();
  upstream.closeAllConnections();
  upstream.close();
});

/** An API key of a member of a new organization partner `id` (GB, mythos-5, 2 requests a minute). */
async function memberOf(id: string): Promise<string> {
  const post = adminPost(() => t.url);
  const partner = {
    id,
    country: "GB",
    assurance: "none",
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    rate_limit: { requests_per_minute: 2 },
  };
  const made = await post("/admin/v1/partners", { kind: "organization", partner, reason: "vetted" });
  if (made.status !== 201) throw new Error(`partner: ${made.status} ${await made.text()}`);
  await post(`/admin/v1/partners/${id}/status`, { status: "active", reason: "approved" });
  await post("/admin/v1/principals", {
    id: `${id}-member`,
    citizenships: [{ country: "GB" }],
    organization: id,
  });
  return ((await (await post("/admin/v1/keys", { principal: `${id}-member` })).json()) as { key: string })
    .key;
}

function ask(o: { country?: string; path?: string; key?: string } = {}) {
  const anthropic = o.path === "/v1/messages";
  const res = fetch(`${t.url}${o.path ?? "/v1/chat/completions"}`, {
    method: "POST",
    headers: {
      ...(anthropic
        ? { "x-api-key": o.key ?? t.keys.get("alice")! }
        : { authorization: `Bearer ${o.key ?? t.keys.get("alice")}` }),
      "content-type": "application/json",
      "x-test-country": o.country ?? "US",
      ...(anthropic ? { "anthropic-version": "2023-06-01" } : {}),
    },
    body: JSON.stringify({
      model: "mythos-5",
      messages: [{ role: "user", content: "hi" }],
      ...(anthropic ? { max_tokens: 16 } : {}),
    }),
  }).then(async (r) => {
    events.push("client:answered");
    return { status: r.status, headers: r.headers, body: await r.text() };
  });
  return res;
}

describe("the durable record without the wait", () => {
  it("upstream first: the upstream answers while the entry is still being written; the client waits for it", async () => {
    answer.open();
    const size = t.gateway.audit.log.size;
    const pending = ask();
    await eventually(
      async () => [...events],
      (seen) => seen.includes("upstream:answered"),
    );
    await settle();
    expect(events).not.toContain("client:answered");
    expect(events).not.toContain("log:durable");
    durable.open();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ choices: [{ message: { content: "hello" } }] });
    expect(events).toEqual([
      "log:append",
      "upstream:received",
      "upstream:answered",
      "log:durable",
      "client:answered",
    ]);
    expect(t.gateway.audit.log.size).toBe(size + 1n);
  });

  it("commit first: the entry is durable while the upstream is still working; the answer follows the upstream", async () => {
    durable.open();
    const pending = ask();
    await eventually(
      async () => [...events],
      (seen) => seen.includes("log:durable") && seen.includes("upstream:received"),
    );
    await settle();
    expect(events).not.toContain("client:answered");
    answer.open();
    expect((await pending).status).toBe(200);
    expect(events.indexOf("log:durable")).toBeLessThan(events.indexOf("upstream:answered"));
    expect(events.at(-1)).toBe("client:answered");
  });

  it("the log cannot take the entry: the upstream call is aborted and the client gets 503, nothing of the answer", async () => {
    const pending = ask();
    await eventually(
      async () => [...events],
      (seen) => seen.includes("upstream:received"),
    );
    durable.fail(new Error("disk on fire"));
    const res = await pending;
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "audit_unavailable" } });
    expect(res.body).not.toContain("hello");
    await eventually(
      async () => [...events],
      (seen) => seen.includes("upstream:aborted"),
    );
    expect(events).not.toContain("upstream:answered");
  });

  it("a request the log cannot take keeps its rate-limit place: the upstream was already asked", async () => {
    answer.open();
    durable.open();
    // An organization of its own that may make 2 requests a minute (its records logged first).
    const key = await memberOf("log-out-lab");
    durable = gate();
    durable.promise.catch(() => undefined); // failed before any append awaits it
    durable.fail(new Error("disk on fire"));
    // The upstream hears of two requests the log refused, and the third is held back before it: a log
    // outage opens no way around the rate limit.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await ask({ key, country: "GB" })).status);
    expect(statuses).toEqual([503, 503, 429]);
    expect(events.filter((e) => e === "upstream:received")).toHaveLength(2);
  });

  it("a model lookup the log cannot take gives its place back: it reached nothing", async () => {
    durable.promise.catch(() => undefined);
    durable.fail(new Error("disk on fire"));
    const lookup = () =>
      fetch(`${t.url}/v1/models/mythos-5`, {
        headers: { authorization: `Bearer ${gwenKey}`, "x-test-country": "GB" },
      });
    // Three lookups refused by the log take none of the organization's 2 requests a minute.
    for (let i = 0; i < 3; i++) {
      const res = await lookup();
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("audit_unavailable");
    }
    durable = gate();
    durable.open();
    answer.open();
    expect((await ask({ key: gwenKey, country: "GB" })).status).toBe(200);
  });

  it("no 403 before the denial's entry is durable", async () => {
    const pending = ask({ country: "IR" });
    await eventually(
      async () => [...events],
      (seen) => seen.includes("log:append"),
    );
    await settle();
    expect(events).not.toContain("client:answered");
    durable.open();
    const res = await pending;
    expect(res.status).toBe(403);
    expect(res.headers.get("x-clearance-reason")).toBe("embargoed-location");
    expect(events).not.toContain("upstream:received");
    expect(events.indexOf("log:durable")).toBeLessThan(events.indexOf("client:answered"));
  });

  it("the wrong wire format is refused before it is recorded, and gives its rate-limit place back", async () => {
    durable.open();
    answer.open();
    const size = t.gateway.audit.log.size;
    // gwen's organization may make 2 requests a minute; three refusals take none of them.
    for (let i = 0; i < 3; i++) {
      const res = await ask({ path: "/v1/messages", key: gwenKey, country: "GB" });
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body)).toMatchObject({ error: { type: "not_found_error" } });
      // Allowed, but refused before it was recorded: the answer claims no decision.
      expect(res.headers.get("x-clearance-decision")).toBe("none");
      expect(res.headers.get("x-clearance-reason")).toBe("wrong_wire_format");
    }
    expect(events).not.toContain("log:append");
    expect(t.gateway.audit.log.size).toBe(size);
    const served = await ask({ key: gwenKey, country: "GB" });
    expect(served.status).toBe(200);
    expect(t.gateway.audit.log.size).toBe(size + 1n);
  });
});
