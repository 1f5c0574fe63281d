/**
 * Members named twice in JSON text. JSON.parse keeps the last of them, silently; whoever else reads
 * the same text (an upstream, a second parser, a reviewer) may keep the first. Both scans take text
 * JSON.parse has accepted and compare names decoded, so `"mo\u0064el"` is `model`.
 */

/**
 * The first member named twice at the top level of an object's text, or null. Strings are skipped
 * natively (indexOf to the closing quote), so a large prompt costs little more than its brackets
 * and commas: the data plane's request path.
 */
export function duplicateMember(text: string): string | null {
  const names = new Set<string>();
  let depth = 0;
  let key = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (depth === 1 && key) {
        const name = decoded(text.slice(i + 1, end));
        if (names.has(name)) return name;
        names.add(name);
        key = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      key = depth === 1;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    else if (c === COMMA && depth === 1) key = true;
  }
  return null;
}

type Frame =
  | { readonly object: true; readonly names: Set<string>; key: boolean; member: string }
  | { readonly object: false; index: number };

/**
 * The path (member names and array indices) of the first member named twice in any object of the
 * text, or null: for small bodies whose every member may decide something (the decision API's).
 */
export function duplicateMemberPath(text: string): (string | number)[] | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack.at(-1);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (top?.object === true && top.key) {
        const name = decoded(text.slice(i + 1, end));
        top.member = name;
        if (top.names.has(name)) return stack.map((f) => (f.object ? f.member : f.index));
        top.names.add(name);
        top.key = false;
      }
      i = end;
    } else if (c === OPEN_BRACE) stack.push({ object: true, names: new Set(), key: true, member: "" });
    else if (c === OPEN_BRACKET) stack.push({ object: false, index: 0 });
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) stack.pop();
    else if (c === COMMA && top !== undefined) {
      if (top.object) top.key = true;
      else top.index++;
    }
  }
  return null;
}

/** The character codes JSON's structure is made of (the scans here and the decision API's batch cut). */
export const QUOTE = 0x22;
export const COMMA = 0x2c;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;

/** The index of the quote that closes the string opened at `open` (-1: the text ends first). */
export function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  while (escaped(text, end)) end = text.indexOf('"', end + 1);
  return end;
}

/** Whether the quote at `at` is escaped: an odd number of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; text.charCodeAt(k) === 0x5c; k--) n++;
  return n % 2 === 1;
}

const decoded = (raw: string): string => (raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw);
