/**
 * Batch use without a server, for evaluation and bulk checks: JSON lines in, one JSON line out per
 * line, in order, each answered as it is taken. `compare` scores two names; `search` screens a
 * subject against list files.
 */
import { InvalidInputError, type Problem } from "../errors/index.js";
import type { ScreeningEngine } from "./engine.js";
import { DEFAULT_THRESHOLD } from "./engine.js";
import { compareNames, prepare, type SubjectFacts } from "./matcher.js";
import { checkName } from "./normalise.js";

/** FollowTheMoney schemata to the matcher's entity types. */
export function schemaType(schema: unknown): "person" | "organization" | "unknown" {
  switch (schema) {
    case "Person":
      return "person";
    case "Organization":
    case "Company":
    case "PublicBody":
      return "organization";
    default:
      return "unknown";
  }
}

export interface LineOutcome {
  readonly text: string;
  readonly failed: boolean;
}

function parseLine(line: string, n: number): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new InvalidInputError([
      { code: "invalid_json", path: [], line: n, message: `not JSON: ${(err as Error).message}` },
    ]);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new InvalidInputError([
      { code: "invalid_json", path: [], line: n, message: "expected a JSON object" },
    ]);
  return v as Record<string, unknown>;
}

/**
 * Each input line's answer, or its error as a line of its own (`{"error": …}`), in order, each
 * worked out only when it is taken: a caller writing each as it comes holds one answer, not all.
 */
function* eachLine(
  input: string,
  answer: (v: Record<string, unknown>, n: number) => unknown,
): Generator<LineOutcome> {
  const lines = input.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "") continue;
    let outcome: LineOutcome;
    try {
      outcome = { text: JSON.stringify(answer(parseLine(line, i + 1), i + 1)), failed: false };
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      const problems: Problem[] = err.problems.map((p) => ({ ...p, line: i + 1 }));
      outcome = {
        text: JSON.stringify({ error: { code: "invalid_input", line: i + 1, problems } }),
        failed: true,
      };
    }
    yield outcome;
  }
}

/** `{"schema", "a", "b"}` → `{"score", "match"}`: the names alone, at the default threshold. */
export function compareLines(input: string, threshold = DEFAULT_THRESHOLD): Iterable<LineOutcome> {
  return eachLine(input, (v) => {
    const type = schemaType(v.schema);
    const a = prepare(checkName(v.a, "a"), type);
    const b = prepare(checkName(v.b, "b"), type);
    const score = Math.round(compareNames(a, b).score * 1000) / 1000;
    return { score, match: score >= threshold };
  });
}

/** `{"name", "schema", "birth_date", "nationality"}` → `{"match", "candidates": […]}`. */
export function searchLines(input: string, engine: ScreeningEngine, limit = 5): Iterable<LineOutcome> {
  return eachLine(input, (v) => {
    const nationality = v.nationality;
    const facts: SubjectFacts = {
      name: checkName(v.name),
      type: schemaType(v.schema),
      ...(v.birth_date == null ? {} : { birth_date: String(v.birth_date) }),
      nationalities: nationality == null ? [] : ([nationality].flat() as string[]),
    };
    const r = engine.screen(facts, { limit });
    return {
      match: r.status === "potential",
      candidates: r.matches.map((m) => ({
        list: m.list,
        entry_id: m.entry_id,
        name: m.matched_name,
        score: m.score,
        why: {
          name_score: m.name_score,
          method: m.method,
          tokens: m.tokens,
          strength: m.strength,
          factors: m.factors,
        },
      })),
    };
  });
}
