/**
 * What each role may do, as the admin API's route table says (src/admin/routes). The console only
 * hides what a caller could not do anyway; the API stays the authority and answers 403 regardless.
 */
import type { Role } from "../../src/control/types.js";

export type { Role };

export interface Me {
  readonly id: string;
  readonly name: string;
  readonly roles: readonly Role[];
  readonly organization: string | null;
}

const has = (me: Me, ...roles: Role[]) => roles.some((r) => me.roles.includes(r));

export const can = {
  read: (me: Me) => has(me, "viewer", "compliance-officer", "approver", "admin"),
  apply: (me: Me) => has(me, "applicant", "compliance-officer", "admin"),
  approve: (me: Me) => has(me, "approver"),
  changeLicense: (me: Me) => has(me, "approver", "compliance-officer", "admin"),
  manage: (me: Me) => has(me, "compliance-officer", "admin"),
  activate: (me: Me) => has(me, "admin"),
  /** Only scoped roles (applicant, partner): sees its own organization's licenses and usage. */
  onlyApplicant: (me: Me) =>
    me.roles.length > 0 && me.roles.every((r) => r === "applicant" || r === "partner"),
  /** A partner's person (signed in with its identity provider): its partner's providers and principals. */
  partner: (me: Me) => has(me, "partner"),
  /** Screening: readers and reviewers see the queue; reviewers decide; officers import and rescreen. */
  readScreening: (me: Me) => has(me, "viewer", "compliance-officer", "approver", "reviewer", "admin"),
  review: (me: Me) => has(me, "reviewer", "admin"),
  keepLists: (me: Me) => has(me, "compliance-officer", "admin"),
};
