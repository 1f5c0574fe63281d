/**
 * The number a Responses event carries as its own (`sequenceOf`), read without parsing the event:
 * the same as JSON.parse reads, and none when the data is not whole JSON.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sequenceOf } from "./relay.js";

/** What a client reads: the top-level member of the JSON object, a non-negative safe integer. */
function parsed(data: string): number | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const n = (value as Record<string, unknown>).sequence_number;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;
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
  ] as const)("reads %j as %j", (data, n) => {
    expect(sequenceOf(data)).toBe(n);
  });
});
