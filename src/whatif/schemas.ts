/**
 * The what-if request, as a zod schema: the admin API validates with it and the console validates
 * its form with the same one (browser-safe: zod only).
 */
import { z } from "zod";

const index = z
  .string()
  .regex(/^(0|[1-9]\d{0,19})$/, "expected a log index")
  .transform((s) => BigInt(s));

/** `POST /admin/v1/schemes/{version}/what-if`. */
export const whatIfRequest = z.strictObject({
  days: z.number().int().positive().max(3650).optional(),
  from_index: index.optional(),
  to_index: index.optional(),
  examples: z.number().int().positive().max(1000).optional(),
  format: z.enum(["json", "csv", "html", "text"]).default("json"),
});
