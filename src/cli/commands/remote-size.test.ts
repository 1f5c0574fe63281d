/**
 * The remote client read a whole answer, however large: a server that is not Clearance's (or a
 * broken proxy) answering without end held the CLI until its 30 s limit, growing all the while, and
 * one answering a gigabyte was read whole before being found not to be JSON. An answer (and a
 * progress line) is read up to 64 MiB, then refused as `answer_too_large`, naming the request;
 * answers up to the limit are read as before.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../io.js";
import { run } from "../program.js";
import { createClient, MAX_ANSWER_BYTES } from "./remote-client.js";

const TOKEN = "remote-size-test-token-0123456789";
/** What each path answers. */
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? "/", "http://x").pathname);
    if (route === undefined) return void res.writeHead(404).end();
    route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/**
 * Writes `chunk` until the reader goes away, at most `most` bytes (bounded, should the reader never
 * stop), then ends with `tail`.
 */
function pour(res: ServerResponse, chunk: Buffer, most: number, tail = ""): void {
  let sent = 0;
  const pump = () => {
    while (!res.destroyed && sent < most) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (!res.destroyed) res.end(tail);
  };
  res.on("close", () => res.removeAllListeners("drain"));
  pump();
}

async function cli(args: string[]) {
  const saved = process.env.CLEARANCE_TOKEN;
  process.env.CLEARANCE_TOKEN = TOKEN;
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  try {
    const code = await run([...args, "--url", url], io);
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
    else process.env.CLEARANCE_TOKEN = saved;
  }
}

describe("the remote client's answers are bounded", () => {
  it("an answer declared larger than 64 MiB is refused unread, naming the request (exit 1)", async () => {
    // Valid JSON of a page, 64 MiB and one byte: read whole and listed before.
    const page = (pad: number) => `{"data":[],"next_cursor":null,"pad":"${"x".repeat(pad)}"}`;
    const body = page(MAX_ANSWER_BYTES + 1 - page(0).length);
    expect(body.length).toBe(MAX_ANSWER_BYTES + 1);
    routes.set("/admin/v1/models", (_, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
      res.end(body);
    });
    expect(await cli(["models", "list"])).toEqual({
      code: 1,
      out: "",
      err:
        `clearance: GET ${url}/admin/v1/models sent an answer larger than 64 MiB, more than ` +
        "the admin API ever answers: not read (is the URL a Clearance server's?) (answer_too_large)\n",
    });
  });

  it("an answer without end is cut off at the limit, not read until the time limit", async () => {
    // Spaces: JSON's white space, so nothing but the size could stop it.
    routes.set("/endless", (_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      pour(res, Buffer.alloc(64 * 1024, 0x20), 4 * MAX_ANSWER_BYTES, "{}");
    });
    const client = createClient({ url, token: TOKEN, maxBytes: 1024 * 1024, timeoutMs: 600_000 });
    await expect(client.request("GET", "/endless")).rejects.toMatchObject({
      code: "answer_too_large",
      message: expect.stringContaining(`GET ${url}/endless sent an answer larger than 1 MiB`),
    });
    // An error page without end too.
    routes.set("/endless-error", (_, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      pour(res, Buffer.from("<p>bad gateway</p>\n".repeat(1000)), 4 * MAX_ANSWER_BYTES);
    });
    await expect(client.request("GET", "/endless-error")).rejects.toMatchObject({ code: "answer_too_large" });
  });

  it("a progress line without end is cut off at the limit; the lines before it are told", async () => {
    routes.set("/job", (_, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write(`${JSON.stringify({ progress: { stage: "s", done: 1, total: 2 } })}\n`);
      pour(res, Buffer.alloc(64 * 1024, 0x20), 4 * MAX_ANSWER_BYTES, `${JSON.stringify({ result: 1 })}\n`);
    });
    const client = createClient({ url, token: TOKEN, maxBytes: 1024 * 1024, timeoutMs: 600_000 });
    const seen: number[] = [];
    await expect(
      client.request("POST", "/job", { progress: (p) => seen.push(p.done) }),
    ).rejects.toMatchObject({
      code: "answer_too_large",
      message: expect.stringContaining(`POST ${url}/job sent a progress line larger than 1 MiB`),
    });
    expect(seen).toEqual([1]);
  });

  it("an answer of the limit exactly is read, with or without its length declared", async () => {
    const limit = 1024 * 1024;
    const answer = (pad: number) => `{"ok":true,"pad":"${"y".repeat(pad)}"}`;
    const body = answer(limit - answer(0).length);
    expect(body.length).toBe(limit);
    routes.set("/declared", (_, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
      res.end(body);
    });
    routes.set("/chunked", (_, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      for (let at = 0; at < body.length; at += 1000) res.write(body.slice(at, at + 1000));
      res.end();
    });
    const client = createClient({ url, token: TOKEN, maxBytes: limit });
    expect(await client.request("GET", "/declared")).toMatchObject({ ok: true });
    expect(await client.request("GET", "/chunked")).toMatchObject({ ok: true });
  });
});
