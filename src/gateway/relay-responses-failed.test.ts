/**
 * How a failed Responses stream ends, read with the real openai SDK on a real socket: the
 * `response.failed` the gateway ends a stream with carries the output items completed before it
 * (bounded by limits.body_bytes, and 1 MiB), and an upstream's own `error` event that the upstream does not
 * follow with `response.failed` is followed by the gateway's, so that the client gets the terminal
 * event it waits for rather than a stream that just stops.
 */
import OpenAI from "openai";
import { accumulateResponse } from "openai/lib/responses/ResponseAccumulator";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { startTestGateway } from "../testing/gateway.js";
import { relay } from "./relay.js";

let server: Server | undefined;
afterEach(() => server?.close());

/** An SSE event as the Responses API names and numbers it. */
const event = (type: string, sequence: number, extra: Record<string, unknown> = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...extra })}\n\n`;

const CREATED = event("response.created", 0, {
  response: {
    id: "resp_1",
    object: "response",
    created_at: 1765090800,
    model: "m-1",
    status: "in_progress",
    output: [],
  },
});
const message = (id: string, text: string) => ({
  id,
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text, annotations: [] }],
});
const CALL = {
  id: "fc_1",
  type: "function_call",
  call_id: "call_1",
  name: "lookup_export_licence",
  arguments: '{"licence":"BIS-2026-0001"}',
  status: "completed",
};

/**
 * A response with a message and a function call completed (every event the SDK's accumulator needs
 * for them), then a second message started and not completed.
 */
function twoItemsThenMore(): string[] {
  const first = message("msg_1", "The export is licensed.");
  return [
    CREATED,
    event("response.output_item.added", 1, {
      output_index: 0,
      item: { ...first, status: "in_progress", content: [] },
    }),
    event("response.content_part.added", 2, {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    }),
    event("response.output_text.delta", 3, {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      delta: "The export is licensed.",
    }),
    event("response.output_item.done", 4, { output_index: 0, item: first }),
    event("response.output_item.added", 5, {
      output_index: 1,
      item: { ...CALL, status: "in_progress", arguments: "" },
    }),
    event("response.output_item.done", 6, { output_index: 1, item: CALL }),
    event("response.output_item.added", 7, {
      output_index: 2,
      item: { ...message("msg_2", ""), status: "in_progress", content: [] },
    }),
  ];
}

/**
 * Serves `chunks` as the upstream's stream through relay() on a real socket, then resets it (`fail`)
 * or ends it. What the client received, as raw text.
 */
async function serve(chunks: string[], fail: boolean, captureLimit = 1 << 20): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    void relay({
      wire: "openai",
      endpoint: "responses",
      stream: true,
      upstream: {
        status: 200,
        headers: { "content-type": "text/event-stream" },
        body: Readable.from(
          (async function* () {
            for (const c of chunks) yield Buffer.from(c);
            if (fail) throw new Error("connection reset by the upstream");
          })(),
        ),
      },
      res,
      headers: {},
      stripUsageChunk: false,
      captureLimit,
      requestId: "test",
      log: () => undefined,
      requestChars: 400,
      model: "m",
    });
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

/** The raw stream the client gets. */
const rawOf = async (url: string) => (await fetch(`${url}/responses`, { method: "POST", body: "{}" })).text();

/** The events of a raw stream, parsed. */
function events(raw: string): { event: string | undefined; data: Record<string, unknown> }[] {
  return raw
    .trimEnd()
    .split("\n\n")
    .map((e) => ({
      event: /^event: (.*)$/m.exec(e)?.[1],
      data: JSON.parse(/^data: (.*)$/m.exec(e)?.[1] ?? "null") as Record<string, unknown>,
    }));
}

/** The response the openai SDK's accumulator (its stream helper's) builds from the whole stream. */
function accumulated(raw: string): Response | undefined {
  let snapshot: Response | undefined;
  for (const e of events(raw))
    snapshot = accumulateResponse(e.data as unknown as ResponseStreamEvent, snapshot);
  return snapshot;
}

describe("a Responses stream the gateway ends itself", () => {
  it("fails the response with the output items completed before the cut, as the upstream would", async () => {
    const raw = await rawOf(await serve(twoItemsThenMore(), true));
    const all = events(raw);
    expect(all.map((e) => e.data.type).slice(-2)).toEqual(["error", "response.failed"]);
    const failed = all.at(-1)!.data.response as Record<string, unknown>;
    // The two items completed; the third, only started, is in the events alone.
    expect(failed).toMatchObject({ id: "resp_1", status: "failed", error: { code: "server_error" } });
    expect(failed.output).toEqual([message("msg_1", "The export is licensed."), CALL]);
    // The SDK replaces the response it built with the failed one: the items are still there.
    const built = accumulated(raw);
    expect(built?.status).toBe("failed");
    expect(built?.output).toEqual([message("msg_1", "The export is licensed."), CALL]);
    expect(built?.output_text).toBe("The export is licensed.");
  });

  it("keeps the items up to limits.body_bytes in all: past it no later item, the earlier ones whole", async () => {
    const text = "Licence terms, clause by clause. ".repeat(20); // 660 characters
    const done = (i: number, t: string) =>
      event("response.output_item.done", 1 + i, { output_index: i, item: message(`msg_${i}`, t) });
    // Each event about 850 bytes: two fit in 2,048, the third does not, nor does the small fourth
    // (the output stays the items completed first, without holes).
    const chunks = [CREATED, done(0, text), done(1, text), done(2, text), done(3, "ok")];
    const raw = await rawOf(await serve(chunks, true, 2048));
    const failed = events(raw).at(-1)!;
    expect(failed.event).toBe("response.failed");
    const output = (failed.data.response as { output: { id: string }[] }).output;
    expect(output.map((i) => i.id)).toEqual(["msg_0", "msg_1"]);
  });
});

describe("an upstream's own error event in a Responses stream", () => {
  /** Its `error` event as the API documents it: code and message at the top, no `error` object. */
  const upstreamError = (sequence: number) =>
    event("error", sequence, {
      code: "rate_limit_exceeded",
      message: "limiter at db-7.corp.internal",
      param: null,
    });

  it("not followed by response.failed: the gateway fails the response, the terminal event the client waits for", async () => {
    const url = await serve([...twoItemsThenMore(), upstreamError(8)], false);
    // The SDK hands an error event without an `error` object over as an event, without raising it
    // (its stream helper raises the event object itself): read as clients of
    // `responses.create({stream: true})` read it, the stream stopped there, with no terminal event.
    const client = new OpenAI({ apiKey: "k", baseURL: url, maxRetries: 0 });
    const stream = await client.responses.create({ model: "m", input: "hi", stream: true });
    const got: ResponseStreamEvent[] = [];
    for await (const e of stream) got.push(e);
    expect(got.slice(-2).map((e) => e.type)).toEqual(["error", "response.failed"]);
    // What the SDK's accumulator builds from them: the response failed with the upstream's code
    // (its text replaced), the items completed so far in it.
    let final: Response | undefined;
    for (const e of got) final = accumulateResponse(e, final);
    expect(final).toMatchObject({
      id: "resp_1",
      status: "failed",
      error: {
        code: "rate_limit_exceeded",
        message:
          "the upstream failed mid-stream; its message is not passed on (request test in the gateway's log)",
      },
    });
    expect(final?.output).toEqual([message("msg_1", "The export is licensed."), CALL]);

    // Nothing after it; numbered after the error event; the upstream's text nowhere.
    const raw = await rawOf(await serve([...twoItemsThenMore(), upstreamError(8)], false));
    const all = events(raw);
    expect(all.slice(-2).map((e) => [e.event, e.data.type, e.data.sequence_number])).toEqual([
      ["error", "error", 8],
      ["response.failed", "response.failed", 9],
    ]);
    expect(raw).not.toContain("db-7");
  });

  it("an error code no failed response has is a server error", async () => {
    const other = event("error", 1, { code: "insufficient_quota", message: "x", param: null });
    const raw = await rawOf(await serve([CREATED, other], false));
    const failed = events(raw).at(-1)!;
    expect(failed.data).toMatchObject({
      type: "response.failed",
      sequence_number: 2,
      response: { id: "resp_1", status: "failed", output: [], error: { code: "server_error" } },
    });
  });

  // Before: numbered from the last event's data alone, so after an error event whose data is not
  // JSON, or has no number, the gateway's response.failed was numbered 0, response.created's.
  it("whose data is not JSON: the gateway's response.failed is numbered after the last numbered event", async () => {
    const chunks = [
      CREATED,
      event("response.in_progress", 1),
      event("response.output_text.delta", 2, { delta: "x" }),
      "event: error\ndata: upstream exploded at gpu-17.corp.internal\n\n",
    ];
    const all = events(await rawOf(await serve(chunks, false)));
    // The error event as it went out (its text replaced), then the response failed, numbered 3.
    expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
      ["error", undefined],
      ["response.failed", 3],
    ]);
  });

  it("with no sequence number: the gateway's response.failed is numbered after the last numbered event", async () => {
    const unnumbered = `event: error\ndata: ${JSON.stringify({ type: "error", code: "server_error", message: "boom" })}\n\n`;
    const chunks = [
      CREATED,
      event("response.output_text.delta", 1, { delta: "x" }),
      event("response.output_text.delta", 2, { delta: "y" }),
      unnumbered,
    ];
    const all = events(await rawOf(await serve(chunks, false)));
    expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
      ["error", undefined],
      ["response.failed", 3],
    ]);
  });

  // Before: any event whose data held the member's name in quotes was taken as numbered: a text that
  // quotes it, or a JSON string value equal to it (an error's `param`); the gateway's
  // response.failed was then numbered 0 mid-stream.
  it.each([
    ["a text quoting the name", 'upstream rejected the request: "sequence_number" out of order'],
    [
      "a string value equal to the name",
      JSON.stringify({
        type: "error",
        code: "invalid_request_error",
        message: "bad",
        param: "sequence_number",
      }),
    ],
    ["a member nested in a string", JSON.stringify({ type: "error", message: '{"sequence_number": 7}' })],
  ])(
    "whose data names the sequence number but has none (%s): response.failed is numbered after the last numbered event",
    async (_, data) => {
      const chunks = [
        CREATED,
        event("response.in_progress", 1),
        event("response.output_text.delta", 2, { delta: "x" }),
        `event: error\ndata: ${data}\n\n`,
      ];
      const all = events(await rawOf(await serve(chunks, false)));
      expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
        ["error", undefined],
        ["response.failed", 3],
      ]);
    },
  );

  // Before: the name followed by a colon anywhere in an object counted, so the event was taken as
  // numbered, the number read at its top was none, and response.failed was numbered 0 mid-stream.
  it.each([
    [
      "a member of an object nested in it",
      { type: "error", error: { code: "server_error", message: "bad", sequence_number: 7 } },
    ],
    ["a string", { type: "error", code: "server_error", message: "bad", sequence_number: "7" }],
    ["a negative number", { type: "error", code: "server_error", message: "bad", sequence_number: -1 }],
    ["a fraction", { type: "error", code: "server_error", message: "bad", sequence_number: 7.5 }],
  ])(
    "whose sequence_number is not its own number (%s): response.failed is numbered after the last numbered event",
    async (_, data) => {
      const chunks = [
        CREATED,
        event("response.in_progress", 1),
        event("response.output_text.delta", 2, { delta: "x" }),
        `event: error\ndata: ${JSON.stringify(data)}\n\n`,
      ];
      const all = events(await rawOf(await serve(chunks, false)));
      expect(all.at(-1)!.data).toMatchObject({ type: "response.failed", sequence_number: 3 });
    },
  );

  // Before: the scan stopped at the event's own member and never read the rest, so data that is no
  // JSON after it (which no client can read) counted as numbered 5, and response.failed was 6.
  it.each([
    ["broken after the number", '{"type":"error","sequence_number":5, broken}'],
    ["cut short", '{"type":"error","sequence_number":5,"message":"upstream ov'],
    ["followed by more", '{"type":"error","sequence_number":5} {"type":"error"}'],
    ["a bad escape after it", '{"type":"error","sequence_number":5,"message":"bad \\q"}'],
  ])(
    "whose data is not whole JSON (%s): response.failed is numbered after the last numbered event",
    async (_, data) => {
      const chunks = [
        CREATED,
        event("response.in_progress", 1),
        event("response.output_text.delta", 2, { delta: "x" }),
        `event: error\ndata: ${data}\n\n`,
      ];
      const all = events(await rawOf(await serve(chunks, false)));
      expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
        ["error", undefined],
        ["response.failed", 3],
      ]);
    },
  );

  it("whose own sequence_number follows an object holding one, and strings with escaped quotes: response.failed is numbered after it", async () => {
    const data = JSON.stringify({
      type: "error",
      message: 'bad "quote\\" {"sequence_number": 1}',
      error: { code: "server_error", detail: { sequence_number: 1 }, list: [{ sequence_number: 2 }] },
      sequence_number: 8,
    });
    const chunks = [CREATED, event("response.in_progress", 1), `event: error\ndata: ${data}\n\n`];
    const all = events(await rawOf(await serve(chunks, false)));
    expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
      ["error", 8],
      ["response.failed", 9],
    ]);
  });

  /** A character as a JSON `\uXXXX` escape. */
  const escaped = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

  // Before: a name written with escapes was not the event's own, nor a number written with a fraction
  // or an exponent: the gateway numbered its response.failed after the event before (2), or after
  // the plainly written member a later escaped one overrides (4), where a client reads 8.
  it.each([
    ["its name written with an escape", '{"type":"error","code":"server_error","sequence\\u005fnumber":8}'],
    ["its name all escapes", `{"type":"error","${[..."sequence_number"].map(escaped).join("")}":8}`],
    ["written twice, the escaped one last", '{"type":"error","sequence_number":3,"sequence\\u005fnumber":8}'],
    ["its number with a fraction", '{"type":"error","code":"server_error","sequence_number":8.0}'],
    ["its number with an exponent", '{"type":"error","code":"server_error","sequence_number":80E-1}'],
  ])("whose own number is written so (%s): response.failed is numbered after it", async (_, data) => {
    const chunks = [CREATED, event("response.in_progress", 1), `event: error\ndata: ${data}\n\n`];
    const all = events(await rawOf(await serve(chunks, false)));
    expect(all.slice(-2).map((e) => [e.data.type, e.data.sequence_number])).toEqual([
      ["error", 8],
      ["response.failed", 9],
    ]);
  });

  it("followed by the upstream's own response.failed: passed on as it came, nothing added", async () => {
    const theirs = event("response.failed", 9, {
      response: {
        id: "resp_1",
        object: "response",
        status: "failed",
        output: [CALL],
        error: { code: "server_error", message: "m" },
      },
    });
    const raw = await rawOf(await serve([...twoItemsThenMore(), upstreamError(8), theirs], false));
    const all = events(raw);
    expect(all.filter((e) => e.data.type === "response.failed")).toHaveLength(1);
    expect(all.at(-1)!.data).toMatchObject({ sequence_number: 9, response: { output: [CALL] } });
  });

  it("through the gateway, from an upstream on a socket: the stream ends with the response failed", async () => {
    const up = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end([...twoItemsThenMore(), upstreamError(8)].join(""));
      });
    });
    await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
    const t = await startTestGateway({
      providers: `  up: { type: openai, base_url: "http://127.0.0.1:${(up.address() as AddressInfo).port}/v1" }`,
      models: "  mythos-5: { provider: up }",
    });
    try {
      const client = new OpenAI({
        apiKey: t.keys.get("alice"),
        baseURL: `${t.url}/v1`,
        maxRetries: 0,
        defaultHeaders: { "x-test-country": "US" },
      });
      const stream = await client.responses.create({ model: "mythos-5", input: "hi", stream: true });
      let final: Response | undefined;
      for await (const e of stream) final = accumulateResponse(e, final);
      expect(final?.status).toBe("failed");
      expect(final?.error?.code).toBe("rate_limit_exceeded");
      expect(final?.output.map((i) => i.id)).toEqual(["msg_1", "fc_1"]);
    } finally {
      await t.gateway.close();
      up.closeAllConnections();
      up.close();
    }
  });

  // Before: the relay read each event's number with a regular expression that kept an entry per
  // escape in a string and threw past about 930,000 `\uXXXX` escapes (Python servers write text
  // outside ASCII so): the upstream's body failed with it, and a whole stream of 6 MB, under the
  // capture limit, was cut as "the upstream failed mid-stream".
  it("through the gateway, an event of a million escapes: relayed whole, the stream completed", async () => {
    const text = "\\u4e2d".repeat(1_000_000);
    const delta = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"${text}"}\n\n`;
    const completed = event("response.completed", 2, {
      response: {
        id: "resp_1",
        object: "response",
        created_at: 1765090800,
        model: "m-1",
        status: "completed",
        output: [],
      },
    });
    const up = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(CREATED + delta + completed);
      });
    });
    await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
    const t = await startTestGateway({
      providers: `  up: { type: openai, base_url: "http://127.0.0.1:${(up.address() as AddressInfo).port}/v1" }`,
      models: "  mythos-5: { provider: up }",
    });
    try {
      const client = new OpenAI({
        apiKey: t.keys.get("alice"),
        baseURL: `${t.url}/v1`,
        maxRetries: 0,
        defaultHeaders: { "x-test-country": "US" },
      });
      const stream = await client.responses.create({ model: "mythos-5", input: "hi", stream: true });
      const got: ResponseStreamEvent[] = [];
      for await (const e of stream) got.push(e);
      expect(got.map((e) => [e.type, e.sequence_number])).toEqual([
        ["response.created", 0],
        ["response.output_text.delta", 1],
        ["response.completed", 2],
      ]);
      expect((got[1] as { delta: string }).delta).toBe("\u4e2d".repeat(1_000_000));
    } finally {
      await t.gateway.close();
      up.closeAllConnections();
      up.close();
    }
  });
});
