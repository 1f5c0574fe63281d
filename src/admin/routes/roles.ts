import type { Role } from "../../control/types.js";
import type { Caller } from "../deps.js";

/** Everyone who reads the whole control plane (applicants read only their own organization's). */
export const READERS: readonly Role[] = ["viewer", "compliance-officer", "approver", "admin"];
export const OFFICERS: readonly Role[] = ["compliance-officer", "admin"];
export const ADMINS: readonly Role[] = ["admin"];

/** Roles that see their own organization's records only (an applicant's; a partner's person's). */
const SCOPED: readonly Role[] = ["applicant", "partner"];

/** The caller sees only its own organization's records: every role it holds is a scoped one. */
export const ownOnly = (caller: Caller): boolean => [...caller.roles].every((r) => SCOPED.includes(r));
