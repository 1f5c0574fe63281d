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
import { isBearersFailure, looksLikeJwt } from "../identity/index.js";
import { parseAddress } from "../location/index.js";
import type { AdminDeps, Caller } from "./deps.js";
import { READERS } from "./routes/roles.js";

export function bearer(req: IncomingMessage): string {
  return bearerToken(req.headers.authorization) ?? "";
}

/**
 * The caller, or a refusal: 401 for a missing, unknown, revoked or expired token; 429 (with
 * Retry-After on `res`) for a source past its limit of failed attempts, whatever it presents.
 */
export function authenticate(
  req: IncomingMessage,
  deps: Pick<AdminDeps, "bootstrapTokenHash" | "state" | "now" | "authFailures" | "clientAddress">,
  res?: ServerResponse,
): Caller {
  const done = guarded(req, deps, res);
  try {
    return check(req, deps);
  } catch (err) {
    done.failed();
    throw err;
  }
}

/**
 * A caller who reads the whole control plane (the gateway's /metrics names every organization's
 * licenses and quotas): 403 for any other, a scoped applicant or partner among them.
 */
export function authenticateReader(
  req: IncomingMessage,
  deps: Pick<AdminDeps, "bootstrapTokenHash" | "state" | "now" | "authFailures" | "clientAddress">,
  res?: ServerResponse,
): Caller {
  const caller = authenticate(req, deps, res);
  if (!READERS.some((r) => caller.roles.has(r))) {
    throw new ClearanceError(
      "forbidden",
      "forbidden",
      `${caller.id} may not read the metrics: needs one of the roles ${READERS.join(", ")}`,
    );
  }
  return caller;
}

/**
 * The admin API's caller: an admin identity token as above, or (where console sign-in is
 * configured) a partner's person presenting its identity provider's ID token. That token is
 * verified by the gateway's federation, exactly as a gateway token is; the person gets the role
 * `partner`, scoped to its partner (read-only: its licenses, usage, providers and principals).
 */
export async function authenticateAdmin(
  req: IncomingMessage,
  deps: Pick<
    AdminDeps,
    "bootstrapTokenHash" | "state" | "now" | "authFailures" | "clientAddress" | "consoleSignIn"
  >,
  res?: ServerResponse,
): Promise<Caller> {
  const presented = bearer(req);
  if (deps.consoleSignIn === undefined || !looksLikeJwt(presented)) return authenticate(req, deps, res);
  const done = guarded(req, deps, res);
  try {
    const who = await deps.consoleSignIn.verify(presented);
    return {
      id: who.principal,
      roles: new Set(["partner"]),
      organization: who.partner,
      ...(who.name === null ? {} : { name: who.name }),
    };
  } catch (err) {
    // Not when the provider's keys are out of reach or the partner is not active: everyone behind
    // one address (a NAT, an office) would be locked out by an outage none of them caused.
    if (isBearersFailure(err)) done.failed();
    throw err;
  }
}

/** Refuses a source past its limit of failures; the returned `failed` counts one more. */
function guarded(
  req: IncomingMessage,
  deps: Pick<AdminDeps, "authFailures" | "clientAddress">,
  res: ServerResponse | undefined,
): { failed(): void } {
  const guard = deps.authFailures;
  const source = sourceOf(req, deps);
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
  return { failed: () => guard?.failed(source, now) };
}

/**
 * Whom failures are counted against: the client the locator believes (behind a trusted proxy every
 * peer is the proxy, and counting it would let anyone lock every caller out), an IPv6 client by
 * its /64 (one host may hold every address in it). A chain of trusted hops only names no client
 * (the location is unknown), but its first hop still tells one internal caller from another; the
 * peer when the chain cannot be followed at all.
 */
function sourceOf(req: IncomingMessage, deps: Pick<AdminDeps, "clientAddress">): string {
  const peer = req.socket.remoteAddress;
  const header = req.headers["x-forwarded-for"];
  const forwarded = Array.isArray(header) ? header.join(",") : header;
  const client = deps.clientAddress?.(peer, forwarded);
  const first = client === null ? forwarded?.split(",")[0]?.trim() : undefined;
  const hop = first === undefined || parseAddress(first) === null ? undefined : first;
  const address = client ?? hop ?? peer ?? "unknown";
  const parsed = parseAddress(address);
  if (parsed === null) return address;
  if (parsed.kind() === "ipv4") return parsed.toString();
  return `${parsed.toNormalizedString().split(":").slice(0, 4).join(":")}::/64`;
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
