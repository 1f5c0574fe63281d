import { describe, expect, it } from "vitest";
import { endText, instantText } from "./dates.js";

describe("instantText", () => {
  it("writes a calendar date as written and a date-time in UTC, on the day it falls in UTC", () => {
    expect(instantText("2026-12-31")).toBe("2026-12-31");
    expect(instantText("2030-12-31T23:00:00-05:00")).toBe("2031-01-01 04:00 UTC");
    expect(instantText("2026-05-02T00:00:00.000Z")).toBe("2026-05-02 00:00 UTC");
    expect(instantText("2019-05-01T10:20:30+02:00")).toBe("2019-05-01 08:20:30 UTC");
    expect(instantText("2026-12-06T14:45:12.345Z")).toBe("2026-12-06 14:45:12.345 UTC");
    expect(instantText("not a date")).toBe("not a date");
  });
});

describe("endText", () => {
  it("writes an excluded end as the instant it ends: a calendar date is 00:00 UTC that day", () => {
    expect(endText("2027-01-31")).toBe("2027-01-31 00:00 UTC");
    expect(endText("2030-12-31T23:00:00-05:00")).toBe("2031-01-01 04:00 UTC");
    expect(endText("2027-01-31T12:30:00Z")).toBe("2027-01-31 12:30 UTC");
    expect(endText("not a date")).toBe("not a date");
  });
});
