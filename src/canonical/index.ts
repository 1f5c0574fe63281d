/**
 * RFC 8785 (JSON Canonicalization Scheme) serialization, used wherever bytes must be reproducible:
 * scheme digests, what-if summaries, audit-log admin entries and the digests they carry.
 *
 * For JSON data this is JSON.stringify with every object's keys sorted by UTF-16 code units, which is
 * what RFC 8785 specifies: ECMAScript number serialization (−0 as 0, 1e+21, 1e-7), strings escaped
 * only where JSON must (control characters as \b \t \n \f \r or \u00xx, quote, backslash), all else
 * kept as UTF-8. NaN and ±Infinity are refused, as RFC 8785 requires. Values that are not JSON data
 * are treated as JSON.stringify treats them, never written as text that is not JSON: undefined,
 * functions and symbols are left out of objects and are null in arrays, holes in arrays are null,
 * boxed primitives are their values, toJSON is applied (a Date is its ISO string); a BigInt or a
 * circular structure is a TypeError.
 *
 * One departure from RFC 8785, kept so that existing entries and digests keep their bytes: a lone
 * surrogate (a string that is not well-formed UTF-16) is written as JSON.stringify writes it, as a
 * \udxxx escape, where RFC 8785 (§3.2.2.2) would refuse the value. Such strings should be refused
 * where they enter.
 */

export function canonicalJson(value: unknown): string {
  const text = serialize(value, "", []);
  if (text === undefined) throw new TypeError("value has no JSON representation");
  return text;
}

/** `value` as canonical JSON, or undefined where JSON.stringify would leave it out. */
function serialize(value: unknown, key: string, open: object[]): string | undefined {
  let v = value;
  if (typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function") {
    v = (v as { toJSON: (key: string) => unknown }).toJSON(key);
  }
  if (v instanceof Number) v = Number(v);
  else if (v instanceof String) v = String(v);
  else if (v instanceof Boolean) v = v.valueOf();

  switch (typeof v) {
    case "number":
      if (!Number.isFinite(v)) throw new TypeError(`${v} is not allowed in canonical JSON (RFC 8785)`);
      return JSON.stringify(v);
    case "string":
    case "boolean":
      return JSON.stringify(v);
    case "bigint":
      throw new TypeError("a BigInt has no JSON representation");
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (v === null) return "null";

  const object = v as object;
  if (open.includes(object)) throw new TypeError("a circular structure has no JSON representation");
  open.push(object);
  const parts: string[] = [];
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) parts.push(serialize(object[i], String(i), open) ?? "null");
  } else {
    // The default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    for (const k of Object.keys(object).sort()) {
      const member = serialize((object as Record<string, unknown>)[k], k, open);
      if (member !== undefined) parts.push(`${JSON.stringify(k)}:${member}`);
    }
  }
  open.pop();
  return Array.isArray(object) ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
}
