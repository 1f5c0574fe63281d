/** The license quota gauges, read in one real scrape: both have samples, from one usage look-up. */
import { expect, it } from "vitest";
import type { CompiledScheme } from "../scheme/index.js";
import { GatewayMetrics } from "./metrics.js";

it("a scrape shows each license's used tokens next to its limit, looking usage up once", async () => {
  const scheme = {
    models: new Map(),
    licenses: new Map([["LIC-1", { id: "LIC-1", quotaTokens: 1_000_000, quotaPeriod: "month" }]]),
  } as unknown as CompiledScheme;
  let lookups = 0;
  const metrics = new GatewayMetrics(
    {
      scheme: () => scheme,
      licenseUsage: async () => {
        lookups++;
        await new Promise((r) => setImmediate(r)); // a store or Redis round trip
        return 987_654;
      },
    },
    { defaultMetrics: false },
  );
  for (let scrape = 1; scrape <= 2; scrape++) {
    const { text } = await metrics.expose();
    expect(text).toContain('clearance_license_quota_limit_tokens{license="LIC-1",period="month"} 1000000');
    expect(text).toContain('clearance_license_quota_used_tokens{license="LIC-1",period="month"} 987654');
    expect(lookups).toBe(scrape);
  }
});
