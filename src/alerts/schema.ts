/**
 * The alerts' vocabulary and the note a step carries: one zod schema for the admin API and the
 * console's forms (no Node imports: the console bundles it).
 */
import { z } from "zod";
import { CONTROL } from "../policy/text.js";

export const ALERT_STATES = ["open", "acknowledged", "resolved"] as const;
export const ALERT_SUBJECTS = ["principal", "key", "organization", "partner", "license", "model"] as const;
export const ALERT_SEVERITIES = ["low", "medium", "high", "critical"] as const;
/** The detectors that raise alerts (src/alerts/detectors.ts, and the quota watch in service.ts). */
export const ALERT_DETECTORS = [
  "impossible-travel",
  "key-sharing",
  "embargoed-attempt",
  "denied-party",
  "denial-spike",
  "volume-spike",
  "quota-nearly-exhausted",
] as const;

/**
 * The body of an acknowledge or resolve step. A note is one line of printable text, as a key's label
 * is: an escape sequence or a line break reached the terminal of whoever showed the alert (a line
 * break printed a forged step in `remote alerts show`'s history. (A lone surrogate is refused with
 * the body: not Unicode.)
 */
export const alertNoteSchema = z.strictObject({
  note: z
    .string()
    .max(2000)
    .refine((s) => !CONTROL.test(s), "the note has control characters (line breaks and tabs included)")
    .optional(),
});
