/**
 * The scheme file, version 1, as a zod schema: the one source of truth for validating scheme files
 * and for the JSON Schema that editors use (`clearance scheme schema`). Only the shape is checked
 * here; references between parts (sets, models, countries, cycles) are checked by `compile`.
 */
import { z } from "zod";
import {
  ACTIONS,
  ASSURANCE_LEVELS,
  CONTROL_LEVELS,
  LICENSE_STATUSES,
  NATIONALITY_RULES,
  PARTNER_STATUSES,
} from "../policy/types.js";
import { INSTANT, isInstant } from "../policy/dates.js";

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const id = (what: string) =>
  z
    .string({ error: `expected ${what} (a string)` })
    .regex(ID, `expected ${what}: letters, digits and . _ : - (starting with a letter or digit)`)
    // Ids reach every decision's audit entry: bounded like the gateway bounds a requested model.
    .max(MAX_ID, `expected ${what} of at most ${MAX_ID} characters`);

/** Longest id of a model, partner, organization, principal or license. */
export const MAX_ID = 256;

/**
 * A model id: an id that may also hold `/` (providers name models `meta/llama-3`). One rule for
 * the model's key and every place that names a model (grants, fallbacks, licenses), so a model
 * that can be declared can also be granted. At most MAX_ID, as the gateway bounds a requested one.
 */
export const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
export const modelId = z
  .string({ error: "expected a model id (a string)" })
  .regex(MODEL_ID, "expected a model id: letters, digits and . _ : / - (starting with a letter or digit)")
  .max(MAX_ID, `expected a model id of at most ${MAX_ID} characters`);

/** ISO 8601 date (2026-07-01) or date-time (2026-07-01T00:00:00Z). Date-only means 00:00 UTC. */
const dateTime = z
  .string({ error: "expected a date (YYYY-MM-DD) or an ISO 8601 date-time" })
  .regex(INSTANT, "expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone")
  .refine(isInstant, "not a real date");

const countryOrSet = z.string({ error: "expected a country code (DE) or a set name (G7, trusted)" });

/** A set expression: a list of country codes and set names, or {include, exclude}. */
export const setExpression = z
  .union(
    [
      z.array(countryOrSet),
      z.strictObject({
        include: z.array(countryOrSet),
        exclude: z.array(countryOrSet).default([]),
      }),
    ],
    { error: "expected a list of country codes and set names, or {include: [...], exclude: [...]}" },
  )
  .meta({
    description:
      "Countries: ISO 3166-1 alpha-2 codes and set names (built-in such as G7, EAR_D5, or from `sets`).",
  });

const grant = z.strictObject({
  models: z.array(modelId).min(1, "a grant names at least one model"),
  actions: z.array(z.enum(ACTIONS)).min(1, "a grant names at least one action"),
});

const model = z.strictObject({
  control: z.enum(CONTROL_LEVELS),
  fallback: modelId.optional(),
  available_in: setExpression.optional(),
  description: z.string().optional(),
});

const countryPartner = z.strictObject({
  id: id("a partner id"),
  name: z.string().optional(),
  countries: setExpression,
  status: z.enum(PARTNER_STATUSES).default("active"),
  assurance: z.enum(ASSURANCE_LEVELS),
  grants: z.array(grant).min(1, "a partner needs at least one grant"),
});

const organizationPartner = z.strictObject({
  id: id("an organization id"),
  name: z.string().optional(),
  country: z.string({ error: "expected the organization's country code" }),
  status: z.enum(PARTNER_STATUSES).default("active"),
  assurance: z.enum(ASSURANCE_LEVELS),
  /** Where its people may use the models from; default: the organization's own country. */
  locations: setExpression.optional(),
  grants: z.array(grant).min(1, "a partner needs at least one grant"),
  /** Per-organization limits, enforced by the gateway. */
  rate_limit: z
    .strictObject({
      requests_per_minute: z.number().int().positive().optional(),
      tokens_per_minute: z.number().int().positive().optional(),
    })
    .optional(),
});

const licensee = z.union(
  [
    z.strictObject({ organization: id("an organization id") }),
    z.strictObject({ principal: id("a principal id") }),
  ],
  { error: "expected {organization: ID} or {principal: ID}" },
);

const license = z.strictObject({
  id: id("a license id"),
  licensee,
  models: z.array(modelId).min(1, "a license names at least one model"),
  actions: z.array(z.enum(ACTIONS)).min(1, "a license names at least one action"),
  destinations: setExpression,
  purposes: z.array(z.string().max(MAX_ID)).optional(),
  nationalities: setExpression.optional(),
  valid_from: dateTime,
  valid_until: dateTime,
  quota_tokens: z.number().int().nonnegative().optional(),
  /** The quota is per calendar month, per quarter (UTC), or for the whole license. */
  quota_period: z.enum(["month", "quarter", "total"]).default("total"),
  status: z.enum(LICENSE_STATUSES),
  conditions: z.string().optional(),
});

export const schemeFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1, { error: "expected version: 1" }),
    name: id("a scheme name"),
    description: z.string().optional(),
    home: setExpression,
    nationality_rule: z.enum(NATIONALITY_RULES).default("most-recent"),
    embargoed: setExpression.default([]),
    restricted_nationalities: setExpression.default([]),
    sets: z.record(z.string(), setExpression).default({}),
    models: z.record(z.string(), model),
    partners: z
      .strictObject({
        countries: z.array(countryPartner).default([]),
        organizations: z.array(organizationPartner).default([]),
      })
      .default({ countries: [], organizations: [] }),
    licenses: z.array(license).default([]),
  })
  .meta({ title: "Clearance scheme file, version 1" });

export type SchemeFile = z.output<typeof schemeFileSchema>;
export type SetExpression = z.output<typeof setExpression>;
export type SchemeGrant = z.output<typeof grant>;
export type SchemeLicense = z.output<typeof license>;

/** The JSON Schema (draft 2020-12) of the scheme file as written, for editors. */
export function schemeJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(schemeFileSchema, { io: "input", target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
}
