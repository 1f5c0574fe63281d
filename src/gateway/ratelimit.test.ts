/** Per-organization rate limits through the gateway (the counting itself: src/counters/suite.ts). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminPost, chat, rateLimitedMember } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

describe("rate limits through the gateway", () => {
  let t: TestGateway;
  const admin = adminPost(() => t.url);
  let key = "";
  beforeAll(async () => {
    t = await startTestGateway();
    key = await rateLimitedMember(admin);
  });
  afterAll(() => t.gateway.close());

  it("an organization over its requests per minute gets 429 with Retry-After, in the caller's format", async () => {
    const ask = () => chat(t.url, key);
    const first = await ask();
    expect(first.headers.get("x-clearance-reason")).toBe("partner-organization");
    // Two in the same minute pass; a window may end between them, so allow one more before the 429.
    let res = await ask();
    for (let i = 0; i < 2 && res.status === 200; i++) res = await ask();
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    // Not recorded, so the answer claims no decision: its reason is the refusal's code.
    expect(res.headers.get("x-clearance-decision")).toBe("none");
    expect(res.headers.get("x-clearance-reason")).toBe("rate_limited");
    expect(((await res.json()) as { error: { type: string; code: string } }).error).toMatchObject({
      type: "rate_limit_error",
      code: "rate_limited",
    });
  });
});

describe("model lookups and the list, for an organization with a rate limit", () => {
  let t: TestGateway;
  const admin = adminPost(() => t.url);
  /** A member of a new active organization partner granted mythos-5, with `rateLimit`. */
  const member = async (id: string, rateLimit: Record<string, number>) => {
    const partner = {
      id,
      country: "GB",
      assurance: "none",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      rate_limit: rateLimit,
    };
    expect((await admin("/admin/v1/partners", { kind: "organization", partner, reason: "v" })).status).toBe(
      201,
    );
    await admin(`/admin/v1/partners/${id}/status`, { status: "active", reason: "approved" });
    await admin("/admin/v1/principals", {
      id: `${id}-member`,
      citizenships: [{ country: "GB" }],
      organization: id,
    });
    const created = await admin("/admin/v1/keys", { principal: `${id}-member` });
    return ((await created.json()) as { key: string }).key;
  };
  const get = (key: string, path: string, anthropic = false) =>
    fetch(`${t.url}${path}`, {
      headers: {
        ...(anthropic
          ? { "x-api-key": key, "anthropic-version": "2023-06-01" }
          : { authorization: `Bearer ${key}` }),
        "x-test-country": "GB",
      },
    });
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(() => t.gateway.close());

  it("a lookup counts against the requests per minute: over it, 429 in the caller's format, unrecorded", async () => {
    const key = await member("lookup-lab", { requests_per_minute: 2 });
    const first = await get(key, "/v1/models/mythos-5");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-clearance-reason")).toBe("partner-organization");
    // Two in a minute pass; a window may end on the way, so up to two more before the 429.
    let res = first;
    for (let i = 0; i < 4 && res.status === 200; i++) res = await get(key, "/v1/models/mythos-5");
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    // Not recorded, so the answer claims no decision.
    expect(res.headers.get("x-clearance-decision")).toBe("none");
    expect(res.headers.get("x-clearance-reason")).toBe("rate_limited");
    expect(((await res.json()) as { error: { type: string; code: string } }).error).toMatchObject({
      type: "rate_limit_error",
      code: "rate_limited",
    });
    const size = t.gateway.audit.log.size;
    const anthropic = await get(key, "/v1/models/mythos-5", true);
    expect(anthropic.status).toBe(429);
    expect(((await anthropic.json()) as { type: string; error: { type: string } }).error.type).toBe(
      "rate_limit_error",
    );
    // The list is a request of the organization's too.
    const list = await get(key, "/v1/models");
    expect(list.status).toBe(429);
    expect(((await list.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    // A denial is answered, and recorded, as decided: denials take no place in the limit (as requests').
    const denied = await get(key, "/v1/models/mythos-5-weights");
    expect(denied.status).toBe(403);
    expect(denied.headers.get("x-clearance-decision")).toBe("deny");
    expect(t.gateway.audit.log.size).toBe(size + 1n);
  });

  it("a lookup uses no tokens: an organization over its tokens per minute still looks models up", async () => {
    const key = await member("token-lab", { tokens_per_minute: 1 });
    let res = await chat(t.url, key);
    for (let i = 0; i < 20 && res.status === 200; i++) res = await chat(t.url, key);
    expect(res.status).toBe(429);
    const lookup = await get(key, "/v1/models/mythos-5");
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get("x-clearance-decision")).toBe("allow");
  });
});
