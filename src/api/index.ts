/**
 * The decision API: a policy decision point any service of the provider can call.
 *   POST /v1/decisions   {principal, request} or an array of them → decision(s)
 *   GET  /healthz        liveness, with the active scheme's name and digest
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { ClearanceError, InvalidInputError, type Problem } from "../errors/index.js";
import { DEFAULT_CONNECTION_LIMITS, guardConnections, serverOptions } from "../http/connections.js";
import { errorBody, readJson, requireHost, sendJson, withErrors } from "../http/index.js";
import { setSecurityHeaders } from "../http/security-headers.js";
import { decide, decisionView, parseDecisionInput, type DecisionInput } from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";

export const MAX_BATCH = 10_000;

export interface DecisionApiOptions {
  /** Returns the scheme in force; read per request so that a new version applies without restart. */
  readonly scheme: () => CompiledScheme;
  readonly bodyLimit?: number;
  readonly onError?: (err: unknown) => void;
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
    if (url.pathname === "/v1/decisions")
      return handleDecisions(req, res, options.scheme(), options.bodyLimit);
    throw new ClearanceError("not-found", "not_found", `no route for ${req.method} ${url.pathname}`);
  }, options.onError);
}

/** POST /v1/decisions: one {principal, request}, or an array of them. */
export async function handleDecisions(
  req: IncomingMessage,
  res: ServerResponse,
  scheme: CompiledScheme,
  bodyLimit?: number,
): Promise<void> {
  allow(req, "POST");
  const body = await readJson(req, { ...(bodyLimit === undefined ? {} : { limit: bodyLimit }) });
  if (Array.isArray(body)) {
    const inputs = parseBatch(body);
    const decisions = inputs.map((i) => decisionView(decide(scheme, i.principal, i.request)));
    return sendJson(res, 200, { decisions });
  }
  const input = parseDecisionInput(body);
  sendJson(res, 200, decisionView(decide(scheme, input.principal, input.request)));
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
