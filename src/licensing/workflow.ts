/**
 * The license workflow as pure functions (time and identities are inputs): application → two
 * approvals by two distinct identities, neither of them the applicant nor a member of an
 * organization the license would benefit (conflict of interest) → approved; or a denial with a
 * reason. Approved licenses can be suspended, reinstated (under the same conflict-of-interest rule)
 * and revoked, each with a reason.
 */
import { instantOf } from "../policy/dates.js";
import type { Approval, Conditions, LicenseEvent, LicenseRecord, LicenseTerms } from "./types.js";
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

/**
 * A license that the operator's own scheme file brought with it at start-up, taken over by the
 * store as it stands (that file is the operator's authority). A scheme version activated through
 * the admin API never uses this: it brings pending applications only (see control/seed.ts).
 */
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
 * The organizations a license would benefit: the licensee organization, or every organization the
 * licensee principal is known to belong to or be vouched for by (empty: a known principal of no
 * organization). Null: the licensee principal is unknown, so who benefits cannot be determined.
 */
export type Beneficiaries = readonly string[] | null;

/**
 * How organization ids are compared for conflicts of interest: case, surrounding white space and
 * Unicode compatibility forms do not make a different organization (identities recorded before
 * their organization was validated as an id may carry such variants).
 */
export const normalizeOrganization = (id: string): string => id.normalize("NFKC").trim().toLowerCase();

export const sameOrganization = (a: string, b: string): boolean =>
  normalizeOrganization(a) === normalizeOrganization(b);

/**
 * Approving needs who benefits to be known (fail closed); see `Beneficiaries`. `revoked`: whether
 * an identity has been revoked — an approval by one revoked before the application is decided
 * does not count towards the two (it stays in the record; another approver is needed).
 */
export function approve(
  r: LicenseRecord,
  approver: Approver,
  now: string,
  conditions: Conditions | undefined,
  resolve: Resolve,
  beneficiaries: Beneficiaries,
  revoked: (identity: string) => boolean = () => false,
): LicenseRecord {
  checkDecider(r, approver, beneficiaries, "approve");
  // An application filed before its countries were resolved at filing has them resolved by the
  // approval that finds them unresolved: the approvals after it approve those countries, and the
  // license keeps them. Approvals before it (made before countries were fixed) approved set names
  // whose countries this one chooses, so they no longer count; their approvers may approve again.
  const fixing = r.terms.resolved === undefined;
  const earlier = fixing ? [] : countingApprovals(r.approvals);
  if (earlier.some((a) => a.identity === approver.id)) {
    throw new WorkflowError(
      "duplicate-approval",
      `${approver.id} has already approved this application; a second approver is needed`,
    );
  }
  const pinned = fixing ? resolveTerms(r.terms, resolve) : r.terms;
  const terms = conditions === undefined ? pinned : narrow(pinned, conditions, resolve);
  const approval: Approval = {
    identity: approver.id,
    at: now,
    ...(conditions ? { conditions } : {}),
    ...(fixing && r.approvals.length > 0 ? { fixed_countries: true as const } : {}),
  };
  const approvals = [...r.approvals, approval];
  const counted = countingApprovals(approvals).filter((a) => !revoked(a.identity));
  return {
    ...r,
    terms,
    approvals,
    status: counted.length >= APPROVALS_REQUIRED ? "approved" : "pending",
    history: [...r.history, event(now, approver.id, "approve", undefined, conditions)],
  };
}

/** The approvals of the countries in force: from the one that fixed them (if any) on. */
export function countingApprovals(approvals: readonly Approval[]): readonly Approval[] {
  const from = approvals.findLastIndex((a) => a.fixed_countries === true);
  return from < 0 ? approvals : approvals.slice(from);
}

/**
 * A denial grants nothing, so it does not need who benefits to be known (an application for an
 * unknown principal can still be denied); a known beneficiary's member still may not decide it.
 * `revoked`: whether the denier has been revoked — one person decides a denial, so a revoked
 * denier is refused (a revoked approver's approval is kept but does not count; see approve).
 */
export function deny(
  r: LicenseRecord,
  approver: Approver,
  now: string,
  reason: string,
  beneficiaries: Beneficiaries,
  revoked = false,
): LicenseRecord {
  checkDecider(r, approver, beneficiaries ?? [], "decide");
  if (revoked)
    throw new WorkflowError(
      "revoked-decider",
      `${approver.id} has been revoked and cannot decide license ${r.id}`,
    );
  requireReason(reason);
  return { ...r, status: "denied", history: [...r.history, event(now, approver.id, "deny", reason)] };
}

/**
 * Only a pending application is decided, and never by its applicant or by a member of an
 * organization it benefits.
 */
function checkDecider(
  r: LicenseRecord,
  approver: Approver,
  beneficiaries: Beneficiaries,
  verb: string,
): void {
  if (r.status !== "pending")
    throw new WorkflowError("not-pending", `license ${r.id} is ${r.status}, not pending`);
  if (approver.id === r.applicant)
    throw new WorkflowError("self-approval", `${approver.id} filed this application and cannot ${verb} it`);
  checkInterest(r, approver, beneficiaries, verb, "register the principal first, or deny the application");
}

/**
 * A member of an organization the license benefits has a conflict of interest. Unknown
 * beneficiaries (null) refuse: the check fails closed rather than being skipped. `remedy`: what the
 * caller can do instead, said when who benefits cannot be told.
 */
function checkInterest(
  r: LicenseRecord,
  decider: Approver,
  beneficiaries: Beneficiaries,
  verb: string,
  remedy: string,
): void {
  if (beneficiaries === null) {
    const licensee = "principal" in r.licensee ? `principal ${r.licensee.principal}` : "licensee";
    throw new WorkflowError(
      "beneficiary-unknown",
      `${decider.id} cannot ${verb} license ${r.id}: the organization it would benefit cannot be determined (${licensee} is neither a principal in the store nor vouched for by a registered identity provider), so the conflict-of-interest check cannot be made; ${remedy}`,
    );
  }
  const mine = decider.organization;
  const conflict = mine === null ? undefined : beneficiaries.find((b) => sameOrganization(b, mine));
  if (conflict !== undefined) {
    throw new WorkflowError(
      "conflict-of-interest",
      `${decider.id} belongs to ${conflict}, an organization this license is for, and cannot ${verb} it`,
    );
  }
}

/** Suspending and revoking only take access away: anyone allowed to may, a member of the licensee too. */
const TRANSITIONS = {
  suspend: { from: ["approved"], to: "suspended" },
  revoke: { from: ["approved", "suspended"], to: "revoked" },
} as const;

/** Suspend or revoke: effective at once, each with who and why. */
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

/**
 * Reinstating grants again, by one person: so, as for an approval, never by a member of an
 * organization the license benefits, nor when who benefits cannot be told (fail closed). Only a
 * suspended license whose validity has not ended is reinstated (a revoked one never is).
 * `revoked`: whether the reinstater has been revoked; as a denier, it then decides nothing.
 */
export function reinstate(
  r: LicenseRecord,
  decider: Approver,
  now: string,
  reason: string,
  beneficiaries: Beneficiaries,
  revoked = false,
): LicenseRecord {
  requireReason(reason);
  if (r.status !== "suspended")
    throw new WorkflowError("invalid-transition", `cannot reinstate license ${r.id}: it is ${r.status}`);
  // Written so that an end that cannot be read counts as ended (fail closed).
  if (!(instantOf(now) < instantOf(r.terms.valid_until)))
    throw new WorkflowError(
      "invalid-transition",
      `cannot reinstate license ${r.id}: its validity ended at ${r.terms.valid_until}; a new application is needed`,
    );
  checkInterest(
    r,
    decider,
    beneficiaries,
    "reinstate",
    "register the principal first, or revoke the license",
  );
  if (revoked)
    throw new WorkflowError(
      "revoked-decider",
      `${decider.id} has been revoked and cannot reinstate license ${r.id}`,
    );
  return {
    ...r,
    status: "approved",
    history: [...r.history, event(now, decider.id, "reinstate", reason)],
  };
}

/**
 * Resolves a set expression to countries (the scheme's sets); the workflow itself knows none.
 * `path`: where a problem (an unknown set) is reported, by resolvers that report them.
 */
export type Resolve = (
  expr: LicenseTerms["destinations"],
  path?: readonly (string | number)[],
) => ReadonlySet<string>;

/**
 * The terms with their destinations and nationalities resolved to countries now (see
 * `LicenseTerms.resolved`): done when an application is made, so that what two approvers approve
 * is what the policy grants, whatever a later scheme version makes of the set names.
 */
export function resolveTerms(terms: LicenseTerms, resolve: Resolve): LicenseTerms {
  const codes = (expr: LicenseTerms["destinations"], field: string) => [...resolve(expr, [field])].sort();
  return {
    ...terms,
    resolved: {
      destinations: codes(terms.destinations, "destinations"),
      ...(terms.nationalities === undefined
        ? {}
        : { nationalities: codes(terms.nationalities, "nationalities") }),
    },
  };
}

/** Conditions may only narrow: destinations among those applied for, a lower quota, an earlier end. */
function narrow(terms: LicenseTerms, c: Conditions, resolve: Resolve): LicenseTerms {
  let next: LicenseTerms = terms;
  if (c.destinations !== undefined) {
    const allowed =
      terms.resolved === undefined ? resolve(terms.destinations) : new Set(terms.resolved.destinations);
    const extra = c.destinations.filter((d) => !allowed.has(d));
    if (c.destinations.length === 0 || extra.length > 0) {
      throw new WorkflowError(
        "invalid-conditions",
        c.destinations.length === 0
          ? "at least one is needed"
          : `${extra.join(", ")} not among the destinations applied for`,
        c.destinations.length === 0
          ? ["conditions", "destinations"]
          : ["conditions", "destinations", c.destinations.indexOf(extra[0]!)],
      );
    }
    next = {
      ...next,
      destinations: [...c.destinations],
      ...(next.resolved === undefined
        ? {}
        : { resolved: { ...next.resolved, destinations: [...c.destinations].sort() } }),
    };
  }
  if (c.quota_tokens !== undefined) {
    if (terms.quota_tokens !== undefined && c.quota_tokens > terms.quota_tokens) {
      throw new WorkflowError(
        "invalid-conditions",
        `${c.quota_tokens} is more than the ${terms.quota_tokens} applied for`,
        ["conditions", "quota_tokens"],
      );
    }
    next = { ...next, quota_tokens: c.quota_tokens };
  }
  if (c.valid_until !== undefined) {
    const until = instantOf(c.valid_until);
    if (Number.isNaN(until) || until > instantOf(terms.valid_until) || until <= instantOf(terms.valid_from)) {
      throw new WorkflowError(
        "invalid-conditions",
        `${c.valid_until} must fall within ${terms.valid_from} – ${terms.valid_until}`,
        ["conditions", "valid_until"],
      );
    }
    next = { ...next, valid_until: c.valid_until };
  }
  return next;
}

function requireReason(reason: string): void {
  if (reason.trim() === "") throw new WorkflowError("reason-required", "a reason is required", ["reason"]);
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
