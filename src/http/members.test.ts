/** The every-depth duplicate check, against JSON.stringify's output (which never repeats a name). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { duplicateMemberPath } from "./members.js";

describe("duplicateMemberPath", () => {
  it("finds none in any JSON text without repeated names, however spaced and nested", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.constantFrom(undefined, 1, "\t"), (value, space) => {
        expect(duplicateMemberPath(JSON.stringify(value, null, space))).toBeNull();
      }),
    );
  });

  it("finds a name repeated in a nested object, with the path to it", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), (name, v) => {
        const member = `${JSON.stringify(name)}:${JSON.stringify(v)}`;
        const text = `[{"a":1},{"b":[0,{"c\\"":"}","d":{${member},${member}}}]}]`;
        expect(duplicateMemberPath(text)).toEqual([1, "b", 1, "d", name]);
      }),
    );
  });
});
