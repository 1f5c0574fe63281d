/**
 * The decision API: a policy decision point any service of the provider can call.
 *   POST /v1/decisions   {principal, request} or an array of them → decision(s)
 *   GET  /healthz        liveness, with the active scheme's name and digest
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { ClearanceError, InvalidInputError, formatProblem, type Problem } from "../errors/index.js";
import { DEFAULT_CONNECTION_LIMITS, guardConnections, serverOptions } from "../http/connections.js";
import {
  errorBody,
  parseJsonText,
  readJsonBodyText,
  refuseBidiControls,
  refuseLoneSurrogates,
  requireHost,
  sendJson,
  withErrors,
} from "../http/index.js";
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
import { batchItems, decisionTooLarge, parseItem } from "./items.js";
import { ClientGone, Turns } from "./turns.js";
import { quoted } from "../policy/text.js";

export const MAX_BATCH = 10_000;

/**
 * The most characters of JSON one decision ({principal, request}) may take, alone or as a batch's
 * item: JSON.parse, the scan for members named twice and validation each take a decision whole, in
 * one turn of the event loop (a body of 800,000 unknown members took 4.3 s). The largest principal
 * the schema takes (64 citizenships and 64 residencies, dated) is about 9,000.
 */
export const MAX_DECISION_CHARS = 64 * 1024;

/** The most problems one refusal lists. */
export const MAX_PROBLEMS = 1_000;

export interface DecisionApiOptions {
  /** Returns the scheme in force; read per request so that a new version applies without restart. */
  readonly scheme: () => CompiledScheme;
  readonly bodyLimit?: number;
  /** Deepest nesting a body may have (the gateway's `limits.json_depth`). */
  readonly jsonDepth?: number;
  readonly onError?: (err: unknown) => void;
  /** Prometheus metrics: every decision counted, served at GET /metrics. */
  readonly metrics?: DecisionMetrics;
}

/** Where each decision is counted, as it is made. */
export interface DecisionCounter {
  decided(d: Decision, action: string): void;
}

export interface DecisionMetrics extends DecisionCounter {
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
    if (url.pathname === "/v1/decisions") return handleDecisions(req, res, options.scheme, options);
    throw new ClearanceError("not-found", "not_found", `no route for ${req.method} ${url.pathname}`);
  }, options.onError);
}

/**
 * POST /v1/decisions: one {principal, request}, or an array of them. A batch is worked out in short
 * turns of the event loop (see answerDecisions), against the scheme `scheme` returns once the body
 * is in: the one in force when the request arrived whole, whatever replaces it meanwhile. (Read
 * before the body, which may take up to the request timeout to come, it could be one replaced long
 * since, and its confirmation lapsed.) `scheme` may throw: the request is refused. A client that
 * leaves mid-batch gets nothing more worked out (the decisions made until then are counted in
 * `metrics`, as they are made).
 */
export async function handleDecisions(
  req: IncomingMessage,
  res: ServerResponse,
  scheme: () => CompiledScheme,
  limits: Pick<DecisionApiOptions, "bodyLimit" | "jsonDepth"> & { readonly metrics?: DecisionCounter } = {},
): Promise<void> {
  const { bodyLimit, jsonDepth, metrics } = limits;
  allow(req, "POST");
  const gone = () => res.destroyed || req.socket.destroyed;
  // Its clock starts before the body is read, so the first look at it once the body is in yields:
  // joining and decoding the body's chunks, when the last arrives, is a turn of its own.
  const turns = new Turns(gone);
  const text = await readJsonBodyText(req, {
    ...(bodyLimit === undefined ? {} : { limit: bodyLimit }),
    ...(jsonDepth === undefined ? {} : { depth: jsonDepth }),
  });
  const inForce = scheme();
  let chunks: readonly Buffer[];
  try {
    chunks = await answerDecisions(text, inForce, turns, metrics);
  } catch (err) {
    if (err instanceof ClientGone) return;
    throw err;
  }
  if (gone()) return;
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": length });
  for (const chunk of chunks) res.write(chunk);
  res.end();
}

/**
 * The answer to a decision request's body, as the bytes of its JSON: `{"decisions": [...]}` for an
 * array, one decision's view otherwise. A batch is cut into its items, then each item is parsed,
 * checked for members named twice, for lone surrogates (`invalid_unicode`) and for bidirectional
 * controls (`bidi_control`), validated, decided, counted and serialised, each pass in turns
 * (`turns`), so no one turn of the event loop carries more than a slice of it, and no step more than
 * one decision of at most MAX_DECISION_CHARS; the answer and every count are those of doing it all
 * at once. A body that is not an array is one decision: parsed whole, within that bound.
 */
export async function answerDecisions(
  text: string,
  scheme: CompiledScheme,
  turns: Turns,
  metrics?: DecisionCounter,
): Promise<Buffer[]> {
  const texts = await batchItems(text, turns, MAX_DECISION_CHARS, MAX_BATCH);
  if (texts === null) {
    if (text.length > MAX_DECISION_CHARS) throw decisionTooLarge([], MAX_DECISION_CHARS);
    const body = parseJsonText(text);
    const path = duplicateMemberPath(text);
    if (path !== null) refuseDuplicateMember(path);
    refuseLoneSurrogates(body, text);
    // Refused as the admin API refuses them: nothing here is stored, but a decision echoes the ids
    // it was given ("organization X is not a partner", the model, the purpose) to the service that
    // shows it to people, and an override makes them read otherwise than sent.
    refuseBidiControls(body, text);
    let input: DecisionInput;
    try {
      input = parseDecisionInput(body);
    } catch (err) {
      throw err instanceof InvalidInputError ? bounded(err.problems) : err;
    }
    const decision = decide(scheme, input.principal, input.request);
    metrics?.decided(decision, input.request.action);
    return [Buffer.from(JSON.stringify(decisionView(decision)))];
  }
  const values: unknown[] = [];
  await turns.each(texts.length, (i) => values.push(parseItem(texts[i] as string, i)));
  await turns.each(texts.length, (i) => {
    const path = duplicateMemberPath(texts[i] as string);
    if (path !== null) refuseDuplicateMember([i, ...path]);
    refuseLoneSurrogates(values[i], texts[i] as string, [i]);
    // Named at its index in the batch (`[3].principal.id`), as any other problem in a batch is.
    refuseBidiControls(values[i], texts[i] as string, [i]);
  });
  const inputs = await parseBatch(values, turns);
  // Each decision is serialised as soon as it is made: it dies young, as garbage cheap to collect.
  const out = new JsonChunks();
  out.push('{"decisions":[');
  await turns.each(inputs.length, (i) => {
    const input = inputs[i] as DecisionInput;
    const decision = decide(scheme, input.principal, input.request);
    metrics?.decided(decision, input.request.action);
    const view = JSON.stringify(decisionView(decision));
    out.push(i === 0 ? view : `,${view}`);
  });
  out.push("]}");
  return out.end();
}

export function allow(req: IncomingMessage, ...methods: string[]): void {
  if (!methods.includes(req.method ?? "")) {
    throw new ClearanceError(
      "method",
      "method_not_allowed",
      `${req.method} is not allowed here; use ${methods.join(" or ")}`,
      { allow: methods },
    );
  }
}

/**
 * A member named twice anywhere in the body (at `path`): JSON.parse would decide on the last (a
 * `location` of IR followed by one of US is decided as US), where the caller's own reading may keep
 * the first.
 */
function refuseDuplicateMember(path: (string | number)[]): never {
  const name = String(path.at(-1));
  const message = `the body names ${quoted(name)} more than once in the same object; send each member once`;
  throw new ClearanceError("invalid", "duplicate_member", message, {
    problems: [{ code: "duplicate_member", path, message }],
  });
}

/**
 * Validates every item, so one response names every bad field in the batch (the first MAX_PROBLEMS
 * of them: items past those are not looked at).
 */
async function parseBatch(items: unknown[], turns: Turns): Promise<DecisionInput[]> {
  const problems: Problem[] = [];
  const inputs: DecisionInput[] = [];
  await turns.each(items.length, (i) => {
    if (problems.length > MAX_PROBLEMS) return;
    try {
      inputs.push(parseDecisionInput(items[i], [i]));
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      problems.push(...err.problems.slice(0, MAX_PROBLEMS + 1 - problems.length));
    }
  });
  if (problems.length > 0) throw bounded(problems);
  return inputs;
}

/**
 * A refusal naming at most MAX_PROBLEMS problems, saying when there were more: one item can hold
 * thousands of unknown members, and a list of millions took seconds to write out. (Its message is
 * the first problem's, as for every invalid request.)
 */
function bounded(problems: readonly Problem[]): Error {
  if (problems.length <= MAX_PROBLEMS) return new InvalidInputError(problems);
  const listed = problems.slice(0, MAX_PROBLEMS);
  const message = `${formatProblem(listed[0] as Problem)} (and more: the first ${MAX_PROBLEMS} problems are listed)`;
  return new ClearanceError("invalid", "invalid_request", message, { problems: listed });
}

/**
 * A JSON answer built a piece at a time, kept as buffers of about 64 KiB: each encoded as it fills,
 * so neither one long string nor its encoding is made in one turn.
 */
class JsonChunks {
  private pieces: string[] = [];
  private size = 0;
  private readonly chunks: Buffer[] = [];

  push(piece: string): void {
    this.pieces.push(piece);
    this.size += piece.length;
    if (this.size >= 64 * 1024) this.flush();
  }

  end(): Buffer[] {
    this.flush();
    return this.chunks;
  }

  private flush(): void {
    if (this.pieces.length === 0) return;
    this.chunks.push(Buffer.from(this.pieces.join("")));
    this.pieces = [];
    this.size = 0;
  }
}

export function createDecisionServer(options: DecisionApiOptions): Server {
  const handler = decisionHandler(options);
  const limits = { ...DEFAULT_CONNECTION_LIMITS, keepAliveTimeoutMs: 5_000 };
  const server = createServer(serverOptions(limits), (req, res) => void handler(req, res));
  guardConnections(server, limits, (err) => ({
    body: JSON.stringify(errorBody(err)),
    requestIdHeader: null,
    // `x-clearance-decision: none` says the gateway forwarded nothing; this API forwards nothing
    // ever, and its decisions are in its bodies (its handler's refusals carry no such header either).
    decisionHeaders: false,
  }));
  return server;
}
