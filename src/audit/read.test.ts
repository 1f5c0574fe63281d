/**
 * An entry's time as the gateway writes it: every instant's `toISOString()` is one, and nothing of
 * the same shape that the calendar lacks is (it would be counted by its text in the wrong period).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEntryTime } from "./read.js";

const YEAR_0000 = Date.parse("0000-01-01T00:00:00.000Z");
const YEAR_9999_END = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

describe("an entry's time", () => {
  it("is every instant the gateway can write, in years 0000–9999", () => {
    fc.assert(
      fc.property(fc.integer({ min: YEAR_0000, max: YEAR_9999_END }), (ms) => {
        expect(isEntryTime(new Date(ms).toISOString())).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it("is nothing of its shape that no instant writes (the calendar lacks it)", () => {
    const digits = (n: number) =>
      fc.integer({ min: 0, max: 10 ** n - 1 }).map((v) => String(v).padStart(n, "0"));
    fc.assert(
      fc.property(
        fc.tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), digits(3)),
        ([y, mo, d, h, mi, s, ms]) => {
          const text = `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
          const parsed = Date.parse(text);
          const real = !Number.isNaN(parsed) && new Date(parsed).toISOString() === text;
          expect(isEntryTime(text)).toBe(real);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it("refuses the days the calendar lacks, leap years included", () => {
    expect(isEntryTime("2026-06-31T10:00:00.000Z")).toBe(false);
    expect(isEntryTime("2026-02-29T00:00:00.000Z")).toBe(false);
    expect(isEntryTime("2028-02-29T00:00:00.000Z")).toBe(true);
    expect(isEntryTime("2100-02-29T00:00:00.000Z")).toBe(false);
    expect(isEntryTime("2000-02-29T00:00:00.000Z")).toBe(true);
    expect(isEntryTime("2026-13-01T00:00:00.000Z")).toBe(false);
    expect(isEntryTime("2026-12-01T24:00:00.000Z")).toBe(false);
    expect(isEntryTime("2026-12-01T23:60:00.000Z")).toBe(false);
    expect(isEntryTime("2026-12-01T23:59:60.000Z")).toBe(false);
    expect(isEntryTime(1_780_000_000_000)).toBe(false);
  });
});
