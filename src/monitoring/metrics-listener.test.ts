/**
 * The metrics' own listener (`monitoring.metrics.listen`) holds up as the gateway's does: the same
 * headers and request time limits, a cap on connections of its own
 * (`monitoring.metrics.listen.max_connections`, 16 by default), and a request its parser refuses
 * answered in JSON, without the gateway's decision headers (this listener decides nothing). Without
 * them, a client that connects and says nothing, or sends half a request, holds a connection for
 * minutes, and any number of them can be opened; with the gateway's cap, a scrape flood could hold
 * as many connections as the gateway's whole traffic.
 */
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../config/index.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let port: number;
let gatewayPort: number;

beforeAll(async () => {
  t = await startTestGateway({
    listen:
      "{ host: 127.0.0.1, port: 0, headers_timeout_ms: 500, request_timeout_ms: 800, max_connections: 3 }",
    monitoring:
      "{ alerts: { enabled: false }, metrics: { listen: { host: 127.0.0.1, port: 0, max_connections: 2 } } }",
  });
  port = Number(new URL(t.gateway.monitoring.metricsUrl as string).port);
  gatewayPort = Number(new URL(t.url).port);
});
afterAll(() => t.gateway.close());

const open = (to = port): Promise<Socket> =>
  new Promise((resolve) => {
    const s = connect(to, "127.0.0.1", () => resolve(s));
    s.on("error", () => undefined);
  });

/** Everything the server sends until it closes the connection. */
const untilClosed = (s: Socket) =>
  new Promise<string>((resolve) => {
    let got = "";
    s.setEncoding("latin1");
    s.on("data", (c: string) => (got += c));
    s.on("close", () => resolve(got));
  });

/** One scrape on a kept-alive connection: the status line, once the whole answer has come. */
const scrape = (s: Socket, path = "/metrics") =>
  new Promise<string>((resolve, reject) => {
    let got = "";
    const data = (c: Buffer) => {
      got += c.toString("latin1");
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(got.slice(0, end))?.[1]);
      if (got.length - end - 4 < length) return;
      s.off("data", data);
      resolve(got.slice(0, got.indexOf("\r\n")));
    };
    s.on("data", data);
    s.once("close", () => reject(new Error(`closed before an answer: ${JSON.stringify(got)}`)));
    s.write(`GET ${path} HTTP/1.1\r\nHost: metrics\r\n\r\n`);
  });

describe("the metrics' own listener", () => {
  it("answers a request that stalls half-way with a 408 in JSON once listen.headers_timeout_ms runs out", async () => {
    const s = await open();
    const end = untilClosed(s);
    s.write("GET /metr");
    const got = await end;
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
    const body = JSON.parse(got.slice(got.indexOf("\r\n\r\n") + 4)) as { error: { code: string } };
    expect(body.error.code).toBe("request_timeout");
    // Before: `x-clearance-decision: none` (and a reason and served model), as from the gateway.
    const head = got.slice(0, got.indexOf("\r\n\r\n")).toLowerCase();
    expect(head).not.toContain("x-clearance-decision");
    expect(head).not.toContain("x-clearance-reason");
    expect(head).not.toContain("x-clearance-served-model");
  }, 15_000);

  it("closes connections beyond its own max_connections as they arrive, and serves scrapes while the gateway is full", async () => {
    // Two connections held here and three, the gateway's cap, on the gateway's listener; each
    // answered once (so each is surely counted), kept alive.
    const held = await Promise.all([open(), open()]);
    const gateway = await Promise.all([open(gatewayPort), open(gatewayPort), open(gatewayPort)]);
    try {
      for (const s of held) expect(await scrape(s)).toBe("HTTP/1.1 200 OK");
      for (const s of gateway) expect(await scrape(s, "/healthz")).toBe("HTTP/1.1 200 OK");
      const extra = await open();
      const end = untilClosed(extra);
      extra.write("GET /metrics HTTP/1.1\r\nHost: metrics\r\n\r\n");
      // Before: the gateway's max_connections (3) counted here, and this third one was served.
      expect(await end).toBe("");
      // Those held are still served, the gateway's listener full as it is.
      expect(await scrape(held[0] as Socket)).toBe("HTTP/1.1 200 OK");
      expect(await scrape(held[1] as Socket)).toBe("HTTP/1.1 200 OK");
    } finally {
      for (const s of [...held, ...gateway]) s.destroy();
    }
  }, 15_000);

  it("holds 16 connections unless told otherwise", () => {
    const config = parseConfig(
      "scheme: g7-trusted-partners.yaml\nproviders: { demo: { type: demo } }\ndefault_provider: demo\nmonitoring: { metrics: { listen: { host: 127.0.0.1, port: 9464 } } }\n",
      join("examples", "test-clearance.yaml"),
      { CLEARANCE_ADMIN_TOKEN: "test-admin-token-0123456789abcdefghij" },
    );
    expect(config.file.monitoring.metrics.listen?.max_connections).toBe(16);
  });
});
