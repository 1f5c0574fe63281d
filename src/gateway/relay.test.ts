/**
 * Metering responses too large to keep: a body over the capture limit is relayed whole, and its
 * usage is still read from its end, so a big embeddings batch counts against quotas.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { relay } from "./relay.js";
import { usageFromTail, type Usage } from "./usage.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** Relays `body` (in 1 KiB chunks) through a real socket; returns what the client got and the usage read. */
async function through(body: string, captureLimit: number) {
  let seen: Promise<Usage | null> = Promise.resolve(null);
  server = createServer((_req, res) => {
    const chunks =
      Buffer.from(body)
        .toString("latin1")
        .match(/[\s\S]{1,1024}/g) ?? [];
    seen = relay({
      wire: "openai",
      endpoint: "embeddings",
      upstream: {
        status: 200,
        headers: { "content-type": "application/json" },
        body: Readable.from(chunks.map((c) => Buffer.from(c, "latin1"))),
      },
      res,
      headers: {},
      stripUsageChunk: false,
      captureLimit,
      requestId: "test",
      log: () => undefined,
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const received = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  return { received, usage: await seen };
}

const embeddings = (n: number) =>
  JSON.stringify({
    object: "list",
    data: Array.from({ length: n }, (_, i) => ({
      object: "embedding",
      index: i,
      embedding: [0.125, -0.5, 0.25],
    })),
    model: "m",
    usage: { prompt_tokens: 4321, total_tokens: 4321 },
  });

describe("relaying a large body", () => {
  it("reads the usage of a body within the capture limit", async () => {
    const body = embeddings(10);
    expect(await through(body, 1 << 20)).toEqual({ received: body, usage: { input: 4321, output: 0 } });
  });

  it("relays a body over the capture limit whole, and still reads its usage from the end", async () => {
    const body = embeddings(20_000); // about 1.2 MB
    const { received, usage } = await through(body, 64 * 1024);
    expect(received).toBe(body);
    expect(usage).toEqual({ input: 4321, output: 0 });
  });
});

describe("usageFromTail", () => {
  it("takes the last whole usage object, skipping strings and nested objects", () => {
    const tail = `..."text":"a \\"usage\\": {\\"prompt_tokens\\": 1}"}],"usage":{"input_tokens":7,"output_tokens":9,"details":{"x":"}"}}}`;
    expect(usageFromTail(tail)).toEqual({ input: 7, output: 9 });
  });
  it("finds nothing in a tail cut inside the usage object, or without one", () => {
    expect(usageFromTail(`"usage":{"prompt_tokens":12`)).toBeNull();
    expect(usageFromTail(`{"data":[1,2,3]}`)).toBeNull();
  });
});
