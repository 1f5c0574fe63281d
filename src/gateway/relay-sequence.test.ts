/**
 * The number a Responses event carries as its own (`sequenceOf`), read without parsing the event:
 * the same as JSON.parse reads, and none when the data is not whole JSON.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sequenceOf } from "./relay.js";

/**
 * What a client reads: the top-level member of the JSON object, a non-negative safe integer (`-0`,
 * JSON.parse's reading of `-0` or `-0.0e1`, as 0: the gateway numbers after it all the same).
 */
function parsed(data: string): number | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const n = (value as Record<string, unknown>).sequence_number;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n + 0 : null;
}

/** An event's data: any JSON object, most with a number of their own, some with two or a bad one. */
const eventData = fc
  .tuple(
    fc.dictionary(fc.constantFrom("type", "sequence_number", "error", "message", "a"), fc.jsonValue()),
    fc.option(fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string()), { nil: undefined }),
    fc.boolean(),
    fc.constantFrom(undefined, 1, "\t"),
  )
  .map(([members, own, first, space]) =>
    JSON.stringify(
      own === undefined
        ? members
        : first
          ? { sequence_number: own, ...members }
          : { ...members, sequence_number: own },
      null,
      space,
    ),
  );

/** Hex digits of a `\uXXXX` escape, in either case JSON allows. */
const hex = (ch: string, upper: boolean): string => {
  const h = ch.charCodeAt(0).toString(16).padStart(4, "0");
  return upper ? h.toUpperCase() : h;
};

/**
 * A member name as JSON can write it: the event's own name, or one near it, each character written
 * as itself or as a `\uXXXX` escape (JSON.parse reads `"sequence\u005fnumber"` as the event's own).
 */
const memberName = fc
  .tuple(
    fc.constantFrom(
      "sequence_number",
      "sequence_number",
      "sequence-number",
      "Sequence_number",
      "sequence_numbe",
    ),
    fc.array(fc.boolean(), { minLength: 15, maxLength: 15 }),
    fc.boolean(),
  )
  .map(
    ([name, escaped, upper]) =>
      '"' + [...name].map((ch, k) => (escaped[k] ? "\\u" + hex(ch, upper) : ch)).join("") + '"',
  );

/** Digits, at least one. */
const digits = (max: number) => fc.stringMatching(new RegExp(`^[0-9]{1,${max}}$`));

/**
 * A JSON number in any spelling: integers written with a fraction or an exponent (`9.0`, `90E-1`,
 * `0.00e1`: the number JSON.parse reads is an integer), any number by the grammar (negative,
 * fractions, exponents too large or too small for a double), and integers too large to be safe.
 */
const numberToken = fc.oneof(
  fc
    .tuple(fc.nat(10_000), fc.nat(3), fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"))
    .map(([n, k, e, sign]) =>
      // n·10^k written as n followed by k zeros and 10^-k, or as a fraction of zeros.
      sign === "-" ? `${n}${"0".repeat(k)}${e}-${k}` : `${n}.${"0".repeat(k + 1)}${e}${sign}0`,
    ),
  fc.tuple(fc.nat(10_000), fc.nat(3), fc.constantFrom("e", "E", "e+", "E+")).map(([n, zeros, e]) => {
    // n as 0.(zeros)(digits of n) times a power of ten: `0.00e1` for 0.
    const s = String(n);
    return `0.${"0".repeat(zeros)}${s}${e}${zeros + s.length}`;
  }),
  fc
    .tuple(
      fc.constantFrom("", "-"),
      fc.oneof(
        fc.constant("0"),
        digits(20).map((d) => "1" + d),
      ),
      fc.option(digits(4), { nil: undefined }),
      fc.option(fc.tuple(fc.constantFrom("e", "E", "e+", "E-", "e-"), digits(3)), { nil: undefined }),
    )
    .map(
      ([sign, int, frac, exp]) =>
        sign + int + (frac === undefined ? "" : "." + frac) + (exp === undefined ? "" : exp[0] + exp[1]),
    ),
);

/**
 * An event's data with its own member written as JSON can write it: its name escaped or not, its
 * value a number in any spelling (or another value), first or last, once or twice (the last one counts).
 */
const spelledEventData = fc
  .tuple(
    fc.dictionary(fc.constantFrom("type", "error", "message", "a"), fc.jsonValue(), { maxKeys: 3 }),
    fc.array(
      fc.tuple(
        memberName,
        fc.oneof(
          numberToken,
          numberToken,
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
      ),
      { minLength: 1, maxLength: 2 },
    ),
    fc.boolean(),
    fc.constantFrom(undefined, 1, "\t"),
  )
  .map(([members, own, first, space]) => {
    const rest = JSON.stringify(members, null, space);
    const inner = rest.slice(1, -1).trim();
    const mine = own.map(([name, value]) => `${name}:${value}`).join(",");
    const body = inner === "" ? mine : first ? `${mine},${inner}` : `${inner},${mine}`;
    return `{${body}}`;
  });

/** Characters that break JSON where they are put (none of them can complete a number). */
const breaking = fc.constantFrom("{", "}", "[", "]", '"', "\\", ",", ":", " ", "x", "t", "n", "\n", "\u0001");

describe("sequenceOf", () => {
  it("reads what JSON.parse reads from whole JSON", () => {
    fc.assert(
      fc.property(eventData, (data) => {
        expect(sequenceOf(data)).toBe(parsed(data));
      }),
      { numRuns: 2000 },
    );
  });

  // Before: a name written with escapes was never the event's own, and a number written with a
  // fraction or an exponent was none (`"sequence_number":0.00e1`, which JSON.parse reads as 0).
  it("reads what JSON.parse reads from names written with escapes and numbers in any spelling", () => {
    fc.assert(
      fc.property(spelledEventData, (data) => {
        expect(sequenceOf(data)).toBe(parsed(data));
      }),
      { numRuns: 3000 },
    );
  });

  it("reads none from such data that is not whole JSON: cut short, or with a character put in", () => {
    fc.assert(
      fc.property(spelledEventData, fc.nat(), breaking, fc.boolean(), (data, at, c, cut) => {
        const k = at % data.length;
        const broken = cut ? data.slice(0, k) : data.slice(0, k) + c + data.slice(k);
        expect(sequenceOf(broken)).toBe(parsed(broken));
      }),
      { numRuns: 3000 },
    );
  });

  // Before: the scan stopped at the event's own member; what came after it was never read.
  it("reads none from data that is not whole JSON: cut short, or with a character put in", () => {
    fc.assert(
      fc.property(eventData, fc.nat(), breaking, fc.boolean(), (data, at, c, cut) => {
        const k = at % data.length;
        const broken = cut ? data.slice(0, k) : data.slice(0, k) + c + data.slice(k);
        expect(sequenceOf(broken)).toBe(parsed(broken));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    '{"sequence_number":5, broken}',
    '{"sequence_number":5,"message":"cut sh',
    '{"sequence_number":5} trailing',
    '{"sequence_number":5,"message":"bad \\q"}',
    '{"sequence_number":5,"message":"a raw\u0001control"}',
    '{"sequence_number":5,}',
    '{"sequence_number":5 "type":"error"}',
    '{"sequence_number":05}',
  ])("reads none from %j", (data) => {
    expect(sequenceOf(data)).toBeNull();
  });

  it.each([
    ['{"type":"error","sequence_number":5}', 5],
    [' {\n "sequence_number" : 0 , "x" : [ { "sequence_number" : 9 } , "\\"sequence_number\\": 8" ] }\n', 0],
    ['{"sequence_number":1,"sequence_number":7}', 7],
    ['{"sequence_number":7,"sequence_number":"7"}', null],
    ['{"sequence_number":7.5}', null],
    ['{"sequence_number":-1}', null],
    ['{"sequence_number":9007199254740992}', null],
    // Before, each of these read none, or the plainly written member before the escaped one.
    ['{"sequence\\u005fnumber":9}', 9],
    ['{"\\u0073equence_number":9}', 9],
    [
      '{"\\u0073\\u0065\\u0071\\u0075\\u0065\\u006e\\u0063\\u0065\\u005F\\u006e\\u0075\\u006d\\u0062\\u0065\\u0072":9}',
      9,
    ],
    ['{"sequence_number":3,"sequence\\u005fnumber":9}', 9],
    ['{"sequence\\u005fnumber":9,"sequence_number":3}', 3],
    ['{"sequence_number":9.0}', 9],
    ['{"sequence_number":9e0}', 9],
    ['{"sequence_number":90E-1}', 9],
    ['{"sequence_number":0.00e1}', 0],
    ['{"sequence_number":0.9E+1}', 9],
    // Still none: a name that is not the event's, one nested, a number that is no safe integer.
    ['{"sequence\\u005Fnumber ":9}', null],
    ['{"sequence\\\\u005fnumber":9}', null],
    ['{"a":{"sequence\\u005fnumber":9}}', null],
    ['{"sequence_number":-0.0e1}', 0],
    ['{"sequence_number":-1e0}', null],
    ['{"sequence_number":95e-1}', null],
    ['{"sequence_number":1e400}', null],
    ['{"sequence_number":9007199254740993}', null],
  ] as const)("reads %j as %j", (data, n) => {
    expect(sequenceOf(data)).toBe(n);
  });
});

describe("sequenceOf on large data", () => {
  // Read in one pass with no recursion: nesting deeper than any stack is read whole.
  it("reads nesting two million deep, and a number of two million digits", () => {
    const depth = 2_000_000;
    expect(sequenceOf(`{"sequence_number":4,"a":${"[".repeat(depth)}${"]".repeat(depth)}}`)).toBe(4);
    const objects = `{"a":${'{"b":'.repeat(depth)}1${"}".repeat(depth)},"sequence\\u005fnumber":4}`;
    expect(sequenceOf(objects)).toBe(4);
    expect(sequenceOf(`{"sequence_number":4${"0".repeat(depth)}}`)).toBeNull();
  });

  // Before: one regular expression matched a whole string, keeping a backtracking entry per escape,
  // and threw RangeError (the stack's size exceeded) past about 3.3 million escapes: an event of
  // 6.7 MB, under the default capture limit. The relay's body failed with it, and the gateway cut a
  // whole stream as the upstream's failure.
  it("reads strings and names of millions of escapes (names not decoded unless they could be its own)", () => {
    const escapes = "\\n \\u005f".repeat(2_000_000);
    expect(sequenceOf(`{"sequence_number":4,"a":"${escapes}"}`)).toBe(4);
    expect(sequenceOf(`{"sequence_number":4,"${escapes}":1}`)).toBe(4);
    expect(sequenceOf(`{"sequence_number":4,"a":"${escapes}`)).toBeNull();
    expect(sequenceOf(`{"sequence_number":4,"a":"${escapes}\\x"}`)).toBeNull();
    expect(sequenceOf(`{"sequence_number":4,"a":"${"\\n".repeat(4_000_000)}"}`)).toBe(4);
  });

  it("reads none from a string that ends in a broken escape or a raw control character", () => {
    for (const bad of ["\\", "\\u", "\\u00", "\\u00g0", "\\x", "\u0000", "\u001f", "\\\u0001"]) {
      expect({ bad, n: sequenceOf(`{"sequence_number":4,"a":"x${bad}"}`) }).toEqual({ bad, n: null });
    }
    expect(sequenceOf('{"sequence_number":4,"a":"\\u00aF\\/\\b\\f\\r\\t\\"\\\\"}')).toBe(4);
  });
});
