import type { Role } from "../../control/types.js";

/** Everyone who reads the whole control plane (applicants read only their own organization's). */
export const READERS: readonly Role[] = ["viewer", "compliance-officer", "approver", "admin"];
export const OFFICERS: readonly Role[] = ["compliance-officer", "admin"];
export const ADMINS: readonly Role[] = ["admin"];
