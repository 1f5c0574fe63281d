/**
 * Checks every driver applies before writing, so that drivers agree on what they accept and a bad
 * write fails the same way everywhere: InvalidInputError with field paths, nothing written.
 */
import { InvalidInputError, type Problem } from "../errors/index.js";
import { parsePrincipal } from "../policy/input.js";
import { CONTROL } from "../policy/text.js";
import type { Principal } from "../policy/types.js";
import type { UsageDelta } from "./index.js";

/** The ids of partners' federated principals (`fed:<provider>:<subject>`, src/identity). */
export const FEDERATED_ID_PREFIX = "fed:";

/** The JSON document to store. Validated by the policy's own schema, but stored as given (no defaults). */
export function principalDocument(p: Principal): { id: string; json: string } {
  parsePrincipal(p);
  // Such an id is taken for a partner's person everywhere (alerts block it instead of revoking keys).
  if (p.id.startsWith(FEDERATED_ID_PREFIX)) {
    const message = `ids starting ${FEDERATED_ID_PREFIX} are reserved for partners' federated principals; choose another id`;
    throw new InvalidInputError([{ code: "reserved_id", path: ["id"], message }]);
  }
  return { id: p.id, json: JSON.stringify(p) };
}

export const MAX_LABEL_LENGTH = 200;

export function checkLabel(label: string | null | undefined): string | null {
  if (label === undefined || label === null) return null;
  const bad = (message: string) =>
    new InvalidInputError([{ code: "invalid_label", path: ["label"], message }]);
  if (typeof label !== "string" || label.length > MAX_LABEL_LENGTH)
    throw bad(`expected a string of at most ${MAX_LABEL_LENGTH} characters`);
  // A NUL is text PostgreSQL cannot hold (the key was refused there as an internal error, and kept
  // by SQLite), and an escape sequence would reach the terminal of whoever lists the keys.
  if (CONTROL.test(label)) throw bad("the label has control characters");
  return label;
}

/** A validated delta, with the UTC day it is counted under. */
export interface CheckedDelta extends UsageDelta {
  readonly day: string;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** Validates the whole batch first: either every delta is good or nothing is written. */
export function checkUsageDeltas(deltas: readonly UsageDelta[]): CheckedDelta[] {
  const problems: Problem[] = [];
  const out: CheckedDelta[] = [];
  deltas.forEach((d, i) => {
    const bad = (field: string, message: string) =>
      problems.push({ code: "invalid_usage", path: [i, field], message });
    if (typeof d !== "object" || d === null) {
      problems.push({ code: "invalid_usage", path: [i], message: "expected a usage delta object" });
      return;
    }
    if (!nonEmpty(d.principalId)) bad("principalId", "expected a non-empty string");
    if (!nonEmpty(d.model)) bad("model", "expected a non-empty string");
    // Null, not "", means "none": drivers may use "" internally as the null bucket.
    if (d.organizationId !== null && !nonEmpty(d.organizationId))
      bad("organizationId", "expected null or a non-empty string");
    if (d.licenseId !== null && !nonEmpty(d.licenseId))
      bad("licenseId", "expected null or a non-empty string");
    for (const field of ["inputTokens", "outputTokens", "requests"] as const) {
      if (!Number.isSafeInteger(d[field]) || d[field] < 0) bad(field, "expected a non-negative integer");
    }
    const time = typeof d.at === "string" && ISO_DATE_TIME.test(d.at) ? Date.parse(d.at) : NaN;
    if (Number.isNaN(time)) bad("at", "expected an ISO 8601 date-time");
    else out.push({ ...d, day: new Date(time).toISOString().slice(0, 10) });
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return out;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}
