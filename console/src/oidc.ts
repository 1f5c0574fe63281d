/**
 * Partner sign-in: the OpenID Connect authorization-code flow with PKCE (RFC 7636) against the
 * partner's identity provider, from the browser. The console is a public client (no secret); it
 * redeems the code at the provider's token endpoint and keeps the ID token for this tab, as it keeps
 * an admin token. The admin API verifies that ID token against the provider's keys on every call —
 * the checks here (state, issuer, nonce) protect this tab from a forged redirect, and the code and
 * PKCE verifier from being sent to another provider than the one that issued them (the mix-up
 * attack, RFC 9207): every provider answers at the same redirect URI.
 */
import { discoveredUrlProblem } from "../../src/identity/provider-urls.js";
import { parseBody } from "./api.js";
import { BASE } from "./router.js";

export interface SignInProvider {
  readonly id: string;
  readonly name: string;
  readonly partner: string;
  readonly issuer: string;
  readonly client_id: string;
  /** The gateway's identity.allow_http_loopback: plain http to loopback, at the issuer's origin. */
  readonly allow_http_loopback: boolean;
}

interface Pending {
  readonly provider: string;
  /** The issuer the sign-in started with: the only one whose answer is taken. */
  readonly issuer: string;
  /** Its discovery document says it names itself in its answers (`iss`, RFC 9207). */
  readonly iss_required: boolean;
  readonly client_id: string;
  readonly token_endpoint: string;
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

const PENDING = "clearance.oidc";

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (): string => base64url(crypto.getRandomValues(new Uint8Array(32)));
const redirectUri = (): string => `${window.location.origin}${BASE}/`;

export async function signInProviders(): Promise<SignInProvider[]> {
  const res = await fetch("/admin/v1/sign-in/providers", { headers: { accept: "application/json" } });
  if (!res.ok) return [];
  return ((await res.json()) as { data: SignInProvider[] }).data;
}

/** Sends the browser to the provider's login, remembering (for this tab) what the answer must match. */
export async function startSignIn(p: SignInProvider): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${p.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  } catch (err) {
    throw new Error(
      `${p.name}: its discovery document (at ${p.issuer}) could not be read: ${(err as Error).message}`,
    );
  }
  if (!res.ok) throw new Error(`${p.name}: its discovery document answered ${res.status}`);
  // A proxy's or captive portal's page is no document: said so, not "Unexpected token '<'".
  const doc = parseBody(await res.text());
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new Error(`${p.name}: its discovery document (at ${p.issuer}) is not a JSON object`);
  }
  const d = doc as Record<string, unknown>;
  if (d.issuer !== p.issuer) {
    throw new Error(`${p.name}: its discovery document names issuer ${String(d.issuer)}, not ${p.issuer}`);
  }
  // The partner writes this document, and the browser is sent to its authorization_endpoint: the
  // gateway's rule for the URLs such a document names (https; loopback http only where allowed).
  for (const field of ["authorization_endpoint", "token_endpoint"]) {
    const problem = discoveredUrlProblem(d, field, p.issuer, p.allow_http_loopback);
    if (problem !== null) throw new Error(`${p.name}: ${problem.message}`);
  }
  const endpoints = d as { authorization_endpoint: string; token_endpoint: string };
  const pending: Pending = {
    provider: p.id,
    issuer: p.issuer,
    iss_required: d.authorization_response_iss_parameter_supported === true,
    client_id: p.client_id,
    token_endpoint: endpoints.token_endpoint,
    verifier: random(),
    state: random(),
    nonce: random(),
  };
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier))),
  );
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(endpoints.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: p.client_id,
    redirect_uri: redirectUri(),
    scope: "openid profile",
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  })) {
    url.searchParams.set(k, v);
  }
  window.location.assign(url.toString());
}

let finishing: Promise<string | null> | null = null;

/**
 * On the way back from the provider (`?code=…&state=…` or `?error=…`): the ID token, or an error;
 * null when this page load is no sign-in's answer. The query is removed from the address either way.
 * Once per page load: a second call (React's StrictMode runs an effect twice) gets the same outcome,
 * not null while the first still redeems the code — whose error then came after the sign-in page
 * was shown without it, and was never said.
 */
export function finishSignIn(): Promise<string | null> {
  return (finishing ??= finish());
}

async function finish(): Promise<string | null> {
  const q = new URLSearchParams(window.location.search);
  if (!q.has("state") || (!q.has("code") && !q.has("error"))) return null;
  const saved = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  window.history.replaceState(null, "", `${BASE}/`);
  const pending = saved === null ? null : (JSON.parse(saved) as Pending);
  if (pending === null || q.get("state") !== pending.state) {
    throw new Error("This sign-in answer was not asked for in this tab; sign in again.");
  }
  // The answer must come from the provider the sign-in started with: a partner's provider that sent
  // the browser on to another's login would otherwise be sent that one's code and PKCE verifier at
  // its own token endpoint, and redeem them as the person (the mix-up attack, RFC 9207).
  const iss = q.get("iss");
  if (iss !== null ? iss !== pending.issuer : pending.iss_required) {
    throw new Error(
      `This sign-in answer comes from ${iss ?? "a provider that does not name itself"}, not from ${pending.issuer} where the sign-in started: nothing was sent to either. Sign in again.`,
    );
  }
  if (q.has("error")) {
    throw new Error(`The identity provider refused: ${q.get("error_description") ?? q.get("error")}`);
  }
  let res: Response;
  try {
    res = await fetch(pending.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: q.get("code") ?? "",
        redirect_uri: redirectUri(),
        client_id: pending.client_id,
        code_verifier: pending.verifier,
      }),
    });
  } catch (err) {
    // The browser says only "Failed to fetch" (unreachable, refused by CORS, or by this page's
    // CSP): name the endpoint, so that whoever looks into it knows where.
    throw new Error(
      `The identity provider's token endpoint (${new URL(pending.token_endpoint).origin}) could not be reached: ${(err as Error).message}`,
    );
  }
  // Not always JSON: a proxy's or load balancer's page (an HTML 502) is said with its status.
  const body = (parseBody(await res.text()) ?? {}) as {
    id_token?: unknown;
    error?: unknown;
    error_description?: unknown;
  };
  if (!res.ok || typeof body.id_token !== "string") {
    const said = [body.error_description, body.error].find((v) => typeof v === "string");
    throw new Error(
      `The identity provider did not issue a token: ${said ?? `it answered ${res.status}${res.statusText === "" ? "" : ` ${res.statusText}`}`}`,
    );
  }
  const payload = idTokenClaims(body.id_token);
  if (payload === null)
    throw new Error("The identity provider's answer holds no readable ID token; sign in again.");
  if (payload.iss !== pending.issuer)
    throw new Error(
      `The ID token is issued by ${String(payload.iss)}, not by ${pending.issuer}; sign in again.`,
    );
  if (payload.nonce !== pending.nonce)
    throw new Error("The ID token is not this sign-in's (nonce); sign in again.");
  return body.id_token;
}

/** An ID token's claims, unverified (the admin API verifies it); null when it is no JWT. */
function idTokenClaims(jwt: string): { iss?: unknown; nonce?: unknown } | null {
  try {
    const bytes = Uint8Array.from(
      atob((jwt.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")),
      (c) => c.charCodeAt(0),
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return typeof claims === "object" && claims !== null
      ? (claims as { iss?: unknown; nonce?: unknown })
      : null;
  } catch {
    return null;
  }
}
