/**
 * A provider's signing keys, held in memory. They are fetched in the background (OIDC discovery →
 * jwks_uri, the discovery document read at each fetch; or a jwks_uri) and refetched when older than the provider's max age; a request never
 * waits on the network for a key already known. A token naming an unknown `kid` may trigger one
 * fetch per cooldown, shared by every request waiting on it. While the endpoint fails, the last good
 * keys serve for a bounded staleness, then the provider fails closed. While the discovery document
 * alone cannot be read, the key set is fetched at the jwks_uri it last named, for the same bound.
 *
 * Keys come only from here: a token's own `jku`, `x5u` or `jwk` header is never followed. Every URL
 * fetched, the discovery document's jwks_uri included, is https outside the gateway's network
 * (outbound.ts).
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from "jose";
import { fetch, type Agent } from "undici";
import { shown } from "./claims.js";
import { keyFetchAgent, urlRefusal } from "./outbound.js";
import { discoveredUrlProblem, httpLoopbackAt } from "./provider-urls.js";
import { ED25519_NAMES, keySource, MAX_KEYS, type ProviderInput } from "./schema.js";

export interface KeySetOptions {
  /** How long one fetch (discovery or key set) may take. */
  readonly fetchTimeoutMs: number;
  /** At most one fetch per provider in this time, whatever triggers it. */
  readonly cooldownMs: number;
  /** Plain http to a loopback address is fetched (demos, tests): identity.allow_http_loopback. */
  readonly allowHttpLoopback: boolean;
  /**
   * The clock (ms) the keys' age, their staleness and the fetch cooldown are timed on: the monotonic
   * clock (`performance.now()`) unless given (tests). Not the wall clock: one stepped back (NTP, `date
   * -s`) kept keys past keys_max_stale_s usable, and held off every fetch, for as long as it stepped.
   */
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/**
 * Where a provider's keys come from (issuer, discovery, jwks_uri, inline jwks), as a text to compare:
 * two records of a provider with the same one share a key set (`follow`).
 */
export const keySourceOf = (p: ProviderInput): string =>
  JSON.stringify([p.issuer, p.discovery, p.jwks_uri, p.jwks]);

/** A key-set document larger than this is refused (a provider publishes a few keys). */
const MAX_BYTES = 256 * 1024;
const ASYMMETRIC = new Set(["RSA", "EC", "OKP"]);

/**
 * An Ed25519 key naming either name, as the lookup sees it: naming none. jose matches a key's alg to
 * the token's exactly, so a key set written with one name refused the tokens of a signer writing the
 * other, for the same key and signature. Without its alg, the key still serves only those two names
 * (jose matches an OKP Ed25519 key to no other algorithm); any other alg it names is kept, and refuses.
 */
const eitherEd25519Name = (k: JWK): JWK => {
  if (k.kty !== "OKP" || k.crv !== "Ed25519" || !ED25519_NAMES.has(k.alg)) return k;
  const { alg: _alg, ...rest } = k;
  return rest;
};

/**
 * The keys as the lookup sees them (`eitherEd25519Name`), an entry that became the same as one before
 * it dropped: a partner publishing its key under both names (no kid) would otherwise have two keys
 * match a token naming no kid, which is refused (verify.ts), where either name alone verified.
 * Entries differing in anything else (another key, kid or use) stay, and refuse as before.
 */
function forLookup(keys: readonly JWK[]): JWK[] {
  const seen = new Set<string>();
  return keys.flatMap((k) => {
    const seenAs = eitherEd25519Name(k);
    if (seenAs === k) return [k];
    const same = JSON.stringify(Object.entries(seenAs).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (seen.has(same)) return [];
    seen.add(same);
    return [seenAs];
  });
}

export class KeySet {
  #jwks: JSONWebKeySet | null = null;
  #local: JWTVerifyGetKey | null = null;
  #inflight: Promise<void> | null = null;
  /** When the keys were last fetched (ms on the set's clock, `now`), null before the first good fetch. */
  fetchedAt: number | null = null;
  /** The same on the wall clock (ISO 8601), as the admin view shows it. */
  fetchedOn: string | null = null;
  /**
   * Since when the keys held are vouched for (ms on the set's clock): their fetch, or for keys fetched
   * at the jwks_uri a discovery document last named while it cannot be read, that read. Staleness
   * counts from here: counted from the fallback fetch, keys fetched at the bound's last moment served
   * another keys_max_stale_s, from a URL the partner may have left long before.
   */
  #vouchedAt: number | null = null;
  lastAttempt = Number.NEGATIVE_INFINITY;
  lastError: string | null = null;
  /** Fetches started (for tests and the bench: the unknown-kid storm bound). */
  fetches = 0;
  /** The jwks_uri the last discovery document read named, and when (ms on the set's clock). */
  #discovered: { readonly uri: string; readonly at: number } | null = null;
  readonly #now: () => number;
  #provider: ProviderInput;

  constructor(
    provider: ProviderInput,
    private readonly options: KeySetOptions,
  ) {
    this.#provider = provider;
    this.#now = options.now ?? (() => performance.now());
    if (provider.jwks !== undefined) this.#install(provider.jwks as JSONWebKeySet);
  }

  get provider(): ProviderInput {
    return this.#provider;
  }

  /**
   * The provider's record changed, but not where its keys come from (`keySourceOf`): its refetch and
   * staleness intervals, say. The keys held stay, judged by the new record from now on; a new, empty
   * set would refuse or hold up the provider's tokens until its first fetch.
   */
  follow(provider: ProviderInput): void {
    this.#provider = provider;
  }

  get inline(): boolean {
    return this.provider.jwks !== undefined;
  }

  /** The key ids held (for the admin view). */
  get kids(): string[] {
    return (this.#jwks?.keys ?? []).map((k) => k.kid ?? "(no kid)");
  }

  /** jose's key lookup over the keys in memory; null when none were ever fetched. */
  get lookup(): JWTVerifyGetKey | null {
    return this.#local;
  }

  /**
   * Whether the keys may still be used: inline, or vouched for (`#vouchedAt`) within the provider's
   * staleness bound.
   */
  usable(): boolean {
    if (this.inline) return true;
    return this.#vouchedAt !== null && this.#now() - this.#vouchedAt <= this.provider.keys_max_stale_s * 1000;
  }

  /**
   * Background upkeep: fetch when never fetched, older than max age, or halfway to the staleness
   * bound if that comes first (at most once per cooldown). A bound shorter than the max age would
   * otherwise let keys go stale, and their tokens be refused, while the endpoint answers.
   */
  maintain(): void {
    if (this.inline) return;
    const now = this.#now();
    const { keys_max_age_s: age, keys_max_stale_s: stale } = this.provider;
    const due = this.fetchedAt === null || now - this.fetchedAt > Math.min(age, stale / 2) * 1000;
    if (due) void this.refresh();
  }

  /**
   * A token names a key not held: one fetch per cooldown, shared by every caller. Resolves when it
   * is done (whatever the result); null when the cooldown forbids a fetch now (answer at once).
   */
  refresh(): Promise<void> | null {
    if (this.inline) return null;
    if (this.#inflight !== null) return this.#inflight;
    const now = this.#now();
    if (now - this.lastAttempt < this.options.cooldownMs) return null;
    this.lastAttempt = now;
    this.fetches += 1;
    // Never rejects: `maintain` does not wait for it, and a rejection nobody handles ends the process.
    // So a failure while installing what was fetched is caught too (.then, then .catch).
    this.#inflight = this.#fetch()
      .then(({ jwks, note, vouchedAt }) => {
        this.#install(jwks);
        this.fetchedAt = this.#now();
        this.#vouchedAt = vouchedAt ?? this.fetchedAt;
        this.fetchedOn = new Date().toISOString();
        // Fetched, but the discovery document is out of reach: said (admin view, log) before the
        // bound closes the partner.
        this.lastError = note;
        if (note !== null) this.options.log?.(`clearance: identity provider ${this.provider.id}: ${note}`);
      })
      .catch((err: unknown) => {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.options.log?.(
          `clearance: identity provider ${this.provider.id}: cannot fetch its keys: ${this.lastError}`,
        );
      })
      .finally(() => {
        this.#inflight = null;
      });
    return this.#inflight;
  }

  #install(jwks: JSONWebKeySet): void {
    // Public, asymmetric, signing keys only: a symmetric or private key in a key set is ignored, and
    // so is an entry that is no JSON object (null, a number, a text: the partner's document says so).
    const keys = (jwks.keys as unknown[]).filter(
      (k): k is JWK =>
        typeof k === "object" &&
        k !== null &&
        !Array.isArray(k) &&
        ASYMMETRIC.has((k as JWK).kty ?? "") &&
        !("d" in k) &&
        ((k as JWK).use === undefined || (k as JWK).use === "sig"),
    );
    this.#jwks = { keys };
    this.#local = createLocalJWKSet({ keys: forLookup(keys) });
  }

  /** The key set, and `vouchedAt` when the fallback fetched it (else null: vouched for as fetched). */
  async #fetch(): Promise<{ jwks: JSONWebKeySet; note: string | null; vouchedAt: number | null }> {
    const source = keySource(this.provider);
    const registered = source.url!;
    // Loopback (identity.allow_http_loopback) only at the origin the operator registered.
    const allowAt = (url: string) => httpLoopbackAt(url, registered, this.options.allowHttpLoopback);
    const get = (url: string, what: string) => {
      const allow = allowAt(url);
      const refused = urlRefusal(url, allow);
      if (refused !== null) throw new Error(`${what} ${refused}`);
      return getJson(url, this.options.fetchTimeoutMs, keyFetchAgent(allow));
    };
    let uri = source.url!;
    let note: string | null = null;
    if (source.kind === "discovery") {
      // Read at every fetch, not once: the partner may move its key set, and the URL it left (a
      // decommissioned host, a name since taken by someone else) must not keep supplying the keys
      // its tokens are believed on while it still answers.
      let config: Record<string, unknown>;
      try {
        config = await get(source.url!, "the discovery document");
      } catch (err) {
        // The document out of reach (down, timed out, not JSON) says nothing of where the keys are
        // now: the key set is fetched where it last said, as long as the keys held would serve, so
        // one endpoint's outage does not close the partner while its key set answers. A document
        // that answers is believed, whatever it says (below): the moved-URL rule holds.
        const known = this.#discovered;
        const staleMs = this.provider.keys_max_stale_s * 1000;
        if (known === null || this.#now() - known.at > staleMs) throw err;
        const cause = err instanceof Error ? err.message : String(err);
        note = `the discovery document cannot be read (${cause}); the keys were fetched at the jwks_uri it last named, ${known.uri}, until ${this.provider.keys_max_stale_s} s after it was last read`;
        return { jwks: await this.#keySetAt(known.uri, get), note, vouchedAt: known.at };
      }
      // The discovery document must be the issuer's own (OpenID Connect Discovery 1.0, section 4.3).
      if (config.issuer !== this.provider.issuer)
        // Shown briefly: the error is carried by every refusal of the provider's tokens meanwhile.
        throw new Error(`the discovery document names issuer ${shown(config.issuer)}`);
      // The partner wrote this URL: checked as a registered one is, by the rule shared with the
      // admin schema and the console, then for the address it names.
      const problem = discoveredUrlProblem(config, "jwks_uri", registered, this.options.allowHttpLoopback);
      if (problem !== null) throw new Error(problem.message);
      const jwksUri = config.jwks_uri as string;
      const refused = urlRefusal(jwksUri, allowAt(jwksUri));
      if (refused !== null) throw new Error(`the discovery document's jwks_uri is refused: ${refused}`);
      uri = jwksUri;
      this.#discovered = { uri, at: this.#now() };
    }
    return { jwks: await this.#keySetAt(uri, get), note, vouchedAt: null };
  }

  async #keySetAt(
    uri: string,
    get: (url: string, what: string) => Promise<Record<string, unknown>>,
  ): Promise<JSONWebKeySet> {
    const doc = await get(uri, "the key set");
    if (!Array.isArray(doc.keys)) throw new Error(`${uri} is not a JSON Web Key Set (no keys)`);
    // The inline bound, for the same reason: 256 KiB holds some 20,000 tiny entries. A failed fetch:
    // the keys held stay (within keys_max_stale_s), and the cause is the provider's lastError.
    if (doc.keys.length > MAX_KEYS)
      throw new Error(`${uri} lists ${doc.keys.length} keys; at most ${MAX_KEYS} are accepted`);
    return doc as unknown as JSONWebKeySet;
  }
}

/**
 * A JSON object from an identity provider (a discovery document, a key set): no redirects, at most
 * 256 KiB, within `timeoutMs`, through `dispatcher` (the key fetch's address guard).
 */
export async function getJson(
  url: string,
  timeoutMs: number,
  dispatcher: Agent,
): Promise<Record<string, unknown>> {
  let res;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "error",
      headers: { accept: "application/json" },
      dispatcher,
    });
  } catch (err) {
    // undici says only "fetch failed"; the cause (a refused address, a timeout) is what helps.
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${url}: ${cause ?? (err as Error).message}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > MAX_BYTES) {
    await res.body?.cancel();
    throw new Error(`${url} is larger than ${MAX_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A reader rather than `for await`: the DOM typings (the console's build) have no async iterator.
  const reader = res.body?.getReader();
  for (let r = await reader?.read(); r !== undefined && !r.done; r = await reader?.read()) {
    size += r.value.byteLength;
    if (size > MAX_BYTES) {
      await reader?.cancel();
      throw new Error(`${url} is larger than ${MAX_BYTES} bytes`);
    }
    chunks.push(r.value);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new Error(`${url} did not answer JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`${url} did not answer a JSON object`);
  return value as Record<string, unknown>;
}
