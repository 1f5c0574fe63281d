/**
 * The two wire formats' edges: which route speaks which, and how an error looks to each client
 * (OpenAI `{"error":{message,type,code,param}}`, Anthropic `{"type":"error","error":{type,message}}`).
 * Every gateway error is rendered here and nowhere else.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { HttpError } from "../errors/index.js";
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

const OPENAI_TYPE: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "invalid_request_error",
  429: "rate_limit_error",
  502: "api_error",
  503: "service_unavailable",
  504: "timeout",
};

const ANTHROPIC_TYPE: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  405: "invalid_request_error",
  413: "request_too_large",
  429: "rate_limit_error",
  502: "api_error",
  503: "overloaded_error",
  504: "api_error",
};

export interface ErrorDetails {
  /** The field at fault, when there is one (OpenAI's `param`). */
  readonly param?: string | null;
}

export function errorBody(wire: Wire, err: HttpError, details: ErrorDetails = {}): string {
  if (wire === "anthropic") {
    const type = ANTHROPIC_TYPE[err.status] ?? "api_error";
    return JSON.stringify({ type: "error", error: { type, message: err.message, code: err.code } });
  }
  const type = OPENAI_TYPE[err.status] ?? "api_error";
  return JSON.stringify({
    error: { message: err.message, type, code: err.code, param: details.param ?? null },
  });
}

/** An error inside an already-started SSE stream: a well-formed last event in the client's format. */
export function streamErrorEvent(wire: Wire, message: string): string {
  if (wire === "anthropic") {
    const data = JSON.stringify({ type: "error", error: { type: "api_error", message } });
    return `event: error\ndata: ${data}\n\n`;
  }
  return `data: ${JSON.stringify({ error: { message, type: "api_error", code: "upstream_error", param: null } })}\n\n`;
}
