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
 * `sequence`: the stream is a Responses API one, and this is the number its next event takes.
 */
export function streamErrorEvent(wire: Wire, message: string, sequence?: number): string {
  if (wire === "anthropic") {
    const data = JSON.stringify({ type: "error", error: { type: "api_error", message } });
    return `event: error\ndata: ${data}\n\n`;
  }
  const error = { message, type: "api_error", code: "upstream_error", param: null };
  if (sequence === undefined) return `data: ${JSON.stringify({ error })}\n\n`;
  // The Responses API's `error` event as documented (code, message and param at its top, read by
  // typed clients switching on `type`), with the `error` object it is also seen sent with, which the
  // openai SDKs raise as an APIError (a chat-format `{"error":…}` has no `type` a Responses client
  // knows, nor a sequence number).
  const data = JSON.stringify({
    type: "error",
    code: error.code,
    message,
    param: null,
    sequence_number: sequence,
    error,
  });
  return `event: error\ndata: ${data}\n\n`;
}
