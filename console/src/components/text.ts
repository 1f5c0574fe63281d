/**
 * Stored text (a name, a key's label, a reason, a note, a list entry, what a partner's identity
 * provider said) as the console shows it. React escapes markup, but not the characters that make a
 * line read otherwise than it is: a right-to-left override (U+202E) in a partner's display name
 * turned " — Ivan Petrov" after it into "vorteP navI — ", and a control character is invisible.
 * Those are written as their code point, and the text is isolated (`<bdi>`: Shown in ui.tsx),
 * so a name in a right-to-left script reorders nothing around it. Line breaks and tabs are spaces in
 * HTML, and stay.
 */

/** C0 but tab and line breaks, DEL, C1, and the bidirectional marks, embeddings, overrides, isolates. */
const UNSEEN =
  // eslint-disable-next-line no-control-regex -- control characters are what is made visible
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with each character that would act rather than show written as ⟨U+202E⟩. What the server
 * sent is typed, not checked: a member missing from a stored record (null, undefined) is "—", and
 * anything else its string, rather than a TypeError that blanks the whole page.
 */
export const visible = (text: string | null | undefined): string =>
  typeof text !== "string"
    ? text === null || text === undefined
      ? "—"
      : String(text)
    : text.replace(
        UNSEEN,
        (c) => `⟨U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0")}⟩`,
      );

/**
 * `visible(text)` isolated for a plain string (an option's label, a sentence built as a string):
 * first-strong isolate and pop isolate around it, which its own text, made visible, cannot close.
 */
export const isolated = (text: string | null | undefined): string => `\u2068${visible(text)}\u2069`;
