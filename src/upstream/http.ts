/**
 * OpenAI-compatible and Anthropic upstreams over pooled keep-alive connections (undici Pool), with
 * connect, first-byte and idle timeouts. Bodies are handed back as streams, never buffered here.
 */
import { Pool, errors } from "undici";
import type { Endpoint, Provider, UpstreamCall, UpstreamResponse, Wire } from "./types.js";
import { UpstreamError } from "./types.js";

export interface HttpProviderOptions {
  readonly name: string;
  readonly type: Wire;
  readonly baseUrl: string;
  readonly apiKey?: string;
  readonly connections: number;
  readonly timeouts: {
    readonly connect_ms: number;
    readonly first_byte_ms: number;
    readonly idle_ms: number;
  };
}

/** Path under the base URL. OpenAI base URLs end in /v1; Anthropic's is the bare origin. */
const PATHS: Readonly<Record<Endpoint, string>> = {
  "chat.completions": "/chat/completions",
  completions: "/completions",
  embeddings: "/embeddings",
  responses: "/responses",
  messages: "/v1/messages",
  "messages.count_tokens": "/v1/messages/count_tokens",
};

/** Upstream response headers worth passing on; hop-by-hop and length headers are not (bodies may change). */
const PASS_HEADERS = new Set([
  "content-type",
  "x-request-id",
  "openai-processing-ms",
  "openai-version",
  "request-id",
  "anthropic-organization-id",
  "retry-after",
]);

export function createHttpProvider(options: HttpProviderOptions): Provider {
  const url = new URL(options.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: options.connections,
    connect: { timeout: options.timeouts.connect_ms },
    headersTimeout: options.timeouts.first_byte_ms,
    bodyTimeout: options.timeouts.idle_ms,
    keepAliveTimeout: 30_000,
  });
  const auth: Record<string, string> =
    options.apiKey === undefined
      ? {}
      : options.type === "anthropic"
        ? { "x-api-key": options.apiKey }
        : { authorization: `Bearer ${options.apiKey}` };

  return {
    name: options.name,
    wires: [options.type],
    async request(call: UpstreamCall): Promise<UpstreamResponse> {
      const headers: Record<string, string> = {
        ...call.headers,
        ...auth,
        "content-type": "application/json",
        "accept-encoding": "identity",
        accept: call.stream ? "text/event-stream" : "application/json",
      };
      if (options.type === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
      try {
        const res = await pool.request({
          path: basePath + PATHS[call.endpoint],
          method: "POST",
          headers,
          body: call.body,
          signal: call.signal,
        });
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (PASS_HEADERS.has(k) && typeof v === "string") out[k] = v;
        }
        return { status: res.statusCode, headers: out, body: res.body };
      } catch (err) {
        throw classify(err, options.name);
      }
    },
    close: () => pool.close(),
  };
}

function classify(err: unknown, name: string): unknown {
  if (err instanceof errors.RequestAbortedError || (err as Error).name === "AbortError") return err;
  if (err instanceof errors.ConnectTimeoutError || err instanceof errors.HeadersTimeoutError) {
    return new UpstreamError("timeout", `upstream ${name} did not answer in time`, { cause: err });
  }
  return new UpstreamError("unreachable", `upstream ${name} is unreachable`, { cause: err });
}
