import { expect, it } from "vitest";
import { principalSchema } from "../../../src/policy/input.js";
import { parseNationalities } from "./Principals.js";

it("the citizenships field splits at the first colon, so a date-time keeps its own", () => {
  expect(parseNationalities("fr, CA:2019-05-01, de:2019-05-01T00:00:00Z")).toEqual([
    { country: "FR" },
    { country: "CA", since: "2019-05-01" },
    { country: "DE", since: "2019-05-01T00:00:00Z" },
  ]);
});

it("the citizenships field raises country codes in ASCII only, so a look-alike is refused, not folded", () => {
  // Before the fix: toUpperCase() read "ır" as IR (Iran) and "ß" as SS (South Sudan).
  const citizenships = parseNationalities("ır, ß:2019-05-01, ﬁ");
  expect(citizenships).toEqual([{ country: "ıR" }, { country: "ß", since: "2019-05-01" }, { country: "ﬁ" }]);
  expect(principalSchema.safeParse({ id: "anna", citizenships, assurance: "none" }).success).toBe(false);
});
