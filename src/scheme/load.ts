/**
 * Reading a scheme file: YAML (with positions) → shape validation (zod) → compilation (references,
 * countries, cycles). Every problem is reported at once, each with file, line and column.
 */
import { InvalidInputError, type Problem } from "../errors/index.js";
import {
  placed,
  readYaml,
  readYamlFile,
  validate,
  type ReadOptions,
  type YamlSource,
} from "../yaml/index.js";
import { compileScheme, type CompiledScheme } from "./compile.js";
import { schemeFileSchema, type SchemeFile } from "./schema.js";

export function parseScheme(text: string, file = "scheme.yaml"): CompiledScheme {
  return parseSchemeWith(text, file, compileScheme);
}

export function loadSchemeFile(path: string): CompiledScheme {
  return schemeFrom(readYamlFile(path), compileScheme);
}

/** What compiles a scheme's validated source: its value, or its problems (paths in the source). */
export type SchemeCompiler<T> = (
  source: SchemeFile,
) =>
  { readonly ok: true; readonly scheme: T } | { readonly ok: false; readonly problems: readonly Problem[] };

/**
 * `parseScheme` with another compilation (a stored version's, which leaves out what no longer
 * compiles): the shape is validated as ever, and every problem is placed at its line and column.
 */
export function parseSchemeWith<T>(
  text: string,
  file: string,
  compile: SchemeCompiler<T>,
  options: ReadOptions = {},
): T {
  return schemeFrom(readYaml(text, file, options), compile);
}

function schemeFrom<T>(source: YamlSource, compile: SchemeCompiler<T>): T {
  const { value, problems } = validate(source, schemeFileSchema);
  if (value !== undefined) {
    const compiled = compile(value);
    if (!compiled.ok) problems.push(...compiled.problems);
    else if (problems.length === 0) return compiled.scheme;
  }
  throw new InvalidInputError(placed(source, problems));
}
