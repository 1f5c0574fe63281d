/**
 * The two wire formats' edges: which route speaks which, and how an error looks to each client
 * (OpenAI `{"error":{message,type,code,param}}`, Anthropic
 * `{"type":"error","error":{type,message},"request_id"}`). Every gateway error is rendered here and
 * nowhere else.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { ClearanceError, ErrorKind } from "../errors/index.js";
import type { Endpoint, Wire } from "../upstream/types.js";

export const PROXY_ROUTES: ReadonlyMap<string, { readonly wire: Wire; readonly endpoint: Endpoint }> =
  new Map([
    ["/v1/chat/completions", { wire: "openai", endpoint: "chat.completions" }],
    ["/v1/completions", { wire: "openai", endpoint: "completions" }],
    ["/v1/embeddings", { wire: "openai", endpoint: "embeddings" }],
    ["/v1/responses", { wire: "openai", endpoint: "responses" }],
    ["/v1/messages", { wire: "anthropic", endpoint: "messages" }],
    ["/v1/messages/count_tokens", { wire: "anthropic", endpoint: "messages.count_tokens" }],
  ]);

/** For routes that both formats share (/v1/models) or unknown ones: Anthropic clients send these headers. */
export function wireOf(headers: IncomingHttpHeaders): Wire {
  return headers["anthropic-version"] !== undefined || headers["x-api-key"] !== undefined
    ? "anthropic"
    : "openai";
}

/**
 * The header each provider's SDKs read a response's request id from (openai's `_request_id` and
 * `APIError.requestID`, Anthropic's `request_id` and `requestID`). Every answer carries the gateway's
 * own there, the one its audit entry and log lines name, so that the id a caller quotes from the SDK
 * finds the decision; the upstream's own goes as `x-clearance-upstream-request-id`.
 */
export const REQUEST_ID_HEADER: Readonly<Record<Wire, string>> = {
  openai: "x-request-id",
  anthropic: "request-id",
};

/** Each error kind as the OpenAI SDKs classify it (`error.type`). */
const OPENAI_TYPE: Readonly<Record<ErrorKind, string>> = {
  invalid: "invalid_request_error",
  unauthenticated: "authentication_error",
  forbidden: "permission_error",
  "not-found": "not_found_error",
  method: "invalid_request_error",
  "request-timeout": "invalid_request_error",
  "client-closed": "invalid_request_error",
  conflict: "invalid_request_error",
  "too-large": "invalid_request_error",
  "media-type": "invalid_request_error",
  "headers-too-large": "invalid_request_error",
  "rate-limited": "rate_limit_error",
  internal: "api_error",
  upstream: "api_error",
  unavailable: "service_unavailable",
  "upstream-timeout": "timeout",
};

/** Each error kind as the Anthropic SDKs classify it (`error.type`). */
const ANTHROPIC_TYPE: Readonly<Record<ErrorKind, string>> = {
  invalid: "invalid_request_error",
  unauthenticated: "authentication_error",
  forbidden: "permission_error",
  "not-found": "not_found_error",
  method: "invalid_request_error",
  "request-timeout": "invalid_request_error",
  "client-closed": "invalid_request_error",
  conflict: "invalid_request_error",
  "too-large": "request_too_large",
  "media-type": "invalid_request_error",
  "headers-too-large": "invalid_request_error",
  "rate-limited": "rate_limit_error",
  internal: "api_error",
  upstream: "api_error",
  unavailable: "overloaded_error",
  // Anthropic's documented type for its 504 (OpenAI documents none: its SDKs go by the status).
  "upstream-timeout": "timeout_error",
};

export interface ErrorDetails {
  /** The field at fault, when there is one (OpenAI's `param`). */
  readonly param?: string | null;
  /**
   * The gateway's id for the request, as in its request-id header: Anthropic's error bodies carry it
   * as a top-level `request_id` (the SDKs keep the body as `APIError.error`). OpenAI's carry none.
   */
  readonly requestId?: string;
}

export function errorBody(wire: Wire, err: ClearanceError, details: ErrorDetails = {}): string {
  if (wire === "anthropic") {
    const type = ANTHROPIC_TYPE[err.kind];
    const error = { type, message: err.message, code: err.code };
    return JSON.stringify(
      details.requestId === undefined
        ? { type: "error", error }
        : { type: "error", error, request_id: details.requestId },
    );
  }
  const type = OPENAI_TYPE[err.kind];
  return JSON.stringify({
    error: { message: err.message, type, code: err.code, param: details.param ?? null },
  });
}

/**
 * An error inside an already-started SSE stream: a well-formed last event in the client's format.
 * A Responses stream ends with responsesFailure instead.
 */
export function streamErrorEvent(wire: Wire, message: string): string {
  if (wire === "anthropic") {
    const data = JSON.stringify({ type: "error", error: { type: "api_error", message } });
    return `event: error\ndata: ${data}\n\n`;
  }
  const error = { message, type: "api_error", code: "upstream_error", param: null };
  return `data: ${JSON.stringify({ error })}\n\n`;
}

/** What a Responses stream the gateway ends itself knows of the response it cuts. */
export interface CutResponse {
  /** The number the next event takes (one more than the last relayed, 0 if none went out). */
  readonly sequence: number;
  /** The data of the upstream's `response.created` event, if one went out (parsed only here). */
  readonly created: string | undefined;
  /** The model asked for: the failed response's model when the upstream never said. */
  readonly model: string;
  /** The gateway's request id: the failed response's id when the upstream gave none. */
  readonly requestId: string;
  /** The output items the stream completed before the cut (see relay-output.ts). */
  readonly output: readonly unknown[];
}

/**
 * The last events of a Responses stream the gateway ends itself: the API's `error` event (code,
 * message and param at its top, as documented, with the `error` object it is also seen sent with,
 * which the openai SDKs raise as an APIError), then `response.failed`, the response's own terminal
 * event, which clients that switch on `type` (Codex, agent frameworks, the SDKs' accumulators) wait
 * for: without it a cut stream just ends, with neither `response.completed` nor `response.failed`,
 * and they report a truncated stream or take the partial output as the answer. The failed response
 * is the upstream's own from `response.created` (its id, model, creation time), status `failed`,
 * its `error` the Responses API's `server_error`.
 */
export function responsesFailure(message: string, cut: CutResponse): string {
  const error = { message, type: "api_error", code: "upstream_error", param: null };
  const failure = JSON.stringify({
    type: "error",
    code: error.code,
    message,
    param: null,
    sequence_number: cut.sequence,
    error,
  });
  const failed = responseFailed({ code: "server_error", message }, cut, cut.sequence + 1);
  return `event: error\ndata: ${failure}\n\n${failed}`;
}

/**
 * The `response.failed` event alone, numbered `sequence`: the end of a stream whose upstream
 * sent its own `error` event and then ended with no terminal event. `error.code` is one the
 * Responses API's response errors have (see responseErrorCode).
 */
export function responseFailed(
  error: { code: string; message: string },
  cut: CutResponse,
  sequence = cut.sequence,
): string {
  const response = Object.assign(createdResponse(cut), {
    status: "failed",
    error,
    incomplete_details: null,
  });
  const failed = JSON.stringify({ type: "response.failed", sequence_number: sequence, response });
  return `event: response.failed\ndata: ${failed}\n\n`;
}

/** Of the error codes passed on (see upstream-error.ts), those a failed response's error may have. */
const RESPONSE_ERROR_CODES: ReadonlySet<string> = new Set([
  "server_error",
  "rate_limit_exceeded",
  "invalid_prompt",
]);

/** A failed response's `error.code` for an error event's code (a response's are a closed list). */
export const responseErrorCode = (code: unknown): string =>
  typeof code === "string" && RESPONSE_ERROR_CODES.has(code) ? code : "server_error";

/**
 * The response `response.created` announced, or one with the members every Response has (the SDKs'
 * types require them) when none went out or it cannot be read.
 */
function createdResponse(cut: CutResponse): Record<string, unknown> {
  let created: unknown;
  try {
    created =
      cut.created === undefined ? undefined : (JSON.parse(cut.created) as { response?: unknown })?.response;
  } catch {
    created = undefined;
  }
  const own = typeof created === "object" && created !== null && !Array.isArray(created);
  const response = own ? (created as Record<string, unknown>) : {};
  const base = {
    id: `resp_${cut.requestId.replaceAll("-", "")}`,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model: cut.model,
    instructions: null,
    metadata: null,
    parallel_tool_calls: true,
    temperature: null,
    tool_choice: "auto",
    tools: [],
    top_p: null,
  };
  // The items completed before the cut, as the upstream's own failed response carries them: the
  // SDK's accumulator replaces the response it built with this one. None: still an array.
  const output = cut.output.length > 0 ? cut.output : Array.isArray(response.output) ? response.output : [];
  return Object.assign(base, response, { output });
}
