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
import type { CompiledScheme } from "../scheme/index.js";
import { operationName, routeLabel } from "./metrics.js";

export interface TracingOptions {
  readonly endpoint: string;
  readonly serviceName: string;
  /** The scheme in force: only its models are named in span names (as metrics' labels). */
  readonly scheme?: () => CompiledScheme;
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
// W3C Trace Context: a list member's key (simple or multi-tenant) and value.
const TRACESTATE_KEY = /^(?:[a-z][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * A client's `tracestate` as W3C Trace Context says to pass it on: its well-formed members (the
 * first of a key repeated), at most 32, and within 512 characters — members over 128 characters
 * dropped first, then members from the end. Done here, not by the API's own parser, which drops a
 * value past 512 characters whole and reverses the members it keeps past 32.
 */
export function normalTracestate(tracestate: string): string {
  const members: string[] = [];
  const keys = new Set<string>();
  for (const part of tracestate.split(",")) {
    if (members.length === 32) break;
    const member = part.trim(); // optional whitespace around a member
    const i = member.indexOf("=");
    if (i < 0) continue;
    const key = member.slice(0, i);
    if (keys.has(key) || !TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(i + 1))) continue;
    keys.add(key);
    members.push(member);
  }
  const length = (list: string[]) => list.reduce((n, m) => n + m.length + 1, -1);
  let kept = length(members) > 512 ? members.filter((m) => m.length <= 128) : members;
  while (length(kept) > 512) kept = kept.slice(0, -1);
  return kept.join(",");
}

/** A valid W3C `traceparent` (version 00, ids not all zero): its trace id, span id and flags. */
function readTraceparent(traceparent: string | undefined): [string, string, string] | null {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim());
  if (m === null) return null;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return [traceId, spanId, flags];
}

/**
 * The client's trace context, when it sent a valid one (W3C Trace Context, version 00), with its
 * `tracestate` (its well-formed members): read only with a valid traceparent, as the spec says.
 */
export function parentContext(traceparent: string | undefined, tracestate?: string): Context {
  const parsed = readTraceparent(traceparent);
  if (parsed === null) return ROOT_CONTEXT;
  const [traceId, spanId, flags] = parsed;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(tracestate === undefined ? {} : { traceState: createTraceState(normalTracestate(tracestate)) }),
  });
}

/**
 * The client's trace context headers passed to the upstream with tracing off: its `traceparent`
 * only when valid, and its `tracestate` only beside one, normalised as W3C says — what tracing on
 * would continue, never the client's bytes unread.
 */
export function clientTraceHeaders(traceparent: unknown, tracestate: unknown): Record<string, string> {
  const parsed = readTraceparent(typeof traceparent === "string" ? traceparent : undefined);
  if (parsed === null) return {};
  const headers: Record<string, string> = { traceparent: `00-${parsed.join("-")}` };
  const state = typeof tracestate === "string" ? normalTracestate(tracestate) : "";
  if (state !== "") headers.tracestate = state;
  return headers;
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
  return tracingWith(provider.getTracer("clearance"), () => provider.shutdown(), options.scheme);
}

/**
 * The span's name: `{operation} {model}` as the GenAI conventions say, for a model of the scheme in
 * force; a model the scheme does not know (the client's own text, up to 256 characters) leaves the
 * operation alone, as span names must be few (a backend indexes them) and the gateway's own. The
 * model as sent stays in `gen_ai.request.model`. Without a scheme to ask (tests), no model is named.
 */
export function spanName(o: ObservedRequest, scheme: (() => CompiledScheme) | undefined): string {
  const route = routeLabel(o.path);
  const op = operationName(route);
  const model = o.decision?.model;
  if (op === "other" || model === undefined) return `${o.method} ${route}`;
  return scheme?.().models.has(model) === true ? `${op} ${model}` : op;
}

export function tracingWith(
  tracer: Tracer,
  shutdown: () => Promise<void>,
  scheme?: () => CompiledScheme,
): Tracing {
  const startSpan = (o: ObservedRequest, traceparent: string | undefined, tracestate?: string): Span => {
    const span = tracer.startSpan(
      spanName(o, scheme),
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
