/**
 * One proxied request: authenticate, read the body, locate, decide, then refuse (403), or forward
 * to the served model's provider (rewriting the model on a fallback) and meter what it used.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { decisionEntry } from "../audit/index.js";
import { ClearanceError } from "../errors/index.js";
import { readJson } from "../http/index.js";
import { decide, type Decision, type Principal } from "../policy/index.js";
import type { CountedRequest } from "../counters/limits.js";
import type { CompiledScheme } from "../scheme/index.js";
import { UpstreamError, type Endpoint, type UpstreamResponse, type Wire } from "../upstream/types.js";
import { authenticateRequest } from "./auth.js";
import type { GatewayContext } from "./context.js";
import { relay } from "./relay.js";
import { requestLocation, requestPurpose, requestedModel } from "./request-facts.js";

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
): Promise<void> {
  const caller = await authenticateRequest(req.headers, ctx);
  const body = await readJson(req, { limit: ctx.bodyLimit, depth: ctx.jsonDepth, wrongType: "invalid" });
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ClearanceError("invalid", "invalid_request", "the request body must be a JSON object");
  }
  const json = body as Record<string, unknown>;
  const model = requestedModel(json.model);
  // A license may be limited to purposes; the client declares its purpose per request.
  const purpose = requestPurpose(req);
  // Read once: the whole request runs under the version it started with.
  const scheme = ctx.scheme();
  const location = requestLocation(ctx, req, scheme);
  const now = Date.now();
  const org = organizationId(caller.principal.organization);
  // One call to the counters: the quotas' usage from every node, and a place in the rate limit.
  const counted = await ctx.limits.admit(scheme, caller.principal.id, org, now);
  const decided = decide(scheme, caller.principal, {
    model,
    action: "infer",
    location,
    purpose,
    time: now,
    usage: counted.usage,
  });
  // A partner token: the decision records what the principal's facts rest on.
  const decision: Decision =
    caller.identity === undefined ? decided : { ...decided, identity: caller.identity };
  setDecisionHeaders(res, decision);
  const aside = decision.identity?.set_aside ?? [];
  // The caller's own claims its provider could not vouch for (names only; the why is in the log).
  if (aside.length > 0)
    res.setHeader("x-clearance-claims-set-aside", [...new Set(aside.map((c) => c.fact))].join(", "));
  if (decision.decision !== "deny") {
    try {
      refuseUncounted(ctx, scheme, decision, counted);
      refuseUnconfirmed(ctx, scheme, decision, now);
    } catch (err) {
      counted.release(); // refused before it was served: not a request the organization made use of
      throw err;
    }
  } else counted.release();
  if (decision.decision !== "deny" && counted.rate !== null) {
    // Not a policy decision: an organization over its rate is asked to wait, and nothing is logged.
    const taken = counted.rate;
    if (!taken.ok) {
      res.setHeader("retry-after", String(taken.retryAfter));
      throw new ClearanceError(
        "rate-limited",
        "rate_limited",
        `organization ${org} is over its limit of ${taken.limit}; retry in ${taken.retryAfter} s`,
      );
    }
  }
  await record(
    ctx,
    decision,
    caller.principal,
    location,
    now,
    String(res.getHeader("x-clearance-request-id")),
  );
  if (decision.decision === "deny") throw denial(decision);

  const served = decision.served_model as string;
  const route = ctx.route(served);
  const provider = route === undefined ? undefined : ctx.providers.get(route.provider);
  if (route === undefined || provider === undefined) {
    // Activation checks routes, so this means the config changed under a running scheme.
    throw new ClearanceError("unavailable", "model_unrouted", `model ${served} has no upstream configured`);
  }
  if (!provider.wires.includes(wire)) {
    throw new ClearanceError(
      "not-found",
      "wrong_wire_format",
      `model ${served} is not served in the ${wire} wire format`,
    );
  }

  const stream = json.stream === true;
  let strip = false;
  if (wire === "openai" && stream && USAGE_ON_REQUEST.has(endpoint)) {
    const options = (typeof json.stream_options === "object" && json.stream_options) || {};
    if ((options as Record<string, unknown>).include_usage !== true) {
      json.stream_options = { ...options, include_usage: true };
      strip = true;
    }
  }
  json.model = route.upstreamModel;

  const headers: Record<string, string> = {};
  for (const name of PASS_THROUGH[wire]) {
    const v = req.headers[name];
    if (typeof v === "string") headers[name] = v;
  }
  const abort = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) abort.abort();
  });

  let upstream: UpstreamResponse;
  try {
    upstream = await provider.request({
      wire,
      endpoint,
      body: JSON.stringify(json),
      json,
      stream,
      headers,
      signal: abort.signal,
    });
  } catch (err) {
    // The client went away before the upstream answered: nothing to answer, nothing to report.
    if (abort.signal.aborted) return;
    if (err instanceof UpstreamError) {
      throw new ClearanceError(
        err.kind === "timeout" ? "upstream-timeout" : "upstream",
        `upstream_${err.kind}`,
        err.message,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  const usage = await relay({
    wire,
    endpoint,
    upstream,
    res,
    headers: {},
    stripUsageChunk: strip,
    captureLimit: ctx.bodyLimit,
    requestId: String(res.getHeader("x-clearance-request-id")),
    log: ctx.log,
  });
  if (usage !== null) {
    const license = decision.grant?.kind === "license" ? decision.grant.license : null;
    ctx.limits.add(scheme, org, license, usage.input + usage.output, Date.now());
    ctx.meter.record({
      principalId: caller.principal.id,
      organizationId: org,
      licenseId: license,
      model: served,
      inputTokens: usage.input,
      outputTokens: usage.output,
      requests: 1,
      at: new Date().toISOString(),
    });
  }
}

/**
 * Nothing is forwarded and no 403 is sent before the decision's entry is durable. If the log cannot
 * take it, the request is refused (fail closed): no answer without its record.
 */
async function record(
  ctx: GatewayContext,
  decision: Decision,
  principal: Principal,
  location: string | null,
  time: number,
  requestId: string,
): Promise<void> {
  const entry = decisionEntry(
    decision,
    { time: new Date(time), requestId, node: ctx.audit.node, principal, location, action: "infer" },
    ctx.audit.pseudonymize,
  );
  try {
    await ctx.audit.log.append(entry);
  } catch (err) {
    // An entry too large for the log is the request's fault (413), not the log's.
    if (err instanceof ClearanceError) throw err;
    throw new ClearanceError(
      "unavailable",
      "audit_unavailable",
      "the audit log cannot record this request, so it is refused",
      {
        cause: err,
      },
    );
  }
}

/**
 * Fail closed: an allow may rest on a key, license or partner revoked on another node that this
 * node has not heard of, once the store has gone unconfirmed for longer than the bound. Denials
 * stand, and open models stay served (they need no one's permission).
 */
function refuseUnconfirmed(
  ctx: GatewayContext,
  scheme: CompiledScheme,
  decision: Decision,
  now: number,
): void {
  const unconfirmed = now - ctx.snapshot.confirmedAt;
  if (unconfirmed <= ctx.freshnessMs) return;
  if (scheme.models.get(decision.served_model as string)?.control === "open") return;
  throw new ClearanceError(
    "unavailable",
    "policy_unconfirmed",
    `this gateway has not confirmed its policy with the store for ${unconfirmed} ms (the bound is ${ctx.freshnessMs} ms), so controlled models are refused until the store answers`,
  );
}

/**
 * Fail closed (counters.on_unavailable: fail_closed): without the shared counters this node cannot
 * know how much of a quota or a rate limit other nodes have used. A controlled or home-only model
 * is then not served when the allow rests on a license with a token quota, or the organization has
 * a rate limit; open models, and grants no counter limits, are. With fail_open, this node's own
 * counts decide.
 */
function refuseUncounted(
  ctx: GatewayContext,
  scheme: CompiledScheme,
  decision: Decision,
  counted: CountedRequest,
): void {
  if (counted.unavailable === null || ctx.limits.onUnavailable === "fail_open") return;
  const control = scheme.models.get(decision.served_model as string)?.control;
  if (control === "open") return;
  const grant = decision.grant;
  const quota = grant?.kind === "license" ? (scheme.licenses.get(grant.license)?.quotaTokens ?? null) : null;
  if (quota === null && counted.rate === null) return;
  throw new ClearanceError(
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
function denial(d: Decision): ClearanceError {
  const detail = d.checks.at(-1)?.detail ?? "";
  const aside = d.identity?.set_aside ?? [];
  const note =
    aside.length === 0
      ? ""
      : `; claims set aside: ${aside.map((c) => `${c.fact} ${c.value} (${c.why})`).join("; ")}`;
  return new ClearanceError(
    "forbidden",
    d.reason,
    `${d.model} is not available to you (${d.reason}): ${detail}${note}`,
  );
}

function organizationId(org: unknown): string | null {
  if (typeof org === "string") return org;
  if (typeof org === "object" && org !== null && typeof (org as { id?: unknown }).id === "string") {
    return (org as { id: string }).id;
  }
  return null;
}
