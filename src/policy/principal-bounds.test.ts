/**
 * A principal's nationality lists are bounded: the whole document goes into its admin change's audit
 * entry (at most 65,535 bytes), and a decision reads every item.
 */
import { describe, expect, it } from "vitest";
import { parsePrincipal } from "./input.js";

const many = (n: number) => Array.from({ length: n }, () => ({ country: "DE", since: "2020-01-01" }));

describe("a principal's citizenships and permanent residencies", () => {
  it("take up to 64 each", () => {
    expect(
      parsePrincipal({ id: "p", citizenships: many(64), permanent_residencies: many(64) }),
    ).toMatchObject({
      id: "p",
    });
  });

  it("refuse a 65th, saying which list and how many it may hold", () => {
    expect(() => parsePrincipal({ id: "p", citizenships: many(65) })).toThrow(
      /citizenships: at most 64 citizenships/,
    );
    expect(() => parsePrincipal({ id: "p", permanent_residencies: many(2000) })).toThrow(
      /permanent_residencies: at most 64 permanent residencies/,
    );
  });
});
