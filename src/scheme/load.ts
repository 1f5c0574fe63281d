/**
 * Reading a scheme file: YAML (with positions) → shape validation (zod) → compilation (references,
 * countries, cycles). Every problem is reported at once, each with file, line and column.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { compileScheme, type CompiledScheme } from "./compile.js";
import { placeProblems } from "./positions.js";
import { schemeFileSchema } from "./schema.js";
import { zodProblems } from "./zod-problems.js";

export function parseScheme(text: string, file = "scheme.yaml"): CompiledScheme {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { code: "yaml_syntax", path: [], message: firstLine(e.message), file, line, column: col };
      }),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 1000 });
  const shaped = schemeFileSchema.safeParse(data, { reportInput: true });
  let problems: Problem[] = [];
  let parsed = shaped.data;
  if (!shaped.success) {
    problems = zodProblems(shaped.error, schemeFileSchema);
    // Typos in key names are the commonest mistake; without them the file may still compile, so
    // its reference problems are reported in the same pass.
    if (problems.every((p) => p.code === "unknown_key")) {
      const retry = schemeFileSchema.safeParse(withoutKeys(data, problems));
      parsed = retry.data;
    }
  }
  if (parsed !== undefined) {
    const compiled = compileScheme(parsed);
    if (!compiled.ok) problems.push(...compiled.problems);
    else if (problems.length === 0) return compiled.scheme;
  }
  const placed = placeProblems(problems, doc, lines, file);
  // In file order, as a person fixes them.
  placed.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new InvalidInputError(placed);
}

/** A copy of `data` without the keys at the problems' paths. */
function withoutKeys(data: unknown, problems: readonly Problem[]): unknown {
  const copy = structuredClone(data);
  for (const { path } of problems) {
    let node: unknown = copy;
    for (const segment of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[segment];
    delete (node as Record<string | number, unknown>)[path[path.length - 1] as string];
  }
  return copy;
}

export function loadSchemeFile(path: string): CompiledScheme {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    const problem: Problem = {
      code: "file_unreadable",
      path: [],
      message: (cause as Error).message,
      file: path,
    };
    throw new InvalidInputError([problem]);
  }
  return parseScheme(text, path);
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
