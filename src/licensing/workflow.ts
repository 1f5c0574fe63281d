/**
 * The license workflow as pure functions (time and identities are inputs): application → two
 * approvals by two distinct identities, neither of them the applicant nor a member of the
 * organization the license would benefit (conflict of interest) → approved; or a denial with a reason. Approved licenses can be suspended, reinstated and revoked, each with a reason.
 */
import type { Conditions, LicenseEvent, LicenseRecord, LicenseTerms } from "./types.js";
import { WorkflowError } from "./types.js";

export const APPROVALS_REQUIRED = 2;

export interface Application {
  readonly id: string;
  readonly licensee: LicenseRecord["licensee"];
  readonly terms: LicenseTerms;
  readonly justification: string;
}

export function apply(a: Application, applicant: string, now: string): LicenseRecord {
  return {
    id: a.id,
    licensee: a.licensee,
    requested: a.terms,
    terms: a.terms,
    justification: a.justification,
    status: "pending",
    applicant,
    approvals: [],
    history: [{ at: now, actor: applicant, action: "apply" }],
  };
}

/** A license that a scheme file brought with it, taken over by the store as it stands. */
export function seed(
  id: string,
  licensee: LicenseRecord["licensee"],
  terms: LicenseTerms,
  status: LicenseRecord["status"],
  now: string,
): LicenseRecord {
  return {
    id,
    licensee,
    requested: terms,
    terms,
    justification: "seeded from the scheme file",
    status,
    applicant: "scheme-file",
    approvals: [],
    history: [{ at: now, actor: "scheme-file", action: "seed" }],
  };
}

/** Who decides an application: an identity, and the organization it belongs to (null: none). */
export interface Approver {
  readonly id: string;
  readonly organization: string | null;
}

/**
 * `beneficiary`: the organization the license would benefit — the licensee organization, or the
 * licensee principal's organization (null when it has none).
 */
export function approve(
  r: LicenseRecord,
  approver: Approver,
  now: string,
  conditions: Conditions | undefined,
  resolve: Resolve,
  beneficiary: string | null,
): LicenseRecord {
  checkDecider(r, approver, beneficiary, "approve");
  if (r.approvals.some((a) => a.identity === approver.id)) {
    throw new WorkflowError(
      "duplicate-approval",
      `${approver.id} has already approved this application; a second approver is needed`,
    );
  }
  const terms = conditions === undefined ? r.terms : narrow(r.terms, conditions, resolve);
  const approvals = [
    ...r.approvals,
    { identity: approver.id, at: now, ...(conditions ? { conditions } : {}) },
  ];
  return {
    ...r,
    terms,
    approvals,
    status: approvals.length >= APPROVALS_REQUIRED ? "approved" : "pending",
    history: [...r.history, event(now, approver.id, "approve", undefined, conditions)],
  };
}

export function deny(
  r: LicenseRecord,
  approver: Approver,
  now: string,
  reason: string,
  beneficiary: string | null,
): LicenseRecord {
  checkDecider(r, approver, beneficiary, "decide");
  requireReason(reason);
  return { ...r, status: "denied", history: [...r.history, event(now, approver.id, "deny", reason)] };
}

/** Only a pending application is decided, and never by its applicant or by the organization it benefits. */
function checkDecider(r: LicenseRecord, approver: Approver, beneficiary: string | null, verb: string): void {
  if (r.status !== "pending")
    throw new WorkflowError("not-pending", `license ${r.id} is ${r.status}, not pending`);
  if (approver.id === r.applicant)
    throw new WorkflowError("self-approval", `${approver.id} filed this application and cannot ${verb} it`);
  if (beneficiary !== null && approver.organization === beneficiary) {
    throw new WorkflowError(
      "conflict-of-interest",
      `${approver.id} belongs to ${beneficiary}, the organization this license is for, and cannot ${verb} it`,
    );
  }
}

const TRANSITIONS = {
  suspend: { from: ["approved"], to: "suspended" },
  reinstate: { from: ["suspended"], to: "approved" },
  revoke: { from: ["approved", "suspended"], to: "revoked" },
} as const;

/** Suspend, reinstate or revoke: effective at once, each with who and why. */
export function transition(
  r: LicenseRecord,
  action: keyof typeof TRANSITIONS,
  actor: string,
  now: string,
  reason: string,
): LicenseRecord {
  requireReason(reason);
  const t = TRANSITIONS[action];
  if (!(t.from as readonly string[]).includes(r.status)) {
    throw new WorkflowError("invalid-transition", `cannot ${action} license ${r.id}: it is ${r.status}`);
  }
  return { ...r, status: t.to, history: [...r.history, event(now, actor, action, reason)] };
}

/** Resolves a set expression to countries (the scheme's sets); the workflow itself knows none. */
export type Resolve = (expr: LicenseTerms["destinations"]) => ReadonlySet<string>;

/** Conditions may only narrow: destinations among those applied for, a lower quota, an earlier end. */
function narrow(terms: LicenseTerms, c: Conditions, resolve: Resolve): LicenseTerms {
  let next: LicenseTerms = terms;
  if (c.destinations !== undefined) {
    const allowed = resolve(terms.destinations);
    const extra = c.destinations.filter((d) => !allowed.has(d));
    if (c.destinations.length === 0 || extra.length > 0) {
      throw new WorkflowError(
        "invalid-conditions",
        c.destinations.length === 0
          ? "destinations: at least one is needed"
          : `destinations: ${extra.join(", ")} not among the destinations applied for`,
      );
    }
    next = { ...next, destinations: [...c.destinations] };
  }
  if (c.quota_tokens !== undefined) {
    if (terms.quota_tokens !== undefined && c.quota_tokens > terms.quota_tokens) {
      throw new WorkflowError(
        "invalid-conditions",
        `quota_tokens: ${c.quota_tokens} is more than the ${terms.quota_tokens} applied for`,
      );
    }
    next = { ...next, quota_tokens: c.quota_tokens };
  }
  if (c.valid_until !== undefined) {
    const until = Date.parse(c.valid_until);
    if (
      Number.isNaN(until) ||
      until > Date.parse(terms.valid_until) ||
      until <= Date.parse(terms.valid_from)
    ) {
      throw new WorkflowError(
        "invalid-conditions",
        `valid_until: ${c.valid_until} must fall within ${terms.valid_from} – ${terms.valid_until}`,
      );
    }
    next = { ...next, valid_until: c.valid_until };
  }
  return next;
}

function requireReason(reason: string): void {
  if (reason.trim() === "") throw new WorkflowError("reason-required", "a reason is required");
}

function event(
  at: string,
  actor: string,
  action: LicenseEvent["action"],
  reason?: string,
  conditions?: Conditions,
): LicenseEvent {
  return { at, actor, action, ...(reason ? { reason } : {}), ...(conditions ? { conditions } : {}) };
}
