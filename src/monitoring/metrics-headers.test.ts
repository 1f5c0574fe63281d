/**
 * /metrics answers like every other answer of the gateway: the security headers on a scrape and
 * on its refusals (the figures name every organization's licenses and quotas: never cached), and
 * `Retry-After` with a 429 for a source past its failed authentications, as the admin API gives.
 * On the gateway's listener and on a listener of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../http/security-headers.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const scrape = async (url: string, token: string | null) => {
  const r = await fetch(url, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  await r.text();
  return r;
};

const expectSecurityHeaders = (r: Response) => {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(r.headers.get(name), name).toBe(value);
};

describe("/metrics on the gateway's listener", () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(() => t.gateway.close());

  it("carries the security headers on a scrape and on a refusal", async () => {
    const ok = await scrape(`${t.url}/metrics`, ADMIN_TOKEN);
    expect(ok.status).toBe(200);
    expectSecurityHeaders(ok);
    const none = await scrape(`${t.url}/metrics`, null);
    expect(none.status).toBe(401);
    expectSecurityHeaders(none);
  });
});

describe("/metrics past a source's failed authentications", () => {
  it("says when to retry, as the admin API does", async () => {
    const t = await startTestGateway({ extra: "admin_security: { failed_auth_per_minute: 2 }" });
    try {
      for (const token of ["wrong-1", "wrong-2"])
        expect((await scrape(`${t.url}/metrics`, token)).status).toBe(401);
      const locked = await scrape(`${t.url}/metrics`, ADMIN_TOKEN);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expectSecurityHeaders(locked);
    } finally {
      await t.gateway.close();
    }
  });
});

describe("/metrics on a listener of its own", () => {
  it("carries the security headers, on a scrape and on a 404", async () => {
    const own = await startTestGateway({
      monitoring: "{ metrics: { listen: { host: 127.0.0.1, port: 0 } }, access_log: { enabled: false } }",
    });
    try {
      const url = own.gateway.monitoring.metricsUrl as string;
      const ok = await scrape(url, null);
      expect(ok.status).toBe(200);
      expectSecurityHeaders(ok);
      const missing = await scrape(url.replace(/\/metrics$/, "/elsewhere"), null);
      expect(missing.status).toBe(404);
      expectSecurityHeaders(missing);
    } finally {
      await own.gateway.close();
    }
  });
});
