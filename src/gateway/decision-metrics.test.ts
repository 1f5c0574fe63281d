/**
 * Every decision the gateway makes counts once in clearance_decisions_total, scraped from its
 * /metrics: a proxied request's and a model lookup's (action infer), and each of its decision API's
 * (POST /v1/decisions, one or a batch), under the action asked about — as the decision API alone counts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.gateway.close());

/** clearance_decisions_total's series: labels as exposed (`decision="allow",…`) → value. */
async function decisions(): Promise<Map<string, number>> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^clearance_decisions_total\{(.*)\} (\d+)$/.exec(line);
    if (m !== null && Number(m[2]) > 0) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

const labels = (d: Decided, action: string, model = d.model) =>
  `decision="${d.decision}",reason="${d.reason}",model="${model}",served_model="${d.served_model ?? "none"}",action="${action}"`;

interface Decided {
  readonly decision: string;
  readonly reason: string;
  readonly model: string;
  readonly served_model: string | null;
}

describe("clearance_decisions_total on the gateway", () => {
  it("counts the data plane's decisions and each of its decision API's, with their action, once", async () => {
    const alice = { authorization: `Bearer ${t.keys.get("alice")}`, "x-test-country": "US" };
    const chat = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...alice, "content-type": "application/json" },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(chat.status).toBe(200);
    await chat.text();
    const lookup = await fetch(`${t.url}/v1/models/mythos-5`, { headers: alice });
    expect(lookup.status).toBe(200);
    await lookup.text();
    // Both are counted once the request has ended: polled for, not timed.
    const home = `decision="allow",reason="home-person",model="mythos-5",served_model="mythos-5",action="infer"`;
    await eventually(decisions, (counted) => counted.get(home) === 2);
    expect(await decisions()).toEqual(new Map([[home, 2]]));

    const FR = { id: "probe-fr", citizenships: [{ country: "FR" }], assurance: "attested" };
    const request = { model: "mythos-5", location: "FR", time: new Date().toISOString() };
    const items = [
      { principal: FR, request: { ...request, action: "evaluate" } },
      { principal: FR, request: { ...request, action: "fine_tune" } },
      { principal: FR, request: { ...request, action: "infer", model: "made-up-9" } },
    ];
    const post = (body: unknown) =>
      fetch(`${t.url}/v1/decisions`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const batch = await post(items);
    expect(batch.status).toBe(200);
    const answered = ((await batch.json()) as { decisions: Decided[] }).decisions;
    const one = await post(items[0]);
    expect(one.status).toBe(200);
    const single = (await one.json()) as Decided;

    const expected = new Map([[home, 2]]);
    const add = (key: string) => expected.set(key, (expected.get(key) ?? 0) + 1);
    answered.forEach((d, i) => {
      const action = items[i]?.request.action as string;
      // A model the scheme does not know is "other" (a bounded label set).
      add(labels(d, action, d.model === "made-up-9" ? "other" : d.model));
    });
    add(labels(single, "evaluate"));
    expect(answered.map((d) => d.decision)).toContain("deny");
    expect(await decisions()).toEqual(expected);
  });
});
