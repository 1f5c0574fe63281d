/**
 * A request whose client leaves before any answer was sent: the access log, the metrics and the
 * trace say 499 (client closed request, as nginx logs it), not the 200 nothing was sent with; one the
 * gateway answered at the socket itself (a body too slow, bad framing) says what it was answered.
 */
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

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
    const line = await eventually(
      async () =>
        lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.decision === "allow"),
      (l) => l !== undefined,
    );
    expect(line).toMatchObject({ status: 499, decision: "allow", reason: "home-person" });
    const r = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const text = await r.text();
    expect(text).toContain('clearance_http_requests_total{route="chat.completions",code="499"} 1');
    expect(text).not.toContain('clearance_http_requests_total{route="chat.completions",code="200"}');
  } finally {
    await t.gateway.close();
  }
});

describe("a request the gateway ended itself, its client still there", () => {
  /** Sends `raw` on a socket and resolves with all the gateway wrote back before closing it. */
  const exchange = (url: string, raw: string) =>
    new Promise<string>((resolve, reject) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname, () => socket.write(raw));
      let got = "";
      socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
      socket.on("error", reject);
      socket.on("close", () => resolve(got));
    });
  const head = (t: TestGateway, extra: string) =>
    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" +
    `x-test-country: US\r\nauthorization: Bearer ${t.keys.get("alice") as string}\r\n${extra}\r\n`;

  it("is logged with the status it was answered at the socket (408, 400), not 499", async () => {
    const lines: string[] = [];
    const t = await startTestGateway({
      listen: "{ host: 127.0.0.1, port: 0, headers_timeout_ms: 500, request_timeout_ms: 800 }",
      accessLog: (l) => lines.push(l),
    });
    const logged = async (n: number) => {
      await eventually(
        async () => [...lines],
        (l) => l.length >= n,
      );
      return JSON.parse(lines[n - 1] as string) as Record<string, unknown>;
    };
    try {
      // A body that never arrives whole: the request timeout answers it 408.
      const slow = await exchange(t.url, `${head(t, "content-length: 100\r\n")}{"model":`);
      expect(slow).toMatch(/^HTTP\/1\.1 408 /);
      expect(await logged(1)).toMatchObject({ status: 408, reason: "request_timeout" });
      // A chunked body that is not valid framing: the parser's error answers it 400.
      const bad = await exchange(t.url, `${head(t, "transfer-encoding: chunked\r\n")}zz\r\n{}\r\n0\r\n\r\n`);
      expect(bad).toMatch(/^HTTP\/1\.1 400 /);
      expect(await logged(2)).toMatchObject({ status: 400, reason: "malformed_http" });
    } finally {
      await t.gateway.close();
    }
  });
});
