/**
 * Request bodies of the screening review, as zod schemas: the admin API validates with them and the
 * console validates its forms with the same ones (browser-safe: zod only).
 */
import { z } from "zod";

/** `POST /admin/v1/screening/matches/{id}/confirm|clear`: a review always says why. */
export const screeningReview = z.strictObject({
  reason: z.string().trim().min(1, "a review needs a reason").max(2000),
});
