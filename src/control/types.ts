/** The control plane's records, as stored (one collection each in the store). */
import type { SchemeFile } from "../scheme/schema.js";

/** `reviewer`: reviews potential denied-party screening matches (confirms or clears them). */
export const ROLES = [
  "viewer",
  "applicant",
  "compliance-officer",
  "approver",
  "reviewer",
  "admin",
  // A partner's person (signed in with its identity provider): reads its partner's own records only.
  "partner",
] as const;
export type Role = (typeof ROLES)[number];

/** Someone who uses the admin API: a token (stored hashed) bound to roles. */
export interface Identity {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly Role[];
  /** Applicants act for one organization and see only its applications, licenses and usage. */
  readonly organization: string | null;
  readonly token_hash: string;
  readonly created_at: string;
  readonly revoked_at: string | null;
  /** After this the token is refused (absent on identities created before tokens expired). */
  readonly expires_at?: string | null;
}

export type CountryPartnerEntry = SchemeFile["partners"]["countries"][number];
export type OrganizationPartnerEntry = SchemeFile["partners"]["organizations"][number];
export type PartnerStatus = CountryPartnerEntry["status"];

export interface PartnerEvent {
  readonly at: string;
  readonly actor: string;
  readonly from: PartnerStatus | null;
  readonly to: PartnerStatus;
  readonly reason: string;
}

/** A partner as managed: its scheme entry (status included) and the lifecycle so far. */
export type PartnerDocument =
  | {
      readonly kind: "country";
      readonly partner: CountryPartnerEntry;
      readonly history: readonly PartnerEvent[];
    }
  | {
      readonly kind: "organization";
      readonly partner: OrganizationPartnerEntry;
      readonly history: readonly PartnerEvent[];
    };

/** An uploaded scheme file, kept for the record and for rollback. */
export interface SchemeVersion {
  readonly version: number;
  readonly name: string;
  readonly digest: string;
  readonly text: string;
  readonly uploaded_by: string;
  readonly uploaded_at: string;
}

/** The "setting" record "active-scheme". */
export interface ActiveScheme {
  readonly version: number;
  readonly activated_by: string;
  readonly activated_at: string;
  /**
   * The digest of the operator's scheme file as last seeded at start-up (kept by later activations):
   * a file whose digest differs is activated at the next start. Absent: seeded by an older build.
   */
  readonly file_digest?: string;
}
