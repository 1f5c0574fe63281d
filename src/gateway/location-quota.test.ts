/** Location from a MaxMind database on the socket address, and license quotas fed by metering. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeCountryMmdb } from "../location/mmdb-writer.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
const QUOTA = 50_000_000; // BIS-2026-0001 in examples/g7-trusted-partners.yaml

beforeAll(async () => {
  const mmdb = join(mkdtempSync(join(tmpdir(), "clearance-mmdb-")), "country.mmdb");
  // Loopback is where the test's requests come from; the database places it in Germany.
  await writeCountryMmdb(mmdb, [{ cidr: "127.0.0.0/8", country: "DE" }]);
  t = await startTestGateway({
    location: `{ mmdb: ${JSON.stringify(mmdb)} }`,
    seed: (store) =>
      store.usage.add([
        {
          principalId: "erik",
          organizationId: "bw-cyber",
          licenseId: "BIS-2026-0001",
          model: "fable-5",
          inputTokens: QUOTA - 10,
          outputTokens: 0,
          requests: 1,
          at: new Date().toISOString(),
        },
      ]),
  });
});
afterAll(() => t.gateway.close());

const ask = (principal: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(principal)}`,
      "content-type": "application/json",
      "x-clearance-purpose": "cyber-defense",
      ...headers,
    },
    body: JSON.stringify({
      model: "fable-5",
      messages: [{ role: "user", content: "one two three four five six" }],
    }),
  });

describe("location and quotas through the gateway", () => {
  it("the socket address is looked up in the MaxMind database; untrusted headers are ignored", async () => {
    // A French researcher from Germany is inside the G7 partner's countries either way; a header
    // claiming Iran from an untrusted peer must not turn this into an embargo denial.
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.keys.get("benoit")}`,
        "content-type": "application/json",
        "cf-ipcountry": "IR",
        "x-forwarded-for": "5.160.0.1",
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-clearance-reason")).toBe("partner-country");
  });

  it("a license's quota, fed by metered usage, stops covering once used up; the next request falls back", async () => {
    const first = await ask("erik");
    expect(first.headers.get("x-clearance-reason")).toBe("license");
    const used = ((await first.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    expect(used).toBeGreaterThanOrEqual(10);
    const second = await ask("erik");
    expect(second.headers.get("x-clearance-decision")).toBe("fallback");
    expect(second.headers.get("x-clearance-reason")).toBe("license-quota-exhausted");
    expect(second.headers.get("x-clearance-served-model")).toBe("fable-4");
  });
});
