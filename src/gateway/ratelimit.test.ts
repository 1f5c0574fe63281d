/** Per-organization rate limits through the gateway (the counting itself: src/counters/suite.ts). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rateLimitedMember } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

describe("rate limits through the gateway", () => {
  let t: TestGateway;
  const admin = (path: string, body: unknown) =>
    fetch(`${t.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  let key = "";
  beforeAll(async () => {
    t = await startTestGateway();
    key = await rateLimitedMember(admin);
  });
  afterAll(() => t.gateway.close());

  it("an organization over its requests per minute gets 429 with Retry-After, in the caller's format", async () => {
    const ask = () =>
      fetch(`${t.url}/v1/chat/completions`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          "x-test-country": "GB",
        },
        body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
      });
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
