/**
 * What one decision request may make the gateway's decision API work through in one turn of its
 * event loop. JSON.parse, the scan for members named twice and validation each take an item whole:
 * a body of 800,000 unknown members held the loop for 4.3 s, a usage of 300,000 licenses for 1.2 s,
 * and a malformed array was parsed whole to find its error (0.1 s at 10 MB). A decision is bounded,
 * alone or as an item; a malformed array is refused from its split, naming the item; a refusal lists
 * a bounded number of problems. (The stalls were measured by a script, not here: no timed assertion.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { MAX_DECISION_CHARS, MAX_PROBLEMS } from "./index.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.gateway.close());

const post = (text: string) =>
  fetch(`${t.url}/v1/decisions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: text,
  });

interface Refusal {
  status: number;
  code: string;
  message: string;
  paths: string[];
}

async function refusal(text: string): Promise<Refusal> {
  const res = await post(text);
  const body = (await res.json()) as {
    error: { code: string; message: string; problems?: { path: string }[] };
  };
  return {
    status: res.status,
    code: body.error.code,
    message: body.error.message,
    paths: (body.error.problems ?? []).map((p) => p.path),
  };
}

const principal = { id: "p-fr", citizenships: [{ country: "FR" }], assurance: "attested" };
const request = { model: "mythos-5", action: "infer", location: "FR", time: "2026-11-21T12:00:00Z" };
const one = JSON.stringify({ principal, request });
/** A usage of `n` licenses: an item that grows by member count, as a caller may make it. */
const withUsage = (n: number) =>
  JSON.stringify({
    principal,
    request: {
      ...request,
      usage: Object.fromEntries(Array.from({ length: n }, (_, i) => [`l-${i}`, { tokens: 1 }])),
    },
  });

describe("the decision API's bounds on one request's work", () => {
  it("a decision of more than MAX_DECISION_CHARS is 413 decision_too_large, alone or as an item", async () => {
    const big = withUsage(10_000);
    expect(big.length).toBeGreaterThan(MAX_DECISION_CHARS);
    expect(await refusal(big)).toMatchObject({ status: 413, code: "decision_too_large", paths: ["(root)"] });
    expect(await refusal(`[${one},${big},${one}]`)).toMatchObject({
      status: 413,
      code: "decision_too_large",
      paths: ["[1]"],
    });
    // Within the bound, the same usage is decided.
    const fits = withUsage(1_000);
    expect(fits.length).toBeLessThanOrEqual(MAX_DECISION_CHARS);
    expect((await post(`[${one},${fits}]`)).status).toBe(200);
  });

  it("a malformed array is refused naming the item, not parsed whole", async () => {
    const items = Array.from({ length: 2_000 }, () => one);
    const bad = [...items.slice(0, 1_500), '{"principal":}', ...items.slice(1_500)];
    expect(await refusal(`[${bad.join(",")}]`)).toMatchObject({
      status: 400,
      code: "invalid_json",
      paths: ["[1500]"],
    });
    const unclosed = await refusal(`[${items.join(",")}`);
    expect(unclosed).toMatchObject({ status: 400, code: "invalid_json" });
    expect(unclosed.message).toContain("the array is not closed");
    const after = await refusal(`[${items.join(",")}] x`);
    expect(after).toMatchObject({ status: 400, code: "invalid_json" });
    expect(after.message).toContain("after the array");
    expect(await refusal(`[${one},,${one}]`)).toMatchObject({ status: 400, paths: ["[1]"] });
  });

  it("a refusal lists at most MAX_PROBLEMS problems, and says there were more", async () => {
    const bad = JSON.stringify({ principal, request: { ...request, location: "XX" } });
    const refused = await refusal(`[${Array.from({ length: MAX_PROBLEMS + 500 }, () => bad).join(",")}]`);
    expect(refused).toMatchObject({ status: 400, code: "invalid_request" });
    expect(refused.paths).toHaveLength(MAX_PROBLEMS);
    expect(refused.paths[0]).toBe("[0].request.location");
    expect(refused.message).toContain(`the first ${MAX_PROBLEMS} problems are listed`);
    // One object with thousands of unknown members: the same bound.
    const members = Array.from({ length: 5_000 }, (_, i) => `"k${i}":1`).join(",");
    const wide = await refusal(
      `{"principal":${JSON.stringify(principal)},"request":{"model":"m",${members}}}`,
    );
    expect(wide).toMatchObject({ status: 400, code: "invalid_request" });
    expect(wide.paths).toHaveLength(MAX_PROBLEMS);
  });
});
