/**
 * The seam between the gateway and the model providers behind it. The gateway has already decided
 * and rewritten the model; a provider only carries the request and hands back the response as a
 * stream, so that nothing is buffered on the way through.
 */
import type { Readable } from "node:stream";

export type Wire = "openai" | "anthropic";

/** The operations Clearance forwards, named by wire format. */
export type Endpoint =
  "chat.completions" | "completions" | "embeddings" | "responses" | "messages" | "messages.count_tokens";

export interface UpstreamCall {
  readonly wire: Wire;
  readonly endpoint: Endpoint;
  /** The request body as JSON text, with the model already set to the upstream model name. */
  readonly body: string;
  /** The parsed body (read-only view of `body`). */
  readonly json: Readonly<Record<string, unknown>>;
  readonly stream: boolean;
  /** Headers to pass through (e.g. anthropic-version, anthropic-beta); never the client's key. */
  readonly headers: Readonly<Record<string, string>>;
  /** Aborted when the client goes away; the provider must stop the upstream request. */
  readonly signal: AbortSignal;
}

export interface UpstreamResponse {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as it arrives: SSE text when streaming, JSON otherwise. */
  readonly body: Readable;
}

/** A failure before a response arrived: unreachable (502) or too slow (504). */
export class UpstreamError extends Error {
  constructor(
    readonly kind: "unreachable" | "timeout",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

export interface Provider {
  readonly name: string;
  /** Which wire formats it speaks natively; the gateway only routes a call to a matching provider. */
  readonly wires: readonly Wire[];
  request(call: UpstreamCall): Promise<UpstreamResponse>;
  close(): Promise<void>;
}
