/**
 * The one hook monitoring has on the request path. The gateway fills an Observation as a request
 * goes (plain field writes: no I/O, no allocation beyond the object itself) and, once the response
 * has ended or the connection closed, hands it to the configured RequestObserver — once per
 * request. Metrics, the access log, traces and the anomaly detectors all live behind that call
 * (src/monitoring, src/alerts); the gateway knows nothing of them.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { socketAnswer } from "../http/connections.js";
import { addressText, type ClientSlot, type IpAddress, type Locator } from "../location/index.js";
import type { Decision, Principal } from "../policy/index.js";
import { answersAsStream } from "../upstream/sse.js";
import type { UpstreamResponse } from "../upstream/types.js";

export interface RequestObserver {
  /** Once per request, after its response ended (or its connection closed). Must not throw. */
  observe(request: ObservedRequest): void;
  /**
   * Headers for the upstream request of a forwarded call (W3C trace context). Called once per
   * forwarded request, just before it is sent.
   */
  upstreamHeaders?(request: ObservedRequest, incoming: IncomingHttpHeaders): Record<string, string>;
}

/** What one request was, as the observer sees it. Times are `performance.now()` milliseconds. */
export interface ObservedRequest {
  readonly requestId: string;
  readonly method: string;
  /** The URL path without its query. */
  readonly path: string;
  /** Wall-clock start (ms since the epoch). */
  readonly startedAt: number;
  readonly start: number;
  /** When the response ended or the connection closed. */
  readonly end: number;
  /**
   * The status answered (at the socket too, when Node's parser refused the request after its
   * head); 499 when the client left before any answer was sent.
   */
  readonly status: number;
  /** x-clearance-reason as answered: the decision's reason, or the refusal's error code. */
  readonly reason: string;
  readonly decision: Decision | null;
  readonly principal: Principal | null;
  /** The credential the caller presented: an API key id (never its secret), or what identity names. */
  readonly credential: string | null;
  readonly location: string | null;
  /** The TCP peer's address (behind proxies, the nearest proxy). */
  readonly peer: string | undefined;
  /**
   * The client's address as the locator believes it (behind trusted proxies, the X-Forwarded-For
   * hop they vouch for; every IPv6 group written out); null when it cannot be told.
   */
  readonly client: string | null;
  /** The client's W3C trace context, if it sent one. */
  readonly traceparent: string | undefined;
  /** The decision's entry in the audit log, once durable. */
  readonly auditIndex: bigint | null;
  readonly decided: number | null;
  readonly recorded: number | null;
  /** Sent to the upstream; its response headers; its first body chunk. */
  readonly forwarded: number | null;
  readonly answered: number | null;
  readonly firstChunk: number | null;
  /** The upstream answered with an event stream. */
  readonly streamed: boolean;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  /** Whatever the observer keeps with the request (its trace span, for instance). */
  slot: unknown;
}

/** The status of a request whose client left before any answer was sent (as nginx logs it). */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * Observations handed to their observer on the next turn of the event loop, all of a turn's in
 * one go: one setImmediate per turn rather than per request.
 */
let waiting: [RequestObserver, Observation][] = [];
function later(observer: RequestObserver, o: Observation): void {
  if (waiting.length === 0) setImmediate(flush);
  waiting.push([observer, o]);
}
function flush(): void {
  const now = waiting;
  waiting = [];
  for (const [observer, o] of now) observer.observe(o);
}

export class Observation implements ObservedRequest, ClientSlot {
  readonly startedAt = Date.now();
  readonly start = performance.now();
  end = 0;
  status = 0;
  reason = "none";
  decision: Decision | null = null;
  principal: Principal | null = null;
  credential: string | null = null;
  location: string | null = null;
  peer: string | undefined;
  /** Set by the locator when it locates the request (see ClientSlot). */
  clientAddress: IpAddress | null | undefined = undefined;
  private forwardedFor: string | undefined;
  private locator: Locator | undefined;
  private clientText: string | null | undefined;
  traceparent: string | undefined;
  auditIndex: bigint | null = null;
  decided: number | null = null;
  recorded: number | null = null;
  forwarded: number | null = null;
  answered: number | null = null;
  firstChunk: number | null = null;
  streamed = false;
  inputTokens: number | null = null;
  outputTokens: number | null = null;
  slot: unknown = undefined;

  constructor(
    private readonly observer: RequestObserver | undefined,
    readonly requestId: string,
    readonly method: string,
    readonly path: string,
  ) {}

  /** Starts observing `res`: the observer is called once, when it closes. */
  static begin(
    observer: RequestObserver | undefined,
    requestId: string,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    locator: Locator,
  ): Observation {
    const o = new Observation(observer, requestId, req.method ?? "GET", path);
    if (observer === undefined) return o;
    o.locator = locator;
    o.peer = req.socket.remoteAddress;
    const xff = req.headers["x-forwarded-for"];
    o.forwardedFor = typeof xff === "string" ? xff : undefined;
    const parent = req.headers.traceparent;
    o.traceparent = typeof parent === "string" ? parent : undefined;
    res.once("close", () => {
      o.end = performance.now();
      // Answered at the socket (its body too slow, its framing bad): that status and reason. Else
      // closed before any answer was sent, the client left: not the 200 Node holds by default.
      const refused = socketAnswer(res);
      o.status = refused?.status ?? (res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST);
      o.reason = refused?.reason ?? String(res.getHeader("x-clearance-reason") ?? "none");
      // "close" can come before the handler's last steps (the usage it metered): they run first.
      later(observer, o);
    });
    return o;
  }

  /**
   * Written out once, when first read (off the request path): from what the locator found when it
   * located the request, or — for a request refused before that — by asking it now.
   */
  get client(): string | null {
    if (this.clientText === undefined) {
      this.clientText =
        this.clientAddress !== undefined
          ? addressText(this.clientAddress)
          : (this.locator?.client(this.peer, this.forwardedFor) ?? null);
    }
    return this.clientText;
  }

  /** Who asks, from where: known before any decision (and kept when the request is refused). */
  ask(credential: string, principal: Principal, location: string | null): void {
    this.credential = credential;
    this.principal = principal;
    this.location = location;
  }

  /** The decision in force for the answer (none for a request refused before it is recorded). */
  decide(decision: Decision): void {
    this.decided = performance.now();
    this.decision = decision;
  }

  /**
   * The decision's entry could not be made (the log refused it): none was recorded, so none is
   * claimed — the answer is a refusal, counted and logged as one refused before any decision.
   */
  unrecorded(): void {
    this.decided = null;
    this.decision = null;
  }

  record(index: bigint): void {
    this.recorded = performance.now();
    this.auditIndex = index;
  }

  /** Marks the upstream call's start; the headers to add to it (trace context). */
  forward(incoming: IncomingHttpHeaders): Record<string, string> | undefined {
    this.forwarded = performance.now();
    return this.observer?.upstreamHeaders?.(this, incoming);
  }

  /** `askedStream`: the request asked for a stream (an untyped answer to it is read as one). */
  answer(upstream: UpstreamResponse, askedStream: boolean): void {
    this.answered = performance.now();
    this.streamed = answersAsStream(upstream.headers["content-type"], askedStream);
  }

  /** The relay passed on the upstream body's first chunk (told by the relay: no listener of its own). */
  chunk(): void {
    if (this.firstChunk === null) this.firstChunk = performance.now();
  }

  use(usage: { readonly input: number; readonly output: number } | null): void {
    if (usage === null) return;
    this.inputTokens = usage.input;
    this.outputTokens = usage.output;
  }
}
