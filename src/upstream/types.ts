/**
 * The seam between the gateway and the model providers behind it. The gateway has already decided
 * and rewritten the model; a provider only carries the request and hands back the response as a
 * stream, so that nothing is buffered on the way through.
 */
import { EventEmitter } from "node:events";

export type Wire = "openai" | "anthropic";

/**
 * The wire formats a provider of this type answers in: an HTTP upstream its own, the demo both. The
 * providers declare theirs with it, and the config checks fallbacks against it before any is built.
 */
export function wiresOf(type: Wire | "demo"): readonly Wire[] {
  return type === "demo" ? ["openai", "anthropic"] : [type];
}

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
  /** Cancelled when the client goes away or the record fails; the provider must stop the upstream request. */
  readonly signal: Cancellation;
  /**
   * Told once the request has gone to the upstream whole: from then on the upstream may be working
   * on it, so a client that leaves before the answer's head is charged the input. A provider that
   * answers at once (the demo) need not call it.
   */
  readonly onSent?: () => void;
}

/**
 * "Stop": cancelled when the client goes away or the audit log cannot take the entry. Not an
 * AbortSignal: creating one and listening to it (an EventTarget) costs microseconds on every
 * request, for an event that almost never comes. undici takes an EventEmitter with `aborted` as a
 * request's `signal`; listeners use `once("abort", …)`.
 */
export class Cancellation extends EventEmitter {
  aborted = false;

  cancel(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit("abort");
  }
}

/** The upstream's own request id, as passed on (its x-request-id or request-id). */
export const UPSTREAM_REQUEST_ID = "x-clearance-upstream-request-id";

export interface UpstreamResponse {
  readonly status: number;
  /** Lower-case header names, those the client may get (the upstream's request id as UPSTREAM_REQUEST_ID). */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as it arrives: SSE text when streaming, JSON otherwise. */
  readonly body: UpstreamBody;
  /** What the gateway sent this upstream that must never be logged (its API key), if anything. */
  readonly secrets?: readonly string[];
}

/**
 * A response body as the gateway reads it: chunks with backpressure (`pause`/`resume`), then "end"
 * or "error", then "close"; `destroy` stops it (a body destroyed without an error only closes). A
 * Readable is one; the HTTP provider's is lighter (a stream per request costs more than the
 * relay needs). Chunks are not lost to a listener that comes late: none flows before the first
 * "data" listener.
 */
export interface UpstreamBody {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "end" | "close", listener: () => void): unknown;
  once(event: "error", listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(err?: Error): unknown;
  readonly destroyed: boolean;
}

/**
 * A failure before a response arrived: unreachable (502), too slow (504), or reached but its head
 * unreadable — over the header limit, or not HTTP (502 `upstream_failed`).
 */
export class UpstreamError extends Error {
  constructor(
    readonly kind: "unreachable" | "timeout" | "failed",
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
