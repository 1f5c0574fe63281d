/**
 * GET /v1/models and /v1/models/{id}: the models this caller may use here and now (each decided
 * like a request: same location, same declared purpose), with the ones served through a fallback
 * marked, in the caller's wire format.
 *
 * A lookup (/v1/models/{id}) is a decision about one model, answered to this caller: it is
 * recorded in the audit log like a proxied request's, through the same record stage, marked
 * `"lookup":true` (it is not a request served: reports count it apart), and its answer (a 403
 * included) leaves only once that entry is durable. It is refused as the request would be when the
 * policy has gone unconfirmed (policy_unconfirmed, controlled models only). The list decides every
 * model of the catalogue and records none of them: it names only the models the caller may use
 * (allowed, or served through a fallback, in this wire format) and says nothing of the others.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ClearanceError } from "../errors/index.js";
import { sendJson } from "../http/index.js";
import { decide, organizationIdOf, type Decision } from "../policy/index.js";
import type { Wire } from "../upstream/types.js";
import { authenticateRequest } from "./auth.js";
import type { GatewayContext } from "./context.js";
import type { Observation } from "./observer.js";
import { announce, denial, policyUnconfirmed, record, servedBy, servedIn, withIdentity } from "./proxy.js";
import { checkName, requestLocation, requestPurpose } from "./request-facts.js";

const CREATED = 1767225600; // a fixed date: the catalogue is the scheme's, not an upstream's

export async function listModels(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  wire: Wire,
  seen: Observation,
  id?: string,
): Promise<void> {
  const caller = await authenticateRequest(req.headers, ctx);
  if (id !== undefined) checkName(id, "invalid_model", "model");
  // A license may be limited to purposes: decided for the purpose declared, as a request would be.
  const purpose = requestPurpose(req);
  const scheme = ctx.scheme();
  const location = requestLocation(ctx, req, scheme, seen);
  seen.ask(caller.keyId, caller.principal, location);
  const now = Date.now();
  const org = caller.principal.organization;
  const usage = await ctx.limits.usage(scheme, caller.principal.id, organizationIdOf(org), now);
  const decideFor = (model: string) =>
    decide(scheme, caller.principal, { model, action: "infer", location, purpose, time: now, usage });

  if (id !== undefined) {
    const d = withIdentity(decideFor(id), caller);
    // As a request for it would be: a model that cannot be served in this wire format (or at all),
    // or a controlled one while the policy is unconfirmed beyond freshness_ms (policy_unconfirmed),
    // is refused before anything is recorded, and the answer claims no decision.
    if (d.decision !== "deny") {
      servedBy(ctx, d, wire);
      const unconfirmed = policyUnconfirmed(ctx, now);
      if (unconfirmed !== null && scheme.models.get(d.served_model as string)?.control !== "open") {
        throw unconfirmed;
      }
    }
    announce(res, seen, d);
    // Durable before the answer, a denial's included; a log that cannot take it: 503. Marked as a
    // lookup: reports count it apart from the requests served (no use of a license or grant).
    await record(ctx, d, now, { caller, location, purpose, lookup: true }, seen);
    if (d.decision === "deny") {
      const refused = denial(d);
      if (d.reason !== "unknown-model") throw refused;
      throw new ClearanceError("not-found", refused.code, refused.message);
    }
    return sendJson(res, 200, entry(wire, d));
  }
  const data: ReturnType<typeof entry>[] = [];
  for (const model of scheme.models.keys()) {
    const d = decideFor(model);
    if (d.decision !== "deny" && servedIn(ctx, d.served_model as string, wire)) data.push(entry(wire, d));
  }
  if (wire === "anthropic") {
    return sendJson(res, 200, {
      data,
      has_more: false,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    });
  }
  sendJson(res, 200, { object: "list", data });
}

function entry(wire: Wire, d: Decision) {
  const clearance = { decision: d.decision, reason: d.reason, served_model: d.served_model };
  if (wire === "anthropic") {
    return {
      type: "model",
      id: d.model,
      display_name: d.model,
      created_at: new Date(CREATED * 1000).toISOString(),
      clearance,
    };
  }
  return { id: d.model, object: "model", created: CREATED, owned_by: "clearance", clearance };
}
