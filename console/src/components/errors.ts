/**
 * The one mapping from a zod issue or an API problem to the form field it concerns, and what a form
 * says about them: each message once, at its field (aria-invalid, the message under it); the
 * form-level message only points to the highlighted fields, and says in full only what is tied to
 * no field the form shows.
 */
import type { z } from "zod";
import { ApiError, type Problem } from "../api.js";

export type FieldErrors = Readonly<Record<string, string>>;

/** `["partner", "grants", 0]` → `partner.grants[0]`, as the API writes problem paths. */
export function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, p) => (typeof p === "number" ? `${out}[${p}]` : out === "" ? String(p) : `${out}.${String(p)}`),
    "",
  );
}

export function zodErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) out[pathText(issue.path)] ??= issue.message;
  return out;
}

export function problemErrors(problems: readonly Problem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems) out[p.path] ??= p.message;
  return out;
}

/** Whether `path` is the field `name` or inside it (`destinations[2]` is inside `destinations`). */
const within = (path: string, name: string): boolean =>
  path === name || path.startsWith(`${name}.`) || path.startsWith(`${name}[`);

/** The first error at `name` or inside it (`destinations` also takes `destinations[2]`). */
export function errorAt(errors: FieldErrors, name: string): string | undefined {
  for (const [path, message] of Object.entries(errors)) {
    if (within(path, name)) {
      return path === name ? message : `${path.slice(name.length).replace(/^\./, "")}: ${message}`;
    }
  }
  return undefined;
}

/** The form-level line when errors are shown at `n` fields: where to look, not what they say again. */
export function checkFields(n: number): string {
  return n === 1 ? "Check the highlighted field." : `Check the ${n} highlighted fields.`;
}

export interface PlacedErrors {
  /** Path → message, for the fields (each shown once, under its field). */
  readonly fields: Record<string, string>;
  /** The form-level message, or null. */
  readonly form: string | null;
}

/**
 * Errors split between the fields the form shows (`names`, matched as `errorAt` matches them) and
 * the rest. The form-level message: "Check the highlighted field(s)." when every error is at a
 * field; the others' own messages when some are not (after that line when some are); `whole` (the
 * API's own sentence, which may say more than its problems) when none is at a field.
 */
export function placeErrors(
  errors: Readonly<Record<string, string>>,
  names: readonly string[],
  whole: string | null = null,
): PlacedErrors {
  const fields: Record<string, string> = {};
  const others: string[] = [];
  const hit = new Set<string>();
  for (const [path, message] of Object.entries(errors)) {
    const name = names.find((n) => within(path, n));
    if (name === undefined) {
      others.push(path === "" ? message : `${path}: ${message}`);
      continue;
    }
    fields[path] = message;
    hit.add(name);
  }
  const rest = others.length === 0 ? null : others.join("; ");
  if (hit.size === 0) return { fields, form: whole ?? rest };
  return { fields, form: rest === null ? checkFields(hit.size) : `${checkFields(hit.size)} Also: ${rest}` };
}

/**
 * What a failed submission says: the problems the API tied to a field the form shows (`names`, in
 * the API's paths; `rename` maps a path to the form's name) at those fields, the form-level message
 * as `placeErrors` makes it; an error naming no field, its message for the whole form.
 */
export function submissionErrors(
  err: unknown,
  names: readonly string[],
  rename: (path: string) => string = (p) => p,
): PlacedErrors {
  if (err instanceof ApiError) {
    // A problem at the body itself (path "") is the form's: placeErrors ties it to no field.
    const problems = problemErrors(err.problems);
    const renamed = Object.fromEntries(Object.entries(problems).map(([k, v]) => [rename(k), v]));
    return placeErrors(renamed, names, err.message);
  }
  return { fields: {}, form: (err as Error).message };
}
