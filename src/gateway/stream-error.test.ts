/**
 * Which stream events `sanitizedStreamError` reads as an upstream's error: every error form is
 * found and replaced, and the events that merely carry `"error": null` (every Responses API event)
 * or the word in model output are not even parsed.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SseEvent } from "../upstream/sse.js";
import { errorish, sanitizedStreamError } from "./upstream-error.js";

const LEAK = "db-7.corp.internal password=hunter2";
const ev = (data: unknown, event?: string): SseEvent =>
  event === undefined ? { data: JSON.stringify(data) } : { event, data: JSON.stringify(data) };
const response = (extra: Record<string, unknown> = {}) => ({
  id: "resp_1",
  object: "response",
  status: "in_progress",
  output: [],
  error: null,
  ...extra,
});

/** Events that are not errors, though `"error"` is in their text. */
const NOT_ERRORS: [string, SseEvent][] = [
  [
    "response.created",
    ev({ type: "response.created", sequence_number: 0, response: response() }, "response.created"),
  ],
  [
    "response.in_progress",
    ev({ type: "response.in_progress", sequence_number: 1, response: response() }, "response.in_progress"),
  ],
  [
    "a large response.completed",
    ev(
      {
        type: "response.completed",
        sequence_number: 9,
        response: response({
          status: "completed",
          output: [{ type: "message", content: [{ type: "output_text", text: "x".repeat(200_000) }] }],
          usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 },
        }),
      },
      "response.completed",
    ),
  ],
  [
    "model output naming an error",
    ev({
      id: "c",
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta: { content: 'return {"error": {"type": "error"}, "object": "error"}' } }],
    }),
  ],
  [
    "tool call arguments naming an error",
    ev({
      type: "response.function_call_arguments.delta",
      delta: '{"error":"none","type":"error"}',
    }),
  ],
];

/** Every error form handled, on the wire it arrives on. */
const ERRORS: [string, "openai" | "anthropic", SseEvent][] = [
  ["chat completions' error", "openai", ev({ error: { message: LEAK, type: "server_error", code: null } })],
  ["the error as a string", "openai", ev({ error: LEAK })],
  [
    "vLLM's top-level error",
    "openai",
    ev({ object: "error", message: LEAK, type: "BadRequestError", param: null, code: 400 }),
  ],
  [
    "the Responses API's error event",
    "openai",
    ev({ type: "error", code: "server_error", message: LEAK, param: null, sequence_number: 3 }, "error"),
  ],
  [
    "the Responses API's error event, unnamed",
    "openai",
    ev({ type: "error", code: "server_error", message: LEAK, param: null, sequence_number: 3 }),
  ],
  [
    "response.failed",
    "openai",
    ev(
      {
        type: "response.failed",
        sequence_number: 4,
        response: response({ status: "failed", error: { code: "server_error", message: LEAK } }),
      },
      "response.failed",
    ),
  ],
  [
    "response.failed, unnamed, spaced",
    "openai",
    {
      data: `{ "type" : "response.failed", "response" : { "status" : "failed", "error" : { "code" : "server_error", "message" : "${LEAK}" } } }`,
    },
  ],
  ["a non-JSON error event", "openai", { event: "error", data: LEAK }],
  [
    "Anthropic's error event",
    "anthropic",
    ev({ type: "error", error: { type: "overloaded_error", message: LEAK } }, "error"),
  ],
  [
    "Anthropic's error event, unnamed",
    "anthropic",
    ev({ type: "error", error: { type: "api_error", message: LEAK } }),
  ],
  ["the error as a string, on Anthropic's wire", "anthropic", ev({ error: LEAK })],
];

afterEach(() => vi.restoreAllMocks());

describe("sanitizedStreamError: which events are errors", () => {
  it.each(NOT_ERRORS)("%s is passed on untouched, and not parsed", (_, e) => {
    const parse = vi.spyOn(JSON, "parse");
    expect(errorish(e.data)).toBe(false);
    expect(sanitizedStreamError("openai", e, "r1")).toBeNull();
    expect(sanitizedStreamError("anthropic", e, "r1")).toBeNull();
    expect(parse).not.toHaveBeenCalled();
  });

  it.each(ERRORS)("%s is found and replaced, its text gone", (_, wire, e) => {
    const clean = sanitizedStreamError(wire, e, "r1");
    expect(clean).not.toBeNull();
    expect(clean?.event).toBe(e.event);
    expect(clean?.data).not.toContain("db-7");
    expect(clean?.data).not.toContain("hunter2");
    expect(clean?.data).toContain("request r1");
  });

  it("keeps each form's shape: chat's error object, the Responses error event, response.failed's response", () => {
    const [, , stringError] = ERRORS[1]!;
    expect(JSON.parse(sanitizedStreamError("openai", stringError, "r1")!.data)).toMatchObject({
      error: { type: "api_error", code: null, param: null },
    });
    const [, , vllm] = ERRORS[2]!;
    const cleanVllm = JSON.parse(sanitizedStreamError("openai", vllm, "r1")!.data) as Record<string, unknown>;
    expect(Object.keys(cleanVllm)).toEqual(["error"]);
    const [, , responsesError] = ERRORS[3]!;
    expect(JSON.parse(sanitizedStreamError("openai", responsesError, "r1")!.data)).toEqual({
      type: "error",
      code: "server_error",
      message: expect.stringContaining("request r1") as unknown,
      param: null,
      sequence_number: 3,
    });
    const [, , failed] = ERRORS[5]!;
    expect(JSON.parse(sanitizedStreamError("openai", failed, "r1")!.data)).toMatchObject({
      type: "response.failed",
      sequence_number: 4,
      response: { id: "resp_1", status: "failed", error: { code: "server_error" } },
    });
  });
});
