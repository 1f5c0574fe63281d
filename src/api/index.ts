/**
 * The decision API: a policy decision point any service of the provider can call.
 *   POST /v1/decisions   {principal, request} or an array of them → decision(s)
 *   GET  /healthz        liveness, with the active scheme's name and digest
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { ClearanceError, InvalidInputError, type Problem } from "../errors/index.js";
import { DEFAULT_CONNECTION_LIMITS, guardConnections, serverOptions } from "../http/connections.js";
import { errorBody, readJsonText, requireHost, sendJson, withErrors } from "../http/index.js";
import { duplicateMemberPath } from "../http/members.js";
import { setSecurityHeaders } from "../http/security-headers.js";
import {
  decide,
  decisionView,
  parseDecisionInput,
  type Decision,
  type DecisionInput,
} from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";

export const MAX_BATCH = 10_000;

export interface DecisionApiOptions {
  /** Returns the scheme in force; read per request so that a new version applies without restart. */
  readonly scheme: () => CompiledScheme;
  readonly bodyLimit?: number;
  readonly onError?: (err: unknown) => void;
  /** Prometheus metrics: every decision counted, served at GET /metrics. */
  readonly metrics?: DecisionMetrics;
}

export interface DecisionMetrics {
  decided(d: Decision, action: string): void;
  expose(): Promise<{ text: string; contentType: string }>;
}

export function decisionHandler(options: DecisionApiOptions) {
  return withErrors(async (req: IncomingMessage, res: ServerResponse) => {
    setSecurityHeaders(res);
    requireHost(req);
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/healthz") {
      allow(req, "GET", "HEAD");
      const s = options.scheme();
      return sendJson(res, 200, { status: "ok", scheme: { name: s.name, digest: s.digest } });
    }
    if (url.pathname === "/metrics" && options.metrics !== undefined) {
      allow(req, "GET");
      const { text, contentType } = await options.metrics.expose();
      res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
      return void res.end(text);
    }
    if (url.pathname === "/v1/decisions")
      return handleDecisions(req, res, options.scheme(), options.bodyLimit, options.metrics);
    throw new ClearanceError("not-found", "not_found", `no route for ${req.method} ${url.pathname}`);
  }, options.onError);
}

/** POST /v1/decisions: one {principal, request}, or an array of them. */
export async function handleDecisions(
  req: IncomingMessage,
  res: ServerResponse,
  scheme: CompiledScheme,
  bodyLimit?: number,
  metrics?: DecisionMetrics,
): Promise<void> {
  allow(req, "POST");
  const { text, value: body } = await readJsonText(req, {
    ...(bodyLimit === undefined ? {} : { limit: bodyLimit }),
  });
  refuseDuplicateMembers(text);
  if (Array.isArray(body)) {
    const inputs = parseBatch(body);
    const decided = inputs.map((i) => decide(scheme, i.principal, i.request));
    if (metrics !== undefined)
      decided.forEach((d, i) => metrics.decided(d, inputs[i]?.request.action ?? "infer"));
    return sendJson(res, 200, { decisions: decided.map((d) => decisionView(d)) });
  }
  const input = parseDecisionInput(body);
  const decision = decide(scheme, input.principal, input.request);
  metrics?.decided(decision, input.request.action);
  sendJson(res, 200, decisionView(decision));
}

export function allow(req: IncomingMessage, ...methods: string[]): void {
  if (!methods.includes(req.method ?? "")) {
    throw new ClearanceError(
      "method",
      "method_not_allowed",
      `${req.method} is not allowed here; use ${methods.join(" or ")}`,
    );
  }
}

/**
 * A member named twice anywhere in the body: JSON.parse would decide on the last (a `location` of
 * IR followed by one of US is decided as US), where the caller's own reading may keep the first.
 */
function refuseDuplicateMembers(text: string): void {
  const path = duplicateMemberPath(text);
  if (path === null) return;
  const name = String(path.at(-1));
  const message = `the body names ${JSON.stringify(name)} more than once in the same object; send each member once`;
  throw new ClearanceError("invalid", "duplicate_member", message, {
    problems: [{ code: "duplicate_member", path, message }],
  });
}

/** Validates every item, so one response names every bad field in the batch. */
function parseBatch(items: unknown[]): DecisionInput[] {
  if (items.length > MAX_BATCH) {
    throw new ClearanceError(
      "too-large",
      "batch_too_large",
      `at most ${MAX_BATCH} decisions per request, got ${items.length}`,
    );
  }
  const problems: Problem[] = [];
  const inputs: DecisionInput[] = [];
  items.forEach((item, i) => {
    try {
      inputs.push(parseDecisionInput(item, [i]));
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      problems.push(...err.problems);
    }
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return inputs;
}

export function createDecisionServer(options: DecisionApiOptions): Server {
  const handler = decisionHandler(options);
  const limits = { ...DEFAULT_CONNECTION_LIMITS, keepAliveTimeoutMs: 5_000 };
  const server = createServer(serverOptions(limits), (req, res) => void handler(req, res));
  guardConnections(server, limits, (err) => JSON.stringify(errorBody(err)));
  return server;
}
