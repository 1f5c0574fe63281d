/**
 * What holds a server up against clients that hold it down: time limits for receiving a request's
 * headers and whole body, an idle limit for open connections, a cap on connections, and an answer
 * in the caller's format when Node's HTTP parser refuses a request (bad framing, huge headers, too
 * slow) instead of Node's bare status line.
 */
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ClearanceError } from "../errors/index.js";
import { STATUS_OF_KIND } from "./index.js";
import { SECURITY_HEADER_LINES } from "./security-headers.js";

export interface ConnectionLimits {
  /** From a connection's first byte (or the end of the previous request) to the last header. */
  readonly headersTimeoutMs: number;
  /** To receive a whole request, body included (not the response: long streams are unaffected). */
  readonly requestTimeoutMs: number;
  /** Between requests on a kept-alive connection. */
  readonly keepAliveTimeoutMs: number;
  /** A connection with nothing sent either way for this long is closed (0: never). */
  readonly idleTimeoutMs: number;
  /** Connections held at once; beyond it new ones are closed as they arrive. */
  readonly maxConnections: number;
  /** Largest request head (request line and headers) in bytes: 431 beyond. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  idleTimeoutMs: 300_000,
  maxConnections: 4096,
  maxHeaderBytes: 16 * 1024,
};

/** The server options `createServer` takes for these limits. */
export function serverOptions(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // Node would answer a missing Host with a bare 400 of its own; requireHost() answers it in the
    // caller's format instead.
    requireHostHeader: false,
    // How often Node looks for requests past their time limits.
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
}

/** The request's path and headers as far as the parser got: enough to pick the caller's format. */
export interface RawRequest {
  readonly path: string | null;
  readonly head: string;
}

/** A refused request's body in the caller's format, and the header its SDK reads a request id from. */
export interface ClientErrorAnswer {
  readonly body: string;
  readonly requestIdHeader: string | null;
  /**
   * Whether the answer carries the decision headers (x-clearance-decision, -reason, -served-model);
   * default yes. A listener that decides nothing (the metrics') leaves them out.
   */
  readonly decisionHeaders?: boolean;
}
export type ClientErrorRenderer = (
  err: ClearanceError,
  raw: RawRequest,
  requestId: string,
) => ClientErrorAnswer;

/** The status and reason a refused request was answered with at the socket (by the handler below). */
export interface SocketAnswer {
  readonly status: number;
  readonly reason: string;
}
const answeredAtSocket = new WeakMap<object, SocketAnswer>();

/**
 * What the gateway answered a request with at the socket, when Node's parser refused it after its
 * head (a body too slow, bad framing): the response in flight sends nothing itself, and its
 * connection closes as if its client had left. undefined when it was not answered so.
 */
export function socketAnswer(res: ServerResponse): SocketAnswer | undefined {
  return answeredAtSocket.get(res);
}

/** What guardConnections leaves the caller: closing, on shutdown, connections that never spoke. */
export interface GuardedServer {
  /**
   * Destroys connections that have not sent a byte. Once `server.close()` is called Node stops
   * timing connections out, and one that never sends a request is not "idle" to it either, so a
   * silent client would hold the shutdown until the idle timeout (minutes).
   */
  closeSilentConnections(): void;
}

export function guardConnections(
  server: Server,
  limits: ConnectionLimits,
  render: ClientErrorRenderer,
): GuardedServer {
  server.maxConnections = limits.maxConnections;
  // Every header within maxHeaderBytes is read. Node's default keeps the first 2000 and drops the
  // rest without a word, and a proxy appends its X-Forwarded-For or country line last: a client
  // sending its own line, then 2000 short ones, had the proxy's dropped and was located by its own.
  server.maxHeadersCount = 0;
  server.timeout = limits.idleTimeoutMs;
  const open = new Set<Duplex & { bytesRead: number }>();
  server.on("connection", (socket: Duplex & { bytesRead: number }) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // A reset, or a socket already answering a request: nothing sensible can be written.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    const busy = inFlight?.headersSent;
    if (err.code === "ECONNRESET" || !socket.writable || busy === true) {
      socket.destroy();
      return;
    }
    // A connection that timed out without sending a byte had no request to answer: it is closed
    // without one. An unasked-for 408 on it reaches a client that picks the connection at that
    // moment as the answer to the request it has just sent (clients open connections ahead).
    const timedOut = err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ERR_HTTP_HEADERS_TIMEOUT";
    if (timedOut && (socket as Duplex & { bytesRead?: number }).bytesRead === 0) {
      socket.destroy();
      return;
    }
    const refused = refusal(err);
    const status = STATUS_OF_KIND[refused.kind];
    const requestId = randomUUID();
    const answer = render(refused, rawRequest(err.rawPacket, socket), requestId);
    const { body, requestIdHeader } = answer;
    // The request whose head had come is told what it was answered (its observer logs that).
    if (inFlight !== undefined && inFlight !== null)
      answeredAtSocket.set(inFlight, { status, reason: refused.code });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
        "connection: close\r\n" +
        "content-type: application/json\r\n" +
        SECURITY_HEADER_LINES +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `x-clearance-request-id: ${requestId}\r\n` +
        (requestIdHeader === null ? "" : `${requestIdHeader}: ${requestId}\r\n`) +
        (answer.decisionHeaders === false
          ? ""
          : "x-clearance-decision: none\r\n" +
            `x-clearance-reason: ${refused.code}\r\n` +
            "x-clearance-served-model: none\r\n") +
        "\r\n" +
        body,
    );
  });
  return {
    closeSilentConnections() {
      for (const socket of open) if (socket.bytesRead === 0) socket.destroy();
    },
  };
}

/** What the parser's error means for the client. */
function refusal(err: NodeJS.ErrnoException): ClearanceError {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return new ClearanceError(
        "headers-too-large",
        "headers_too_large",
        "the request's headers are too large",
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "ERR_HTTP_HEADERS_TIMEOUT":
      return new ClearanceError(
        "request-timeout",
        "request_timeout",
        "the request was not received in time; send it again",
      );
    default:
      return new ClearanceError(
        "invalid",
        "malformed_http",
        `the request is not valid HTTP/1.1 (${err.code ?? "parse error"}${err.message ? `: ${err.message.slice(0, 120)}` : ""})`,
      );
  }
}

function rawRequest(packet: Buffer | undefined, socket: Duplex): RawRequest {
  if (packet === undefined) {
    // A timeout has no packet; when the headers had all arrived (a slow body), the parser still
    // holds the request they make, and its path and headers tell the caller's format.
    const incoming = (socket as Duplex & { parser?: { incoming?: IncomingMessage | null } }).parser?.incoming;
    if (incoming === undefined || incoming === null) return { path: null, head: "" };
    const head: string[] = [];
    for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2)
      head.push(`${incoming.rawHeaders[i]}: ${incoming.rawHeaders[i + 1]}`);
    return { path: incoming.url?.split("?")[0] ?? null, head: head.join("\n") };
  }
  const head = packet.subarray(0, 8192).toString("latin1");
  // The failing request's line: the packet's last one (a packet of pipelined requests may begin
  // with the end of an earlier body), else the request the parser holds, if it got that far.
  let target: string | undefined;
  for (const m of packet.toString("latin1").matchAll(REQUEST_LINE)) target = m[1];
  target ??= (socket as Duplex & { parser?: { incoming?: IncomingMessage | null } }).parser?.incoming?.url;
  return { path: target === undefined ? null : (target.split("?")[0] ?? null), head: headOf(packet, head) };
}

const REQUEST_LINE = /(?:^|\n)[A-Z]+ (\S+) HTTP\/1\.[01]\r?\n/g;

/** The failing request's head (from its request line on), where the packet holds it. */
function headOf(packet: Buffer, start: string): string {
  const text = packet.toString("latin1");
  let at = -1;
  for (const m of text.matchAll(REQUEST_LINE)) at = m.index + (m[0].startsWith("\n") ? 1 : 0);
  return at <= 0 ? start : text.slice(at, at + 8192);
}
