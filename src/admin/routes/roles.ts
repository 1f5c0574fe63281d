import type { Role } from "../../control/types.js";
import type { Caller } from "../deps.js";

/** Everyone who reads the whole control plane (applicants read only their own organization's). */
export const READERS: readonly Role[] = ["viewer", "compliance-officer", "approver", "admin"];
export const OFFICERS: readonly Role[] = ["compliance-officer", "admin"];
export const ADMINS: readonly Role[] = ["admin"];

/** Roles that see their own organization's records only (an applicant's; a partner's person's). */
const SCOPED: readonly Role[] = ["applicant", "partner"];

/** Who reads licenses and usage: the readers, and the scoped roles for their own organization. */
export const LICENSE_READERS: readonly Role[] = [...READERS, ...SCOPED];

/**
 * The caller sees only its own organization's records on a route that `allowed` roles may call:
 * unless one of the roles it holds that grants this route is an unscoped one. A role that does
 * not grant the route widens nothing (an applicant who is also a screening reviewer reads licenses
 * as an applicant: reviewers may not read licenses at all).
 */
export const ownOnly = (caller: Caller, allowed: readonly Role[]): boolean =>
  ![...caller.roles].some((r) => allowed.includes(r) && !SCOPED.includes(r));
