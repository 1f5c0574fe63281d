/**
 * clearance_gateway_overhead_seconds is the time the gateway adds to the requests it decides: an
 * admin call (a 30 s what-if), an audit tile or a console page is not in it (they were, under
 * decision="none"); a data-plane request refused before its decision still is.
 */
import { expect, it } from "vitest";
import { observedRequest } from "../testing/observed.js";
import type { ObservedRequest } from "../gateway/observer.js";
import { GatewayMetrics } from "./metrics.js";

const request = (path: string, end: number): ObservedRequest =>
  observedRequest({ method: "POST", path, end });

const count = async (m: GatewayMetrics) =>
  /clearance_gateway_overhead_seconds_count\{decision="none"\} (\d+)/.exec((await m.expose()).text)?.[1] ??
  "0";

it("observes no overhead for admin, audit, console and other routes", async () => {
  const m = new GatewayMetrics({}, { defaultMetrics: false });
  for (const path of ["/admin/v1/schemes/2/what-if", "/audit/tile/entries/000", "/console/", "/nope"])
    m.request(request(path, 30_000));
  expect(await count(m)).toBe("0");
});

it("observes the data plane's and the decision API's requests refused before a decision", async () => {
  const m = new GatewayMetrics({}, { defaultMetrics: false });
  for (const path of ["/v1/chat/completions", "/v1/models/mythos-5", "/v1/decisions"])
    m.request(request(path, 2));
  expect(await count(m)).toBe("3");
});
