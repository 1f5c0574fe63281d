/**
 * A batch's text cut into its items, a turn at a time, without parsing anything: each item is then
 * parsed on its own (JSON.parse, the scan for members named twice, validation), so that no step
 * takes more than one item, and no item more than the decision API allows. A body that is not
 * valid as an array is refused from here, saying where: parsing 10 MB whole to find its error held
 * the event loop for a tenth of a second.
 */
import { ClearanceError } from "../errors/index.js";
import {
  CLOSE_BRACE,
  CLOSE_BRACKET,
  closingQuote,
  COMMA,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
} from "../http/members.js";

/** Long work paced in short turns of the event loop (the decision API's Turns). */
export interface Pacing {
  /** Whether this turn has run its budget: then `await next()`. */
  due(): boolean;
  next(): Promise<void>;
  /** step(0) ... step(n - 1), yielding between them whenever a turn is due. */
  each(n: number, step: (i: number) => void): Promise<void>;
}

/**
 * The texts of the items of the JSON array `text` is, each at most `maxItem` characters (413
 * `decision_too_large` naming the first longer one), at most `maxItems` of them (413
 * `batch_too_large` as soon as one more is cut: a 10 MB `[0,0,…]` is not first cut into five million
 * strings); null when `text` is not an array (its first character, after white space, is not `[`).
 * The text is cut at the array's own commas, found by a scan that skips strings natively; a text the
 * scan finds is no valid array is refused (400 `invalid_json`). An item that is not valid JSON is
 * found when it is parsed (`parseItem`).
 */
export async function batchItems(
  text: string,
  turns: Pacing,
  maxItem: number,
  maxItems: number,
): Promise<string[] | null> {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACKET) return null;
  const texts: string[] = [];
  let depth = 1;
  let from = i + 1;
  let checkAt = i + SCAN_STRIDE;
  const cut = (end: number) => {
    if (end - from > maxItem) throw decisionTooLarge([texts.length], maxItem);
    if (texts.length >= maxItems) throw batchTooLarge(maxItems);
    texts.push(text.slice(from, end));
    from = end + 1;
  };
  for (i++; i < text.length; i++) {
    if (i >= checkAt) {
      checkAt = i + SCAN_STRIDE;
      if (turns.due()) await turns.next();
    }
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (end < 0) throw malformed(`a string opened at position ${i} is not closed`);
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth > 0) continue;
      if (c !== CLOSE_BRACKET) throw malformed(`"}" at position ${i} closes the array`);
      const rest = skipSpace(text, i + 1);
      if (rest !== text.length) throw malformed(`unexpected text after the array, at position ${rest}`);
      // `[]` and `[ ]` have no items; any other empty piece (`[1,]`) fails to parse, named.
      if (texts.length > 0 || skipSpace(text, from) !== i) cut(i);
      return texts;
    } else if (c === COMMA && depth === 1) cut(i);
  }
  throw malformed("the array is not closed");
}

/** Item `index`'s value; its syntax error a 400 naming the item (positions are within it). */
export function parseItem(text: string, index: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const message = `item [${index}] is not valid JSON: ${(cause as Error).message}`;
    throw new ClearanceError("invalid", "invalid_json", `request body is not valid JSON: ${message}`, {
      problems: [{ code: "invalid_json", path: [index], message }],
    });
  }
}

/** A decision (a body's, or a batch item's at `path`) longer than the API takes. */
export function decisionTooLarge(path: (string | number)[], max: number): ClearanceError {
  const message = `a decision's {principal, request} takes at most ${max} characters of JSON`;
  return new ClearanceError("too-large", "decision_too_large", message, {
    problems: [{ code: "decision_too_large", path, message }],
  });
}

/** A batch of more than `max` decisions: refused at the first item over, so its count is not known. */
export function batchTooLarge(max: number): ClearanceError {
  return new ClearanceError("too-large", "batch_too_large", `at most ${max} decisions per request, got more`);
}

function malformed(why: string): ClearanceError {
  return new ClearanceError("invalid", "invalid_json", `request body is not valid JSON: ${why}`);
}

/** The first index from `at` that is not JSON white space. */
function skipSpace(text: string, at: number): number {
  let i = at;
  while (SPACE.has(text.charCodeAt(i))) i++;
  return i;
}

/** How many characters the scan reads between looks at the clock. */
const SCAN_STRIDE = 4096;

const SPACE = new Set([0x20, 0x0a, 0x0d, 0x09]);
