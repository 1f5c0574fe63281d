/**
 * RFC 8785 (JSON Canonicalization Scheme) serialization, used wherever bytes must be reproducible:
 * scheme digests now, audit-log entries later. The `canonicalize` package is CommonJS with an ESM
 * style declaration, so it is loaded through require to keep its real shape.
 */
import { createRequire } from "node:module";

const canonicalize = createRequire(import.meta.url)("canonicalize") as (input: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}
