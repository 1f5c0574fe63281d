/**
 * GET /metrics on the gateway's listener is a request like any other: it has a request id and the
 * gateway's security headers, is written to the access log (a guessed admin token included) and
 * counted in clearance_http_requests_total under route "metrics".
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { accessLines } from "../testing/access-lines.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
const access = accessLines();
beforeAll(async () => {
  t = await startTestGateway({ accessLog: access.sink });
});
afterAll(() => t.gateway.close());

/** The access line of a request, once the observer has written it. */
const lineOf = (id: string | null) => {
  expect(id).toEqual(expect.any(String));
  return access.lineOf(id as string);
};

const scrape = (token: string) =>
  fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });

it("logs and counts scrapes, a wrong token's included, with the gateway's request id and headers", async () => {
  const guessed = await scrape("not-the-admin-token");
  expect(guessed.status).toBe(401);
  expect(((await guessed.json()) as { error: { code: string } }).error.code).toBe("invalid_admin_token");
  expect(guessed.headers.get("cache-control")).toBe("no-store");
  expect(await lineOf(guessed.headers.get("x-clearance-request-id"))).toMatchObject({
    method: "GET",
    path: "/metrics",
    status: 401,
    decision: "none",
    reason: "invalid_admin_token",
  });
  const first = await scrape(ADMIN_TOKEN);
  expect(first.status).toBe(200);
  expect(first.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(first.headers.get("x-content-type-options")).toBe("nosniff");
  await first.text();
  expect(await lineOf(first.headers.get("x-clearance-request-id"))).toMatchObject({
    path: "/metrics",
    status: 200,
  });
  const text = await (await scrape(ADMIN_TOKEN)).text();
  expect(text).toContain('clearance_http_requests_total{route="metrics",code="401"} 1');
  expect(text).toContain('clearance_http_requests_total{route="metrics",code="200"} 1');
  // Not time added to a decided request.
  expect(text).not.toMatch(/^clearance_gateway_overhead_seconds_count/m);
});

it("refuses another method with 405 saying which it takes (Allow: GET, HEAD)", async () => {
  const r = await fetch(`${t.url}/metrics`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(r.status).toBe(405);
  expect(r.headers.get("allow")).toBe("GET, HEAD"); // RFC 9110 15.5.6
  expect(((await r.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
});
