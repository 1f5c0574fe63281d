/**
 * A Responses stream whose upstream sent its own `error` event and ended is failed by the gateway
 * with the output items completed so far (relay-responses-failed.test.ts) — for a client still
 * there. One that left meanwhile is sent nothing: its items are not parsed for it (a stream's items
 * run to a megabyte of JSON). The items' parse is counted through the module that does it.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, expect, it, vi } from "vitest";
import { gate } from "../testing/gate.js";
import { relay } from "./relay.js";
import type * as RelayOutput from "./relay-output.js";

const parsed = vi.hoisted(() => ({ times: 0 }));
vi.mock("./relay-output.js", async (importOriginal) => {
  const real = await importOriginal<typeof RelayOutput>();
  return {
    ...real,
    completedItems: (limit: number) => {
      const items = real.completedItems(limit);
      return {
        offer: items.offer,
        output: () => {
          parsed.times++;
          return items.output();
        },
      };
    },
  };
});

let server: Server | undefined;
afterEach(() => server?.close());

const event = (type: string, sequence: number, extra: Record<string, unknown> = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...extra })}\n\n`;
const STREAM = [
  event("response.created", 0, {
    response: { id: "resp_1", object: "response", status: "in_progress", output: [] },
  }),
  event("response.output_item.done", 1, {
    output_index: 0,
    item: { id: "msg_1", type: "message", content: [] },
  }),
  event("error", 2, { code: "server_error", message: "boom", param: null }),
];

/**
 * The stream relayed on a real socket; the upstream's body ends only once `leave` says whether the
 * client has gone (it leaves after reading the error event) or is still reading. What it read.
 */
async function run(leave: boolean): Promise<string> {
  const relayed = gate();
  const clientDone = gate();
  const upstreamEnds = gate();
  server = createServer((req, res) => {
    req.resume();
    res.once("close", () => clientDone.open());
    void relay({
      wire: "openai",
      endpoint: "responses",
      stream: true,
      upstream: {
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Readable.from(
          (async function* () {
            for (const c of STREAM) yield Buffer.from(c);
            await upstreamEnds.promise;
          })(),
        ),
      },
      res,
      headers: {},
      stripUsageChunk: false,
      captureLimit: 1 << 20,
      requestId: "test",
      log: () => undefined,
      requestChars: 400,
      model: "m",
    }).finally(() => relayed.open());
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  let text = "";
  let seen = false;
  const req = request({ port: (server.address() as AddressInfo).port, host: "127.0.0.1", method: "POST" });
  const read = gate();
  req.on("response", (res) => {
    res.on("end", () => read.open());
    res.on("data", (c: Buffer) => {
      text += c.toString();
      if (seen || !text.includes("event: error")) return;
      seen = true;
      if (!leave) return upstreamEnds.open();
      // The upstream ends once the server has seen the client leave.
      req.destroy();
      void clientDone.promise.then(() => upstreamEnds.open());
    });
  });
  req.on("error", () => undefined);
  req.end("{}");
  await relayed.promise;
  await (leave ? clientDone.promise : read.promise);
  return text;
}

it("parses the items for a client still reading, and sends them in response.failed", async () => {
  parsed.times = 0;
  const text = await run(false);
  expect(text).toContain('"type":"response.failed"');
  expect(text).toContain('"id":"msg_1"');
  expect(parsed.times).toBe(1);
});

// Before: only whether the client had gone when the relay began was checked.
it("parses nothing for a client that left before the upstream's stream ended", async () => {
  parsed.times = 0;
  const text = await run(true);
  expect(text).not.toContain("response.failed");
  expect(parsed.times).toBe(0);
});
