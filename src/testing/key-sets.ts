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

/**
 * Resolves once the fetch `maintain()` started, if it started one, is done (shared, as a token's
 * refresh shares it): a fetch was started when the last attempt is later than the last fetch.
 */
export async function fetchSettled(set: KeySet): Promise<void> {
  if (set.fetchedAt === null || set.fetchedAt < set.lastAttempt) await set.refresh();
}

/**
 * Resolves once provider `id`'s key set holds keys it may use: at once if it does, else when the
 * fetch under way (the one the upkeep started) is done, or one started now; refused, naming the
 * fetch's error, if it still holds none. An event to wait for, not a time.
 */
export async function keysFetched(set: KeySet | undefined, id: string): Promise<void> {
  if (set === undefined) throw new Error(`provider ${id}: no key set`);
  if (!set.usable()) await set.refresh();
  if (!set.usable())
    throw new Error(`provider ${id}: no keys it may use after a fetch (${set.lastError ?? "no error"})`);
}
