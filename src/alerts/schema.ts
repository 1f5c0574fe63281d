/**
 * The alerts' vocabulary and the note a step carries: one zod schema for the admin API and the
 * console's forms (no Node imports: the console bundles it).
 */
import { z } from "zod";

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

/** The body of an acknowledge or resolve step. */
export const alertNoteSchema = z.strictObject({ note: z.string().max(2000).optional() });
