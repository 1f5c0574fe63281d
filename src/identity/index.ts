/**
 * Partner identity federation: partners' identity providers (OIDC / JWKS) vouch for their people,
 * within what each partner may vouch for. See README "Partner identity federation".
 */
import type { FederatedPrincipalRecord, Store } from "../store/index.js";
import { isFederatedPrincipal } from "./federation.js";

export {
  Federation,
  federatedPrincipalId,
  isFederatedPrincipal,
  type FederatedCaller,
} from "./federation.js";
export { federationRecords, type FederationRecords } from "./records.js";
export { isBearersFailure, looksLikeJwt } from "./verify.js";
export * from "./schema.js";

/**
 * A federated principal's facts as last vouched for (for other features, e.g. screening): who it
 * is, which provider and partner vouched, and the principal's facts. Undefined for any other id.
 */
export async function federatedPrincipalFacts(
  store: Store,
  id: string,
): Promise<FederatedPrincipalRecord | undefined> {
  if (!isFederatedPrincipal(id)) return undefined;
  return store.federated.get(id);
}
