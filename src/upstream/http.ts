/**
 * OpenAI-compatible and Anthropic upstreams over pooled keep-alive connections (undici Pool), with
 * connect, first-byte and idle timeouts. Bodies are handed back as streams, never buffered here.
 */
import { maxHeaderSize } from "node:http";
import type { Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { Pool, errors, type Dispatcher } from "undici";
import { baseUrlProblem } from "../config/schema.js";
import { SetupError } from "../errors/index.js";
import { DispatchedBody, NO_PAUSE_HOLD } from "./body.js";
import type { Endpoint, Provider, UpstreamCall, UpstreamResponse, Wire } from "./types.js";
import { UPSTREAM_REQUEST_ID, UpstreamError, wiresOf } from "./types.js";
import { quoted } from "../policy/text.js";

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

/**
 * Upstream response headers worth passing on, each under the name it is passed on as; hop-by-hop and
 * length headers are not (bodies may change). The upstream's request id is renamed: the SDKs' own
 * request-id headers carry the gateway's, which names the audit entry.
 */
const PASS_HEADERS: ReadonlyMap<string, string> = new Map([
  ["content-type", "content-type"],
  ["x-request-id", UPSTREAM_REQUEST_ID],
  ["openai-processing-ms", "openai-processing-ms"],
  ["openai-version", "openai-version"],
  ["request-id", UPSTREAM_REQUEST_ID],
  ["anthropic-organization-id", "anthropic-organization-id"],
  ["retry-after", "retry-after"],
]);

export function createHttpProvider(options: HttpProviderOptions): Provider {
  // Loading the config refuses these; a provider made some other way must not drop them silently.
  const problem = baseUrlProblem(options.baseUrl);
  if (problem !== null) throw new SetupError(`upstream ${options.name}: base_url: ${problem}`);
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
  // An upstream's error may echo the key it was sent: the gateway's log must not keep it.
  const secrets: readonly string[] = options.apiKey === undefined ? [] : [options.apiKey];

  return {
    name: options.name,
    wires: wiresOf(options.type),
    request(call: UpstreamCall): Promise<UpstreamResponse> {
      // Assigned, not spread into a literal with members after it: on Node 20 that literal takes
      // V8's slow path on every call (about 4 µs; bench:bodies, `literals`).
      const headers: Record<string, string> = Object.assign({}, call.headers, auth);
      headers["content-type"] = "application/json";
      headers["accept-encoding"] = "identity";
      headers.accept = call.stream ? "text/event-stream" : "application/json";
      if (options.type === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
      const path = basePath + PATHS[call.endpoint];
      return dispatch(pool, path, headers, call, options.name, secrets, options.timeouts);
    },
    close: () => pool.close(),
  };
}

/**
 * One request over the pool, through undici's dispatch callbacks rather than its request API:
 * the answer's head resolves the promise and its body flows into a DispatchedBody (see body.ts).
 */
function dispatch(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
  call: UpstreamCall,
  name: string,
  secrets: readonly string[],
  timeouts: HttpProviderOptions["timeouts"],
): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const body = new DispatchedBody();
    let answered = false;
    /** When the request went out: the first-byte deadline counts from there. */
    let sent = 0;
    /** The first-byte deadline once a 1xx came (undici's headers timeout restarts on each). */
    let deadline: NodeJS.Timeout | undefined;
    /** Set when the upstream encoded its body although asked for identity. */
    let decoder: Decoder | null = null;
    call.signal.once("abort", () => {
      // Before the head: the request is aborted and rejects; after: the body is destroyed.
      if (answered) body.destroy();
      else body.abortUpstream(new errors.RequestAbortedError());
    });
    // onRequestSent: undici calls it once the request is written whole (its types leave it out).
    const handler: Dispatcher.DispatchHandler & { onRequestSent: (() => void) | undefined } = {
      onConnect(abort: (err?: Error) => void) {
        body.abortUpstream = abort;
        sent = performance.now();
        if (call.signal.aborted) abort(new errors.RequestAbortedError());
      },
      onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
        if (status < 200) {
          // 1xx: informational, the real head follows — within the first-byte timeout all the same
          // (an upstream sending "102 Processing" every few seconds must not hold the call for ever).
          // Timed only from the first 1xx: no timer on the common path.
          deadline ??= setTimeout(
            () => body.abortUpstream(new errors.HeadersTimeoutError()),
            Math.max(0, timeouts.first_byte_ms - (performance.now() - sent)),
          );
          return true;
        }
        clearTimeout(deadline);
        body.resumeUpstream = resume;
        body.noPause = endsByClose(raw);
        answered = true;
        if (status >= 300) {
          // An error answer's body is read (its first 2 KB) before the client gets anything: within
          // one idle timeout as a whole, not one per byte (2 KB trickled in would hold the client
          // for days). Then what came is what is answered from; the upstream request is aborted.
          const whole = setTimeout(() => body.destroy(), timeouts.idle_ms).unref();
          body.once("close", () => clearTimeout(whole));
        }
        const encoding = contentEncoding(raw);
        if (encoding !== null) decoder = new Decoder(encoding, body, resume);
        resolve({ status, headers: passedHeaders(raw), body, secrets });
        return true;
      },
      onData: (chunk: Buffer) => (decoder === null ? body.push(chunk) : decoder.write(chunk)),
      onComplete: () => (decoder === null ? body.finish(null) : decoder.end()),
      onError(err: Error) {
        clearTimeout(deadline);
        if (!answered) reject(classify(err, name));
        else if (decoder === null) body.finish(err);
        else decoder.fail(err);
      },
      onRequestSent: call.onSent,
    };
    pool.dispatch({ path, method: "POST", headers, body: call.body }, handler);
  });
}

/**
 * The headers worth passing on, lower-cased and renamed; one sent twice is left out (as node:http
 * would make it a list), as is a request id sent under both names.
 */
function passedHeaders(raw: readonly Buffer[]): Record<string, string> {
  const out: Record<string, string> = {};
  const twice = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = PASS_HEADERS.get((raw[i] as Buffer).toString("latin1").toLowerCase());
    if (name === undefined) continue;
    if (name in out) twice.add(name);
    out[name] = (raw[i + 1] as Buffer).toString("latin1");
  }
  for (const name of twice) delete out[name];
  return out;
}

/**
 * The codings the body still carries once undici has undone the chunked framing, lower-cased and in
 * the order they were applied (its content codings, then its transfer codings but `chunked`), or
 * null for none. The gateway asks for identity; an upstream (or a proxy before it) may encode all
 * the same — as content or, rarely, transfer coding (`Transfer-Encoding: gzip, chunked`, which undici
 * passes on still compressed) — and the header is not passed on (the relay rewrites and measures the
 * text), so such a body is decoded before anyone reads it.
 */
/**
 * Whether the upstream ends this answer by closing its connection: `Connection: close`, or neither
 * a `Content-Length` nor a transfer coding ending in chunked (a body delimited by the close). Such a
 * body must not pause undici's parser (see DispatchedBody.noPause). An HTTP/1.0 answer with a length
 * and no `Connection: keep-alive` closes too, but its version is not shown to a dispatch handler.
 */
function endsByClose(raw: readonly Buffer[]): boolean {
  let framed = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const length = (raw[i] as Buffer).length;
    if (length !== 10 && length !== 14 && length !== 17) continue;
    const name = (raw[i] as Buffer).toString("latin1").toLowerCase();
    if (name === "content-length") framed = true;
    // A transfer coding not ending in chunked is read until the close (RFC 9112 §6.3).
    else if (name === "transfer-encoding")
      framed = /(^|,)\s*chunked\s*$/i.test((raw[i + 1] as Buffer).toString("latin1"));
    else if (
      name === "connection" &&
      /(^|,)\s*close\s*(,|$)/i.test((raw[i + 1] as Buffer).toString("latin1"))
    )
      return true;
  }
  return !framed;
}

function contentEncoding(raw: readonly Buffer[]): string | null {
  let content: string | null = null;
  let transfer: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const length = (raw[i] as Buffer).length;
    if (length !== 16 && length !== 17) continue;
    const name = (raw[i] as Buffer).toString("latin1").toLowerCase();
    if (name !== "content-encoding" && name !== "transfer-encoding") continue;
    const value = (raw[i + 1] as Buffer).toString("latin1").trim().toLowerCase();
    if (name === "content-encoding") content = content === null ? value : `${content}, ${value}`;
    else transfer = transfer === null ? value : `${transfer}, ${value}`;
  }
  // Nearly every answer: no content coding, and no transfer coding or only the framing.
  if ((content === null || content === "" || content === "identity") && (transfer ?? "chunked") === "chunked")
    return null;
  const codings = [content ?? "", transfer ?? ""]
    .join(",")
    .split(",")
    .map((coding) => coding.trim())
    .filter((coding) => coding !== "" && coding !== "identity" && coding !== "chunked");
  return codings.length === 0 ? null : codings.join(", ");
}

/**
 * Decodes an encoded body on its way into the DispatchedBody, with backpressure both ways: the body
 * full pauses the decoder, the decoder full pauses the upstream. A coding it cannot undo (several,
 * or one other than gzip, deflate and br) fails the body as an upstream that broke off would.
 */
class Decoder {
  private readonly zlib: Transform | null;
  private failed = false;

  constructor(
    encoding: string,
    private readonly body: DispatchedBody,
    private readonly resume: () => void,
  ) {
    this.zlib =
      encoding === "gzip" || encoding === "x-gzip"
        ? createGunzip()
        : encoding === "deflate"
          ? createInflate()
          : encoding === "br"
            ? createBrotliDecompress()
            : null;
    const zlib = this.zlib;
    if (zlib === null) {
      this.fail(new Error(`the upstream's body is encoded as ${quoted(encoding.slice(0, 100))}`));
      return;
    }
    zlib.on("data", (chunk: Buffer) => {
      if (!body.push(chunk)) zlib.pause();
    });
    zlib.once("end", () => body.finish(null));
    zlib.on("error", (err: Error) => this.fail(err));
    body.resumeUpstream = () => {
      zlib.resume();
      resume();
    };
  }

  write(chunk: Buffer): boolean {
    if (this.failed || this.zlib === null) return true;
    const taken = this.zlib.write(chunk);
    if (this.body.noPause) {
      // Never pause such an upstream (see DispatchedBody.noPause): zlib holds it, within the bound.
      if (this.zlib.writableLength > NO_PAUSE_HOLD) {
        this.fail(new Error(`the upstream's answer outran its reader by over ${NO_PAUSE_HOLD} bytes`));
      }
      return true;
    }
    if (taken) return true;
    this.zlib.once("drain", this.resume);
    return false;
  }

  end(): void {
    if (!this.failed) this.zlib?.end();
  }

  fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.zlib?.destroy();
    this.body.finish(err);
    this.body.abortUpstream(err);
  }
}

function classify(err: unknown, name: string): unknown {
  if (err instanceof errors.RequestAbortedError || (err as Error).name === "AbortError") return err;
  if (err instanceof errors.ConnectTimeoutError || err instanceof errors.HeadersTimeoutError) {
    return new UpstreamError("timeout", `upstream ${name} did not answer in time`, { cause: err });
  }
  // Reached, but its head could not be read: said as what it is, not as unreachable.
  if (err instanceof errors.HeadersOverflowError) {
    return new UpstreamError(
      "failed",
      `upstream ${name} answered with headers over the ${maxHeaderSize}-byte limit`,
      { cause: err },
    );
  }
  if (err instanceof errors.HTTPParserError) {
    return new UpstreamError("failed", `upstream ${name} answered with a malformed HTTP head`, {
      cause: err,
    });
  }
  return new UpstreamError("unreachable", `upstream ${name} is unreachable`, { cause: err });
}
