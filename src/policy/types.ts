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
  /** The organization's name, for denied-party screening. */
  readonly name?: string | null;
  readonly country?: string | null;
  readonly screening?: Screening;
}

export interface Principal {
  readonly id: string;
  /** The person's name and birth date, for denied-party screening (never read by the decision). */
  readonly name?: string | null;
  readonly birth_date?: string | null;
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
  readonly reason?: Reason;
  readonly detail: string;
}

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
}
