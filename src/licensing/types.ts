/**
 * A license as the control plane manages it: the application, the approvals and their conditions,
 * and every step after, each naming who did it and why (liability is allocated by the record).
 */
import { ClearanceError, formatPath, type ErrorKind, type Path } from "../errors/index.js";
import type { Action } from "../policy/types.js";
import type { SetExpression } from "../scheme/schema.js";

export type QuotaPeriod = "month" | "quarter" | "total";
export type LicenseState = "pending" | "approved" | "denied" | "suspended" | "revoked";

/** The terms a license grants; conditions at approval may only narrow them. */
export interface LicenseTerms {
  readonly models: readonly string[];
  readonly actions: readonly Action[];
  readonly destinations: SetExpression;
  readonly purposes?: readonly string[];
  readonly nationalities?: SetExpression;
  readonly valid_from: string;
  readonly valid_until: string;
  readonly quota_tokens?: number;
  readonly quota_period: QuotaPeriod;
  /**
   * The countries `destinations` and `nationalities` named when the application was made (set names
   * resolved against the scheme version then active): what the approvers approve, and what the
   * policy in force uses — a later version redefining a set does not change them. The expressions
   * are kept for display. Absent on licenses stored before this was recorded: those still resolve
   * their set names against the active version.
   */
  readonly resolved?: ResolvedCountries;
}

export interface ResolvedCountries {
  readonly destinations: readonly string[];
  readonly nationalities?: readonly string[];
}

/** Narrowing an approver may add. */
export interface Conditions {
  readonly destinations?: readonly string[];
  readonly quota_tokens?: number;
  readonly valid_until?: string;
  readonly note?: string;
}

export interface Approval {
  readonly identity: string;
  readonly at: string;
  readonly conditions?: Conditions;
  /**
   * This approval fixed the license's countries (an application stored before they were resolved
   * when it was made): the approvals before it approved set names, not these countries, so they
   * stay in the record but do not count towards the two.
   */
  readonly fixed_countries?: true;
}

export interface LicenseEvent {
  readonly at: string;
  readonly actor: string;
  readonly action: "apply" | "approve" | "deny" | "suspend" | "reinstate" | "revoke" | "seed";
  readonly reason?: string;
  readonly conditions?: Conditions;
}

export interface LicenseRecord {
  readonly id: string;
  readonly licensee: { readonly organization: string } | { readonly principal: string };
  /** As applied for. */
  readonly requested: LicenseTerms;
  /** In force once approved: the requested terms narrowed by every approval's conditions. */
  readonly terms: LicenseTerms;
  readonly justification: string;
  readonly status: LicenseState;
  /** The identity that filed the application (never one of its approvers). */
  readonly applicant: string;
  readonly approvals: readonly Approval[];
  readonly history: readonly LicenseEvent[];
}

export type WorkflowErrorCode =
  | "not-pending"
  | "self-approval"
  | "conflict-of-interest"
  | "beneficiary-unknown"
  | "duplicate-approval"
  | "revoked-decider"
  | "reason-required"
  | "invalid-conditions"
  | "invalid-transition";

const KIND_OF: Readonly<Record<WorkflowErrorCode, ErrorKind>> = {
  "not-pending": "conflict",
  "self-approval": "forbidden",
  "conflict-of-interest": "forbidden",
  // Nothing is known of the licensee principal yet: the state does not allow deciding (fail closed).
  "beneficiary-unknown": "conflict",
  "duplicate-approval": "conflict",
  // A revoked identity no longer decides anything (its approvals stop counting, see approve).
  "revoked-decider": "forbidden",
  "reason-required": "invalid",
  "invalid-conditions": "invalid",
  "invalid-transition": "conflict",
};

/**
 * A step the workflow does not allow; its kind says how the edge answers it. Its one problem
 * (`{code, path, message}`, the shape of every error) names the field at fault where there is one
 * (`reason`, `conditions.quota_tokens`), and is the message's prefix.
 */
export class WorkflowError extends ClearanceError {
  declare readonly code: WorkflowErrorCode;
  constructor(code: WorkflowErrorCode, message: string, path: Path = []) {
    super(KIND_OF[code], code, path.length === 0 ? message : `${formatPath(path)}: ${message}`, {
      problems: [{ code, path, message }],
    });
    this.name = "WorkflowError";
  }
}
