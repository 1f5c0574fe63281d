/**
 * The request's own facts that reach a decision, the audit log or an answer — where it comes from,
 * the model asked for, the declared purpose — each checked and bounded here, before anything is
 * decided or recorded: a client-chosen string never grows the log or an error message unbounded.
 */
import type { IncomingMessage } from "node:http";
import { ClearanceError } from "../errors/index.js";
import type { ClientSlot } from "../location/index.js";
import { duplicateMember } from "../http/members.js";
import { settleLocation } from "../policy/index.js";
import { CONTROL, CONTROL_OR_LONE_SURROGATE, quoted } from "../policy/text.js";
import type { CompiledScheme } from "../scheme/index.js";
import type { GatewayContext } from "./context.js";

export { duplicateMember };

/** Longest model name or purpose a request may carry (scheme ids are far shorter). */
export const MAX_NAME = 256;

/**
 * The request's country (null: unknown); sources that disagree settle against the embargo. The
 * client address found on the way is left in `slot` (the request's observation).
 */
export function requestLocation(
  ctx: GatewayContext,
  req: IncomingMessage,
  scheme: CompiledScheme,
  slot?: ClientSlot,
): string | null {
  const found = ctx.locator.locate(req.socket.remoteAddress, req.headers, slot);
  if (found === null || typeof found === "string") return found;
  const settled = settleLocation(scheme, found.disputed);
  if ("location" in settled) return settled.location;
  throw new ClearanceError(
    "invalid",
    "ambiguous-location",
    `the request's location sources disagree (${settled.ambiguous.join(", ")}), so where it comes from cannot be told`,
  );
}

/** The body's `model`: a non-empty string of at most MAX_NAME characters, without control characters. */
export function requestedModel(value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw invalidField("invalid_model", "model", "model is required and must be a non-empty string");
  }
  checkName(value, "invalid_model", "model");
  return value;
}

/**
 * `stream`, when given, is a boolean: an upstream reading `"true"` as true would stream while the
 * gateway, reading it as not streaming, would not ask for the usage it meters by.
 */
export function checkStream(value: unknown): void {
  if (value !== undefined && typeof value !== "boolean")
    throw invalidField("invalid_stream", "stream", "stream must be true or false");
}

/** The `x-clearance-purpose` header, bounded like a model name; null when absent or empty. */
export function requestPurpose(req: IncomingMessage): string | null {
  const value = req.headers["x-clearance-purpose"];
  if (value === undefined || value === "") return null;
  if (typeof value !== "string") {
    throw invalidField(
      "invalid_purpose",
      "x-clearance-purpose",
      "x-clearance-purpose is given more than once",
    );
  }
  checkName(value, "invalid_purpose", "x-clearance-purpose");
  return value;
}

/**
 * Refuses a body that names a top-level member twice. JSON.parse keeps the last, and the body may be
 * forwarded as it came: an upstream that keeps the first would serve a model other than the one
 * decided on (or a stream without the usage it is metered by). Names are compared decoded, so
 * `"mo\u0064el"` is `model`.
 */
export function refuseDuplicateMembers(text: string): void {
  const name = duplicateMember(text);
  if (name === null) return;
  throw invalidField(
    "duplicate_member",
    name,
    `the request body names ${quoted(name)} more than once; upstreams differ on which one they keep`,
  );
}

/**
 * Top-level members some OpenAI-compatible routers (LiteLLM, OpenRouter) read as a choice of model:
 * models to try instead, or a routing mode. They are not OpenAI's; forwarded to an upstream that
 * honours them, they could have a model served other than the one decided on — a denied one.
 */
export const ROUTING_MEMBERS: readonly string[] = ["models", "fallbacks", "route"];

/**
 * Refuses an OpenAI-wire body naming a routing member (ROUTING_MEMBERS), before anything is decided
 * or recorded: the gateway decides the model and its fallback. The parsed body's names are decoded,
 * so `"mo\u0064els"` is `models`.
 */
export function refuseRoutingMembers(json: Record<string, unknown>): void {
  for (const name of ROUTING_MEMBERS) {
    if (!Object.hasOwn(json, name)) continue;
    throw invalidField(
      "unsupported_member",
      name,
      `the request body names ${JSON.stringify(name)}, which some upstreams read as other models to serve; the gateway decides the model and its fallback, so it is not accepted`,
    );
  }
}

/**
 * Refuses a Responses API request run in the background (`background` given, and neither false nor
 * null), before anything is decided or recorded. Its answer is a "queued" response with no output
 * and no usage: the model works on after it, and the output is read with GET /v1/responses/{id},
 * which the gateway does not serve. Forwarded, it would be charged a guess at that short answer and
 * never the output the model went on to produce (a stream's client leaving early would not stop it
 * either).
 */
export function refuseBackground(json: Record<string, unknown>): void {
  const value = json.background;
  if (value === undefined || value === null || value === false) return;
  throw invalidField(
    "unsupported_member",
    "background",
    "the request body asks for a background response, which runs on after its answer and is read with GET /v1/responses/{id}; the gateway meters a response by its answer and does not serve that route, so it is not accepted (leave out background, or set it to false)",
  );
}

/**
 * A name that will be logged or echoed: bounded, free of control characters (C0, DEL, C1: they garble
 * logs and headers) and of lone surrogates (not Unicode: RFC 8785 would refuse the audit entry
 * holding one). One scan for both; a name holding both is refused for its control characters.
 */
export function checkName(value: string, code: string, field: string): void {
  if (value.length > MAX_NAME) {
    throw invalidField(code, field, `${field} is longer than ${MAX_NAME} characters (${value.length})`);
  }
  if (!CONTROL_OR_LONE_SURROGATE.test(value)) return;
  throw invalidField(
    code,
    field,
    CONTROL.test(value)
      ? `${field} contains control characters`
      : `${field} is not valid Unicode (a lone surrogate)`,
  );
}

function invalidField(code: string, field: string, message: string): ClearanceError {
  return new ClearanceError("invalid", code, message, {
    problems: [{ code, path: [field], message }],
  });
}
