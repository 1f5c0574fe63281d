/**
 * GET /v1/models and /v1/models/{id}: the models this caller may use here and now (each decided
 * like a request: same location, same declared purpose), with the ones served through a fallback
 * marked, in the caller's wire format.
 *
 * A lookup (/v1/models/{id}) is a decision about one model, answered to this caller: it is
 * admitted and recorded in the audit log like a proxied request's, through the same admit and
 * record stages, marked `"lookup":true` (it is not a request served: reports count it apart), and
 * its answer (a 403 included) leaves only once that entry is durable. Being recorded, it takes a
 * place in the organization's rate limit (requests per minute; it uses no tokens: 429 over it), and
 * it is refused as the request would be, unrecorded, when the counters cannot be reached
 * (counters_unavailable) or the policy has gone unconfirmed (policy_unconfirmed), for controlled
 * models. The list decides every model of the catalogue and records none of them; it counts as one
 * request in the rate limit, and names only the models a request would be served (allowed, or
 * through a fallback, in this wire format, not refused as above), saying nothing of the others.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ClearanceError } from "../errors/index.js";
import { sendJson } from "../http/index.js";
import { decide, type Decision } from "../policy/index.js";
import type { Wire } from "../upstream/types.js";
import { authenticateRequest } from "./auth.js";
import type { GatewayContext } from "./context.js";
import type { Observation } from "./observer.js";
import { admit, countAsked, denial, record, refuseOverRate, servable, standingOf } from "./proxy.js";
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
  // Taken again if the snapshot changes while the counters are asked (see countAsked).
  const again = () => standingOf(ctx, req, seen);

  if (id !== undefined) {
    // Admitted as a request for it would be: a place in the rate limit, and refused before anything
    // is recorded (its answer claiming no decision) when it could not be served in this wire format
    // (or at all), or is controlled while the counters or the policy cannot be relied on.
    const asked = { caller, scheme, model: id, location, purpose };
    const admitted = await admit(ctx, asked, res, wire, seen, again, true);
    const { decision, now, served, release, question } = admitted;
    const asker = { caller: question.caller, location: question.location, purpose, lookup: true };
    // Durable before the answer, a denial's included; a log that cannot take it: 503. Marked as a
    // lookup: reports count it apart from the requests served (no use of a license or grant).
    await record(ctx, decision, now, asker, seen, release);
    if (served === null) {
      const refused = denial(decision);
      if (decision.reason !== "unknown-model") throw refused;
      throw new ClearanceError("not-found", refused.code, refused.message);
    }
    return sendJson(res, 200, entry(wire, decision));
  }
  seen.ask(caller.keyId, caller.principal, location);
  // A request of the organization's like any (it records nothing, but decides every model), listed
  // for who asks in the snapshot in force once the counters have answered.
  const asked = { caller, scheme, model: "", location, purpose };
  const { question, counted, organization } = await countAsked(ctx, asked, again, true);
  refuseOverRate(res, counted, organization);
  const now = Date.now();
  const data: ReturnType<typeof entry>[] = [];
  for (const model of question.scheme.models.keys()) {
    const d = decide(question.scheme, question.caller.principal, {
      model,
      action: "infer",
      location: question.location,
      purpose,
      time: now,
      usage: counted.usage,
    });
    // Only what a request for it would be served.
    if (d.decision !== "deny" && servable(ctx, question.scheme, d, counted, organization, wire)) {
      data.push(entry(wire, d));
    }
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
