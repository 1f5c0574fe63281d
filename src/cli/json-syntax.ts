/**
 * Where a JSON text that JSON.parse refused goes wrong, as line and column: V8 says "at position
 * 12" at best, and for an unexpected token quotes the text instead (no position at all).
 * Iterative, so that deep nesting cannot overflow the stack.
 */

export interface JsonSyntaxError {
  /** 1-based; the column counts characters (code points) from the line's start. */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

type Expect = "value" | "key-or-close" | "key" | "colon" | "after-value" | "value-or-close";

/** The first syntax error in `text`, or null when there is none (JSON.parse failed otherwise). */
export function jsonSyntaxError(text: string): JsonSyntaxError | null {
  const stack: ("{" | "[")[] = [];
  let i = 0;
  let expect: Expect = "value";
  const at = (offset: number, message: string): JsonSyntaxError => ({ ...lineColumn(text, offset), message });
  const found = (offset: number) => (offset >= text.length ? "the end of the file" : show(text, offset));
  for (;;) {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
    const c = text[i];
    const top = stack.at(-1);
    switch (expect) {
      case "after-value":
        if (top === undefined) {
          return c === undefined
            ? null
            : at(i, `expected the end of the file after the value, found ${found(i)}`);
        }
        if (c === ",") {
          i++;
          expect = top === "{" ? "key" : "value";
        } else if (c === (top === "{" ? "}" : "]")) {
          i++;
          stack.pop();
        } else {
          return at(i, `expected ',' or '${top === "{" ? "}" : "]"}', found ${found(i)}`);
        }
        continue;
      case "key-or-close":
      case "key":
        if (c === "}" && expect === "key-or-close") {
          i++;
          stack.pop();
          expect = "after-value";
          continue;
        }
        if (c !== '"') {
          const or = expect === "key-or-close" ? " or '}'" : "";
          return at(
            i,
            `expected a property name in double quotes${or}, found ${found(i)}${trailing(text, i)}`,
          );
        }
        {
          const end = string(text, i);
          if (typeof end !== "number") return at(end.offset, end.message);
          i = end;
        }
        expect = "colon";
        continue;
      case "colon":
        if (c !== ":") return at(i, `expected ':' after the property name, found ${found(i)}`);
        i++;
        expect = "value";
        continue;
      case "value-or-close":
        if (c === "]") {
          i++;
          stack.pop();
          expect = "after-value";
          continue;
        }
        expect = "value";
        continue;
      case "value":
        break;
    }
    // A value.
    if (c === "{" || c === "[") {
      stack.push(c);
      i++;
      expect = c === "{" ? "key-or-close" : "value-or-close";
      continue;
    }
    if (c === '"') {
      const end = string(text, i);
      if (typeof end !== "number") return at(end.offset, end.message);
      i = end;
    } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      const end = number(text, i);
      if (typeof end !== "number") return at(end.offset, end.message);
      i = end;
    } else {
      const word = ["true", "false", "null"].find((w) => text.startsWith(w, i));
      if (word === undefined) return at(i, `expected a value, found ${found(i)}${trailing(text, i)}`);
      i += word.length;
    }
    expect = "after-value";
  }
}

/** A hint when a closing bracket follows a comma: JSON has no trailing commas. */
function trailing(text: string, i: number): string {
  if (text[i] !== "]" && text[i] !== "}") return "";
  let j = i - 1;
  while (j >= 0 && " \t\n\r".includes(text[j]!)) j--;
  return text[j] === "," ? " (JSON allows no comma before it)" : "";
}

interface Failure {
  readonly offset: number;
  readonly message: string;
}

/** The offset just past the string opening at `i`, or where it goes wrong. */
function string(text: string, i: number): number | Failure {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20)
      return { offset: j, message: `a control character (${show(text, j)}) in a string: escape it` };
    if (c === 0x5c) {
      const e = text[j + 1];
      if (e === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6)))
          return { offset: j, message: "expected four hex digits after \\u" };
        j += 5;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
        j++;
      } else {
        return { offset: j, message: `an invalid escape in a string: \\${e ?? ""}` };
      }
    }
  }
  return { offset: i, message: "a string that is never closed (no ending double quote)" };
}

/** The offset just past the number starting at `i`, or where it goes wrong. */
function number(text: string, i: number): number | Failure {
  const digits = (from: number) => {
    let j = from;
    while (j < text.length && text[j]! >= "0" && text[j]! <= "9") j++;
    return j;
  };
  let j = i;
  if (text[j] === "-") j++;
  if (text[j] === "0") {
    j++;
    if (text[j] !== undefined && text[j]! >= "0" && text[j]! <= "9")
      return { offset: i, message: "a number with a leading zero" };
  } else {
    const end = digits(j);
    if (end === j) return { offset: j, message: `expected a digit after '-', found ${foundAt(text, j)}` };
    j = end;
  }
  if (text[j] === ".") {
    const end = digits(j + 1);
    if (end === j + 1)
      return { offset: end, message: `expected a digit after '.', found ${foundAt(text, end)}` };
    j = end;
  }
  if (text[j] === "e" || text[j] === "E") {
    let k = j + 1;
    if (text[k] === "+" || text[k] === "-") k++;
    const end = digits(k);
    if (end === k)
      return { offset: k, message: `expected a digit in the exponent, found ${foundAt(text, k)}` };
    j = end;
  }
  return j;
}

const foundAt = (text: string, i: number) => (i >= text.length ? "the end of the file" : show(text, i));

/** The character at `i` for a message: quoted when printable, else its code point. */
function show(text: string, i: number): string {
  const ch = String.fromCodePoint(text.codePointAt(i)!);
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f || cp === 0xfeff || (cp >= 0x80 && cp < 0xa0)) {
    const name = cp === 0xfeff ? " (a byte order mark)" : "";
    return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}${name}`;
  }
  return `'${ch}'`;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let j = 0; j < offset && j < text.length; j++) {
    if (text[j] === "\n") {
      line++;
      start = j + 1;
    }
  }
  return { line, column: [...text.slice(start, offset)].length + 1 };
}
