/**
 * Request bodies for partners, keys and scheme uploads, as zod schemas: the admin API validates
 * with them and the console validates its forms with the same ones (browser-safe: zod and the
 * scheme file's schema only).
 */
import { z } from "zod";
import { schemeFileSchema } from "../scheme/schema.js";
import { reasonText } from "../scheme/text.js";

const partnerShapes = schemeFileSchema.shape.partners.unwrap().shape;
export const countryPartnerEntry = partnerShapes.countries.unwrap().element;
export const organizationPartnerEntry = partnerShapes.organizations.unwrap().element;

/** `POST /admin/v1/partners`: registered as `applied`. */
export const partnerRegistration = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("country"), partner: countryPartnerEntry, reason: reasonText() }),
  z.strictObject({
    kind: z.literal("organization"),
    partner: organizationPartnerEntry,
    reason: reasonText(),
  }),
]);

/** `POST /admin/v1/partners/{id}/status`. */
export const partnerStatusChange = z.strictObject({
  status: z.enum(["active", "suspended", "revoked"]),
  reason: reasonText(),
});

/** `POST /admin/v1/keys`. */
export const keyCreation = z.strictObject({
  principal: z.string().min(1, "choose the principal"),
  label: z.string().max(200, "at most 200 characters").optional(),
});

/** `POST /admin/v1/schemes`. */
export const schemeUpload = z.strictObject({ yaml: z.string().min(1, "the scheme file is empty") });

/** `POST /admin/v1/schemes/{version}/activate`. */
export const schemeActivation = z.strictObject({
  reason: reasonText(),
  /** The impact digest of the version's what-if, where activation requires one. */
  what_if: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, "expected the impact digest of the version's what-if (sha256:…)")
    .optional(),
});
