import { expect, it } from "vitest";
import { parseNationalities } from "./Principals.js";

it("the citizenships field splits at the first colon, so a date-time keeps its own", () => {
  expect(parseNationalities("fr, CA:2019-05-01, de:2019-05-01T00:00:00Z")).toEqual([
    { country: "FR" },
    { country: "CA", since: "2019-05-01" },
    { country: "DE", since: "2019-05-01T00:00:00Z" },
  ]);
});
