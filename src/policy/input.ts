/**
 * Validation of decision inputs as they arrive over the wire or from files: a principal and a
 * request. Problems carry the field path (e.g. principal.citizenships[0].country).
 */
import { z } from "zod";
import { isCountryCode } from "../countries/index.js";
import { isInstant, isPartialDate } from "./dates.js";
import { CONTROL } from "./text.js";
import { InvalidInputError } from "../errors/index.js";
import { zodProblems } from "../yaml/index.js";
import {
  ACTIONS,
  ASSURANCE_LEVELS,
  SCREENING_STATUSES,
  type DecisionRequest,
  type Principal,
} from "./types.js";

/** Ids reach every decision's audit entry: bounded (as scheme ids are). */
const MAX_ID = 256;

const country = z
  .string({ error: "expected an ISO 3166-1 alpha-2 country code" })
  .refine(isCountryCode, { error: "expected an ISO 3166-1 alpha-2 country code (upper case, e.g. DE)" });

const date = z.string({ error: "expected a date (YYYY-MM-DD)" }).refine(isInstant, {
  error: "expected a real date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone",
});

const nationality = z.strictObject({ country, since: date.nullish() });

/** An organization's id: decisions echo it ("organization X is not a partner"), as they do a model id. */
const organizationId = z
  .string()
  .min(1)
  .max(MAX_ID)
  .refine((s) => !CONTROL.test(s), { error: "the organization id has control characters" });

/**
 * The latest instant a JavaScript date holds (8.64e15 ms, in the year 275760): past it a time in
 * milliseconds is no date at all.
 */
const MAX_TIME = 8.64e15;

export const principalSchema = z.strictObject({
  id: z
    .string({ error: "expected the principal's id (a string)" })
    .min(1, "the principal's id is empty")
    .max(MAX_ID, `the principal's id is longer than ${MAX_ID} characters`)
    .refine((s) => !CONTROL.test(s), { error: "the principal's id has control characters" }),
  name: z.string().min(1).max(1024).nullish(),
  birth_date: z
    .string()
    .refine(isPartialDate, "expected a birth date as YYYY, YYYY-MM or YYYY-MM-DD (a real one)")
    .nullish(),
  // Bounded: the whole principal goes into its change's audit entry (at most 65,535 bytes).
  citizenships: z.array(nationality).max(64, "at most 64 citizenships").default([]),
  permanent_residencies: z.array(nationality).max(64, "at most 64 permanent residencies").default([]),
  residence: country.nullish(),
  organization: z
    .union(
      [
        organizationId,
        z.strictObject({
          id: organizationId,
          name: z.string().min(1).max(1024).nullish(),
          country: country.nullish(),
          screening: z.enum(SCREENING_STATUSES).optional(),
        }),
      ],
      { error: 'expected an organization id, or {"id", "name", "country", "screening"}' },
    )
    .nullish(),
  assurance: z.enum(ASSURANCE_LEVELS).default("none"),
  screening: z.enum(SCREENING_STATUSES).default("clear"),
});

export const requestSchema = z.strictObject({
  model: z
    .string({ error: "expected the model id (a string)" })
    .min(1, "the model id is empty")
    .max(MAX_ID, `the model id is longer than ${MAX_ID} characters`)
    .refine((s) => !CONTROL.test(s), { error: "the model id has control characters" }),
  action: z.enum(ACTIONS),
  location: country.nullish(),
  purpose: z
    .string()
    .max(MAX_ID, `the purpose is longer than ${MAX_ID} characters`)
    .refine((s) => !CONTROL.test(s), { error: "the purpose has control characters" })
    // Empty is none, as the gateway reads an empty x-clearance-purpose: a license naming "" must
    // not grant here what the gateway refuses.
    .transform((s) => (s === "" ? null : s))
    .nullish(),
  time: z.union(
    [
      z
        .number()
        .int()
        .nonnegative()
        .max(MAX_TIME, "milliseconds since the epoch past 8.64e15 (the year 275760) are no date"),
      z
        .string()
        .refine(isInstant, { error: "expected an ISO 8601 date-time with a time zone (on a real day)" }),
    ],
    { error: "expected an ISO 8601 date-time or milliseconds since the epoch" },
  ),
  usage: z.record(z.string(), z.strictObject({ tokens: z.number().int().nonnegative() })).optional(),
});

export const decisionInputSchema = z.strictObject({ principal: principalSchema, request: requestSchema });

export interface DecisionInput {
  readonly principal: Principal;
  readonly request: DecisionRequest;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix: (string | number)[]): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new InvalidInputError(zodProblems(result.error, schema, prefix));
  return result.data;
}

export const parsePrincipal = (value: unknown, prefix: (string | number)[] = []): Principal =>
  parseWith(principalSchema, value, prefix) as Principal;

export const parseRequest = (value: unknown, prefix: (string | number)[] = []): DecisionRequest =>
  parseWith(requestSchema, value, prefix) as DecisionRequest;

export const parseDecisionInput = (value: unknown, prefix: (string | number)[] = []): DecisionInput =>
  parseWith(decisionInputSchema, value, prefix) as DecisionInput;
