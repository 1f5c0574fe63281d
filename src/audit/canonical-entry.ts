/**
 * Is an entry's text what was hashed? The log writes every entry as RFC 8785 canonical JSON, so
 * what a reader takes from an entry is exactly what was hashed and signed. One that is not — a
 * member named twice (JSON.parse keeps the last, other readers the first), a number beyond a
 * double's range or precision, other spacing, key order or escapes, bytes that are not UTF-8 — may
 * show a reader something else. Shared by the CLI's verifier and the console's (no Node imports).
 */
import { canonicalJson } from "../canonical/index.js";
import { duplicateMemberPath } from "../http/members.js";
import { quoted } from "../policy/text.js";

/** The entry read as JSON, or undefined when it is not JSON (shown as its text). */
export function parseEntryJson(bytes: Uint8Array): { readonly text: string; readonly value?: unknown } {
  const text = new TextDecoder().decode(bytes);
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch {
    return { text };
  }
}

/** Why an entry read as JSON is not the canonical JSON of what it reads as, or null (an entry that is not JSON: null). */
export function entryNotCanonical(bytes: Uint8Array): string | null {
  const parsed = parseEntryJson(bytes);
  if (!("value" in parsed)) return null;
  const { text, value } = parsed;
  const twice = duplicateMemberPath(text);
  if (twice !== null) return `it names ${quoted(String(twice.at(-1)))} more than once in one object`;
  let again: Uint8Array;
  try {
    again = new TextEncoder().encode(canonicalJson(value));
  } catch (err) {
    return `re-encoding what it reads as fails (${(err as Error).message})`;
  }
  const same = again.length === bytes.length && again.every((b, i) => b === bytes[i]);
  return same
    ? null
    : "re-encoding what it reads as gives other bytes (spacing, key order, escapes, a number's form or bytes that are not UTF-8)";
}
