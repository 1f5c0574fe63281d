/**
 * One proxied request, in four stages read top to bottom:
 *
 *   identify — who asks (API key), for what (the body: model, purpose), from where (location);
 *   admit    — the counters (quotas, rate limit), the decision, the fail-closed checks; a request
 *              that cannot be served at all (no route, wrong wire format) is refused here, before
 *              anything is recorded, and gives back its place in the rate limit;
 *   record   — the decision's audit entry, appended (durable later, see below);
 *   forward  — the upstream call, the relay of its answer, metering.
 *
 * The record and the upstream call run in parallel: the upstream starts working at once, but no
 * byte of its answer, and no 403, reaches the client before the entry is durable. If the log
 * cannot take the entry, the upstream call is aborted and the client gets 503 (fail closed).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { decisionEntry } from "../audit/index.js";
import type { Route } from "../config/index.js";
import type { CountedRequest } from "../counters/limits.js";
import { ClearanceError } from "../errors/index.js";
import { readJsonText } from "../http/index.js";
import { addTokens } from "../metering/tokens.js";
import { decide, decidingDetail, type Decision } from "../policy/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import {
  Cancellation,
  UpstreamError,
  type Endpoint,
  type Provider,
  type UpstreamResponse,
  type Wire,
} from "../upstream/types.js";
import { authenticateRequest, type Caller } from "./auth.js";
import type { GatewayContext } from "./context.js";
import type { Observation } from "./observer.js";
import { relay } from "./relay.js";
import { unansweredCharge } from "./usage.js";
import {
  checkStream,
  refuseBackground,
  refuseDuplicateMembers,
  refuseRoutingMembers,
  requestLocation,
  requestPurpose,
  requestedModel,
} from "./request-facts.js";
import type { Snapshot } from "./snapshot.js";

/** Request headers an upstream may need; the client's key and everything else stay here. */
const PASS_THROUGH: Readonly<Record<Wire, readonly string[]>> = {
  anthropic: ["anthropic-version", "anthropic-beta"],
  openai: ["openai-beta"],
};

/** Endpoints whose OpenAI-compatible streams report usage only when asked (stream_options.include_usage). */
const USAGE_ON_REQUEST: ReadonlySet<Endpoint> = new Set(["chat.completions", "completions"]);

export async function proxy(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  wire: Wire,
  endpoint: Endpoint,
  seen: Observation,
): Promise<void> {
  // Listening from the start: a client that hangs up while its decision is being made or recorded
  // must still stop the upstream request (it would otherwise run on, unread — forever for a stream
  // that never ends).
  const abort = new Cancellation();
  res.once("close", () => {
    if (!res.writableFinished) abort.cancel();
  });
  const identified = await identify(ctx, req, wire, endpoint, seen);
  const admitted = await admit(ctx, identified, res, wire, seen, () => standingOf(ctx, req, seen));
  // Recorded, forwarded and metered as decided: on the standing taken again, if it was.
  const asked =
    admitted.question === identified ? identified : Object.assign({}, identified, admitted.question);
  // No place given back if the log refuses the entry: the upstream call goes out before the record
  // settles, so such a request has reached the upstream (only a lookup, which reaches nothing, does).
  const durable = record(ctx, admitted.decision, admitted.now, asked, seen);
  if (admitted.served === null) {
    await durable;
    throw denial(admitted.decision);
  }
  await forward(ctx, req, res, wire, endpoint, asked, admitted.served, durable, seen, abort);
}

// ------------------------------------------------------------------------------------------------
// identify

/** What the request is, before anything is decided. */
interface Asked {
  readonly caller: Caller;
  /** The body as it came, and parsed. */
  readonly text: string;
  readonly json: Record<string, unknown>;
  readonly model: string;
  readonly purpose: string | null;
  /** Read once, when the body is whole (with the caller): the whole request runs under that version. */
  readonly scheme: CompiledScheme;
  readonly location: string | null;
}

async function identify(
  ctx: GatewayContext,
  req: IncomingMessage,
  wire: Wire,
  endpoint: Endpoint,
  seen: Observation,
): Promise<Asked> {
  // Refused before the body is read when the key or token is not valid now: nothing of a caller
  // who could not be served is read.
  await callerOf(ctx, req);
  const { text, value } = await readJsonText(req, {
    limit: ctx.bodyLimit,
    depth: ctx.jsonDepth,
    wrongType: "invalid",
  });
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ClearanceError("invalid", "invalid_request", "the request body must be a JSON object");
  }
  refuseDuplicateMembers(text);
  const json = value as Record<string, unknown>;
  checkStream(json.stream);
  if (wire === "openai") refuseRoutingMembers(json);
  if (endpoint === "responses") refuseBackground(json);
  const model = requestedModel(json.model);
  // A license may be limited to purposes; the client declares its purpose per request.
  const purpose = requestPurpose(req);
  // The body may take up to the request timeout to come: who asks is taken again once it is whole,
  // with the scheme, from the snapshot in force then (a key revoked, a principal screened, a partner
  // suspended meanwhile). Unchanged, that costs a comparison (a key) or a cache look-up (a token).
  const { caller, scheme, location } = await standingOf(ctx, req, seen);
  return { caller, text, json, model, purpose, scheme, location };
}

/**
 * Who asks, the scheme, and where from (the scheme settles disputed sources), as the snapshot in
 * force has them: taken once the body is whole, and again if the snapshot changes while the
 * counters are asked (see countAsked).
 */
export async function standingOf(
  ctx: GatewayContext,
  req: IncomingMessage,
  seen: Observation,
): Promise<Standing> {
  const caller = await callerOf(ctx, req);
  const scheme = ctx.scheme();
  return { caller, scheme, location: requestLocation(ctx, req, scheme, seen) };
}

/** The caller a keep-alive connection presented last, for the snapshot it was checked against. */
interface Known {
  readonly authorization: string | undefined;
  readonly apiKey: string | string[] | undefined;
  readonly snapshot: Snapshot;
  readonly caller: Caller;
}
const KNOWN = Symbol("clearance.caller");

/**
 * Who is calling: an API key, or a partner's token. A client sends the same key on every request
 * of a keep-alive connection: the key is checked (hashed, compared in constant time) once per
 * connection and snapshot, and a request presenting the same header on the same connection under
 * the same snapshot is the same caller. Comparing with the header this connection sent before
 * reveals nothing it does not know. Partner tokens are verified on every request (they expire,
 * and their issuer or partner may be blocked at any moment).
 */
async function callerOf(ctx: GatewayContext, req: IncomingMessage): Promise<Caller> {
  const snapshot = ctx.snapshot.current;
  const socket = req.socket as Socket & { [KNOWN]?: Known };
  const known = socket[KNOWN];
  const authorization = req.headers.authorization;
  const apiKey = req.headers["x-api-key"];
  if (
    known !== undefined &&
    known.snapshot === snapshot &&
    known.authorization === authorization &&
    known.apiKey === apiKey
  ) {
    return known.caller;
  }
  const caller = await authenticateRequest(req.headers, ctx);
  if (caller.identity === undefined && ctx.snapshot.current === snapshot) {
    socket[KNOWN] = { authorization, apiKey, snapshot, caller };
  }
  return caller;
}

// ------------------------------------------------------------------------------------------------
// admit

/** Where an allowed request goes. */
interface Served {
  readonly model: string;
  readonly route: Route;
  readonly provider: Provider;
  /** The license the allow rests on, whose quota the usage counts against. */
  readonly license: string | null;
}

interface Admitted {
  readonly decision: Decision;
  readonly now: number;
  readonly organization: string | null;
  /** null: denied (the 403 follows the record). */
  readonly served: Served | null;
  /** Gives the request's place in the rate limit back (once): it was refused after all. */
  readonly release: () => void;
  /** What was decided on: who asks, the scheme, where from (see countAsked). */
  readonly question: Question;
}

/** Who asks, under which scheme, from where: what the snapshot in force says of a request. */
export type Standing = Pick<Asked, "caller" | "scheme" | "location">;

/** What a decision is asked about: a request's, or a model lookup's. */
export type Question = Standing & Pick<Asked, "model" | "purpose">;

/** Counts of one request, each ended by a policy change that moved what is counted (see countAsked). */
const COUNTS = 3;

/**
 * The counters asked, once: the quotas' usage from every node, and a place in the rate limit. It
 * may wait up to counters.timeout_ms: if the snapshot changes meanwhile (a key revoked, a partner
 * suspended), who asks and the scheme are taken again (`again`: refused as they would be now), and,
 * if what is counted moved with them (another scheme, principal or organization), the place is given
 * back and counted again (at most COUNTS times; after that the last count stands, as for requests in
 * flight together). The question returned is the one to decide on; an unchanged snapshot costs a
 * comparison.
 */
export async function countAsked(
  ctx: GatewayContext,
  asked: Question,
  again: () => Promise<Standing>,
  lookup: boolean,
): Promise<{
  readonly question: Question;
  readonly counted: CountedRequest;
  readonly organization: string | null;
}> {
  let question = asked;
  for (let count = 1; ; count++) {
    const { caller, scheme } = question;
    const organization = organizationId(caller.principal.organization);
    const snapshot = ctx.snapshot.current;
    const counted = await ctx.limits.admit(scheme, caller.principal.id, organization, Date.now(), lookup);
    if (ctx.snapshot.current === snapshot) return { question, counted, organization };
    let current: Standing;
    try {
      current = await again();
    } catch (err) {
      counted.release(); // refused after all: not a request the organization made use of
      throw err;
    }
    question = Object.assign({}, question, current);
    const moved =
      current.scheme !== scheme ||
      current.caller.principal.id !== caller.principal.id ||
      organizationId(current.caller.principal.organization) !== organization;
    if (!moved || count >= COUNTS) {
      return { question, counted, organization: organizationId(current.caller.principal.organization) };
    }
    counted.release();
  }
}

/**
 * Also admits a model lookup (`lookup`: GET /v1/models/{id}), as a request for the model would be:
 * it is recorded, so it takes a place in the rate limit (requests per minute; it uses no tokens).
 * `again`: the request's standing in the snapshot in force (see countAsked). The decision rests on the
 * `question` returned, which is `asked` unless the snapshot changed while the counters answered.
 */
export async function admit(
  ctx: GatewayContext,
  asked: Question,
  res: ServerResponse,
  wire: Wire,
  seen: Observation,
  again: () => Promise<Standing>,
  lookup = false,
): Promise<Admitted> {
  seen.ask(asked.caller.keyId, asked.caller.principal, asked.location);
  const { question, counted, organization } = await countAsked(ctx, asked, again, lookup);
  const { caller, scheme } = question;
  if (question !== asked) seen.ask(caller.keyId, caller.principal, question.location);
  const now = Date.now();
  const decided = decide(scheme, caller.principal, {
    model: question.model,
    action: "infer",
    location: question.location,
    purpose: question.purpose,
    time: now,
    usage: counted.usage,
  });
  const decision = withIdentity(decided, caller);
  if (decision.decision === "deny") {
    counted.release();
    announce(res, seen, decision);
    return { decision, now, organization, served: null, release: counted.release, question };
  }
  // An allow refused below is not recorded: its answer must not claim a decision (the headers stay
  // unset, and the refusal's code becomes the reason).
  let served: Served;
  try {
    served = servedBy(ctx, decision, wire);
    const refused =
      uncounted(ctx, scheme, decision, counted, organization) ?? unconfirmed(ctx, scheme, decision);
    if (refused !== null) throw refused;
  } catch (err) {
    counted.release(); // refused before it was served: not a request the organization made use of
    throw err;
  }
  refuseOverRate(res, counted, organization);
  announce(res, seen, decision);
  return { decision, now, organization, served, release: counted.release, question };
}

/** Not a policy decision: an organization over its rate is asked to wait, and nothing is logged. */
export function refuseOverRate(
  res: ServerResponse,
  counted: CountedRequest,
  organization: string | null,
): void {
  if (counted.rate === null || counted.rate.ok) return;
  const taken = counted.rate;
  res.setHeader("retry-after", String(taken.retryAfter));
  throw new ClearanceError(
    "rate-limited",
    "rate_limited",
    `organization ${organization} is over its limit of ${taken.limit}; retry in ${taken.retryAfter} s`,
  );
}

/**
 * Whether admit would serve an allow or fallback (what GET /v1/models lists): routed in this wire
 * format, and not refused for counters out of reach or a policy unconfirmed.
 */
export function servable(
  ctx: GatewayContext,
  scheme: CompiledScheme,
  decision: Decision,
  counted: CountedRequest,
  organization: string | null,
  wire: Wire,
): boolean {
  return (
    servedIn(ctx, decision.served_model as string, wire) &&
    uncounted(ctx, scheme, decision, counted, organization) === null &&
    unconfirmed(ctx, scheme, decision) === null
  );
}

/**
 * A partner token: the decision records what the principal's facts rest on. (Assigned: a spread
 * with a member after it takes V8's slow path on Node 20, about 2 µs a request.)
 */
function withIdentity(decided: Decision, caller: Caller): Decision {
  return caller.identity === undefined ? decided : Object.assign({}, decided, { identity: caller.identity });
}

/** The decision in force for this answer: its headers, and what monitoring is told. */
function announce(res: ServerResponse, seen: Observation, decision: Decision): void {
  setDecisionHeaders(res, decision);
  const aside = decision.identity?.set_aside ?? [];
  // The caller's own claims its provider could not vouch for (names only; the why is in the log).
  if (aside.length > 0)
    res.setHeader("x-clearance-claims-set-aside", [...new Set(aside.map((c) => c.fact))].join(", "));
  seen.decide(decision);
}

/** The served model's route and provider; refused when there is none, or not in this wire format. */
function servedBy(ctx: GatewayContext, decision: Decision, wire: Wire): Served {
  const model = decision.served_model as string;
  const route = ctx.route(model);
  const provider = route === undefined ? undefined : ctx.providers.get(route.provider);
  if (route === undefined || provider === undefined) {
    // Activation checks routes, so this means the config changed under a running scheme.
    throw new ClearanceError("unavailable", "model_unrouted", `model ${model} has no upstream configured`);
  }
  if (!provider.wires.includes(wire)) {
    throw new ClearanceError(
      "not-found",
      "wrong_wire_format",
      `model ${model} is not served in the ${wire} wire format`,
    );
  }
  const license = decision.grant?.kind === "license" ? decision.grant.license : null;
  return { model, route, provider, license };
}

/** Whether servedBy would find the model an upstream in this wire format (what GET /v1/models lists). */
function servedIn(ctx: GatewayContext, model: string, wire: Wire): boolean {
  const route = ctx.route(model);
  return route !== undefined && ctx.providers.get(route.provider)?.wires.includes(wire) === true;
}

/**
 * Fail closed: an allow may rest on a key, license or partner revoked on another node that this
 * node has not heard of, once the store has gone unconfirmed for longer than the bound. Denials
 * stand, and open models stay served (they need no one's permission).
 */
function unconfirmed(ctx: GatewayContext, scheme: CompiledScheme, decision: Decision): ClearanceError | null {
  const refused = policyUnconfirmed(ctx);
  if (refused === null || scheme.models.get(decision.served_model as string)?.control === "open") return null;
  return refused;
}

/**
 * The refusal when the snapshot has gone unconfirmed beyond freshness_ms, else null. Timed on the
 * monotonic clock (see SnapshotHolder.confirmedAt), not the request's wall-clock time.
 */
export function policyUnconfirmed(
  ctx: Pick<GatewayContext, "snapshot" | "freshnessMs">,
  refused = "controlled models are refused",
): ClearanceError | null {
  const unconfirmed = ctx.snapshot.unconfirmedMs();
  if (unconfirmed <= ctx.freshnessMs) return null;
  return new ClearanceError(
    "unavailable",
    "policy_unconfirmed",
    `this gateway has not confirmed its policy with the store for ${Math.round(unconfirmed)} ms (the bound is ${ctx.freshnessMs} ms), so ${refused} until the store answers`,
  );
}

/**
 * Fail closed (counters.on_unavailable: fail_closed): without the shared counters this node cannot
 * know how much of a quota or a rate limit other nodes have used. A controlled or home-only model
 * is then not served when the allow rests on a license with a token quota, or the organization has
 * a rate limit; open models, and grants no counter limits, are. With fail_open, this node's own
 * counts decide.
 */
function uncounted(
  ctx: GatewayContext,
  scheme: CompiledScheme,
  decision: Decision,
  counted: CountedRequest,
  organization: string | null,
): ClearanceError | null {
  if (counted.unavailable === null || ctx.limits.onUnavailable === "fail_open") return null;
  const control = scheme.models.get(decision.served_model as string)?.control;
  if (control === "open") return null;
  const grant = decision.grant;
  const quota = grant?.kind === "license" ? (scheme.licenses.get(grant.license)?.quotaTokens ?? null) : null;
  // The organization's, not counted.rate: a lookup is not counted against a tokens-only limit.
  const rate = organization === null ? null : (scheme.organizationRateLimits.get(organization) ?? null);
  if (quota === null && rate === null) return null;
  return new ClearanceError(
    "unavailable",
    "counters_unavailable",
    `the shared quota and rate-limit counters (Redis) cannot be reached, so ${decision.served_model} (${control ?? "controlled"}) is refused until they can; open models are still served`,
    { cause: new Error(counted.unavailable) },
  );
}

export function setDecisionHeaders(res: ServerResponse, d: Decision): void {
  res.setHeader("x-clearance-decision", d.decision);
  res.setHeader("x-clearance-reason", d.reason);
  res.setHeader("x-clearance-served-model", d.served_model ?? "none");
}

/** A 403 carrying the reason code and the deciding check's explanation — about this caller only. */
export function denial(d: Decision): ClearanceError {
  const aside = d.identity?.set_aside ?? [];
  const note =
    aside.length === 0
      ? ""
      : `; claims set aside: ${aside.map((c) => `${c.fact} ${c.value} (${c.why})`).join("; ")}`;
  return new ClearanceError(
    "forbidden",
    d.reason,
    `${d.model} is not available to you (${d.reason}): ${decidingDetail(d)}${note}`,
  );
}

function organizationId(org: unknown): string | null {
  if (typeof org === "string") return org;
  if (typeof org === "object" && org !== null && typeof (org as { id?: unknown }).id === "string") {
    return (org as { id: string }).id;
  }
  return null;
}

// ------------------------------------------------------------------------------------------------
// record

/** Who asked, from where, for what declared purpose: what a decision entry says besides the decision. */
export interface Asker {
  readonly caller: Caller;
  readonly location: string | null;
  readonly purpose: string | null;
  /**
   * A model lookup (GET /v1/models/{id}), not a request served: its entry says so (`"lookup":true`),
   * so that reports do not count it as use of the model, a license or a grant.
   */
  readonly lookup?: boolean;
}

/**
 * Appends the decision's entry (a proxied request's, or a model lookup's: GET /v1/models/{id}). The
 * promise settles when the entry is durable — and the observer is told its index — or with the
 * request's refusal if the log cannot take it (fail closed: no answer without its record). It is
 * marked handled here, so that a failure while the upstream is still being waited for is not an
 * unhandled rejection; whoever answers awaits it. `release`: called if the log refuses the entry,
 * for a decision whose refusal reached nothing (a model lookup gives its rate-limit place back).
 */
export function record(
  ctx: GatewayContext,
  decision: Decision,
  now: number,
  asker: Asker,
  seen: Observation,
  release?: () => void,
): Promise<void> {
  const entry = decisionEntry(
    decision,
    {
      time: new Date(now),
      requestId: seen.requestId,
      node: ctx.audit.node,
      principal: asker.caller.principal,
      location: asker.location,
      action: "infer",
      purpose: asker.purpose,
      lookup: asker.lookup === true,
    },
    ctx.audit.pseudonymize,
  );
  const durable = ctx.audit.log.append(entry).then(
    (index) => void seen.record(index),
    (err: unknown) => {
      release?.();
      // Not recorded: the answer, the metrics and the access log claim no decision (see unrecorded).
      seen.unrecorded();
      // An entry too large for the log is the request's fault (413), not the log's.
      if (err instanceof ClearanceError) throw err;
      throw new ClearanceError(
        "unavailable",
        "audit_unavailable",
        "the audit log cannot record this request, so it is refused",
        { cause: err },
      );
    },
  );
  durable.catch(() => undefined);
  return durable;
}

// ------------------------------------------------------------------------------------------------
// forward

type Call = { readonly ok: UpstreamResponse } | { readonly failed: unknown };

async function forward(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  wire: Wire,
  endpoint: Endpoint,
  asked: Asked,
  served: Served,
  durable: Promise<void>,
  seen: Observation,
  abort: Cancellation,
): Promise<void> {
  const { json } = asked;
  const stream = json.stream === true;
  // Unchanged, the body goes as it came: no second serialisation of a large prompt.
  let body: string | null = json.model === served.route.upstreamModel ? asked.text : null;
  let strip = false;
  if (wire === "openai" && stream && USAGE_ON_REQUEST.has(endpoint)) {
    const given = json.stream_options;
    const options = (typeof given === "object" && given) || {};
    if ((options as Record<string, unknown>).include_usage !== true) {
      json.stream_options = Object.assign({}, options, { include_usage: true });
      strip = true;
      // Absent (most streaming clients): the member goes at the front of the text as it came.
      // Present with another value, a member in front would be overridden by it: serialise anew.
      body = body !== null && given === undefined ? usageAsked(body) : null;
    } else if (given !== undefined) {
      // Given as true: serialised anew all the same, so that the upstream reads the one member
      // decided on (`{"include_usage":false,"include_usage":true}` read first-wins would stream
      // without the usage this request is metered by).
      body = null;
    }
  }
  json.model = served.route.upstreamModel;

  const headers: Record<string, string> = {};
  for (const name of PASS_THROUGH[wire]) {
    const v = req.headers[name];
    if (typeof v === "string") headers[name] = v;
  }
  Object.assign(headers, seen.forward(req.headers));
  // Gone while the decision was being made: nothing to forward (the record still completes).
  if (abort.aborted) {
    await durable.catch(() => {});
    return;
  }

  /** The upstream had the request whole: working on it from then on (a client leaving is charged). */
  let sent = false;
  // Sent at once, while the entry is being made durable; settled either way, so that a quick
  // failure is not an unhandled rejection while the record is awaited.
  const call: Promise<Call> = served.provider
    .request({
      wire,
      endpoint,
      body: body ?? JSON.stringify(json),
      json,
      stream,
      headers,
      signal: abort,
      onSent: () => void (sent = true),
    })
    .then(
      (ok) => ({ ok }),
      (failed: unknown) => ({ failed }),
    );
  try {
    await durable;
  } catch (err) {
    abort.cancel();
    throw err;
  }
  const answered = await call;
  if ("failed" in answered) {
    const err = answered.failed;
    // The client went away before the upstream answered: nothing to answer, nothing to report. Once
    // the upstream had the request whole it was working on it: charged, so that leaving just before
    // the answer comes does not use the model off quota.
    if (abort.aborted) {
      const charged = sent ? unansweredCharge(endpoint, asked.text.length) : null;
      seen.use(charged);
      if (charged !== null) meter(ctx, asked, served, charged.input, charged.output);
      return;
    }
    if (err instanceof UpstreamError) {
      throw new ClearanceError(
        err.kind === "timeout" ? "upstream-timeout" : "upstream",
        `upstream_${err.kind}`,
        err.message,
        { cause: err },
      );
    }
    throw err;
  }
  seen.answer(answered.ok, stream);
  const usage = await relay({
    wire,
    endpoint,
    stream,
    upstream: answered.ok,
    res,
    headers: {},
    stripUsageChunk: strip,
    captureLimit: ctx.bodyLimit,
    requestId: seen.requestId,
    log: ctx.log,
    firstChunk: () => seen.chunk(),
    requestChars: asked.text.length,
    model: asked.model,
  });
  seen.use(usage);
  if (usage !== null) meter(ctx, asked, served, usage.input, usage.output);
}

/**
 * A JSON object's text with `"stream_options":{"include_usage":true}` as its first member. The text
 * parsed as an object with a model, so its first `{` (after whitespace) opens it and a member follows.
 */
function usageAsked(text: string): string {
  const open = text.indexOf("{") + 1;
  return `${text.slice(0, open)}"stream_options":{"include_usage":true},${text.slice(open)}`;
}

/** What the request used, against the quotas and into the usage records. */
function meter(ctx: GatewayContext, asked: Asked, served: Served, input: number, output: number): void {
  const { caller, scheme } = asked;
  const organization = organizationId(caller.principal.organization);
  const now = Date.now();
  // Saturating: each part may be up to 2^53 - 1, and a sum past it is read by the counters as none.
  ctx.limits.add(scheme, organization, served.license, addTokens(input, output), now);
  ctx.meter.record(
    {
      principalId: caller.principal.id,
      organizationId: organization,
      licenseId: served.license,
      model: served.model,
      inputTokens: input,
      outputTokens: output,
    },
    now,
  );
}
