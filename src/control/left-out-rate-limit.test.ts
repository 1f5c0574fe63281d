/**
 * A partner left out of the policy in force keeps its organization's rate limit: licenses held by
 * the organization need no partner and go on serving its members, so they stay limited per minute
 * (and, with the shared counters down, refused under fail_closed). Listed under two spellings, the
 * organization is held to the stricter limit however its members spell it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seed } from "../licensing/workflow.js";
import type { Store } from "../store/index.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { EXAMPLE } from "../testing/older-release.js";
import { seedFromFile } from "./seed.js";
import type { PartnerDocument } from "./types.js";

const change = { actor: "admin", action: "older.release" };

/**
 * The example, then what an older release let in: uk-aisi limited to 100 requests a minute, the
 * same institute again as UK-AISI limited to 2, and a license for uk-aisi (no token quota).
 */
async function seedSpelledTwice(store: Store): Promise<void> {
  await seedFromFile(store, EXAMPLE, "2026-11-21T00:00:00Z");
  const stored = (await store.records.get<PartnerDocument>("partner", "uk-aisi"))!;
  const partner = { ...stored.document.partner, rate_limit: { requests_per_minute: 100 } };
  await store.records.put("partner", "uk-aisi", { ...stored.document, partner }, stored.revision, change);
  const again = { ...partner, id: "UK-AISI", rate_limit: { requests_per_minute: 2 } };
  await store.records.put("partner", "UK-AISI", { ...stored.document, partner: again }, 0, change);
  const terms = {
    models: ["mythos-5"],
    actions: ["infer" as const],
    destinations: ["GB"],
    valid_from: "2026-01-01",
    valid_until: "2099-01-01",
    quota_period: "total" as const,
    resolved: { destinations: ["GB"] },
  };
  const license = seed("UK-LIC-1", { organization: "uk-aisi" }, terms, "approved", "2026-11-21T00:00:00Z");
  await store.records.put("license", license.id, license, 0, change);
}

const ask = (t: TestGateway) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("chloe")}`,
      "content-type": "application/json",
      "x-test-country": "GB",
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });

describe("an organization partner left out under both spellings, its members served by a license", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ seed: seedSpelledTwice });
  });
  afterAll(() => t?.gateway.close());

  it("is still held to the stricter of its two rate limits", async () => {
    const first = await ask(t);
    await first.text();
    expect(first.status).toBe(200);
    // Served through the license: the partner (under either spelling) is left out.
    expect(first.headers.get("x-clearance-reason")).toBe("license");
    // Two in the same minute pass; a window may end between them, so allow one more before the 429.
    let res = await ask(t);
    for (let i = 0; i < 2 && res.status === 200; i++) {
      await res.text();
      res = await ask(t);
    }
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
  });
});

describe("the same, with the shared counters unreachable (fail_closed)", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      seed: seedSpelledTwice,
      extra: "counters: { driver: redis, timeout_ms: 200 }",
      env: { REDIS_URL: "redis://127.0.0.1:1" },
    });
  });
  afterAll(() => t?.gateway.close());

  it("refuses the license's allow: the rate limit cannot be checked", async () => {
    const res = await ask(t);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("counters_unavailable");
  });
});
