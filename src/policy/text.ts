/**
 * Characters a name or claim text read from a client or a token may not hold: control characters
 * garble logs and headers, and a lone surrogate is not Unicode (RFC 8785, the audit log's canonical
 * JSON, refuses the entry holding one). Neither pattern is global: `test` keeps no state between calls.
 */

/** Control characters (C0, DEL, C1). */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A lone surrogate (with /u a well-formed pair is one code point, not a match). */
export const LONE_SURROGATE = /\p{Surrogate}/u;

/** Either of them, in one scan. */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
export const CONTROL_OR_LONE_SURROGATE = /[\u0000-\u001f\u007f-\u009f]|\p{Surrogate}/u;

/**
 * The bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): invisible,
 * they make stored text read otherwise than it is (a name shown reversed, a reason whose end seems
 * to be its start). Right-to-left letters need none of them, and the marks (U+200E, U+200F,
 * U+061C) are not among them. Not global: `test` keeps no state between calls.
 */
export const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;

/** A bidirectional control's name, for messages: `U+202E (right-to-left override)`. */
export function bidiControlName(c: string): string {
  const code = c.charCodeAt(0);
  const hex = code.toString(16).toUpperCase();
  return `U+${hex} (${BIDI_NAMES[code] ?? "a bidirectional control"})`;
}

const BIDI_NAMES: Readonly<Record<number, string>> = {
  0x202a: "left-to-right embedding",
  0x202b: "right-to-left embedding",
  0x202c: "pop directional formatting",
  0x202d: "left-to-right override",
  0x202e: "right-to-left override",
  0x2066: "left-to-right isolate",
  0x2067: "right-to-left isolate",
  0x2068: "first strong isolate",
  0x2069: "pop directional isolate",
};
