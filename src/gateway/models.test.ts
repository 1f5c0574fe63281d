/**
 * GET /v1/models and /v1/models/{id}. A lookup is a decision answered to its caller: recorded in
 * the audit log through the proxied request's record stage, durable before the answer (a 403
 * included), seen by monitoring; a log that cannot take it refuses it (503). The list records
 * nothing and names only the models the caller may use — for the purpose it declares, in the wire
 * format it asks in — without a word about the others.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { gate } from "../testing/gate.js";

/** Long enough for a wrongly early answer to show. */
const settle = () => new Promise((r) => setTimeout(r, 50));

interface Entry {
  readonly [member: string]: unknown;
}
interface Listed {
  readonly id: string;
  readonly clearance: { decision: string; reason: string; served_model: string };
}

describe("model lookups and the list (the demo provider, both wire formats)", () => {
  let t: TestGateway;
  /** Entries as they were appended (JSON), and the access log (what monitoring was told). */
  const appended: Entry[] = [];
  const access: Entry[] = [];
  /** Appends complete once this opens; failing it makes them fail. */
  let durable = gate();

  beforeAll(async () => {
    t = await startTestGateway({ accessLog: (line) => access.push(JSON.parse(line) as Entry) });
    const log = t.gateway.audit.log;
    const real = log.append.bind(log);
    (log as { append: typeof real }).append = (entry) => {
      appended.push(JSON.parse(Buffer.from(entry).toString()) as Entry);
      return durable.promise.then(() => real(entry));
    };
  });
  afterEach(() => {
    durable.open();
    durable = gate();
  });
  afterAll(() => t.gateway.close());

  const get = (path: string, who: string, country: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, {
      headers: { authorization: `Bearer ${t.keys.get(who)}`, "x-test-country": country, ...headers },
    });
  const told = async (requestId: string | null) => {
    await eventually(
      async () => access.map((a) => a.request_id),
      (ids) => ids.includes(requestId),
    );
    return access.find((a) => a.request_id === requestId);
  };
  const PURPOSE = { "x-clearance-purpose": "cyber-defense" };

  it("a lookup from an embargoed location is recorded, durable before its 403, and monitoring is told; the list is not", async () => {
    const size = t.gateway.audit.log.size;
    const before = appended.length;
    let answered = false;
    const pending = get("/v1/models/mythos-5", "alice", "IR").then((r) => {
      answered = true;
      return r;
    });
    await eventually(
      async () => appended.length,
      (n) => n === before + 1,
    );
    await settle();
    expect(answered).toBe(false); // the denial waits for its entry
    durable.open();
    const res = await pending;
    expect(res.status).toBe(403);
    expect(res.headers.get("x-clearance-decision")).toBe("deny");
    expect(res.headers.get("x-clearance-reason")).toBe("embargoed-location");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("embargoed-location");
    expect(t.gateway.audit.log.size).toBe(size + 1n);
    expect(appended.length).toBe(before + 1);
    const requestId = res.headers.get("x-clearance-request-id");
    expect(appended.at(-1)).toMatchObject({
      type: "decision",
      action: "infer",
      decision: "deny",
      reason: "embargoed-location",
      model: "mythos-5",
      served_model: null,
      principal: "alice",
      location: "IR",
      request_id: requestId,
      lookup: true,
    });
    expect(await told(requestId)).toMatchObject({
      path: "/v1/models/mythos-5",
      status: 403,
      decision: "deny",
      reason: "embargoed-location",
      principal: "alice",
      audit_index: Number(size),
    });

    // The list decides every model and records none of them: only the models the caller may use.
    const held = t.gateway.audit.log.size;
    const count = appended.length;
    const list = await get("/v1/models", "devi", "IN");
    expect(list.status).toBe(200);
    const text = await list.text();
    const data = (JSON.parse(text) as { data: Listed[] }).data;
    expect(data.length).toBeGreaterThan(0);
    for (const m of data) expect(["allow", "fallback"]).toContain(m.clearance.decision);
    expect(data.map((m) => m.id)).toContain("mythos-5"); // through its fallback
    // Left out, and not a word about why.
    expect(text).not.toContain("mythos-5-weights");
    expect(text).not.toContain("deny");
    expect(appended.length).toBe(count);
    expect(t.gateway.audit.log.size).toBe(held);
  });

  it("an allowed lookup is recorded too, and an unknown model is a recorded 404", async () => {
    durable.open();
    const size = t.gateway.audit.log.size;
    const ok = await get("/v1/models/mythos-5", "devi", "IN");
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Listed).clearance).toEqual({
      decision: "fallback",
      reason: "no-authorization",
      served_model: "mythos-4",
    });
    expect(appended.at(-1)).toMatchObject({
      decision: "fallback",
      model: "mythos-5",
      served_model: "mythos-4",
    });
    const unknown = await get("/v1/models/nope-9", "devi", "IN");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-clearance-reason")).toBe("unknown-model");
    expect(appended.at(-1)).toMatchObject({ decision: "deny", reason: "unknown-model", model: "nope-9" });
    expect(t.gateway.audit.log.size).toBe(size + 2n);
  });

  it("a lookup the log cannot take is refused with 503, as a request is", async () => {
    const before = appended.length;
    const pending = get("/v1/models/mythos-5", "alice", "IR");
    await eventually(
      async () => appended.length,
      (n) => n === before + 1,
    );
    durable.fail(new Error("disk on fire"));
    const res = await pending;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("audit_unavailable");
  });

  it("the declared purpose is decided on as a request's is, and recorded", async () => {
    durable.open();
    const chat = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.keys.get("erik")}`,
        "x-test-country": "DE",
        "content-type": "application/json",
        ...PURPOSE,
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(chat.status).toBe(200);
    expect(chat.headers.get("x-clearance-reason")).toBe("license");
    expect(appended.at(-1)).toMatchObject({
      model: "mythos-5",
      grant: "license:BIS-2026-0001",
      purpose: "cyber-defense",
    });

    // The request's entry is not a lookup's: no such member.
    expect(appended.at(-1)).not.toHaveProperty("lookup");

    const one = await get("/v1/models/mythos-5", "erik", "DE", PURPOSE);
    expect(one.status).toBe(200);
    expect(one.headers.get("x-clearance-decision")).toBe("allow");
    expect(((await one.json()) as Listed).clearance).toMatchObject({ decision: "allow", reason: "license" });
    // Recorded as a lookup: reports do not count it as use of the license.
    expect(appended.at(-1)).toMatchObject({
      decision: "allow",
      reason: "license",
      grant: "license:BIS-2026-0001",
      purpose: "cyber-defense",
      lookup: true,
    });

    const list = (await (await get("/v1/models", "erik", "DE", PURPOSE)).json()) as { data: Listed[] };
    expect(list.data.find((m) => m.id === "mythos-5")?.clearance.decision).toBe("allow");
    // Without it, the license does not apply: served through the fallback, and no purpose recorded.
    const none = await get("/v1/models/mythos-5", "erik", "DE");
    expect(((await none.json()) as Listed).clearance.decision).toBe("fallback");
    expect(appended.at(-1)).not.toHaveProperty("purpose");
  });
});

describe("the list in the caller's wire format", () => {
  let t: TestGateway;
  beforeAll(async () => {
    // mythos-4 on an OpenAI-only upstream (never called here); mythos-5 on the demo, which speaks both.
    t = await startTestGateway({
      providers: `  upo: { type: openai, base_url: "http://127.0.0.1:9/v1" }`,
      models: "  mythos-5: { provider: demo }\n  mythos-4: { provider: upo }",
    });
  });
  afterAll(() => t.gateway.close());

  const ask = (path: string, wire: "openai" | "anthropic") =>
    fetch(`${t.url}${path}`, {
      headers: {
        ...(wire === "anthropic"
          ? { "x-api-key": t.keys.get("devi")!, "anthropic-version": "2023-06-01" }
          : { authorization: `Bearer ${t.keys.get("devi")}` }),
        "x-test-country": "IN",
      },
    });
  const ids = async (wire: "openai" | "anthropic") =>
    ((await (await ask("/v1/models", wire)).json()) as { data: Listed[] }).data.map((m) => m.id);

  it("leaves out a model whose served model is not served in the request's wire format", async () => {
    // devi gets mythos-5 only through its fallback, mythos-4, which only the OpenAI wire reaches.
    expect(await ids("openai")).toEqual(expect.arrayContaining(["mythos-5", "mythos-4"]));
    const anthropic = await ids("anthropic");
    expect(anthropic).not.toContain("mythos-5");
    expect(anthropic).not.toContain("mythos-4");
    expect(anthropic).toContain("fable-5"); // on the demo: both wire formats
  });

  it("a lookup is refused as the request would be (404 wrong_wire_format), before anything is recorded", async () => {
    const size = t.gateway.audit.log.size;
    const res = await ask("/v1/models/mythos-5", "anthropic");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-clearance-decision")).toBe("none");
    expect(res.headers.get("x-clearance-reason")).toBe("wrong_wire_format");
    expect(((await res.json()) as { type: string }).type).toBe("error");
    expect(t.gateway.audit.log.size).toBe(size);
    expect((await ask("/v1/models/mythos-5", "openai")).status).toBe(200);
  });
});
