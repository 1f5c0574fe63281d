/** The HTTP providers against real local servers: paths, credentials, pass-through, failures. */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpProvider } from "./http.js";
import { Cancellation, UpstreamError, type UpstreamBody, type UpstreamCall } from "./types.js";

let server: Server;
let base = "";
const seen: { url: string; headers: IncomingMessage["headers"]; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", headers: req.headers, body });
      if (req.url?.includes("slow")) return; // never answers
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "up-1", "set-cookie": "a=b" });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const timeouts = { connect_ms: 1000, first_byte_ms: 300, idle_ms: 1000 };
const call = (over: Partial<UpstreamCall> = {}): UpstreamCall => ({
  wire: "openai",
  endpoint: "chat.completions",
  body: '{"model":"m"}',
  json: { model: "m" },
  stream: false,
  headers: {},
  signal: new Cancellation(),
  ...over,
});
/** Reads a body to its end the way the gateway does: "data" chunks, then "end" (or "error"). */
const text = (body: UpstreamBody) =>
  new Promise<string>((resolve, reject) => {
    let out = "";
    body.on("data", (c) => (out += c.toString()));
    body.once("end", () => resolve(out));
    body.once("error", reject);
  });

describe("HTTP providers", () => {
  it("openai: path under the base URL, its own bearer key, selected response headers", async () => {
    const p = createHttpProvider({
      name: "o",
      type: "openai",
      baseUrl: `${base}/v1`,
      apiKey: "sk-upstream",
      connections: 2,
      timeouts,
    });
    const res = await p.request(call());
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('{"ok":true}');
    expect(res.headers["x-clearance-upstream-request-id"]).toBe("up-1");
    expect(res.headers["x-request-id"]).toBeUndefined();
    expect(res.headers["set-cookie"]).toBeUndefined();
    const last = seen.at(-1)!;
    expect(last.url).toBe("/v1/chat/completions");
    expect(last.headers.authorization).toBe("Bearer sk-upstream");
    expect(last.body).toBe('{"model":"m"}');
    await p.close();
  });

  it("anthropic: /v1/messages, x-api-key, anthropic-version passed through (or defaulted)", async () => {
    const p = createHttpProvider({
      name: "a",
      type: "anthropic",
      baseUrl: base,
      apiKey: "ak-upstream",
      connections: 2,
      timeouts,
    });
    await text(
      (
        await p.request(
          call({ wire: "anthropic", endpoint: "messages", headers: { "anthropic-version": "2023-01-01" } }),
        )
      ).body,
    );
    let last = seen.at(-1)!;
    expect(last.url).toBe("/v1/messages");
    expect(last.headers["x-api-key"]).toBe("ak-upstream");
    expect(last.headers["anthropic-version"]).toBe("2023-01-01");
    expect(last.headers.authorization).toBeUndefined();
    await text((await p.request(call({ wire: "anthropic", endpoint: "messages.count_tokens" }))).body);
    last = seen.at(-1)!;
    expect(last.url).toBe("/v1/messages/count_tokens");
    expect(last.headers["anthropic-version"]).toBe("2023-06-01");
    await p.close();
  });

  it("unreachable and too slow are told apart", async () => {
    const dead = createHttpProvider({
      name: "d",
      type: "openai",
      baseUrl: "http://127.0.0.1:1/v1",
      connections: 1,
      timeouts,
    });
    await expect(dead.request(call())).rejects.toMatchObject({ kind: "unreachable" });
    const slow = createHttpProvider({
      name: "s",
      type: "openai",
      baseUrl: `${base}/slow`,
      connections: 1,
      timeouts,
    });
    const err = await slow.request(call()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).kind).toBe("timeout");
    await Promise.all([dead.close(), slow.close()]);
  });

  // Only the origin and path were used: a query (Azure's api-version) or user:password was dropped.
  it.each([
    ["a query", "http://127.0.0.1:1/openai/deployments/d?api-version=2024-10-21", /query or a fragment/],
    ["user:password", "http://u:s3cr3t@127.0.0.1:1/v1", /user name or password/],
    ["another scheme", "ftp://127.0.0.1/v1", /http:\/\/ or https:\/\//],
  ])("refuses a base URL with %s rather than drop it", (_, baseUrl, message) => {
    const make = () => createHttpProvider({ name: "x", type: "openai", baseUrl, connections: 1, timeouts });
    expect(make).toThrow(message);
    expect(make).not.toThrow(/s3cr3t/);
  });
});
