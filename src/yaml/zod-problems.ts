/**
 * Turns zod issues into problems a person can act on: a missing field says "missing", an unknown
 * key names the keys that are allowed (typos must not pass silently), one problem per key.
 */
import type { z } from "zod";
import type { Path, Problem } from "../errors/index.js";
import { quoted } from "../policy/text.js";

type AnySchema = z.ZodType;

export function zodProblems(error: z.ZodError, root: AnySchema, prefix: Path = []): Problem[] {
  const out: Problem[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === "unrecognized_keys") {
      const allowed = keysAt(root, issue.path as (string | number)[]);
      for (const key of issue.keys) {
        const hint = allowed.length > 0 ? ` (expected one of: ${allowed.join(", ")})` : "";
        out.push({ code: "unknown_key", path: [...path, key], message: `unknown key ${quoted(key)}${hint}` });
      }
      continue;
    }
    // Needs `reportInput: true` when parsing; the input itself is never rendered (it may hold secrets).
    if (
      (issue.code === "invalid_type" || issue.code === "invalid_union") &&
      "input" in issue &&
      issue.input === undefined
    ) {
      out.push({ code: "missing", path, message: `required field is missing (${expectedOf(issue)})` });
      continue;
    }
    out.push({ code: codeOf(issue), path, message: issue.message });
  }
  return out;
}

/**
 * A custom check's own code where it names one (`params: { code: "control_character" }`): the code
 * the rest of the API gives for the same refusal, rather than zod's "custom".
 */
function codeOf(issue: z.core.$ZodIssue): string {
  const own: unknown = issue.code === "custom" ? issue.params?.code : undefined;
  return typeof own === "string" ? own : issue.code;
}

function expectedOf(issue: z.core.$ZodIssue): string {
  if (issue.message.startsWith("expected ")) return issue.message;
  return issue.code === "invalid_type" ? `expected ${issue.expected}` : issue.message;
}

/** The keys an object schema at `path` accepts, following arrays, records, defaults and optionals. */
function keysAt(schema: AnySchema, path: readonly (string | number)[]): string[] {
  let current: AnySchema | undefined = unwrap(schema);
  for (const segment of path) {
    if (current === undefined) return [];
    const def = current._zod.def as unknown as Record<string, unknown>;
    if (def.type === "object") current = unwrap((def.shape as Record<string, AnySchema>)[String(segment)]);
    else if (def.type === "array") current = unwrap(def.element as AnySchema);
    else if (def.type === "record") current = unwrap(def.valueType as AnySchema);
    else return [];
  }
  if (current === undefined) return [];
  const def = current._zod.def as unknown as Record<string, unknown>;
  return def.type === "object" ? Object.keys(def.shape as object) : [];
}

function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let s = schema;
  for (let i = 0; i < 10 && s !== undefined; i++) {
    const def = s._zod.def as unknown as Record<string, unknown>;
    if (
      def.type === "optional" ||
      def.type === "default" ||
      def.type === "nullable" ||
      def.type === "prefault"
    ) {
      s = def.innerType as AnySchema;
    } else if (def.type === "pipe") {
      s = def.in as AnySchema;
    } else break;
  }
  return s;
}
