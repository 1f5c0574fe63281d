/**
 * YAML files validated by a zod schema, with every problem placed at its line and column: shared by
 * scheme files and the gateway's config file.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { placeProblems } from "./positions.js";
import { zodProblems } from "./zod-problems.js";

export { zodProblems } from "./zod-problems.js";

export interface YamlSource {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly data: unknown;
}

/** Parses YAML; syntax errors (and duplicate keys) are thrown with their positions. */
export function readYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InvalidInputError(
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        const message = e.message.split("\n")[0] ?? e.message;
        return { code: "yaml_syntax", path: [], message, file, line, column: col };
      }),
    );
  }
  return { file, doc, lines, data: doc.toJS({ maxAliasCount: 1000 }) };
}

export function readYamlFile(path: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new InvalidInputError([
      { code: "file_unreadable", path: [], message: (cause as Error).message, file: path },
    ]);
  }
  return readYaml(text, path);
}

/**
 * Validates the data against `schema`. Returns the value when the shape is right, or when the only
 * problems are unknown keys (typos are the commonest mistake: without them the value may still be
 * usable, so that later checks report in the same pass). `problems` holds every shape problem.
 */
export function validate<T>(source: YamlSource, schema: z.ZodType<T>): { value?: T; problems: Problem[] } {
  const shaped = schema.safeParse(source.data, { reportInput: true });
  if (shaped.success) return { value: shaped.data, problems: [] };
  const problems = zodProblems(shaped.error, schema);
  if (!problems.every((p) => p.code === "unknown_key")) return { problems };
  const retry = schema.safeParse(withoutKeys(source.data, problems));
  return retry.success ? { value: retry.data, problems } : { problems };
}

/** The problems with file, line and column, in file order, as a person fixes them. */
export function placed(source: YamlSource, problems: readonly Problem[]): Problem[] {
  const out = placeProblems(problems, source.doc, source.lines, source.file);
  out.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return out;
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
