import { createRequire } from "node:module";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "./index.js";

/** The `canonicalize` package (erdtman), an independent RFC 8785 implementation, as a reference. */
const reference = createRequire(import.meta.url)("canonicalize") as (input: unknown) => string | undefined;

/** A double from its IEEE 754 bits, as RFC 8785 Appendix B gives them. */
const double = (hex: string) => Buffer.from(hex, "hex").readDoubleBE(0);

/** JSON data, its strings and keys of any code points (astral ones sort by their surrogates). */
const json = fc.jsonValue({ maxDepth: 4, stringUnit: "binary" });

/** `value` with every object's keys in another order (reversed), same members. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, {
      value: reordered((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

describe("RFC 8785 examples", () => {
  it("serializes the example of section 3.2.2", () => {
    const input =
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}';
    expect(canonicalJson(JSON.parse(input))).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("sorts the keys of section 3.2.3 by UTF-16 code units", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    // Not code-point order: U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB33.
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"], // −0
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("serializes the number %s of Appendix B as %s", (bits, text) => {
    expect(canonicalJson(double(bits))).toBe(text);
    expect(canonicalJson([double(bits)])).toBe(`[${text}]`);
  });

  it.each([
    ["7fffffffffffffff", "NaN"],
    ["7ff0000000000000", "Infinity"],
    ["fff0000000000000", "-Infinity"],
  ])("refuses the number %s (%s), anywhere", (bits) => {
    expect(() => canonicalJson(double(bits))).toThrow(/not allowed/);
    expect(() => canonicalJson({ a: [double(bits)] })).toThrow(/not allowed/);
  });

  it("escapes only what it must: control characters, quote, backslash; U+2028, U+2029 and DEL stay", () => {
    expect(canonicalJson('\u0000\u0008\t\n\u000b\f\r\u001f"\\/\u007f\u2028\u2029é😀')).toBe(
      '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/\u007f\u2028\u2029é😀"',
    );
  });
});

describe("lone surrogates (a departure from RFC 8785, kept for the bytes already written)", () => {
  it("writes a lone surrogate as a \\u escape, as JSON.stringify and the entries already logged do", () => {
    expect(canonicalJson({ model: "mythos-5\ud800", x: "\udc00a" })).toBe(
      '{"model":"mythos-5\\ud800","x":"\\udc00a"}',
    );
    expect(canonicalJson("\ud83d\ude00")).toBe('"😀"'); // a pair is one character, kept as UTF-8
  });
});

describe("canonical JSON of JSON data", () => {
  it("is a fixed point: canonical(parse(canonical(x))) is canonical(x)", () => {
    fc.assert(
      fc.property(json, (x) => {
        const once = canonicalJson(x);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
    );
  });

  it("does not depend on the order of keys", () => {
    fc.assert(
      fc.property(json, (x) => {
        expect(canonicalJson(reordered(x))).toBe(canonicalJson(x));
      }),
    );
  });

  it("agrees with the reference implementation", () => {
    fc.assert(
      fc.property(json, (x) => {
        expect(canonicalJson(x)).toBe(reference(x));
      }),
    );
  });

  it("keeps a parsed __proto__ key as a member, not a prototype", () => {
    const x = JSON.parse('{"b":1,"__proto__":{"polluted":true},"a":2}') as unknown;
    expect(canonicalJson(x)).toBe('{"__proto__":{"polluted":true},"a":2,"b":1}');
  });

  it("sorts integer-like keys as strings, not as numbers", () => {
    expect(canonicalJson({ 10: "a", 9: "b", 1: "c", a: "d" })).toBe('{"1":"c","10":"a","9":"b","a":"d"}');
  });
});

describe("values that are not JSON data", () => {
  it("omits undefined members and writes undefined array elements as null, as JSON.stringify does", () => {
    expect(canonicalJson({ b: undefined, a: 1 })).toBe('{"a":1}');
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
  });

  it("never writes a function as the text `undefined` (which is not JSON)", () => {
    const f = () => 1;
    expect(canonicalJson({ a: 1, f })).toBe(JSON.stringify({ a: 1, f }));
    expect(canonicalJson([f, 1])).toBe(JSON.stringify([f, 1]));
    expect(canonicalJson({ a: { toJSON: () => undefined }, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([{ toJSON: () => undefined }])).toBe("[null]");
  });

  it("writes the holes of a sparse array as null instead of dropping them", () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson([1, , 3])).toBe("[1,null,3]");
    expect(canonicalJson(new Array(2))).toBe("[null,null]");
  });

  it("writes boxed primitives as their values", () => {
    expect(canonicalJson([new String("ab"), new Number(2), new Boolean(false)])).toBe('["ab",2,false]');
    expect(() => canonicalJson(new Number(Number.NaN))).toThrow(/not allowed/);
  });

  it("uses toJSON (a Date as its ISO string), its keys sorted", () => {
    expect(canonicalJson({ t: new Date(Date.UTC(2026, 0, 2)) })).toBe('{"t":"2026-01-02T00:00:00.000Z"}');
    expect(canonicalJson({ x: { toJSON: () => ({ b: 1, a: 2 }) } })).toBe('{"x":{"a":2,"b":1}}');
  });

  it("refuses a BigInt, a circular structure and a value without JSON form, with a TypeError", () => {
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => canonicalJson({ loop })).toThrow(/circular/);
    expect(() => canonicalJson(undefined)).toThrow(/no JSON representation/);
    expect(() => canonicalJson(() => 1)).toThrow(/no JSON representation/);
  });

  it("allows the same object twice when it is not inside itself", () => {
    const shared = { a: 1 };
    expect(canonicalJson({ x: shared, y: [shared] })).toBe('{"x":{"a":1},"y":[{"a":1}]}');
  });
});
