/** Who is calling: the API key (x-api-key, or Authorization: Bearer) checked against the snapshot. */
import type { IncomingHttpHeaders } from "node:http";
import { ClearanceError } from "../errors/index.js";
import { bearerToken } from "../http/index.js";
import type { FederatedCaller } from "../identity/federation.js";
import { looksLikeJwt } from "../identity/verify.js";
import { screeningEngine, type ScreeningEngine } from "../screening/engine.js";
import { screenFederated } from "../screening/federated.js";
import type { IdentityBasis, Principal } from "../policy/index.js";
import { parseApiKey, verifySecret } from "../store/keys.js";
import type { GatewayContext } from "./context.js";
import type { Snapshot } from "./snapshot.js";

export interface Caller {
  readonly keyId: string;
  readonly principal: Principal;
  /** Present when a partner's identity provider vouched for the principal (a partner token). */
  readonly identity?: IdentityBasis;
}

/** A partner token (a JWT from a registered issuer) or a Clearance key, wherever either is sent. */
export async function authenticateRequest(
  headers: IncomingHttpHeaders,
  ctx: GatewayContext,
): Promise<Caller> {
  const presented = apiKeyOf(headers);
  if (presented !== null && ctx.identity !== undefined && looksLikeJwt(presented)) {
    return screenedCaller(await ctx.identity.authenticate(presented), ctx.snapshot.current);
  }
  return authenticate(headers, ctx.snapshot.current);
}

/** Screened once per verified token, snapshot and set of lists (the token cache reuses the caller). */
const screenings = new WeakMap<
  FederatedCaller,
  { snapshot: Snapshot; engine: ScreeningEngine | null; caller: Caller }
>();

function screenedCaller(federated: FederatedCaller, snapshot: Snapshot): Caller {
  const engine = screeningEngine();
  const known = screenings.get(federated);
  if (known !== undefined && known.snapshot === snapshot && known.engine === engine) return known.caller;
  const principal = screenFederated(federated.principal, federated.displayName, snapshot.screening, engine);
  const caller: Caller = { keyId: federated.keyId, principal, identity: federated.identity };
  screenings.set(federated, { snapshot, engine, caller });
  return caller;
}

export function apiKeyOf(headers: IncomingHttpHeaders): string | null {
  const x = headers["x-api-key"];
  if (typeof x === "string" && x !== "") return x;
  return bearerToken(headers.authorization);
}

/** The same answer for unknown, malformed, wrong and revoked keys: nothing to learn by probing. */
export function authenticate(headers: IncomingHttpHeaders, snapshot: Snapshot): Caller {
  const presented = apiKeyOf(headers);
  if (presented === null) {
    throw new ClearanceError(
      "unauthenticated",
      "missing_api_key",
      "no API key: send it as Authorization: Bearer <key> or x-api-key",
    );
  }
  const parsed = parseApiKey(presented);
  const entry = parsed === null ? undefined : snapshot.keys.get(parsed.id);
  const principal = entry === undefined ? undefined : snapshot.principals.get(entry.principalId);
  if (
    parsed === null ||
    entry === undefined ||
    entry.revoked ||
    principal === undefined ||
    !verifySecret(parsed.secret, entry.hash)
  ) {
    throw new ClearanceError("unauthenticated", "invalid_api_key", "invalid or revoked API key");
  }
  return { keyId: parsed.id, principal };
}
