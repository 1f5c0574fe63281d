import { describe, expect, it } from "vitest";
import { jsonSyntaxError } from "./json-syntax.js";

describe("jsonSyntaxError", () => {
  it("names the line and column where a JSON text goes wrong, and what was expected", () => {
    expect(jsonSyntaxError("{ licensee: ")).toEqual({
      line: 1,
      column: 3,
      message: "expected a property name in double quotes or '}', found 'l'",
    });
    // V8 quotes the text for an unexpected token and gives no position at all.
    expect(jsonSyntaxError('{"a": 1,\n "b": x}')).toMatchObject({ line: 2, column: 7 });
    expect(jsonSyntaxError('{"id": "x",\n  "citizenships": [{"country": "US"},]\n}')).toEqual({
      line: 2,
      column: 38,
      message: "expected a value, found ']' (JSON allows no comma before it)",
    });
    expect(jsonSyntaxError('{"a": 1,}')?.message).toBe(
      "expected a property name in double quotes, found '}' (JSON allows no comma before it)",
    );
    expect(jsonSyntaxError('{"a": 1')).toMatchObject({
      column: 8,
      message: "expected ',' or '}', found the end of the file",
    });
    expect(jsonSyntaxError("")?.message).toBe("expected a value, found the end of the file");
    expect(jsonSyntaxError('{"a": 1}}')?.message).toBe(
      "expected the end of the file after the value, found '}'",
    );
    // Columns count characters: the emoji is one, not two UTF-16 units.
    expect(jsonSyntaxError('\n\n {"id": "\u{1F600}" "y"}')).toMatchObject({ line: 3, column: 13 });
    expect(jsonSyntaxError('["a\tb"]')?.message).toBe("a control character (U+0009) in a string: escape it");
    expect(jsonSyntaxError('["abc')).toMatchObject({
      column: 2,
      message: "a string that is never closed (no ending double quote)",
    });
    expect(jsonSyntaxError("\ufeff{}")?.message).toBe("expected a value, found U+FEFF (a byte order mark)");
    expect(jsonSyntaxError("[01]")?.message).toBe("a number with a leading zero");
    expect(jsonSyntaxError("[1.]")?.message).toBe("expected a digit after '.', found ']'");
    expect(jsonSyntaxError('{"a" 1}')?.message).toBe("expected ':' after the property name, found '1'");
  });

  it("agrees with JSON.parse on what is JSON, over many mangled texts", () => {
    const base = JSON.stringify(
      { id: "p-1", n: [0, -1.5e3, 2e-2, true, false, null], s: 'a"\\/\b\f\n\r\t\u00e9\ud83d\ude00', o: {} },
      null,
      1,
    );
    const pieces = [
      '"',
      "'",
      ",",
      ":",
      "{",
      "}",
      "[",
      "]",
      "0",
      "-",
      ".",
      "e",
      "\\",
      "\\u12",
      " ",
      "\n",
      "t",
      "x",
    ];
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 5000; round++) {
      let text = base;
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(text.length + 1);
        const cut = random(3);
        text =
          text.slice(0, at) + (random(2) === 0 ? pieces[random(pieces.length)]! : "") + text.slice(at + cut);
      }
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(jsonSyntaxError(text) === null, text).toBe(valid);
    }
  });

  it("does not overflow on deep nesting", () => {
    expect(jsonSyntaxError(`${"[".repeat(100_000)}x`)).toMatchObject({ line: 1, column: 100_001 });
  });
});
