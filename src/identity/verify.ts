/**
 * One partner token, checked: size, shape (base64url, JSON objects, no duplicate members), no
 * self-named keys (jku, x5u, jwk, x5c), a registered issuer whose partner is active, an algorithm
 * from the provider's allow-list, then `jose` verifies the signature against the provider's keys in
 * memory (the algorithm must match the key's type) with `iss`, `aud`, `exp`, `nbf`, `iat` (within
 * the clock skew and the maximum age) and `crit`. Every refusal is a 401 with a precise code.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { ClearanceError } from "../errors/index.js";
import { CONTROL, LONE_SURROGATE, nameList, quoted } from "../policy/text.js";
import { decodePart, jsonPreview, type PartProblem } from "./json.js";
import type { KeySet } from "./keys.js";
import { admittedAlgorithms, type ProviderRecord } from "./schema.js";

export type TokenErrorCode =
  | "token-malformed"
  | "token-too-large"
  | "token-header"
  | "token-algorithm"
  | "token-signature"
  | "token-expired"
  | "token-not-yet-valid"
  | "token-issued-in-future"
  | "token-too-old"
  | "token-audience"
  | "token-claims"
  | "token-critical-header"
  | "unknown-issuer"
  | "unknown-signing-key"
  | "identity-provider-unavailable"
  | "partner-not-active"
  | "principal-blocked";

export const tokenError = (code: TokenErrorCode, message: string): ClearanceError =>
  new ClearanceError("unauthenticated", code, message);

/**
 * Refusals the token's bearer did not cause and cannot change: the provider's keys out of reach
 * (or the records changing during every check), the partner not active. They say nothing of the
 * token, so they do not count as failed authentications (one outage would lock out every source).
 */
const NOT_THE_BEARERS: ReadonlySet<string> = new Set<TokenErrorCode>([
  "identity-provider-unavailable",
  "partner-not-active",
]);

/** Whether a refused token counts against its source's failed authentications (admin_security). */
export const isBearersFailure = (err: unknown): boolean =>
  err instanceof ClearanceError && err.kind === "unauthenticated" && !NOT_THE_BEARERS.has(err.code);

/** Headers naming where to get a key: never followed, and a token carrying one is refused. */
const KEY_HEADERS = ["jku", "x5u", "jwk", "x5c"] as const;
/** Longest `kid` taken: it is written in every decision's audit entry, bounded as other names are. */
const MAX_KID = 256;
/** Longest part of a refused `alg` a refusal quotes (every algorithm name is a few characters). */
const MAX_ALG_SHOWN = 40;

/**
 * A token rather than a Clearance key (`clr_<id>_<secret>`, no dots): a JWS has three dot-separated
 * parts (a JWE five, refused as such). How a partner token is told from a key.
 */
export function looksLikeJwt(presented: string): boolean {
  if (presented.startsWith("clr_")) return false;
  let dots = 0;
  for (let i = presented.indexOf("."); i >= 0; i = presented.indexOf(".", i + 1)) dots += 1;
  return dots === 2 || dots === 4;
}

export interface Parsed {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly issuer: string;
}

const PART_PROBLEM: Readonly<Record<PartProblem, string>> = {
  base64: "is not base64url",
  utf8: "is not UTF-8",
  json: "is not JSON",
  "not-object": "is not a JSON object",
  duplicate: "names a member twice",
};

/** Shape checks before anything is looked up: cheap, and they decide which provider to ask. */
export function parseToken(token: string, maxBytes: number): Parsed {
  if (token.length > maxBytes) {
    throw tokenError("token-too-large", `the token is ${token.length} bytes; the limit is ${maxBytes}`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw tokenError(
      "token-malformed",
      parts.length === 5
        ? "encrypted tokens (JWE) are not accepted; send a signed JWT"
        : "the token is not a signed JWT (three base64url parts)",
    );
  }
  const header = decodePart(parts[0]!);
  if (typeof header === "string")
    throw tokenError("token-malformed", `the token's header ${PART_PROBLEM[header]}`);
  const payload = decodePart(parts[1]!);
  if (typeof payload === "string")
    throw tokenError("token-malformed", `the token's claims ${PART_PROBLEM[payload]}`);
  // An empty signature (alg none) is left to the algorithm check, which names the problem.
  if (!/^[A-Za-z0-9_-]*$/.test(parts[2]!))
    throw tokenError("token-malformed", "the token's signature is not base64url");
  for (const name of KEY_HEADERS) {
    if (Object.hasOwn(header, name)) {
      throw tokenError(
        "token-header",
        `the token names its own key (${name}); keys come only from the issuer's registered key set`,
      );
    }
  }
  if (typeof header.alg !== "string") throw tokenError("token-malformed", "the token's header has no alg");
  const kidProblem = keyIdProblem(header.kid);
  if (kidProblem !== null) throw tokenError("token-header", `the token's kid header ${kidProblem}`);
  // No JWS extension is understood here (RFC 7515 section 4.1.11): a token that marks one critical is refused.
  if (Object.hasOwn(header, "crit")) {
    throw tokenError(
      "token-critical-header",
      `the token marks header parameters critical (crit: ${jsonPreview(header.crit, 80).slice(0, 80)}) that this gateway does not process`,
    );
  }
  if (typeof payload.iss !== "string" || payload.iss === "")
    throw tokenError("token-claims", "the token has no iss (issuer) claim");
  return { header, payload, issuer: payload.iss };
}

/**
 * What is wrong with a `kid` header (absent is fine), or null. The kid that verifies is the audit
 * entry's `key_id`: a lone surrogate there is not Unicode (RFC 8785, the log's canonical JSON, cannot
 * hold it, so other verifiers could not re-encode the entry), and a control character garbles the
 * explanation and logs. A kid that is no string would be ignored by the key lookup (RFC 7515: a string).
 */
function keyIdProblem(kid: unknown): string | null {
  if (kid === undefined) return null;
  if (typeof kid !== "string") return "is not a string";
  if (kid.length > MAX_KID) return `is longer than ${MAX_KID} characters (${kid.length})`;
  if (CONTROL.test(kid)) return "contains control characters";
  if (LONE_SURROGATE.test(kid)) return "is not valid Unicode (a lone surrogate)";
  return null;
}

/** The first of `refused` that a token's `aud` (one value or a list) names, or null. */
export function namedAudience(aud: unknown, refused: readonly string[]): string | null {
  const named = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  return refused.find((r) => named.includes(r)) ?? null;
}

export interface Verified {
  readonly claims: JWTPayload & Record<string, unknown>;
  readonly keyId: string | null;
}

/**
 * Signature and claims. `keys` holds the provider's keys in memory; an unknown kid, or a signature
 * that does not verify with the key held under its kid, asks it for one (cooldown-bounded, shared)
 * fetch and tries again once.
 */
export async function verifyToken(
  token: string,
  parsed: Parsed,
  provider: ProviderRecord,
  keys: KeySet,
  now: number,
): Promise<Verified> {
  const alg = parsed.header.alg as string;
  const algorithms = admittedAlgorithms(provider.algorithms);
  if (!algorithms.includes(alg)) {
    // The token's own text, quoted (a control or bidirectional character acts on whoever reads the
    // refusal; nothing before this looks inside alg) and cut short (an alg is a few characters).
    const named = alg.length > MAX_ALG_SHOWN ? `${quoted(alg.slice(0, MAX_ALG_SHOWN))}…` : quoted(alg);
    throw tokenError(
      "token-algorithm",
      `alg ${named} is not allowed for ${provider.id}; allowed: ${provider.algorithms.join(", ")}`,
    );
  }
  if (!keys.usable() && keys.fetchedAt !== null) {
    void keys.refresh();
    throw tokenError(
      "identity-provider-unavailable",
      `the keys of ${provider.id} could not be refreshed for over ${provider.keys_max_stale_s} s: its tokens are refused until they can`,
    );
  }
  const options = {
    issuer: provider.issuer,
    audience: provider.audiences,
    algorithms,
    clockTolerance: provider.clock_skew_s,
    maxTokenAge: provider.max_token_age_s,
    requiredClaims: ["exp", "iat"],
    currentDate: new Date(now),
  };
  const attempt = async (lookup: KeySet["lookup"]) => {
    if (lookup === null) throw new joseErrors.JWKSNoMatchingKey();
    try {
      return await jwtVerify(token, lookup, options);
    } catch (err) {
      // Several keys under the token's kid (a rotation keeping the kid, both published): each is
      // tried, as jose leaves it to the caller; the one whose signature verifies is the key. A token
      // naming no kid against several keys stays refused (any key would be tried for any forgery).
      if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys) || parsed.header.kid === undefined) throw err;
      for await (const key of err) {
        try {
          return await jwtVerify(token, key, options);
        } catch (inner) {
          if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new joseErrors.JWSSignatureVerificationFailed();
    }
  };
  try {
    let result;
    const held = keys.lookup;
    try {
      result = await attempt(held);
    } catch (err) {
      const unknownKey = err instanceof joseErrors.JWKSNoMatchingKey;
      // A key the partner replaced keeping its kid (or its one key, named by none): the keys held
      // are stale, as for an unknown kid, and are refreshed on the same terms (one fetch per
      // cooldown, shared; within the cooldown the token is refused at once).
      const replacedKey = err instanceof joseErrors.JWSSignatureVerificationFailed;
      if (!unknownKey && !replacedKey) throw err;
      // Keys fetched meanwhile (another request's fetch): tried as they are, nothing more fetched.
      const fetching = keys.lookup === held ? keys.refresh() : Promise.resolve();
      if (unknownKey && fetching === null && keys.lookup === null) {
        throw tokenError(
          "identity-provider-unavailable",
          `the keys of ${provider.id} have not been fetched yet (${keys.lastError ?? "no answer"})`,
        );
      }
      if (fetching === null) throw err;
      await fetching;
      if (unknownKey && !keys.usable()) {
        throw tokenError(
          "identity-provider-unavailable",
          `the keys of ${provider.id} cannot be fetched (${keys.lastError ?? "no answer"})`,
        );
      }
      // The fetch failed and the keys held are still usable: the same keys give the same answer.
      if (keys.lookup === held) throw err;
      result = await attempt(keys.lookup);
    }
    const kid = result.protectedHeader.kid;
    return {
      claims: result.payload as Verified["claims"],
      keyId: typeof kid === "string" ? kid : null,
    };
  } catch (err) {
    throw asTokenError(err, provider, parsed);
  }
}

function asTokenError(err: unknown, provider: ProviderRecord, parsed: Parsed): ClearanceError {
  if (err instanceof ClearanceError) return err;
  const E = joseErrors;
  if (err instanceof E.JWKSNoMatchingKey) {
    const kid = typeof parsed.header.kid === "string" ? ` ${quoted(parsed.header.kid.slice(0, 80))}` : "";
    return tokenError(
      "unknown-signing-key",
      `no key${kid} of ${provider.id} verifies ${String(parsed.header.alg)} tokens`,
    );
  }
  if (err instanceof E.JWKSMultipleMatchingKeys)
    return tokenError("unknown-signing-key", `the token names no kid and ${provider.id} has several keys`);
  if (err instanceof E.JOSEAlgNotAllowed) return tokenError("token-algorithm", err.message);
  if (err instanceof E.JWSSignatureVerificationFailed)
    return tokenError("token-signature", "the token's signature does not verify");
  if (err instanceof E.JWTExpired) {
    return err.claim === "iat"
      ? tokenError("token-too-old", `the token was issued over ${provider.max_token_age_s} s ago`)
      : tokenError("token-expired", "the token has expired");
  }
  if (err instanceof E.JWTClaimValidationFailed) {
    // Each as configured, quoted when not plain (one holding ", " must not read as two).
    const audiences = nameList(provider.audiences);
    if (err.reason === "missing" && err.claim === "aud")
      return tokenError(
        "token-audience",
        `the token names no audience (aud); it must include one of ${audiences}`,
      );
    if (err.reason === "missing") return tokenError("token-claims", `the token has no ${err.claim} claim`);
    // A date that is no number is malformed: not "not yet valid" nor "issued in the future".
    if (err.reason === "invalid")
      return tokenError("token-claims", `the token's ${err.claim} claim is not a number of seconds`);
    switch (err.claim) {
      case "nbf":
        return tokenError("token-not-yet-valid", "the token is not valid yet (nbf)");
      case "iat":
        return tokenError("token-issued-in-future", "the token was issued in the future (iat)");
      case "aud":
        return tokenError(
          "token-audience",
          `the token is not for this gateway: aud must include one of ${audiences}`,
        );
      case "iss":
        return tokenError("unknown-issuer", "the token's issuer is not registered");
      default:
        return tokenError("token-claims", `the token's ${err.claim} claim is invalid`);
    }
  }
  if (err instanceof E.JWSInvalid || err instanceof E.JWTInvalid)
    return tokenError("token-malformed", `the token is malformed: ${err.message}`);
  if (err instanceof E.JOSENotSupported) return tokenError("token-algorithm", err.message);
  if (err instanceof E.JOSEError) return tokenError("token-malformed", err.message);
  // A key the provider published that cannot be imported, for instance: the token cannot be checked.
  return tokenError("unknown-signing-key", `the token cannot be checked against ${provider.id}'s keys`);
}
