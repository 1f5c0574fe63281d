/**
 * Characters a name or claim text read from a client or a token may not hold: control characters
 * garble logs and headers, and a lone surrogate is not Unicode (RFC 8785, the audit log's canonical
 * JSON, refuses the entry holding one). Neither pattern is global: `test` keeps no state between calls.
 */

/** Control characters (C0, DEL, C1). */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The control characters no free text may hold: C0 but TAB, LF and CR (a note or a scheme's YAML
 * has lines), DEL and C1. They garble the terminals, logs and reports text is shown in (an escape
 * sequence clears a screen), and a NUL is text PostgreSQL cannot hold. Not global: no state.
 */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
export const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** A control character's name, for messages: `U+0007 (bell)`, `U+009B (a C1 control)`. */
export function controlName(c: string): string {
  const code = c.charCodeAt(0);
  const hex = code.toString(16).toUpperCase().padStart(4, "0");
  const name = code < 0x20 ? C0_NAMES[code] : code === 0x7f ? "delete" : C1_NAMES[code];
  return `U+${hex} (${name ?? "a C1 control"})`;
}

// prettier-ignore
const C0_NAMES: readonly string[] = [
  "null", "start of heading", "start of text", "end of text", "end of transmission", "enquiry",
  "acknowledge", "bell", "backspace", "tab", "line feed", "line tabulation", "form feed",
  "carriage return", "shift out", "shift in", "data link escape", "device control one",
  "device control two", "device control three", "device control four", "negative acknowledge",
  "synchronous idle", "end of transmission block", "cancel", "end of medium", "substitute", "escape",
  "file separator", "group separator", "record separator", "unit separator",
];

const C1_NAMES: Readonly<Record<number, string>> = {
  0x85: "next line",
  0x9b: "control sequence introducer",
  0x9d: "operating system command",
};

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

/**
 * What `quoted` escapes: the controls JSON leaves raw (DEL, C1) and the bidirectional controls (C0
 * but TAB, LF and CR too, never raw in JSON.stringify's text; whitespace between tokens kept).
 * Not global, as every exported pattern here: a global one keeps its place between `test` calls
 * (it was, for `replace`, which uses its own copy below).
 */
export const RAW_IN_JSON = new RegExp(`${FORBIDDEN_CONTROL.source}|${BIDI_CONTROL.source}`);
const EVERY_RAW_IN_JSON = new RegExp(RAW_IN_JSON.source, "g");

/** A character as a JSON `\uXXXX` escape (one UTF-16 code unit: the characters escaped are all BMP). */
export const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * A value as a message quotes it: as JSON writes it (C0 escaped), with the control characters JSON
 * leaves raw (DEL, C1: `\u009b` starts a terminal's control sequence) and the bidirectional
 * controls as `\uXXXX` escapes, so that a refusal naming what was sent cannot act on whoever reads
 * it (a terminal, a log) nor read otherwise than it is.
 */
export function quoted(value: unknown): string {
  return String(JSON.stringify(value)).replace(EVERY_RAW_IN_JSON, unicodeEscape);
}

/**
 * A name from a file or argv (a file name, a set, a model, a provider) as a message lists it: bare
 * when plain, as it reads today; quoted, as `quoted` writes it, when `quoted` would change it (a
 * control or bidirectional character, a quote, a backslash), when it is empty, or when it holds
 * `separator` (a member of a list must not read as two).
 */
export function plainOrQuoted(value: string, separator = ""): string {
  const plain =
    value !== "" && quoted(value) === `"${value}"` && (separator === "" || !value.includes(separator));
  return plain ? value : quoted(value);
}

/** Names from a file or argv joined as a message lists them: each `plainOrQuoted`. */
export function nameList(values: readonly string[], separator = ", "): string {
  return values.map((v) => plainOrQuoted(v, separator.trim())).join(separator);
}
