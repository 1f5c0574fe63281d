import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { InvalidInputError } from "../errors/index.js";
import { isCalendarDate, isPartialDate } from "./dates.js";
import { parsePrincipal } from "./input.js";

describe("isCalendarDate", () => {
  it("takes every day the calendar has, with or without a time after it", () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date("0001-01-01T00:00:00Z"),
          max: new Date("9999-12-31T23:59:59Z"),
          noInvalidDate: true,
        }),
        (d) => {
          const iso = d.toISOString();
          expect(isCalendarDate(iso.slice(0, 10))).toBe(true);
          expect(isCalendarDate(iso)).toBe(true);
        },
      ),
    );
  });

  it("refuses days the calendar lacks, which Date.parse would move to the next month", () => {
    for (const text of [
      "2026-02-29",
      "2026-02-30",
      "2026-04-31",
      "2026-13-01",
      "2026-00-10",
      "2026-01-00",
      "1900-02-29",
    ]) {
      expect(isCalendarDate(text), text).toBe(false);
    }
    expect(isCalendarDate("2024-02-29")).toBe(true);
    expect(isCalendarDate("2000-02-29")).toBe(true);
    expect(isCalendarDate("March 3")).toBe(false);
    expect(isCalendarDate("1")).toBe(false);
  });
});

describe("isPartialDate", () => {
  it("takes a year, a year and month, or a real day; nothing else", () => {
    for (const text of ["1984", "1984-03", "1984-03-02", "2000-02-29"])
      expect(isPartialDate(text), text).toBe(true);
    for (const text of ["1984-13", "1984-00", "1984-02-30", "84", "1984-3", "1984-03-02T00:00:00Z", ""]) {
      expect(isPartialDate(text), text).toBe(false);
    }
  });
});

describe("where principals carry dates", () => {
  it("refuses a birth date or a nationality's since the calendar lacks, naming the field", () => {
    const problem = (p: unknown) => {
      try {
        parsePrincipal(p);
      } catch (err) {
        return (err as InvalidInputError).problems[0]?.path.join(".");
      }
      return "accepted";
    };
    expect(problem({ id: "p", birth_date: "1984-02-30" })).toBe("birth_date");
    expect(problem({ id: "p", citizenships: [{ country: "DE", since: "2001-04-31" }] })).toBe(
      "citizenships.0.since",
    );
    expect(
      problem({ id: "p", birth_date: "1984-02", citizenships: [{ country: "DE", since: "2001-04-30" }] }),
    ).toBe("accepted");
  });
});
