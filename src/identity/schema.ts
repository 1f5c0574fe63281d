/**
 * An identity provider as registered for a partner: where its keys come from, which tokens it
 * issues for us (issuer, audiences, algorithms, clock skew, age), how its claims map to a
 * principal's facts, and the most assurance it may vouch for. One zod schema serves the admin API,
 * the config file's bootstrap list and the OpenAPI document.
 */
import { z } from "zod";
import { CONTROL, controlName, plainOrQuoted } from "../policy/text.js";
import { ASSURANCE_LEVELS, type Assurance } from "../policy/types.js";
import { reasonText } from "../scheme/text.js";
import { schemeRefusal } from "./provider-urls.js";

/** Asymmetric algorithms only: a shared secret (HS*) or no signature (none) can never be configured. */
export const ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
/** Ed25519 under both its names: a provider left at the default takes either (`admittedAlgorithms`). */
export const DEFAULT_ALGORITHMS: readonly Algorithm[] = ["RS256", "PS256", "ES256", "EdDSA", "Ed25519"];

/** The two names of one algorithm: Ed25519 signatures (RFC 8037's EdDSA, RFC 9864's Ed25519). */
export const ED25519_NAMES: ReadonlySet<unknown> = new Set(["EdDSA", "Ed25519"]);

/**
 * The `alg`s a provider's tokens may name: its list, and with either name of Ed25519 the other too.
 * The same key and signature either way (keys.ts treats a key named either way alike), so a
 * provider allowed `EdDSA` whose signer moves to RFC 9864's `Ed25519` is not refused for the name.
 * The list as written stays the record (admin view, audit entry).
 */
export function admittedAlgorithms(algorithms: readonly string[]): string[] {
  const out = [...algorithms];
  if (out.some((a) => ED25519_NAMES.has(a))) {
    for (const name of ["EdDSA", "Ed25519"]) if (!out.includes(name)) out.push(name);
  }
  return out;
}

const PROVIDER_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * A URL's text as given, checked before it is parsed: zod's url check trims it and takes out tabs
 * and line breaks, and the URL parser drops a NUL at either end, without a word. The text kept
 * would not be the one sent: an issuer is matched exactly against the tokens' `iss` (and every
 * federated principal stores it; PostgreSQL's text cannot hold a NUL). So a control character
 * (TAB, LF and CR too: a URL is one line) is refused as the admin API refuses one elsewhere
 * (`control_character`, naming the character), and so is whitespace before or after the URL
 * (`invalid_url`: before, zod's `custom`).
 */
const urlText = z.string().check((ctx) => {
  const text = ctx.value;
  const at = text.search(CONTROL);
  if (at !== -1)
    ctx.issues.push({
      code: "custom",
      params: { code: "control_character" },
      input: text,
      message: `the URL holds ${controlName(text.charAt(at))}: a URL may hold no control characters (parsing it would silently take the character out); remove it`,
    });
  else if (text.trim() !== text)
    ctx.issues.push({
      code: "custom",
      // The code a URL that cannot be read gets from the discovery document's check (provider-urls.ts).
      params: { code: "invalid_url" },
      input: text,
      message: "the URL has whitespace before or after it (it would be silently taken off): remove it",
    });
});

/**
 * Where keys are fetched from: https (the keys decide who is believed; and any other scheme could
 * send the gateway's fetch into its own network). The fetch checks the addresses too (outbound.ts).
 */
const keyUrl = (max: number, error?: string) =>
  urlText
    .max(max)
    // After the text's own check (an issue there stops the rest): nothing left for the URL's to change.
    .check(z.url(error === undefined ? undefined : { error }))
    .refine(
      (s) => {
        // zod runs every check: a text that is no URL at all is z.url()'s to report, not ours.
        // Plain http to loopback passes here (the key fetch's own rule, provider-urls.ts); the
        // registry refuses it unless identity.allow_http_loopback.
        return !URL.canParse(s) || schemeRefusal(s, true) === null;
      },
      { error: "expected an https URL (plain http only to a loopback address, for demos and tests)" },
    );

/** A claim: a dotted path (`realm_access.roles`, `nat[0]`), or its segments (for names with dots, such as URLs). */
const claimPath = z
  .union([
    z.string().min(1).max(200),
    z.array(z.union([z.string().min(1).max(200), z.number().int()])).min(1),
  ])
  .meta({
    description:
      'A claim: a dotted path with [n] for array items ("address.country", "nat[0]"), or its segments as a list (for claim names containing dots, e.g. ["https://example.com/nationality"]).',
  });

const assuranceLevel = z.enum(ASSURANCE_LEVELS);

export const claimMappingSchema = z.strictObject({
  /** Default `sub`. */
  subject: claimPath.default("sub"),
  /** A country code, a list of them, or objects with `country` and `since` (see the `*_member` keys). */
  citizenships: claimPath.optional(),
  permanent_residencies: claimPath.optional(),
  residence: claimPath.optional(),
  /** The organization the person belongs to (an organization partner's id). */
  organization: claimPath.optional(),
  display_name: claimPath.optional(),
  /** In a list of objects: the member holding the country code (default `country`)… */
  country_member: z.string().min(1).default("country"),
  /** …and the one holding the date it was acquired (default `since`). */
  since_member: z.string().min(1).default("since"),
});

export const assuranceMappingSchema = z
  .strictObject({
    /** The level when no acr/amr value below matches (default none). */
    level: assuranceLevel.default("none"),
    /** `acr` value → level. */
    acr: z.record(z.string(), assuranceLevel).optional(),
    /** `amr` value (any of the list) → level; the highest match counts. */
    amr: z.record(z.string(), assuranceLevel).optional(),
  })
  .meta({ description: "A fixed level, or levels from the token's acr / amr values." });

const jwk = z.looseObject({ kty: z.string() });

/**
 * The most entries a key set may list, inline or fetched (keys.ts): a provider publishes a few, and
 * every entry is held in memory and may be tried for a token.
 */
export const MAX_KEYS = 100;

/**
 * Console sign-in: the client the partner registered at its provider for this console (a public
 * client: no secret, PKCE). Its ID tokens (aud = client_id) sign the person in, read-only.
 */
export const consoleSignInSchema = z
  .strictObject({ client_id: z.string().min(1).max(200) })
  .meta({ description: "Lets the partner's people sign in to the console with this provider's OIDC login." });

export const providerInputSchema = z
  .strictObject({
    id: z
      .string()
      .regex(PROVIDER_ID, "expected a provider id: lower-case letters, digits and -, at most 63 characters"),
    name: z.string().max(200).optional(),
    /** Exactly as the tokens' `iss` says it. */
    issuer: keyUrl(500, "expected the issuer URL, exactly as the tokens' iss claim"),
    /** Keys from `<issuer>/.well-known/openid-configuration` → jwks_uri (the default when no other source is given). */
    discovery: z.boolean().optional(),
    jwks_uri: keyUrl(1000).optional(),
    /** Inline keys, for a partner with no reachable endpoint (air-gapped). */
    jwks: z.strictObject({ keys: z.array(jwk).min(1).max(MAX_KEYS) }).optional(),
    audiences: z.array(z.string().min(1).max(500)).min(1, "name at least one audience (the tokens' aud)"),
    algorithms: z
      .array(z.string())
      .min(1)
      .default([...DEFAULT_ALGORITHMS]),
    clock_skew_s: z.number().int().min(0).max(600).default(60),
    /** Tokens issued (iat) longer ago than this are refused. */
    max_token_age_s: z
      .number()
      .int()
      .positive()
      .max(7 * 86_400)
      .default(86_400),
    /** Key sets are refetched when older than this… */
    keys_max_age_s: z.number().int().min(10).default(3_600),
    /** …and, while the endpoint fails, used for at most this long after the last good fetch; then refused. */
    keys_max_stale_s: z.number().int().min(60).default(86_400),
    claims: claimMappingSchema.default({ subject: "sub", country_member: "country", since_member: "since" }),
    assurance: assuranceMappingSchema.default({ level: "none" }),
    /** The most this provider may vouch for, whatever its tokens say. */
    max_assurance: assuranceLevel.default("verified"),
    /** The partner's people may sign in to the console with this provider (OIDC code flow, PKCE). */
    console: consoleSignInSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.console !== undefined && p.audiences.includes(p.console.client_id)) {
      ctx.addIssue({
        code: "custom",
        path: ["console", "client_id"],
        message:
          "the console's client id must not be one of the gateway's audiences: a sign-in token must not call models",
      });
    }
    p.algorithms.forEach((alg, i) => {
      if ((ALGORITHMS as readonly string[]).includes(alg)) return;
      // As written (the admin's or the config file's text): bare when plain, else quoted.
      const named = plainOrQuoted(alg);
      ctx.addIssue({
        code: "custom",
        path: ["algorithms", i],
        message: /^HS|^none$/i.test(alg)
          ? `${named} cannot be configured: a shared secret or no signature lets anyone holding the key mint tokens; use ${DEFAULT_ALGORITHMS.join(", ")}`
          : `unknown algorithm ${named}; expected one of ${ALGORITHMS.join(", ")}`,
      });
    });
    const sources = [p.discovery === true, p.jwks_uri !== undefined, p.jwks !== undefined].filter(Boolean);
    if (sources.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["jwks_uri"],
        message: "give one key source: discovery, jwks_uri or jwks",
      });
    }
    p.jwks?.keys.forEach((k, i) => {
      if (k.kty === "oct" || "d" in k || "k" in k) {
        ctx.addIssue({
          code: "custom",
          path: ["jwks", "keys", i],
          message: "only public keys belong here (no symmetric keys, no private key members)",
        });
      }
    });
  });

export type ProviderInput = z.output<typeof providerInputSchema>;
export type ClaimMapping = ProviderInput["claims"];

/** An update: any of the input's members except the id. */
export const providerUpdateSchema = z.strictObject({
  name: z.string().max(200).optional(),
  issuer: keyUrl(500).optional(),
  discovery: z.boolean().optional(),
  jwks_uri: keyUrl(1000).optional(),
  jwks: z.strictObject({ keys: z.array(jwk).min(1).max(MAX_KEYS) }).optional(),
  audiences: z.array(z.string().min(1).max(500)).min(1).optional(),
  algorithms: z.array(z.string()).min(1).optional(),
  clock_skew_s: z.number().int().min(0).max(600).optional(),
  max_token_age_s: z
    .number()
    .int()
    .positive()
    .max(7 * 86_400)
    .optional(),
  keys_max_age_s: z.number().int().min(10).optional(),
  keys_max_stale_s: z.number().int().min(60).optional(),
  claims: claimMappingSchema.optional(),
  assurance: assuranceMappingSchema.optional(),
  max_assurance: assuranceLevel.optional(),
  console: consoleSignInSchema.optional(),
  reason: z.string().max(1000).optional(),
});

/** As stored (collection "identity-provider", id = provider id). Removal keeps the record, marked. */
export interface ProviderRecord extends ProviderInput {
  readonly partner: string;
  readonly created_at: string;
  readonly created_by: string;
  readonly removed: { readonly at: string; readonly by: string; readonly reason: string } | null;
}

/** The body of a block or unblock: why (the admin API and the console's form). */
export const principalBlockBody = z.strictObject({ reason: reasonText() });

/** An administrator's block of one federated principal (collection "principal-block", id = principal id). */
export interface PrincipalBlock {
  readonly blocked: boolean;
  readonly reason: string;
  readonly at: string;
  readonly by: string;
}

/** Where a provider's keys come from. */
export function keySource(p: ProviderInput): {
  kind: "inline" | "jwks_uri" | "discovery";
  url: string | null;
} {
  if (p.jwks !== undefined) return { kind: "inline", url: null };
  if (p.jwks_uri !== undefined) return { kind: "jwks_uri", url: p.jwks_uri };
  return { kind: "discovery", url: `${p.issuer.replace(/\/$/, "")}/.well-known/openid-configuration` };
}

export const assuranceRank = (a: Assurance): number => ASSURANCE_LEVELS.indexOf(a);
