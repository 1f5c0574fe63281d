/**
 * Admin callers: `Authorization: Bearer <token>`. Tokens are stored as SHA-256 digests; the
 * presented token is hashed and looked up (the bootstrap token from the environment is compared in
 * constant time). The bootstrap token acts as the identity "admin" with the role admin.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tokenHash } from "../control/state.js";
import { ClearanceError } from "../errors/index.js";
import { bearerToken } from "../http/index.js";
import type { AdminDeps, Caller } from "./deps.js";

export function bearer(req: IncomingMessage): string {
  return bearerToken(req.headers.authorization) ?? "";
}

/**
 * The caller, or a refusal: 401 for a missing, unknown, revoked or expired token; 429 (with
 * Retry-After on `res`) for a source past its limit of failed attempts, whatever it presents.
 */
export function authenticate(
  req: IncomingMessage,
  deps: Pick<AdminDeps, "bootstrapTokenHash" | "state" | "now" | "authFailures">,
  res?: ServerResponse,
): Caller {
  const guard = deps.authFailures;
  const source = req.socket.remoteAddress ?? "unknown";
  const now = Date.now();
  const wait = guard?.waitFor(source, now) ?? 0;
  if (wait > 0) {
    res?.setHeader("retry-after", String(wait));
    throw new ClearanceError(
      "rate-limited",
      "too_many_failed_authentications",
      `too many failed authentications from ${source}; retry in ${wait} s`,
    );
  }
  try {
    return check(req, deps);
  } catch (err) {
    guard?.failed(source, now);
    throw err;
  }
}

function check(req: IncomingMessage, deps: Pick<AdminDeps, "bootstrapTokenHash" | "state" | "now">): Caller {
  const presented = bearer(req);
  if (presented === "")
    throw new ClearanceError(
      "unauthenticated",
      "invalid_admin_token",
      "missing admin token: send Authorization: Bearer <token>",
    );
  const hash = tokenHash(presented);
  if (
    deps.bootstrapTokenHash !== null &&
    timingSafeEqual(Buffer.from(hash, "hex"), Buffer.from(deps.bootstrapTokenHash, "hex"))
  ) {
    return { id: "admin", roles: new Set(["admin"]), organization: null };
  }
  const identity = deps.state().identities.get(hash);
  if (identity === undefined)
    throw new ClearanceError("unauthenticated", "invalid_admin_token", "invalid or revoked admin token");
  // Tokens issued before expiry existed carry none.
  if (identity.expires_at != null && Date.parse(identity.expires_at) <= Date.parse(deps.now())) {
    throw new ClearanceError(
      "unauthenticated",
      "admin_token_expired",
      `the admin token of ${identity.id} expired at ${identity.expires_at}; an administrator can issue a new one`,
    );
  }
  return { id: identity.id, roles: new Set(identity.roles), organization: identity.organization };
}
