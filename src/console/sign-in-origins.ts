/**
 * The origins the console's partner sign-in talks to from the browser, for its CSP's connect-src.
 * The console fetches each provider's discovery document from the issuer, then redeems the code at
 * the document's token_endpoint — which many providers keep on another host than the issuer
 * (Google: accounts.google.com issues, oauth2.googleapis.com redeems; Cognito: the user pool's
 * domain). With only the issuers' origins allowed, the browser refused that request and sign-in
 * failed at its last step. So the gateway reads each sign-in provider's discovery document itself,
 * by the console's own rule for the URLs it names (provider-urls.ts: https, or plain http to
 * loopback at the issuer's origin where allowed), and adds the token endpoint's origin: exactly the
 * origins sign-in uses, nothing else. (The browser fetches no key set: the admin API verifies the
 * ID token; the authorization endpoint is a navigation, which connect-src does not govern.)
 *
 * The fetch goes through the key fetch's guard (outbound.ts: no internal address, the address
 * checked being the one connected to), once per issuer per `maxAgeMs` (after a failure, per
 * `retryMs`), shared by every page load: an unauthenticated visitor cannot make the gateway fetch
 * more often. A document not read yet is waited for (within `timeoutMs`) only by a page load;
 * one read before serves while it is read again.
 */
import { getJson } from "../identity/keys.js";
import { keyFetchAgent, urlRefusal } from "../identity/outbound.js";
import { discoveredUrlProblem, httpLoopbackAt } from "../identity/provider-urls.js";

/** A provider offering console sign-in, as the gateway lists them (its registered issuer). */
export interface SignInIssuer {
  readonly issuer: string;
}

/**
 * An origin as a CSP source expression, or null when it could not be one safely. URL's `origin`
 * lets `;` `,` `*` and the like through in a host name: in a header they would end the directive
 * or the policy, or widen it. Only scheme, a plain host name (or an address literal) and a port.
 */
export function cspOrigin(url: string): string | null {
  const parsed = URL.parse(url);
  if (parsed === null || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) return null;
  const origin = parsed.origin;
  return /^https?:\/\/(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(origin)
    ? origin
    : null;
}

/** The discovery document's URL for an issuer (OpenID Connect Discovery 1.0, section 4). */
export const discoveryUrl = (issuer: string): string =>
  `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;

/**
 * The origins sign-in with this provider fetches from: the issuer's (its discovery document) and,
 * when the provider's discovery document is known and names a token_endpoint the console would
 * use (the issuer's own document; the console's rule for the URL), the token endpoint's.
 */
export function signInOrigins(
  issuer: string,
  discovery: Readonly<Record<string, unknown>> | null,
  allowHttpLoopback: boolean,
): string[] {
  const out: string[] = [];
  const own = cspOrigin(issuer);
  if (own !== null) out.push(own);
  if (discovery === null || discovery.issuer !== issuer) return out;
  if (discoveredUrlProblem(discovery, "token_endpoint", issuer, allowHttpLoopback) !== null) return out;
  const token = cspOrigin(discovery.token_endpoint as string);
  if (token !== null && !out.includes(token)) out.push(token);
  return out;
}

export interface SignInOriginOptions {
  /** identity.allow_http_loopback: plain http to loopback at the issuer's origin. */
  readonly allowHttpLoopback: boolean;
  /** How long one discovery fetch may take (and a page load wait for it). */
  readonly timeoutMs?: number;
  /** A document read is read again after this long. */
  readonly maxAgeMs?: number;
  /** After a failed read, the next one is tried no sooner than this. */
  readonly retryMs?: number;
  readonly now?: () => number;
  /** The fetch (tests); by default, through the key fetch's guard. */
  readonly fetchJson?: (url: string, allowLoopback: boolean, timeoutMs: number) => Promise<unknown>;
}

interface Known {
  /** The document last read, null when none was (or it was not one). */
  discovery: Readonly<Record<string, unknown>> | null;
  /** When the last read ended (ms); null while the first one runs. */
  readAt: number | null;
  failed: boolean;
  inflight: Promise<void> | null;
}

/** The discovery documents of the providers offering sign-in, as the console's CSP needs them. */
export class SignInOrigins {
  readonly #known = new Map<string, Known>();
  readonly #timeoutMs: number;
  readonly #maxAgeMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #fetchJson: NonNullable<SignInOriginOptions["fetchJson"]>;
  /** Discovery fetches started (tests). */
  fetches = 0;

  constructor(
    private readonly providers: () => readonly SignInIssuer[],
    private readonly options: SignInOriginOptions,
  ) {
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxAgeMs = options.maxAgeMs ?? 3_600_000;
    this.#retryMs = options.retryMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#fetchJson = options.fetchJson ?? getDiscovery;
  }

  /**
   * The connect-src origins for the providers offering sign-in now. `wait`: a document never read
   * is waited for (a page load, whose CSP is fixed once served); else what is known now is used.
   */
  async origins(wait: boolean): Promise<string[]> {
    const issuers = [...new Set(this.providers().map((p) => p.issuer))];
    for (const issuer of this.#known.keys()) if (!issuers.includes(issuer)) this.#known.delete(issuer);
    const pending: Promise<void>[] = [];
    for (const issuer of issuers) {
      const k = this.#entry(issuer);
      if (wait && k.readAt === null && k.inflight !== null) pending.push(k.inflight);
    }
    await Promise.all(pending);
    const out = new Set<string>();
    for (const issuer of issuers) {
      const discovery = this.#known.get(issuer)?.discovery ?? null;
      for (const o of signInOrigins(issuer, discovery, this.options.allowHttpLoopback)) out.add(o);
    }
    return [...out];
  }

  /** The issuer's entry, with a read started when none ran or the last one is due again. */
  #entry(issuer: string): Known {
    let k = this.#known.get(issuer);
    if (k === undefined) {
      k = { discovery: null, readAt: null, failed: false, inflight: null };
      this.#known.set(issuer, k);
    }
    const due =
      k.readAt === null ||
      this.#now() - k.readAt >= (k.failed ? Math.min(this.#retryMs, this.#maxAgeMs) : this.#maxAgeMs);
    if (due && k.inflight === null) k.inflight = this.#read(issuer, k);
    return k;
  }

  async #read(issuer: string, k: Known): Promise<void> {
    this.fetches += 1;
    const url = discoveryUrl(issuer);
    try {
      // Plain http to loopback only at the issuer's own origin, as the key fetch allows it.
      const allow = httpLoopbackAt(url, issuer, this.options.allowHttpLoopback);
      const refused = urlRefusal(url, allow);
      if (refused !== null) throw new Error(refused);
      const doc = await this.#fetchJson(url, allow, this.#timeoutMs);
      if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not a JSON object");
      k.discovery = doc as Record<string, unknown>;
      k.failed = false;
    } catch {
      // The last document read stays (a provider briefly down keeps its origins); none: the issuer's.
      k.failed = true;
    } finally {
      k.readAt = this.#now();
      k.inflight = null;
    }
  }
}

/** Through the key fetch's guard and reader (no redirects, at most 256 KiB). */
const getDiscovery = (url: string, allowLoopback: boolean, timeoutMs: number): Promise<unknown> =>
  getJson(url, timeoutMs, keyFetchAgent(allowLoopback));
