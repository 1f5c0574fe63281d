/** The vocabulary of a decision. Shapes follow DESIGN.md "Decision semantics". */

export const ACTIONS = ["infer", "fine_tune", "evaluate", "weights"] as const;
export type Action = (typeof ACTIONS)[number];

export const ASSURANCE_LEVELS = ["none", "self", "verified", "attested"] as const;
export type Assurance = (typeof ASSURANCE_LEVELS)[number];

export const SCREENING_STATUSES = ["clear", "potential", "confirmed"] as const;
export type Screening = (typeof SCREENING_STATUSES)[number];

export const CONTROL_LEVELS = ["open", "controlled", "home-only"] as const;
export type Control = (typeof CONTROL_LEVELS)[number];

export const NATIONALITY_RULES = ["most-recent", "all"] as const;
export type NationalityRule = (typeof NATIONALITY_RULES)[number];

export const PARTNER_STATUSES = ["applied", "active", "suspended", "revoked"] as const;
export type PartnerStatus = (typeof PARTNER_STATUSES)[number];

export const LICENSE_STATUSES = ["pending", "approved", "suspended", "revoked", "denied"] as const;
export type LicenseStatus = (typeof LICENSE_STATUSES)[number];

/** A citizenship or permanent residency, with the date it was acquired when known. */
export interface Nationality {
  readonly country: string;
  readonly since?: string | null;
}

export interface OrganizationRef {
  readonly id: string;
  readonly country?: string | null;
  readonly screening?: Screening;
}

export interface Principal {
  readonly id: string;
  readonly citizenships?: readonly Nationality[];
  readonly permanent_residencies?: readonly Nationality[];
  readonly residence?: string | null;
  readonly organization?: string | OrganizationRef | null;
  readonly assurance?: Assurance;
  readonly screening?: Screening;
}

export interface DecisionRequest {
  readonly model: string;
  readonly action: Action;
  /** ISO 3166-1 alpha-2 of where the request comes from; null or absent when unknown. */
  readonly location?: string | null;
  readonly purpose?: string | null;
  /** ISO 8601 date-time, or milliseconds since the epoch. Time is an input: policy reads no clock. */
  readonly time: string | number;
  /** Tokens already used per license id. */
  readonly usage?: Readonly<Record<string, { readonly tokens: number }>>;
}

export const REASONS = [
  "denied-party",
  "screening-review",
  "embargoed-location",
  "embargoed-residence",
  "embargoed-organization",
  "embargoed-nationality",
  "unknown-model",
  "not-available-here",
  "open-model",
  "home-person",
  "home-only-outside-home",
  "partner-country",
  "partner-organization",
  "license",
  "license-quota-exhausted",
  "no-authorization",
] as const;
export type Reason = (typeof REASONS)[number];

/** The checks, in the order DESIGN.md gives them. */
export const CHECKS = [
  "screening",
  "embargo",
  "model",
  "open-model",
  "home-person",
  "partner-country",
  "partner-organization",
  "license",
  "default",
] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckResult {
  readonly check: CheckName;
  /** The model this check was applied to (differs from the requested model along a fallback chain). */
  readonly model: string;
  /** `pass`: did not decide, the next check runs. `allow`/`deny`: this check decided. */
  readonly outcome: "pass" | "allow" | "deny";
  /** The deciding check's reason; undefined (left out of JSON) for a check that passed. */
  readonly reason: Reason | undefined;
  /**
   * What the check found, as data: a code and its parameters. `describeFinding()` (words.ts) puts
   * it into words where a person reads it; decide() builds no sentences.
   */
  readonly finding: Finding;
}

/** How a foreign person's relevant nationalities were chosen (it qualifies nationality findings). */
export type NationalityBasis = "most-recent" | "all" | "dates-missing";

/** Why one partner or license did not authorize the request. */
export type Failure =
  | { readonly code: "partner-status"; readonly status: PartnerStatus }
  | { readonly code: "license-status"; readonly status: LicenseStatus }
  | { readonly code: "no-nationality" }
  | { readonly code: "nationality-outside-partner"; readonly country: string }
  | { readonly code: "location-unknown" }
  | { readonly code: "location-outside-partner-and-home"; readonly location: string }
  | { readonly code: "assurance-below"; readonly assurance: Assurance; readonly required: Assurance }
  | { readonly code: "partner-not-granted"; readonly model: string; readonly action: string }
  | { readonly code: "location-not-allowed"; readonly location: string }
  | { readonly code: "nationality-restricted"; readonly country: string }
  | { readonly code: "not-yet-valid" }
  | { readonly code: "expired" }
  | { readonly code: "model-not-covered"; readonly model: string }
  | { readonly code: "action-not-covered"; readonly action: string }
  | { readonly code: "destination-not-licensed"; readonly location: string }
  | { readonly code: "purpose-not-licensed"; readonly purpose: string | null }
  | { readonly code: "nationality-not-licensed"; readonly country: string }
  | { readonly code: "quota-used-up" };

/** A partner or license that was tried and why it failed. */
export interface Failed {
  readonly id: string;
  readonly failure: Failure;
}

export type Finding =
  // screening
  | { readonly code: "principal-screening-match"; readonly principal: string }
  | { readonly code: "organization-screening-match"; readonly organization: string }
  | { readonly code: "screening-review" }
  | { readonly code: "screening-review-uncontrolled" }
  | { readonly code: "no-screening-match" }
  // embargo
  | { readonly code: "location-embargoed"; readonly country: string }
  | { readonly code: "residence-embargoed"; readonly country: string }
  | { readonly code: "organization-country-embargoed"; readonly country: string }
  | {
      readonly code: "nationality-embargoed";
      readonly country: string;
      readonly basis: NationalityBasis;
    }
  | { readonly code: "nothing-embargoed"; readonly locationKnown: boolean }
  // model, open model
  | { readonly code: "unknown-model"; readonly model: string; readonly scheme: string }
  | { readonly code: "not-offered-here"; readonly model: string; readonly location: string | null }
  | { readonly code: "model-control"; readonly model: string; readonly control: Control }
  | { readonly code: "open-model"; readonly model: string }
  // home person
  | {
      readonly code: "home-only-outside-home";
      readonly country: string;
      readonly via: "citizenship" | "permanent residency";
      readonly model: string;
      readonly location: string | null;
    }
  | {
      readonly code: "home-person";
      readonly country: string;
      readonly via: "citizenship" | "permanent residency";
    }
  | { readonly code: "foreign-person"; readonly basis: NationalityBasis }
  | {
      readonly code: "foreign-person-nationalities";
      readonly nationalities: readonly string[];
      readonly basis: NationalityBasis;
    }
  // partners
  | {
      readonly code: "country-partner";
      readonly partner: string;
      readonly nationalities: readonly string[];
      readonly location: string;
      readonly assurance: Assurance;
    }
  | { readonly code: "no-country-partner-grant"; readonly model: string; readonly action: string }
  | { readonly code: "country-partners-failed"; readonly partners: readonly Failed[] }
  | {
      readonly code: "organization-partner";
      readonly partner: string;
      readonly name: string;
      readonly location: string;
    }
  | { readonly code: "no-organization" }
  | { readonly code: "organization-not-partner"; readonly organization: string }
  | { readonly code: "organization-partner-failed"; readonly partner: Failed }
  // licenses
  | {
      readonly code: "license-covers";
      readonly license: string;
      /** Tokens left and the quota, when the license has one. */
      readonly left: number | null;
      readonly quota: number | null;
    }
  | { readonly code: "license-quota-exhausted"; readonly license: string }
  | { readonly code: "no-license" }
  | { readonly code: "licenses-failed"; readonly licenses: readonly Failed[] }
  // default
  | { readonly code: "home-only-foreign"; readonly model: string }
  | { readonly code: "no-authorization"; readonly model: string; readonly action: string };

export type FindingCode = Finding["code"];

export type GrantRef =
  | { readonly kind: "partner-country"; readonly partner: string; readonly index: number }
  | { readonly kind: "partner-organization"; readonly partner: string; readonly index: number }
  | { readonly kind: "license"; readonly license: string };

export interface FallbackAttempt {
  readonly model: string;
  readonly outcome: "allow" | "deny";
  readonly reason: Reason;
  readonly grant: GrantRef | null;
  readonly checks: readonly CheckResult[];
}

export interface Decision {
  readonly decision: "allow" | "deny" | "fallback";
  /** The deciding check's reason. For a fallback: why the requested model was denied. */
  readonly reason: Reason;
  readonly model: string;
  readonly served_model: string | null;
  /** The grant or license the served model rests on (null for open models, home persons, denials). */
  readonly grant: GrantRef | null;
  /** The checks applied to the requested model, in order; the last one listed decided. */
  readonly checks: readonly CheckResult[];
  /** When the requested model was denied and names a fallback: each model tried down the chain. */
  readonly fallbacks?: readonly FallbackAttempt[];
  readonly scheme: { readonly name: string; readonly digest: string };
  /** Where the principal's facts came from, when a partner's identity provider vouched for them. */
  readonly identity?: IdentityBasis;
}

/**
 * A partner's identity provider vouched for the principal: which token, which claims were believed,
 * which were set aside (outside the partner's reach, or unreadable) and why, and the assurance.
 */
export interface IdentityBasis {
  readonly issuer: string;
  readonly provider: string;
  readonly partner: string;
  /** The signing key's id (`kid`), when the token names one. */
  readonly key_id: string | null;
  readonly subject: string;
  /** Each fact taken from the token: e.g. "citizenships DE (claim nationality)". */
  readonly used: readonly string[];
  readonly set_aside: readonly SetAsideClaim[];
  readonly assurance: { readonly level: Assurance; readonly why: string };
}

export interface SetAsideClaim {
  /** The fact the claim would have given (citizenships, residence, organization, …). */
  readonly fact: string;
  /** The claim's path in the token. */
  readonly claim: string;
  readonly value: string;
  readonly why: string;
}
