/**
 * A request of many headers. Node keeps only the first 2000 headers of a request in `req.headers`
 * (`server.maxHeadersCount`) and drops the rest without a word. A proxy that appends its own line
 * (HAProxy's `option forwardfor` adds an `X-Forwarded-For` line; a CDN its country header) puts it
 * last: a client sending its own line first, then 2000 short headers (10 KB, within
 * `listen.max_header_bytes`), had the proxy's line dropped and was located where it said it was.
 * Every header within the size limit is read now, so the two lines are a dispute as they should be.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawExchange } from "../hardening/raw.js";
import { writeCountryMmdb } from "../location/mmdb-writer.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  const mmdb = join(mkdtempSync(join(tmpdir(), "clearance-mmdb-")), "country.mmdb");
  await writeCountryMmdb(mmdb, [
    { cidr: "5.160.0.0/16", country: "IR" },
    { cidr: "198.51.100.0/24", country: "US" },
  ]);
  // The test's requests come from loopback, the trusted proxy here.
  t = await startTestGateway({
    location: `{ mmdb: ${JSON.stringify(mmdb)}, trusted_proxies: [127.0.0.1/32] }`,
  });
});
afterAll(() => t.gateway.close());

/** alice, a US citizen, asks for a controlled model; `padding` headers before the proxy's line. */
async function ask(padding: number) {
  const body = JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] });
  const head = [
    "POST /v1/chat/completions HTTP/1.1",
    "host: gateway",
    `authorization: Bearer ${t.keys.get("alice")}`,
    "content-type: application/json",
    `content-length: ${Buffer.byteLength(body)}`,
    "x-forwarded-for: 198.51.100.7", // the client's own, in the US
    ...Array.from({ length: padding }, (_, i) => `p${i % 10}:`),
    "x-forwarded-for: 5.160.1.1", // the proxy's, appended: the client's address, in Iran
    "connection: close",
  ];
  const url = new URL(t.url);
  const ex = await rawExchange({
    host: url.hostname,
    port: Number(url.port),
    pieces: [{ bytes: Buffer.from(`${head.join("\r\n")}\r\n\r\n${body}`) }],
  });
  const answer = ex.answers[0];
  return { status: answer?.status, reason: answer?.headers["x-clearance-reason"] };
}

describe("a proxy's header line after 2000 others", () => {
  it("is read: the embargo applies to the address the proxy forwarded", async () => {
    expect(await ask(10)).toEqual({ status: 403, reason: "embargoed-location" });
    expect(await ask(2000)).toEqual({ status: 403, reason: "embargoed-location" });
  });
});
