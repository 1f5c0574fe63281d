import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
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

/** Resolves once the upstream's whole answer, its end included, is held by `body` (no reader yet). */
const arrived = (body: UpstreamBody) =>
  eventually(
    // The private state is what is waited on: nothing outside the body says the end has come.
    async () => (body as DispatchedBody)["ending"],
    (ending) => ending !== undefined,
  );

describe("DispatchedBody", () => {
  it("holds what arrives before the first reader without pausing the upstream, and hands it all over in order", async () => {
    const body = new DispatchedBody();
    let resumed = 0;
    body.resumeUpstream = () => resumed++;
    // A short answer is taken in whole while the entry is being made durable: no pause, no resume.
    expect(body.push(Buffer.from("a"))).toBe(true);
    expect(body.push(Buffer.from("b"))).toBe(true);
    body.finish(null);
    const { done } = watch(body);
    expect(await done).toEqual(["data:a", "data:b", "end", "close"]);
    expect(body.destroyed).toBe(true);
    expect(resumed).toBe(0);
  });

  it("past 64 KiB held before the first reader, pauses the upstream until the reader has it all", async () => {
    const body = new DispatchedBody();
    let resumed = 0;
    body.resumeUpstream = () => resumed++;
    expect(body.push(Buffer.alloc(60 * 1024, "a"))).toBe(true);
    expect(body.push(Buffer.alloc(4 * 1024, "b"))).toBe(false); // 64 KiB: the upstream waits
    const sizes: number[] = [];
    body.on("data", (c: Buffer) => sizes.push(c.length));
    await tick();
    expect(sizes).toEqual([60 * 1024, 4 * 1024]);
    expect(resumed).toBe(1);
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

  it("an answer ended by the close never pauses its upstream: it holds, and fails past its bound", async () => {
    // undici 7 throws an uncaught assertion when such a connection closes while its parser is paused.
    const body = new DispatchedBody();
    body.noPause = true;
    let aborted: Error | undefined;
    body.abortUpstream = (err) => (aborted = err);
    expect(body.push(Buffer.alloc(60 * 1024, "a"))).toBe(true);
    expect(body.push(Buffer.alloc(8 * 1024, "b"))).toBe(true); // past 64 KiB, still no pause
    const sizes: number[] = [];
    const errors: Error[] = [];
    body.on("error", (e: Error) => errors.push(e));
    body.on("data", (c: Buffer) => {
      sizes.push(c.length);
      body.pause();
    });
    await tick();
    expect(sizes).toEqual([60 * 1024]); // a reader that paused: the rest is held, not refused
    for (let i = 0; i < 16 * 16; i++) expect(body.push(Buffer.alloc(64 * 1024))).toBe(true);
    expect(aborted).toBeUndefined();
    expect(body.push(Buffer.alloc(64 * 1024))).toBe(false); // over NO_PAUSE_HOLD: the answer fails
    expect(aborted?.message).toMatch(/outran its reader/);
    await tick();
    expect(errors.map((e) => e.message)).toEqual([aborted?.message]);
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

  it("destroyed before its reader came, keeps what had arrived for the reader: the usage is in it", async () => {
    // The upstream had finished: the reader gets it all, and its end.
    const whole = new DispatchedBody();
    const aborted: (Error | undefined)[] = [];
    whole.abortUpstream = (e) => aborted.push(e);
    whole.push(Buffer.from("a"));
    whole.push(Buffer.from('{"usage":1}'));
    whole.finish(null);
    whole.destroy();
    expect(aborted).toEqual([undefined]);
    expect(whole.destroyed).toBe(false); // there is still something to read
    expect(await watch(whole).done).toEqual(["data:a", 'data:{"usage":1}', "end", "close"]);
    // It had not: what had arrived, then only "close"; the abort's own error (undici's onError) and
    // anything later are not taken.
    const cut = new DispatchedBody();
    cut.abortUpstream = () => cut.finish(new Error("aborted"));
    cut.push(Buffer.from("x"));
    cut.destroy();
    expect(cut.push(Buffer.from("late"))).toBe(false);
    cut.finish(null);
    expect(await watch(cut).done).toEqual(["data:x", "close"]);
    expect(cut.destroyed).toBe(true);
    // Nothing had arrived: the reader gets "close" alone.
    const empty = new DispatchedBody();
    empty.destroy();
    expect(await watch(empty).done).toEqual(["close"]);
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
    await arrived(res.body); // the whole answer has arrived
    const { done } = watch(res.body);
    expect(await done).toEqual(['data:{"usage":{"prompt_tokens":1}}', "end", "close"]);
    expect(res.headers).toEqual({
      "content-type": "application/json",
      "x-clearance-upstream-request-id": "r1",
    });
    await p.close();
  });

  it("a call cancelled after its answer came, before the body was read, still hands over that answer", async () => {
    const p = provider();
    const signal = new Cancellation();
    const res = await p.request(call(signal));
    await arrived(res.body); // the whole answer has arrived
    signal.cancel(); // the client left while the entry was being made durable
    const { done } = watch(res.body);
    expect(await done).toEqual(['data:{"usage":{"prompt_tokens":1}}', "end", "close"]);
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
    await eventually(
      async () => [...seen],
      (s) => s.length > 0,
    );
    expect(seen).toEqual(["data:data: 1\n\n"]);
    signal.cancel();
    expect(await done).toEqual(["data:data: 1\n\n", "close"]);
    pending?.();
    await p.close();
  });
});
