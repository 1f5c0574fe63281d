/**
 * A request whose client leaves before any answer was sent: the access log, the metrics and the
 * trace say 499 (client closed request, as nginx logs it), not the 200 nothing was sent with.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway } from "../testing/gateway.js";

let upstream: Server;
afterAll(() => {
  upstream.closeAllConnections();
  upstream.close();
});

it("counts and logs a request its client abandoned before the answer as 499", async () => {
  // An upstream that takes the request and never answers (a long generation, a stuck backend).
  let arrived!: () => void;
  const forwarded = new Promise<void>((resolve) => (arrived = resolve));
  upstream = createServer((req) => {
    req.resume();
    arrived();
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const lines: string[] = [];
  const t = await startTestGateway({
    providers: `  up: { type: openai, base_url: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1" }`,
    models: "  mythos-5: { provider: up }",
    accessLog: (l) => lines.push(l),
  });
  try {
    const gone = new AbortController();
    const asked = fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      signal: gone.signal,
      headers: {
        "content-type": "application/json",
        "x-test-country": "US",
        authorization: `Bearer ${t.keys.get("alice") as string}`,
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    await forwarded;
    gone.abort();
    await expect(asked).rejects.toThrow(/abort/i);

    // Told to the observer once the connection has closed: waited for, however long that takes.
    let line: Record<string, unknown> | undefined;
    while (line === undefined) {
      await new Promise((r) => setTimeout(r, 10));
      line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.decision === "allow");
    }
    expect(line).toMatchObject({ status: 499, decision: "allow", reason: "home-person" });
    const r = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await r.text();
    expect(text).toContain('clearance_http_requests_total{route="chat.completions",code="499"} 1');
    expect(text).not.toContain('clearance_http_requests_total{route="chat.completions",code="200"}');
  } finally {
    await t.gateway.close();
  }
});
