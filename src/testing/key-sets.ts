/** A provider's key set on the test's clock, for tests of key fetching and token verification. */
import { KeySet } from "../identity/keys.js";
import { providerInputSchema, type ProviderRecord } from "../identity/schema.js";

/**
 * The record the gateway would hold for `provider` (parsed as an admin's input; partner g7-fvey) and
 * the provider's key set, fetched over loopback HTTP on the test's clock `now` (else the gateway's own).
 */
export function clockedKeySet(
  provider: Record<string, unknown>,
  timing: { readonly fetchTimeoutMs: number; readonly cooldownMs: number },
  now?: () => number,
): { record: ProviderRecord; set: KeySet } {
  const input = providerInputSchema.parse(provider);
  const record: ProviderRecord = {
    ...input,
    partner: "g7-fvey",
    created_at: "",
    created_by: "",
    removed: null,
  };
  const set = new KeySet(input, {
    ...timing,
    allowHttpLoopback: true,
    ...(now === undefined ? {} : { now }),
  });
  return { record, set };
}
