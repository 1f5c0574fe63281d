/**
 * GET /v1/models and /v1/models/{id}: the models this caller may use here and now (each decided
 * like a request), with the ones served through a fallback marked, in the caller's wire format.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ClearanceError } from "../errors/index.js";
import { sendJson } from "../http/index.js";
import { decide, organizationIdOf, type Decision } from "../policy/index.js";
import type { Wire } from "../upstream/types.js";
import { authenticateRequest } from "./auth.js";
import type { GatewayContext } from "./context.js";
import { setDecisionHeaders } from "./proxy.js";
import { checkName, requestLocation } from "./request-facts.js";

const CREATED = 1767225600; // a fixed date: the catalogue is the scheme's, not an upstream's

export async function listModels(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  wire: Wire,
  id?: string,
): Promise<void> {
  const caller = await authenticateRequest(req.headers, ctx);
  if (id !== undefined) checkName(id, "invalid_model", "model");
  const scheme = ctx.scheme();
  const location = requestLocation(ctx, req, scheme);
  const now = Date.now();
  const org = caller.principal.organization;
  const usage = await ctx.limits.usage(scheme, caller.principal.id, organizationIdOf(org), now);
  const decideFor = (model: string) =>
    decide(scheme, caller.principal, { model, action: "infer", location, time: now, usage });

  if (id !== undefined) {
    const d = decideFor(id);
    setDecisionHeaders(res, d);
    if (d.decision === "deny") {
      throw new ClearanceError(
        d.reason === "unknown-model" ? "not-found" : "forbidden",
        d.reason,
        `${id} is not available to you (${d.reason})`,
      );
    }
    return sendJson(res, 200, entry(wire, d));
  }
  const usable = [...scheme.models.keys()]
    .filter((m) => ctx.route(m) !== undefined)
    .map(decideFor)
    .filter((d) => d.decision !== "deny");
  const data = usable.map((d) => entry(wire, d));
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
