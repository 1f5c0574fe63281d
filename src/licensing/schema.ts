/**
 * What an applicant files and what an approver may add, as zod schemas: the admin API validates
 * requests with them, and the console validates its forms with the very same ones (it imports this
 * file), so a field is refused for the same reason on both sides.
 */
import { z } from "zod";
import { isInstant } from "../policy/dates.js";
import { ACTIONS } from "../policy/types.js";
import { MAX_ID, setExpression } from "../scheme/schema.js";
import { nameText, noteText, reasonText } from "../scheme/text.js";

const date = z
  .string()
  .refine(isInstant, "expected a real date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone");

/** The id pattern of scheme files (src/scheme/schema.ts): models, partners, organizations, licenses. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/**
 * An organization id, as scheme files and licenses name organizations: an identity's organization
 * is compared with them (an applicant's scope, conflicts of interest), so it is one, not free text.
 */
export const organizationId = z
  .string()
  .regex(ID, "expected an organization id: letters, digits and . _ : - (starting with a letter or digit)")
  .max(MAX_ID, `expected an organization id of at most ${MAX_ID} characters`);

/** A principal id as a license names its licensee: the scheme file's id pattern (fed:… ids fit it). */
export const principalId = z
  .string()
  .regex(ID, "expected a principal id: letters, digits and . _ : - (starting with a letter or digit)")
  .max(MAX_ID, `expected a principal id of at most ${MAX_ID} characters`);

/**
 * A license id, as the scheme file's licenses name them: it goes into every change's and every
 * decision's audit entry, so it is bounded (an entry holds at most 64 KiB; one the log cannot hold
 * would be stored and then never logged).
 */
export const licenseId = z
  .string()
  .regex(ID, "letters, digits and . _ : - (starting with a letter or digit)")
  .max(MAX_ID, `expected a license id of at most ${MAX_ID} characters`);

/** A license application (`POST /admin/v1/licenses`). */
export const licenseApplication = z.strictObject({
  id: licenseId.optional(),
  // Ids, as the scheme file's licenses name them: compared with identities' organizations (an
  // applicant's scope, conflicts of interest) and written into every decision it grants.
  licensee: z.union(
    [z.strictObject({ organization: organizationId }), z.strictObject({ principal: principalId })],
    { error: "expected {organization: ID} or {principal: ID}" },
  ),
  models: z.array(nameText).min(1, "at least one model"),
  actions: z.array(z.enum(ACTIONS)).min(1, "at least one action"),
  destinations: setExpression,
  purposes: z.array(nameText).optional(),
  nationalities: setExpression.optional(),
  valid_from: date,
  valid_until: date,
  quota_tokens: z.number().int().nonnegative().optional(),
  quota_period: z.enum(["month", "quarter", "total"]).default("total"),
  justification: reasonText("a justification is required"),
});
export type LicenseApplication = z.input<typeof licenseApplication>;

/** Conditions an approval may add: they only narrow (the workflow checks that). */
export const licenseConditions = z.strictObject({
  destinations: z.array(nameText).optional(),
  quota_tokens: z.number().int().nonnegative().optional(),
  valid_until: date.optional(),
  note: noteText.optional(),
});

/** `POST /admin/v1/licenses/{id}/approve`. */
export const approvalBody = z.strictObject({ conditions: licenseConditions.optional() });

/** Deny, suspend, reinstate, revoke. Empty reasons reach the workflow, which names them (reason-required). */
export const reasonBody = z.strictObject({ reason: noteText });
