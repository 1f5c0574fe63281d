/**
 * A trusted country header against the MaxMind database: where the database names another country
 * for the forwarded client's address, the two are a dispute (DESIGN.md: if any of them names an
 * embargoed country, the embargo applies), through the whole gateway.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeCountryMmdb } from "../location/mmdb-writer.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  const mmdb = join(mkdtempSync(join(tmpdir(), "clearance-mmdb-")), "country.mmdb");
  await writeCountryMmdb(mmdb, [
    { cidr: "5.160.0.0/16", country: "IR" },
    { cidr: "81.2.69.0/24", country: "GB" },
    { cidr: "198.51.100.0/24", country: "US" },
  ]);
  // The test's requests come from loopback, the trusted proxy here.
  t = await startTestGateway({
    location: `{ mmdb: ${JSON.stringify(mmdb)}, header: x-test-country, trusted_proxies: [127.0.0.1/32, "::1/128"] }`,
  });
});
afterAll(() => t.gateway.close());

/** alice, a US citizen, asks for a controlled model: claiming `country`, forwarded for `client`. */
const ask = (country: string, client?: string) =>
  fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get("alice")}`,
      "content-type": "application/json",
      "x-test-country": country,
      ...(client === undefined ? {} : { "x-forwarded-for": client }),
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });

describe("a country header the database contradicts", () => {
  it("is an embargo where the client's address is in an embargoed country", async () => {
    const r = await ask("US", "5.160.1.1");
    expect({ status: r.status, reason: r.headers.get("x-clearance-reason") }).toEqual({
      status: 403,
      reason: "embargoed-location",
    });
  });

  it("is refused as ambiguous where neither is embargoed, and served where they agree", async () => {
    const r = await ask("US", "81.2.69.1");
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "ambiguous-location",
      message: expect.stringMatching(/US, GB/) as unknown,
    });
    expect((await ask("US", "198.51.100.7")).status).toBe(200);
    // Without X-Forwarded-For the client is the proxy itself: no client address to compare.
    expect((await ask("US")).status).toBe(200);
  });
});

describe("a country header beside a value that names no country", () => {
  it("is refused as ambiguous, not served as the country; the embargo still applies", async () => {
    // The client's US, and what the CDN appended: "unknown" (XX). Before, judged as US and served.
    const r = await ask("US, XX");
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: "ambiguous-location",
      message: expect.stringContaining("(US, XX (not a country code))") as unknown,
    });
    const embargoed = await ask("IR, T1");
    expect({ status: embargoed.status, reason: embargoed.headers.get("x-clearance-reason") }).toEqual({
      status: 403,
      reason: "embargoed-location",
    });
    // Values that name no country alone say nothing: the address decides, as without the header.
    expect((await ask("XX, T1", "198.51.100.7")).status).toBe(200);
  });
});
