/**
 * Admin callers: `Authorization: Bearer <token>`. Tokens are stored as SHA-256 digests; the
 * presented token is hashed and looked up (the bootstrap token from the environment is compared in
 * constant time). The bootstrap token acts as the identity "admin" with the role admin.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { tokenHash } from "../control/state.js";
import { ClearanceError } from "../errors/index.js";
import { bearerToken } from "../http/index.js";
import type { AdminDeps, Caller } from "./deps.js";

export function bearer(req: IncomingMessage): string {
  return bearerToken(req.headers.authorization) ?? "";
}

export function authenticate(
  req: IncomingMessage,
  deps: Pick<AdminDeps, "bootstrapTokenHash" | "state">,
): Caller {
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
  return { id: identity.id, roles: new Set(identity.roles), organization: identity.organization };
}
