/**
 * The rules for a provider's URLs wherever they are checked: the admin schema (schema.ts), the
 * gateway's key fetch (outbound.ts, which checks the addresses connected to as well) and the
 * console's sign-in (console/src/oidc.ts). Pure, no node: imports: the console bundles this code,
 * so the three cannot drift apart.
 */
import type { Problem } from "../errors/index.js";

/**
 * A loopback host as a URL's `hostname` writes it (the URL parser has already made IPv4 dotted
 * decimal and IPv6 compressed lower case): localhost, 127.0.0.0/8, [::1], and 127.0.0.0/8
 * IPv4-mapped ([::ffff:7f00:1]). Not `*.localhost`: Node asks the network's DNS for those, which
 * may answer anything, and plain http to them would trust that answer.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return (
    h === "localhost" ||
    h === "[::1]" ||
    /^127(\.\d{1,3}){3}$/.test(h) ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(h)
  );
}

/**
 * Why a provider's URL is refused for its scheme, or null: https; plain http only to a loopback
 * host, and only where allowed (identity.allow_http_loopback: demos and tests).
 */
export function schemeRefusal(url: string, allowHttpLoopback: boolean): string | null {
  if (!URL.canParse(url)) return `${url} is not a URL`;
  const u = new URL(url);
  if (u.protocol === "https:") return null;
  if (u.protocol !== "http:") return `${url}: only https is allowed`;
  if (!isLoopbackHost(u.hostname)) return `${url}: plain http is refused (https only)`;
  if (!allowHttpLoopback)
    return `${url}: plain http is refused (to loopback only with identity.allow_http_loopback)`;
  return null;
}

/**
 * Whether identity.allow_http_loopback applies to a URL: only at the origin the operator registered.
 * A partner's discovery document naming another loopback port would otherwise reach this machine's
 * other services (the key fetch) or send a person's browser there (the console's sign-in).
 */
export function httpLoopbackAt(url: string, registered: string, allowHttpLoopback: boolean): boolean {
  return (
    allowHttpLoopback &&
    URL.canParse(url) &&
    URL.canParse(registered) &&
    new URL(url).origin === new URL(registered).origin
  );
}

/**
 * A URL a provider's discovery document names (jwks_uri, authorization_endpoint, token_endpoint),
 * checked as a registered one is, or why not. The partner writes that document: an endpoint that
 * is `data:`, plain http to another host, or no URL at all is refused, naming the field. Any https
 * origin is accepted (a provider's login or keys may live on another host than its issuer).
 */
export function discoveredUrlProblem(
  doc: Readonly<Record<string, unknown>>,
  field: string,
  registered: string,
  allowHttpLoopback: boolean,
): Problem | null {
  const url = doc[field];
  if (typeof url !== "string" || url === "") {
    return { code: "invalid_type", path: [field], message: `the discovery document has no ${field}` };
  }
  const why = schemeRefusal(url, httpLoopbackAt(url, registered, allowHttpLoopback));
  if (why === null) return null;
  return {
    code: URL.canParse(url) ? "insecure_url" : "invalid_url",
    path: [field],
    message: `the discovery document's ${field} is refused: ${why}`,
  };
}
