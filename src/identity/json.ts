/**
 * A JWT part as JSON, strictly: base64url without padding or stray characters, UTF-8, a JSON object,
 * and no member name twice (RFC 7515 section 5.2 lets a verifier refuse duplicates; two readers that
 * pick different duplicates would disagree about what the token says, so we refuse them).
 */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const strict = new TextDecoder("utf-8", { fatal: true });

export type PartProblem = "base64" | "utf8" | "json" | "not-object" | "duplicate";

export function decodePart(part: string): Record<string, unknown> | PartProblem {
  if (!BASE64URL.test(part) || part.length % 4 === 1) return "base64";
  let text: string;
  try {
    text = strict.decode(Buffer.from(part, "base64url"));
  } catch {
    return "utf8";
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "json";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not-object";
  return hasDuplicateMember(text) ? "duplicate" : (value as Record<string, unknown>);
}

/**
 * Whether any object in a valid JSON text names a member twice. A single pass that tracks, per open
 * object, the names seen; strings are compared after JSON.parse so escapes count as their characters.
 */
export function hasDuplicateMember(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack.at(-1);
      if (expectKey && top) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(name)) return true;
        top.add(name);
        expectKey = false;
      }
      i = j;
    } else if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      expectKey = stack.at(-1) != null;
    }
  }
  return false;
}

/**
 * JSON.stringify's text of a parsed JSON value, rendered only until it is `max` characters long (a
 * longer text is returned as far as it got, at least `max` characters): what a refusal shows of a
 * token's value. JSON.stringify recurses once per level, and a token nested some thousands of levels
 * deep (identity.max_token_bytes allows 64 KiB) would overflow the stack; here a level costs at least
 * one character, so the recursion is at most `max` deep.
 */
export function jsonPreview(value: unknown, max: number): string {
  let out = "";
  const write = (v: unknown): void => {
    if (Array.isArray(v)) {
      out += "[";
      for (let i = 0; i < v.length; i++) {
        if (out.length >= max) return;
        if (i > 0) out += ",";
        write(v[i]);
      }
      if (out.length < max) out += "]";
    } else if (typeof v === "object" && v !== null) {
      out += "{";
      let first = true;
      for (const [name, member] of Object.entries(v)) {
        if (out.length >= max) return;
        out += `${first ? "" : ","}${JSON.stringify(name)}:`;
        first = false;
        write(member);
      }
      if (out.length < max) out += "}";
    } else {
      out += JSON.stringify(v) ?? String(v);
    }
  };
  write(value);
  return out;
}
