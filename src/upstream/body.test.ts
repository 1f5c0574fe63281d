import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DispatchedBody } from "./body.js";
import { createHttpProvider } from "./http.js";
import { Cancellation, type UpstreamBody, type UpstreamCall } from "./types.js";

/** Everything a reader of the body sees, in order. */
function watch(body: UpstreamBody) {
  const seen: string[] = [];
  const done = new Promise<string[]>((resolve) => {
    body.on("data", (c) => seen.push(`data:${c.toString()}`));
    body.once("end", () => seen.push("end"));
    body.once("error", (e) => seen.push(`error:${e.message}`));
    body.once("close", () => {
      seen.push("close");
      resolve(seen);
    });
  });
  return { seen, done };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("DispatchedBody", () => {
  it("holds what arrives before the first reader, pauses the upstream, and hands it all over in order", async () => {
    const body = new DispatchedBody();
    let resumed = 0;
    body.resumeUpstream = () => resumed++;
    expect(body.push(Buffer.from("a"))).toBe(false); // no reader yet: the upstream is asked to wait
    expect(body.push(Buffer.from("b"))).toBe(false);
    body.finish(null);
    const { done } = watch(body);
    expect(await done).toEqual(["data:a", "data:b", "end", "close"]);
    expect(body.destroyed).toBe(true);
    expect(resumed).toBe(0); // it had ended: nothing to resume
  });

  it("passes on backpressure: a paused reader stops the flow until it resumes", async () => {
    const body = new DispatchedBody();
    let resumed = 0;
    body.resumeUpstream = () => resumed++;
    const got: string[] = [];
    body.on("data", (c: Buffer) => {
      got.push(c.toString());
      body.pause();
    });
    await tick();
    expect(body.push(Buffer.from("1"))).toBe(false); // the reader paused
    expect(body.push(Buffer.from("2"))).toBe(false); // held
    expect(got).toEqual(["1"]);
    body.resume();
    expect(got).toEqual(["1", "2"]);
    body.resume();
    expect(resumed).toBe(1); // drained: the upstream may send again
    expect(body.push(Buffer.from("3"))).toBe(false);
    expect(got).toEqual(["1", "2", "3"]);
  });

  it("keeps an error that comes before the reader for the reader", async () => {
    const body = new DispatchedBody();
    body.push(Buffer.from("x"));
    body.finish(new Error("reset"));
    const { done } = watch(body);
    expect(await done).toEqual(["data:x", "error:reset", "close"]);
  });

  it("destroy aborts the upstream and only closes, unless given an error", async () => {
    const body = new DispatchedBody();
    const aborted: (Error | undefined)[] = [];
    body.abortUpstream = (e) => aborted.push(e);
    const { done } = watch(body);
    await tick();
    body.push(Buffer.from("x"));
    body.destroy();
    body.push(Buffer.from("late")); // after destroy: dropped
    body.finish(null);
    expect(await done).toEqual(["data:x", "close"]);
    expect(aborted).toEqual([undefined]);
  });
});

describe("the HTTP provider's body over a real socket", () => {
  let server: Server;
  let base: string;
  let pending: (() => void) | null = null;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith("/slow/")) {
        // Sends a first chunk, then waits to be told to end: the client may hang up meanwhile.
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("data: 1\n\n");
        pending = () => res.end("data: 2\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "r1" });
      res.end('{"usage":{"prompt_tokens":1}}');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const provider = () =>
    createHttpProvider({
      name: "t",
      type: "openai",
      baseUrl: `${base}/v1`,
      connections: 2,
      timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 1000 },
    });
  const call = (
    signal: Cancellation,
    endpoint: UpstreamCall["endpoint"] = "chat.completions",
  ): UpstreamCall => ({
    wire: "openai",
    endpoint,
    body: "{}",
    json: {},
    stream: false,
    headers: {},
    signal,
  });

  it("a body read only after a wait (the record being made durable) loses nothing", async () => {
    const p = provider();
    const res = await p.request(call(new Cancellation()));
    await new Promise((r) => setTimeout(r, 50)); // the whole answer has arrived by now
    const { done } = watch(res.body);
    expect(await done).toEqual(['data:{"usage":{"prompt_tokens":1}}', "end", "close"]);
    expect(res.headers).toEqual({ "content-type": "application/json", "x-request-id": "r1" });
    await p.close();
  });

  it("a cancelled call closes its body without an error", async () => {
    const p = createHttpProvider({
      name: "s",
      type: "openai",
      baseUrl: `${base}/slow`,
      connections: 1,
      timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 5000 },
    });
    const signal = new Cancellation();
    const res = await p.request(call(signal));
    const { seen, done } = watch(res.body);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["data:data: 1\n\n"]);
    signal.cancel();
    expect(await done).toEqual(["data:data: 1\n\n", "close"]);
    pending?.();
    await p.close();
  });
});
