/**
 * An upstream that answers only 1xx (102 Processing, 103 Early Hints) before its head: undici's
 * headers timeout restarts on each, so the first-byte timeout must not.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createHttpProvider } from "./http.js";
import { Cancellation, UpstreamError, type UpstreamCall } from "./types.js";

let server: Server;
let base = "";
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      if (head.includes("/hints/")) {
        // One 103 Early Hints, then the real answer: passed over, the answer read.
        socket.write("HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n");
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}',
        );
        return;
      }
      // An informational answer well within the first-byte timeout, again and again, never a head.
      const every = setInterval(() => {
        if (socket.destroyed) return clearInterval(every);
        socket.write("HTTP/1.1 102 Processing\r\n\r\n");
      }, 50);
      timers.add(every);
      socket.once("close", () => clearInterval(every));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  server.close();
});

const timeouts = { connect_ms: 1000, first_byte_ms: 300, idle_ms: 1000 };
const call = (): UpstreamCall => ({
  wire: "openai",
  endpoint: "chat.completions",
  body: '{"model":"m"}',
  json: { model: "m" },
  stream: false,
  headers: {},
  signal: new Cancellation(),
});

it("an upstream sending only 1xx times out at its first-byte timeout, as one that sends nothing", async () => {
  const p = createHttpProvider({
    name: "processing",
    type: "openai",
    baseUrl: `${base}/v1`,
    connections: 1,
    timeouts,
  });
  const err = await p.request(call()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  expect((err as UpstreamError).kind).toBe("timeout");
  await p.close();
}, 5000);

it("a 1xx before the real head is passed over: the answer is read as usual", async () => {
  const p = createHttpProvider({
    name: "hints",
    type: "openai",
    baseUrl: `${base}/hints/v1`,
    connections: 1,
    timeouts,
  });
  const res = await p.request(call());
  expect(res.status).toBe(200);
  const text = await new Promise<string>((resolve, reject) => {
    let out = "";
    res.body.on("data", (c) => (out += c.toString()));
    res.body.once("end", () => resolve(out));
    res.body.once("error", reject);
  });
  expect(text).toBe('{"ok":true}');
  await p.close();
});
