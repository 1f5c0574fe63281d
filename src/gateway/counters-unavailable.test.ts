/**
 * Quota and rate-limit counters in a Redis that cannot be reached (a closed port, so no server is
 * needed): with fail_closed (the default) a controlled model allowed under a license with a quota
 * (or for an organization with a rate limit) is refused with a 503 that says why, in the caller's
 * wire format, and open models are still served;
 * with fail_open the node's own counts decide. /readyz tells either way.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminPost, chat } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const DOWN = { REDIS_URL: "redis://127.0.0.1:1" };
const MESSAGE = "the shared quota and rate-limit counters (Redis) cannot be reached";

const ask = (t: TestGateway, principal: string, model: string) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(principal)}`,
      "content-type": "application/json",
      "x-test-country": principal === "alice" ? "US" : "DE",
      "x-clearance-purpose": "cyber-defense",
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });

describe("Redis unreachable, failing closed (the default)", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      extra: "counters: { driver: redis, timeout_ms: 200 }",
      env: DOWN,
    });
  });
  afterAll(() => t.gateway.close());

  it("refuses a controlled model whose quota it cannot check: 503 counters_unavailable, saying why", async () => {
    // erik's organization holds BIS-2026-0001, a license with a token quota.
    const res = await ask(t, "erik", "fable-5");
    expect(res.status).toBe(503);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("counters_unavailable");
    expect(error.message).toContain(MESSAGE);
    expect(error.message).toContain("open models are still served");
  });

  it("answers in the caller's wire format (Anthropic)", async () => {
    const res = await fetch(`${t.url}/v1/messages`, {
      method: "POST",
      headers: {
        "x-api-key": t.keys.get("erik") as string,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-test-country": "DE",
        "x-clearance-purpose": "cyber-defense",
      },
      body: JSON.stringify({
        model: "fable-5",
        max_tokens: 16,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.message).toContain(MESSAGE);
  });

  it("still serves open models, and controlled ones no counter limits", async () => {
    const open = await ask(t, "erik", "fable-4");
    expect(open.status).toBe(200);
    expect(open.headers.get("x-clearance-reason")).toBe("open-model");
    // A home person holds no license and belongs to no rate-limited organization.
    const home = await ask(t, "alice", "mythos-5");
    expect(home.status).toBe(200);
    expect(home.headers.get("x-clearance-reason")).toBe("home-person");
    // erik's organization holds a license with a quota, but a country partner's grant needs none.
    const partner = await ask(t, "erik", "eu-mythos-5");
    expect(partner.status).toBe(200);
    expect(partner.headers.get("x-clearance-reason")).toBe("partner-country");
  });

  it("refuses a controlled model to an organization whose rate limit it cannot check", async () => {
    const admin = adminPost(() => t.url);
    const partner = {
      id: "acme-lab",
      country: "GB",
      assurance: "none",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      rate_limit: { requests_per_minute: 100 },
    };
    await admin("/admin/v1/partners", { kind: "organization", partner, reason: "vetted" });
    await admin("/admin/v1/partners/acme-lab/status", { status: "active", reason: "approved" });
    await admin("/admin/v1/principals", {
      id: "gwen",
      citizenships: [{ country: "GB" }],
      organization: "acme-lab",
    });
    const { key } = (await (await admin("/admin/v1/keys", { principal: "gwen" })).json()) as { key: string };
    const res = await chat(t.url, key);
    expect(res.status).toBe(503);
    // Allowed (partner-organization) but refused before it was recorded: the answer claims no decision.
    expect(res.headers.get("x-clearance-decision")).toBe("none");
    expect(res.headers.get("x-clearance-reason")).toBe("counters_unavailable");
    expect(res.headers.get("x-clearance-served-model")).toBe("none");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("counters_unavailable");
  });

  it("a model lookup is refused as the request is (503 counters_unavailable), unrecorded; the list leaves it out", async () => {
    const lookup = (principal: string, model: string, path = `/v1/models/${model}`) =>
      fetch(`${t.url}${path}`, {
        headers: {
          authorization: `Bearer ${t.keys.get(principal)}`,
          "x-test-country": principal === "alice" ? "US" : "DE",
          "x-clearance-purpose": "cyber-defense",
        },
      });
    const size = t.gateway.audit.log.size;
    const refused = await lookup("erik", "fable-5");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("x-clearance-decision")).toBe("none");
    expect(refused.headers.get("x-clearance-reason")).toBe("counters_unavailable");
    const { error } = (await refused.json()) as { error: { type: string; code: string; message: string } };
    expect(error).toMatchObject({ type: "service_unavailable", code: "counters_unavailable" });
    expect(error.message).toContain(MESSAGE);
    expect(t.gateway.audit.log.size).toBe(size);
    // What the request would be served is looked up (and recorded) as it is served.
    expect((await lookup("erik", "fable-4")).status).toBe(200);
    expect((await lookup("alice", "mythos-5")).status).toBe(200);
    expect((await lookup("erik", "eu-mythos-5")).status).toBe(200);
    expect(t.gateway.audit.log.size).toBe(size + 3n);
    const list = (await (await lookup("erik", "", "/v1/models")).json()) as { data: { id: string }[] };
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["fable-4", "mythos-4", "eu-mythos-5"]));
    expect(ids).not.toContain("fable-5");
    expect(ids).not.toContain("mythos-5");
  });

  it("is not ready, and /readyz says why: where Redis is, to a reader's token only", async () => {
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(503);
    const { reasons } = (await res.json()) as { reasons: string[] };
    expect(reasons).toContain("the shared quota and rate-limit counters cannot be reached");
    expect(reasons.join("\n")).not.toContain("127.0.0.1:1");
    const named = await fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { reasons: why } = (await named.json()) as { reasons: string[] };
    expect(why.join("\n")).toMatch(
      /the shared quota and rate-limit counters cannot be reached \(Redis at 127\.0\.0\.1:1/,
    );
  });
});

describe("Redis unreachable, failing open", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      extra: "counters: { driver: redis, on_unavailable: fail_open, timeout_ms: 200 }",
      env: DOWN,
    });
  });
  afterAll(() => t.gateway.close());

  it("serves controlled models on this node's own counts, and stays ready with a warning", async () => {
    const res = await ask(t, "erik", "fable-5");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-clearance-reason")).toBe("license");
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    const { warnings } = (await ready.json()) as { warnings: string[] };
    expect(warnings[0]).toContain("the shared quota and rate-limit counters cannot be reached");
  });
});

describe("counters.url_env", () => {
  it("a missing environment variable is a config error naming the key", async () => {
    await expect(startTestGateway({ extra: "counters: { driver: redis }" })).rejects.toThrow(
      /counters\.url_env.*REDIS_URL is not set/,
    );
  });
});
