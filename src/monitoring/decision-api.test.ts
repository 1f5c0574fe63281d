/** The decision API on its own (`clearance serve --scheme`) counts its decisions at /metrics. */
import { spawnSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDecisionServer } from "../api/index.js";
import { NOW, testScheme } from "../testing/schemes.js";
import { GatewayMetrics } from "./metrics.js";

const scheme = testScheme();
const server = createDecisionServer({
  scheme: () => scheme,
  metrics: new GatewayMetrics({ scheme: () => scheme }, { defaultMetrics: false }),
});
let base = "";
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("decision API metrics", () => {
  it("counts single and batched decisions by outcome, reason, model and action", async () => {
    const FR = { id: "p-fr", citizenships: [{ country: "FR" }], assurance: "attested" };
    const request = { model: "m5", action: "infer", location: "FR", time: NOW };
    for (const body of [
      { principal: FR, request },
      [
        { principal: FR, request },
        { principal: FR, request: { ...request, model: "made-up" } },
      ],
    ]) {
      const r = await fetch(`${base}/v1/decisions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(r.status).toBe(200);
      await r.text();
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(
      /clearance_decisions_total\{decision="allow",reason="partner-country",model="m5",served_model="m5",action="infer"\} 2/,
    );
    expect(text).toMatch(
      /clearance_decisions_total\{decision="deny",reason="unknown-model",model="other",served_model="none",action="infer"\} 1/,
    );
    const promtool = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    if (promtool.error === undefined) expect(promtool.stdout + promtool.stderr).toBe("");
  });
});
