/**
 * Monitoring for a gateway: Prometheus metrics (served at /metrics on the gateway's listener behind
 * an admin token, or on a listener of its own), the access log, and OpenTelemetry traces — all fed
 * by the gateway's request observer, once per request. Anything else that wants to watch requests
 * (the anomaly detectors) is added as a further sink.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { DestinationStream } from "./access-log.js";
import type { ConfigFile } from "../config/index.js";
import { ClearanceError } from "../errors/index.js";
import { asClearanceError, errorBody, sendJson, setErrorHeaders, statusOf } from "../http/index.js";
import { setSecurityHeaders } from "../http/security-headers.js";
import {
  DEFAULT_CONNECTION_LIMITS,
  guardConnections,
  serverOptions,
  type ClientErrorRenderer,
  type ConnectionLimits,
  type GuardedServer,
} from "../http/connections.js";
import type { ObservedRequest, RequestObserver } from "../gateway/observer.js";
import { openAccessLog, type AccessLog } from "./access-log.js";
import { GatewayMetrics, type MetricSources } from "./metrics.js";
import { clientTraceHeaders, openTracing, type Tracing } from "./tracing.js";

export { GatewayMetrics, routeLabel, type MetricSources } from "./metrics.js";
export { openAccessLog, type AccessLog } from "./access-log.js";

export type MonitoringConfig = ConfigFile["monitoring"];

export interface MonitoringOptions {
  readonly config: MonitoringConfig;
  readonly sources: MetricSources;
  /**
   * Checks a scraper's admin API token and that it reads the whole control plane (throws a
   * ClearanceError; a source past its failed authentications gets its Retry-After on `res`).
   */
  readonly authenticate: (req: IncomingMessage, res: ServerResponse) => void;
  /** Instead of the configured destination (tests, benchmarks). */
  readonly accessLogStream?: DestinationStream;
  /**
   * The separate metrics listener's time limits: the gateway's own (a listener without them is held
   * open by any client that connects and says nothing). Its connection cap is its own
   * (`monitoring.metrics.listen.max_connections`), not this one's.
   */
  readonly connections?: ConnectionLimits;
  readonly onError: (err: unknown) => void;
}

/** Something else told of every request (the anomaly detectors). */
export type RequestSink = (o: ObservedRequest) => void;

export class Monitoring implements RequestObserver {
  private readonly sinks: RequestSink[] = [];
  private server: Server | null = null;
  private guarded: GuardedServer | null = null;
  /** close() has begun: the access log is about to close, and a SIGHUP then reopens nothing. */
  private closing = false;

  private constructor(
    readonly metrics: GatewayMetrics | null,
    private readonly accessLog: AccessLog | null,
    private readonly tracing: Tracing | null,
    private readonly options: MonitoringOptions,
  ) {}

  static async open(options: MonitoringOptions): Promise<Monitoring> {
    const c = options.config;
    const metrics = c.metrics.enabled ? new GatewayMetrics(options.sources) : null;
    const accessLog = c.access_log.enabled
      ? openAccessLog({
          destination: c.access_log.destination,
          onError: options.onError,
          onDropped: (lines) => metrics?.accessLogLinesDropped(lines),
          ...(options.accessLogStream === undefined ? {} : { stream: options.accessLogStream }),
        })
      : null;
    const tracing = c.tracing.enabled
      ? await openTracing({
          endpoint: c.tracing.endpoint,
          serviceName: c.tracing.service_name,
          ...(options.sources.scheme === undefined ? {} : { scheme: options.sources.scheme }),
        })
      : null;
    const m = new Monitoring(metrics, accessLog, tracing, options);
    if (metrics !== null && c.metrics.listen !== undefined) {
      await m.listen(c.metrics.listen.host, c.metrics.listen.port, c.metrics.listen.max_connections);
    }
    return m;
  }

  /** Adds a sink told of every request after metrics, log and trace. */
  add(sink: RequestSink): void {
    this.sinks.push(sink);
  }

  observe(o: ObservedRequest): void {
    // A fault here must never reach the request (it has ended already) nor stop the others.
    try {
      this.metrics?.request(o);
      this.accessLog?.write(o);
      this.tracing?.end(o);
      for (const sink of this.sinks) sink(o);
    } catch (err) {
      this.options.onError(err);
    }
  }

  upstreamHeaders(o: ObservedRequest, incoming: IncomingMessage["headers"]): Record<string, string> {
    if (this.tracing !== null) return this.tracing.start(o, incoming);
    // Not tracing: the client's own trace context still reaches the upstream, when valid.
    return clientTraceHeaders(incoming.traceparent, incoming.tracestate);
  }

  /**
   * GET /metrics as a route of the gateway's own listener (null when metrics are off or have a
   * listener of their own): the gateway answers, observes and logs it as any request, and renders
   * what it throws.
   */
  get route(): ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null {
    const c = this.options.config.metrics;
    if (this.metrics === null || c.listen !== undefined) return null;
    return (req, res) => this.answer(req, res, c.auth === "admin");
  }

  /** Where the separate metrics listener is, when configured. */
  get metricsUrl(): string | null {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (a === undefined || a === null) return null;
    const host = a.address.includes(":") ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/metrics`;
  }

  /**
   * The access log's file, opened again by name (SIGHUP; see AccessLog.reopen). The file it names
   * once it is open, or null when nothing was reopened (no access log, stdout or stderr, or the
   * gateway closing); rejects with the reason when the file cannot be opened.
   */
  async reopenAccessLog(): Promise<string | null> {
    const destination = this.options.config.access_log.destination;
    if (this.accessLog === null || this.options.accessLogStream !== undefined) return null;
    if (destination === "stdout" || destination === "stderr" || this.closing) return null;
    return (await this.accessLog.reopen()) ? destination : null;
  }

  async close(): Promise<void> {
    this.closing = true;
    const server = this.server;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        this.guarded?.closeSilentConnections();
      });
    }
    await this.tracing?.close().catch((err: unknown) => this.options.onError(err));
    await this.accessLog?.close().catch((err: unknown) => this.options.onError(err));
  }

  /** The scrape: the exposition, or a ClearanceError thrown (the method, the admin token). */
  private async answer(req: IncomingMessage, res: ServerResponse, auth: boolean): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      throw new ClearanceError("method", "method_not_allowed", `${req.method} is not allowed here; use GET`, {
        allow: ["GET", "HEAD"],
      });
    }
    if (auth) this.options.authenticate(req, res);
    const { text, contentType } = await (this.metrics as GatewayMetrics).expose();
    res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
    res.end(req.method === "HEAD" ? undefined : text);
  }

  /** A scrape on the metrics' own listener (no token asked there), its refusals rendered here. */
  private scrape(req: IncomingMessage, res: ServerResponse): void {
    // Answered here, not by the gateway's handler: the headers every answer carries, set here too.
    setSecurityHeaders(res);
    this.answer(req, res, false).catch((thrown: unknown) => {
      const err = asClearanceError(thrown);
      if (statusOf(err) >= 500) this.options.onError(thrown);
      if (res.headersSent) return void res.destroy();
      setErrorHeaders(res, err);
      sendJson(res, statusOf(err), errorBody(err));
    });
  }

  private async listen(host: string, port: number, maxConnections: number): Promise<void> {
    // The gateway's time limits, but a cap of its own: sharing the gateway's number let a scrape
    // flood hold as many connections (descriptors) as the gateway's whole traffic.
    const limits: ConnectionLimits = Object.assign(
      {},
      this.options.connections ?? DEFAULT_CONNECTION_LIMITS,
      {
        maxConnections,
      },
    );
    const server = createServer(serverOptions(limits), (req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/metrics") return this.scrape(req, res);
      setSecurityHeaders(res);
      sendJson(res, 404, errorBody(new ClearanceError("not-found", "not_found", `no route ${path}`)));
    });
    // The gateway's guards: slow or silent clients are cut off, connections capped, and a request
    // the parser refuses is answered in the admin API's JSON.
    this.guarded = guardConnections(server, limits, renderRefusal);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, resolve);
    });
    this.server = server;
  }
}

/**
 * A request the metrics listener's parser refused, in the admin API's JSON (no SDK reads it),
 * without the decision headers: this listener decides nothing.
 */
const renderRefusal: ClientErrorRenderer = (err) => ({
  body: JSON.stringify(errorBody(err)),
  requestIdHeader: null,
  decisionHeaders: false,
});
