/**
 * OpenTelemetry traces: one span per request, with its decision, reason, served model and the
 * GenAI semantic conventions' `gen_ai.*` attributes, exported over OTLP/HTTP (off by default; the
 * SDK is loaded only when tracing is enabled). A forwarded request's span is started just before
 * the upstream call, so that the upstream receives it as its parent in a W3C `traceparent`; a
 * client's own `traceparent` makes the span its child.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  createTraceState,
  trace,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import type { IncomingHttpHeaders } from "node:http";
import type { ObservedRequest } from "../gateway/observer.js";
import { operationName, routeLabel } from "./metrics.js";

export interface TracingOptions {
  readonly endpoint: string;
  readonly serviceName: string;
  /** Instead of the OTLP exporter (tests). */
  readonly exporter?: unknown;
}

export interface Tracing {
  /** Starts the request's span; the trace context headers for the upstream. */
  start(o: ObservedRequest, incoming: IncomingHttpHeaders): Record<string, string>;
  /** Ends the request's span (starting it first if the request was never forwarded). */
  end(o: ObservedRequest): void;
  close(): Promise<void>;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The client's trace context, when it sent a valid one (W3C Trace Context, version 00), with its
 * `tracestate` (its well-formed members): read only with a valid traceparent, as the spec says.
 */
export function parentContext(traceparent: string | undefined, tracestate?: string): Context {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim());
  if (m === null) return ROOT_CONTEXT;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(tracestate === undefined ? {} : { traceState: createTraceState(tracestate) }),
  });
}

export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-0${c.traceFlags & TraceFlags.SAMPLED}`;
}

/** The span's W3C trace context headers: its traceparent, and the tracestate it continues (if any). */
export function traceHeadersOf(span: Span): Record<string, string> {
  const traceparent = traceparentOf(span);
  const state = span.spanContext().traceState?.serialize();
  return state === undefined || state === "" ? { traceparent } : { traceparent, tracestate: state };
}

export async function openTracing(options: TracingOptions): Promise<Tracing> {
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] =
    await Promise.all([
      import("@opentelemetry/sdk-trace"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
    ]);
  type Exporter = ConstructorParameters<typeof BatchSpanProcessor>[0]["exporter"];
  const exporter = (options.exporter ?? new OTLPTraceExporter({ url: options.endpoint })) as Exporter;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 500 })],
  });
  // Not registered globally: several gateways in one process keep their own.
  return tracingWith(provider.getTracer("clearance"), () => provider.shutdown());
}

export function tracingWith(tracer: Tracer, shutdown: () => Promise<void>): Tracing {
  const startSpan = (o: ObservedRequest, traceparent: string | undefined, tracestate?: string): Span => {
    const route = routeLabel(o.path);
    const op = operationName(route);
    const model = o.decision?.model;
    const span = tracer.startSpan(
      op !== "other" && model !== undefined ? `${op} ${model}` : `${o.method} ${route}`,
      { kind: SpanKind.SERVER, startTime: o.startedAt },
      parentContext(traceparent, tracestate),
    );
    o.slot = span;
    return span;
  };
  return {
    start(o, incoming) {
      const parent = incoming.traceparent;
      const state = incoming.tracestate;
      const span = startSpan(
        o,
        typeof parent === "string" ? parent : undefined,
        typeof state === "string" ? state : undefined,
      );
      return traceHeadersOf(span);
    },
    end(o) {
      const span = (o.slot as Span | undefined) ?? startSpan(o, o.traceparent);
      const d = o.decision;
      const route = routeLabel(o.path);
      span.setAttributes({
        "http.request.method": o.method,
        "http.response.status_code": o.status,
        "url.path": o.path,
        "clearance.request_id": o.requestId,
        "clearance.decision": d?.decision ?? "none",
        "clearance.reason": o.reason,
      });
      if (d !== null) {
        span.setAttributes({
          "gen_ai.operation.name": operationName(route),
          "gen_ai.request.model": d.model,
          "clearance.served_model": d.served_model ?? "none",
        });
        // One call each, not spreads after members (V8's slow path on Node 20, per request).
        if (d.served_model !== null) span.setAttribute("gen_ai.response.model", d.served_model);
        if (o.location !== null) span.setAttribute("clearance.location", o.location);
        if (o.auditIndex !== null) span.setAttribute("clearance.audit_index", Number(o.auditIndex));
      }
      if (o.inputTokens !== null) span.setAttribute("gen_ai.usage.input_tokens", o.inputTokens);
      if (o.outputTokens !== null) span.setAttribute("gen_ai.usage.output_tokens", o.outputTokens);
      if (o.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: o.reason });
      span.end(o.startedAt + (o.end - o.start));
    },
    close: shutdown,
  };
}
