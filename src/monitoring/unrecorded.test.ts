/**
 * A decision the audit log could not record (503 `audit_unavailable`): nothing was decided as far
 * as anyone may rely on, so the answer claims no decision, and the metrics, the access log and the
 * span count none — as for a request refused before its decision. During an audit outage the
 * dashboards must not show allows going on while every request is refused.
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

const lineOf = access.lineOf;

it("counts and logs no decision for a request whose decision the audit log could not record", async () => {
  const alice = t.keys.get("alice") as string;
  await t.gateway.audit.log.close();
  const chat = (country: string) =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-test-country": country,
        authorization: `Bearer ${alice}`,
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
  const answers = [
    await chat("US"), // an allow
    await chat("IR"), // a denial
    // A model lookup, recorded like a request.
    await fetch(`${t.url}/v1/models/mythos-5`, {
      headers: { "x-test-country": "US", authorization: `Bearer ${alice}` },
    }),
  ];
  for (const r of answers) {
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("audit_unavailable");
    // The answer claims no decision: none was recorded.
    expect([r.headers.get("x-clearance-decision"), r.headers.get("x-clearance-reason")]).toEqual([
      "none",
      "audit_unavailable",
    ]);
    const line = await lineOf(r.headers.get("x-clearance-request-id") as string);
    expect(line).toMatchObject({
      status: 503,
      decision: "none",
      reason: "audit_unavailable",
      served_model: null,
      audit_index: null,
      principal: "alice",
    });
  }
  const text = await (
    await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  ).text();
  expect(text).not.toMatch(/^clearance_decisions_total\{/m);
  expect(text).not.toMatch(/^clearance_decisions_by_location_total\{/m);
  expect(text).toContain('clearance_http_requests_total{route="chat.completions",code="503"} 2');
  expect(text).toContain('clearance_http_requests_total{route="models",code="503"} 1');
  expect(text).toMatch(/^clearance_gateway_overhead_seconds_count\{decision="none"\} 3$/m);
});
