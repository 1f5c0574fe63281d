/**
 * The top-level duplicate check, against JSON.parse itself over generated objects; the routing
 * members refused on the OpenAI wire.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClearanceError } from "../errors/index.js";
import { ROUTING_MEMBERS, duplicateMember, refuseRoutingMembers } from "./request-facts.js";

const json = fc.jsonValue({ maxDepth: 4 });
const members = fc.uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), json), {
  selector: ([name]) => name,
  maxLength: 8,
});
const text = (pairs: readonly (readonly [string, unknown])[], space: string) =>
  `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${space}${JSON.stringify(v, null, space)}`).join(`,${space}`)}}`;

describe("duplicateMember", () => {
  it("finds none where every top-level name is distinct, whatever is nested", () => {
    fc.assert(
      fc.property(members, fc.constantFrom("", " ", "\n  "), (pairs, space) => {
        const t = text(pairs, space);
        expect(() => JSON.parse(t)).not.toThrow();
        expect(duplicateMember(t)).toBeNull();
      }),
    );
  });

  it("finds a name given twice, also when one of them is spelled with escapes", () => {
    fc.assert(
      fc.property(
        members,
        fc.string({ minLength: 1, maxLength: 8 }),
        json,
        fc.boolean(),
        (pairs, name, v, esc) => {
          const rest = pairs.filter(([k]) => k !== name);
          // \u escapes for every character: the same name once decoded.
          const spelled = esc
            ? `"${[...name].map((c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`).join("")}"`
            : JSON.stringify(name);
          const once = text([[name, v], ...rest], "");
          const t = `${once.slice(0, -1)}${once.length > 2 ? "," : ""}${spelled}:${JSON.stringify(v)}}`;
          if ([...name].some((c) => (c.codePointAt(0) as number) > 0xffff)) return; // surrogates: \u per unit
          expect(duplicateMember(t)).toBe(name);
        },
      ),
    );
  });

  it("reads strings with escaped quotes and backslashes as strings", () => {
    expect(duplicateMember(String.raw`{"a":"x\"model\":1,\\","model":1}`)).toBeNull();
    expect(duplicateMember(String.raw`{"a\\":1,"a\\":2}`)).toBe("a\\");
  });
});

describe("refuseRoutingMembers", () => {
  const refusal = (text: string) => {
    try {
      refuseRoutingMembers(JSON.parse(text) as Record<string, unknown>);
      return null;
    } catch (err) {
      return err as ClearanceError;
    }
  };

  it("refuses each routing member at the top level, naming it, whatever its value", () => {
    for (const name of ROUTING_MEMBERS) {
      for (const value of [["mythos-5"], "fallback", null, {}]) {
        const err = refusal(JSON.stringify({ model: "mythos-4", [name]: value }));
        expect(err).toBeInstanceOf(ClearanceError);
        expect(err).toMatchObject({ kind: "invalid", code: "unsupported_member" });
        expect(err?.problems[0]?.path).toEqual([name]);
      }
    }
  });

  it("reads names decoded, and leaves nested ones and other members alone", () => {
    expect(refusal(String.raw`{"model":"m","models":["x"]}`)?.problems[0]?.path).toEqual(["models"]);
    expect(refusal(`{"model":"m","metadata":{"route":"x","models":[]},"messages":[]}`)).toBeNull();
    expect(refusal(`{"model":"m","routes":1,"fallback":2,"Models":3}`)).toBeNull();
  });
});
