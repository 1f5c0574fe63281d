/**
 * The built-in `demo` provider: no network, no keys, deterministic answers in the exact wire shapes
 * the OpenAI and Anthropic SDKs parse. It backs the quickstart and the tests.
 *
 * - The answer is `[demo] <model> answering: <the first 12 words of the last user message>`, cut to
 *   the request's token limit (finish_reason "length" / stop_reason "max_tokens" / status
 *   "incomplete"). Tokens are whitespace words — an approximation, see `demo-text.ts`.
 * - Same request body, same bytes: ids are hashes of the body, timestamps are fixed.
 * - A bad body is answered (never thrown) with a 400 in the wire's error format, as JSON even when a
 *   stream was asked for. An endpoint the wire does not have is a 404.
 * - Streams push one SSE event per chunk, one per `setImmediate` tick, or one per `tokenDelayMs`.
 *   They stop, and the body is destroyed without an error, when `call.signal` aborts.
 * - Triggers in the last user message: `[demo:fail]` makes `request()` reject with an
 *   `UpstreamError("unreachable")`; `[demo:fail-mid-stream]` sends the start of the response (for a
 *   stream, the first events and 3 tokens; for JSON, half the bytes) then destroys the body with an
 *   Error.
 */
import { Readable } from "node:stream";
import { anthropicError, countTokens, messages } from "./demo-anthropic.js";
import { chatCompletions, completions, embeddings, openaiError, responses } from "./demo-openai.js";
import { DemoBadRequest, isRecord, triggerIn, type Plan, type Reply } from "./demo-text.js";
import {
  UpstreamError,
  type Cancellation,
  type Provider,
  type UpstreamCall,
  type UpstreamResponse,
  type Wire,
  wiresOf,
} from "./types.js";

export interface DemoProviderOptions {
  /** Milliseconds between streamed events; 0 (the default) sends them on successive ticks. */
  readonly tokenDelayMs?: number;
}

/** How many tokens a `[demo:fail-mid-stream]` stream sends before it fails. */
const TOKENS_BEFORE_FAILURE = 3;

/** The demo's answers carry a Readable body (its tests read it as a stream). */
export interface DemoResponse extends UpstreamResponse {
  readonly body: Readable;
}

export interface DemoProvider extends Provider {
  request(call: UpstreamCall): Promise<DemoResponse>;
}

export function createDemoProvider(options: DemoProviderOptions = {}): DemoProvider {
  const delayMs = Math.max(0, options.tokenDelayMs ?? 0);
  return {
    name: "demo",
    wires: wiresOf("demo"),
    async request(call: UpstreamCall): Promise<DemoResponse> {
      const plan = planFor(call);
      const trigger = triggerIn(plan.prompt);
      if (trigger === "fail") {
        throw new UpstreamError("unreachable", "demo upstream unreachable, as [demo:fail] asked");
      }
      return respond(plan.reply, trigger === "fail-mid-stream", call.signal, delayMs);
    },
    async close(): Promise<void> {},
  };
}

function planFor(call: UpstreamCall): Plan {
  const { wire, endpoint, json, body, stream } = call;
  try {
    if (!isRecord(json)) throw new DemoBadRequest("the request body must be a JSON object");
    if (wire === "openai") {
      if (endpoint === "chat.completions") return chatCompletions(json, body, stream);
      if (endpoint === "completions") return completions(json, body, stream);
      if (endpoint === "embeddings") return embeddings(json, stream);
      if (endpoint === "responses") return responses(json, body, stream);
    } else if (wire === "anthropic") {
      if (endpoint === "messages") return messages(json, body, stream);
      if (endpoint === "messages.count_tokens") return countTokens(json, stream);
    }
    return failure(wire, 404, `the demo provider has no ${endpoint} endpoint on the ${wire} wire`);
  } catch (e) {
    if (e instanceof DemoBadRequest) return failure(wire, 400, e.message, e.param);
    return failure(wire, 500, `the demo provider failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const ANTHROPIC_ERRORS: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  404: "not_found_error",
  500: "api_error",
};

function failure(wire: Wire, status: number, message: string, param: string | null = null): Plan {
  const json =
    wire === "anthropic"
      ? anthropicError(message, ANTHROPIC_ERRORS[status])
      : openaiError(message, param, status === 500 ? "server_error" : "invalid_request_error");
  return { prompt: "", reply: { status, json } };
}

function respond(reply: Reply, failMidway: boolean, signal: Cancellation, delayMs: number): DemoResponse {
  if ("events" in reply) {
    const chunks = reply.events.map((e) => Buffer.from(e));
    const failAfter = failMidway
      ? Math.min(reply.firstToken + TOKENS_BEFORE_FAILURE, chunks.length - 1)
      : undefined;
    return {
      status: 200,
      headers: { "content-type": "text/event-stream", "x-demo-upstream": "1" },
      body: tickingBody(chunks, failAfter, signal, delayMs),
    };
  }
  const bytes = Buffer.from(JSON.stringify(reply.json));
  const cut = failMidway && reply.status === 200;
  return {
    status: reply.status,
    headers: { "content-type": "application/json", "x-demo-upstream": "1" },
    body: cut
      ? tickingBody([bytes.subarray(0, bytes.length >> 1)], 1, signal, 0)
      : tickingBody([bytes], undefined, signal, 0),
  };
}

/**
 * A byte stream that pushes `chunks` one at a time, each on its own tick (or after `delayMs`), only
 * as fast as it is read. With `failAfter`, it is destroyed with an Error once that many chunks are out.
 */
function tickingBody(
  chunks: readonly Buffer[],
  failAfter: number | undefined,
  signal: Cancellation,
  delayMs: number,
): Readable {
  let next = 0;
  let cancel: (() => void) | undefined;
  const onAbort = () => body.destroy();
  const step = () => {
    cancel = undefined;
    if (failAfter !== undefined && next >= failAfter) {
      body.destroy(new Error("the demo upstream failed mid-stream, as [demo:fail-mid-stream] asked"));
      return;
    }
    const chunk = chunks[next++];
    if (chunk !== undefined) body.push(chunk);
    if (next >= chunks.length && failAfter === undefined) body.push(null);
  };
  const body = new Readable({
    read() {
      if (cancel !== undefined) return;
      if (delayMs > 0) {
        const timer = setTimeout(step, delayMs);
        cancel = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(step);
        cancel = () => clearImmediate(immediate);
      }
    },
    destroy(error, callback) {
      cancel?.();
      cancel = undefined;
      signal.removeListener("abort", onAbort);
      callback(error);
    },
  });
  if (signal.aborted) body.destroy();
  else signal.once("abort", onAbort);
  return body;
}
