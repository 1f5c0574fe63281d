/**
 * Reading a scheme file: YAML (with positions) → shape validation (zod) → compilation (references,
 * countries, cycles). Every problem is reported at once, each with file, line and column.
 */
import { InvalidInputError } from "../errors/index.js";
import { placed, readYaml, readYamlFile, validate, type YamlSource } from "../yaml/index.js";
import { compileScheme, type CompiledScheme } from "./compile.js";
import { schemeFileSchema } from "./schema.js";

export function parseScheme(text: string, file = "scheme.yaml"): CompiledScheme {
  return schemeFrom(readYaml(text, file));
}

export function loadSchemeFile(path: string): CompiledScheme {
  return schemeFrom(readYamlFile(path));
}

function schemeFrom(source: YamlSource): CompiledScheme {
  const { value, problems } = validate(source, schemeFileSchema);
  if (value !== undefined) {
    const compiled = compileScheme(value);
    if (!compiled.ok) problems.push(...compiled.problems);
    else if (problems.length === 0) return compiled.scheme;
  }
  throw new InvalidInputError(placed(source, problems));
}
