/**
 * A request waiting on the shared counters (Redis, up to counters.timeout_ms) when the policy
 * changes: the key revoked, the partner of a token suspended while the count was on its way. It is
 * decided on who asks, and the scheme, in force once the counters have answered, not before the
 * wait: proxied requests in both wire formats, and model lookups. Redis is reached through a proxy
 * that can go silent (the count held while the change lands). Skipped without Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisSkipReason as skip } from "../testing/redis.js";
import { stallProxy, type StallProxy } from "../testing/stall.js";

if (skip !== undefined) console.warn(`src/gateway/counters-wait.test.ts: SKIPPED, ${skip}`);

let t: TestGateway;
let idp: TestIdp;
let redis: StallProxy;

describe.skipIf(skip !== undefined)("a change landing while the counters are asked", () => {
  beforeAll(async () => {
    redis = await stallProxy(REDIS_URL);
    idp = await startTestIdp({ people: { "gb-gwen": { nationality: ["GB"] } } });
    t = await startTestGateway({
      env: { REDIS_URL: redis.url },
      extra: `counters: { driver: redis, timeout_ms: 30000, prefix: "${freshPrefix()}" }`,
    });
    // An organization partner with a rate limit (its members' requests are counted), whose own
    // identity provider vouches for its members.
    const partner = {
      id: "acme-lab",
      country: "GB",
      assurance: "none",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      rate_limit: { requests_per_minute: 10_000 },
    };
    await asAdmin(t, "POST", "/admin/v1/partners", { kind: "organization", partner, reason: "vetted" });
    await asAdmin(t, "POST", "/admin/v1/partners/acme-lab/status", { status: "active", reason: "approved" });
    const provider = {
      id: "acme-idp",
      issuer: idp.issuer,
      audiences: [AUDIENCE],
      claims: { citizenships: "nationality" },
      assurance: { level: "attested" },
      max_assurance: "attested",
    };
    await asAdmin(t, "POST", "/admin/v1/partners/acme-lab/identity-providers", provider, 201);
  }, 30_000);

  afterAll(async () => {
    redis?.resume();
    await t?.gateway.close();
    await idp?.close();
    await redis?.close();
    await dropPrefixes();
  });

  /**
   * Sends the request once Redis has gone silent; when the gateway asks the counters, runs
   * `meanwhile` (the change), then lets Redis answer.
   */
  async function heldAtCounters(send: () => Promise<Response>, meanwhile: () => Promise<void>) {
    const limits = t.gateway.limits;
    const real = limits.admit;
    let asked!: () => void;
    const counting = new Promise<void>((resolve) => (asked = resolve));
    limits.admit = (...args) => {
      limits.admit = real;
      const counted = real.apply(limits, args);
      asked();
      return counted;
    };
    redis.pause();
    const answer = send();
    try {
      await counting;
      await meanwhile();
    } finally {
      redis.resume();
      limits.admit = real;
    }
    const res = await answer;
    const text = await res.text();
    return { status: res.status, reason: res.headers.get("x-clearance-reason"), text };
  }

  const headers = { "x-test-country": "DE", "x-clearance-purpose": "cyber-defense" };
  const post = (wire: "openai" | "anthropic", credential: string, model: string) => () =>
    fetch(`${t.url}${wire === "openai" ? "/v1/chat/completions" : "/v1/messages"}`, {
      method: "POST",
      headers: {
        ...(wire === "openai"
          ? { authorization: `Bearer ${credential}` }
          : { "x-api-key": credential, "anthropic-version": "2023-06-01" }),
        "content-type": "application/json",
        ...headers,
      },
      body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
    });
  const lookup = (credential: string, model: string) => () =>
    fetch(`${t.url}/v1/models/${model}`, { headers: { authorization: `Bearer ${credential}`, ...headers } });

  const REQUESTS = [
    ["openai", (c: string, m: string) => post("openai", c, m)],
    ["anthropic", (c: string, m: string) => post("anthropic", c, m)],
    ["a model lookup", lookup],
    ["the model list", (c: string) => lookup(c, "")],
  ] as const;

  it.each(REQUESTS)("%s: refused when its key was revoked meanwhile (was: served)", async (_, request) => {
    const { key, record } = await t.gateway.store.keys.create("erik", "counted");
    await t.gateway.snapshot.refresh();
    expect((await heldAtCounters(request(key, "fable-5"), async () => {})).status).toBe(200);
    const revoked = await heldAtCounters(request(key, "fable-5"), async () => {
      await asAdmin(t, "POST", `/admin/v1/keys/${record.id}/revoke`, {});
    });
    expect(revoked.status).toBe(401);
    expect(revoked.text).toContain("invalid or revoked API key");
  });

  it.each(REQUESTS)(
    "%s: refused when the partner of its token was suspended meanwhile (was: served)",
    async (_, request) => {
      const token = await idp.token("gb-gwen");
      // An open model: served to anyone authenticated, so only the token's acceptance stands between.
      expect((await heldAtCounters(request(token, "fable-4"), async () => {})).status).toBe(200);
      try {
        const suspended = await heldAtCounters(request(token, "fable-4"), async () => {
          await asAdmin(t, "POST", "/admin/v1/partners/acme-lab/status", {
            status: "suspended",
            reason: "review",
          });
        });
        expect(suspended.status).toBe(401);
        expect(suspended.text).toContain("partner-not-active");
      } finally {
        await asAdmin(t, "POST", "/admin/v1/partners/acme-lab/status", {
          status: "active",
          reason: "cleared",
        });
      }
    },
  );

  it.each(REQUESTS.slice(0, 3))(
    "%s: not served on a license suspended meanwhile (was: allowed on it)",
    async (_, request) => {
      const erik = t.keys.get("erik")!;
      const store = t.gateway.store;
      const set = async (status: string) => {
        const license = await store.records.get<{ status: string }>("license", "BIS-2026-0001");
        const document = { ...(license!.document as object), status };
        await store.records.put("license", "BIS-2026-0001", document, license!.revision, {
          actor: "test",
          action: `license.${status}`,
        });
        await t.gateway.snapshot.refresh();
      };
      const allowed = await heldAtCounters(request(erik, "fable-5"), async () => {});
      expect(allowed).toMatchObject({ status: 200, reason: "license" });
      try {
        const suspended = await heldAtCounters(request(erik, "fable-5"), () => set("suspended"));
        expect(suspended.reason).not.toBe("license");
      } finally {
        await set("approved");
      }
    },
  );
});
