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
