import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { endText, instantText } from "./dates.js";
import { ShownTime } from "./ui.js";

describe("instantText", () => {
  it("writes a calendar date as written and a date-time in UTC, on the day it falls in UTC", () => {
    expect(instantText("2026-12-31")).toBe("2026-12-31");
    expect(instantText("2030-12-31T23:00:00-05:00")).toBe("2031-01-01 04:00 UTC");
    expect(instantText("2026-05-02T00:00:00.000Z")).toBe("2026-05-02 00:00 UTC");
    expect(instantText("2019-05-01T10:20:30+02:00")).toBe("2019-05-01 08:20:30 UTC");
    expect(instantText("2026-12-06T14:45:12.345Z")).toBe("2026-12-06 14:45:12.345 UTC");
    expect(instantText("not a date")).toBe("not a date");
  });

  it("reads an RFC 1123 date whole, and cuts an instant to the second or the minute when asked", () => {
    expect(instantText("Mon, 07 Dec 2026 10:15:00 GMT")).toBe("2026-12-07 10:15 UTC");
    expect(instantText("2026-12-06T14:45:12.945Z", "second")).toBe("2026-12-06 14:45:12 UTC");
    expect(instantText("2026-12-06T14:45:12.945Z", "minute")).toBe("2026-12-06 14:45 UTC");
    expect(instantText("2030-12-31T23:59:59.999-05:00", "minute")).toBe("2031-01-01 04:59 UTC");
    // Not an instant: whole, not cut, not said to be UTC.
    expect(instantText("2026-12-06T09:\u202E15:00.000Z", "minute")).toBe("2026-12-06T09:\u202E15:00.000Z");
    expect(instantText("2026-12-31", "second")).toBe("2026-12-31");
  });

  it("reads only ISO 8601 and RFC 1123 with its zone: what Date.parse would guess is shown as stored", () => {
    // Before: "Dec 7" read as 7 December 2001 in the browser's zone, an RFC 1123 date without its
    // zone in the browser's local time, and both shown as if stored in UTC.
    expect(instantText("Dec 7")).toBe("Dec 7");
    expect(instantText("Mon, 07 Dec 2026 10:15:00")).toBe("Mon, 07 Dec 2026 10:15:00");
    expect(instantText("12/07/2026 10:15")).toBe("12/07/2026 10:15");
    expect(instantText("2026-12-07 10:15:00")).toBe("2026-12-07 10:15:00");
    expect(instantText("2026-12-07T10:15")).toBe("2026-12-07 10:15 UTC");
    expect(instantText("Mon, 07 Dec 2026 10:15:00 +0100")).toBe("2026-12-07 09:15 UTC");
  });
});

describe("ShownTime", () => {
  const shown = (at: string | null, to?: "second" | "minute") =>
    renderToStaticMarkup(createElement(ShownTime, to === undefined ? { at } : { at, to }));

  it("writes a stored instant in UTC, saying so, whatever offset or format it was stored with", () => {
    // Before: the text cut to 19 characters, "UTC" added by the caller: 23:00 at UTC-5 read as
    // 23:00 UTC, and an RFC 1123 date cut mid-way ("Mon, 07 Dec 2026 10 UTC").
    expect(shown("2030-12-31T23:00:00-05:00")).toBe("<bdi>2031-01-01 04:00 UTC</bdi>");
    expect(shown("Mon, 07 Dec 2026 10:15:00 GMT")).toBe("<bdi>2026-12-07 10:15 UTC</bdi>");
    expect(shown("2026-12-07T10:15:03.456Z")).toBe("<bdi>2026-12-07 10:15:03 UTC</bdi>");
    expect(shown("2026-12-07T10:15:03.456Z", "minute")).toBe("<bdi>2026-12-07 10:15 UTC</bdi>");
  });

  it("shows a text that is not an instant whole, its controls written out; none as a dash", () => {
    expect(shown("2026-12-06T09:\u202E15:00.000Z")).toBe("<bdi>2026-12-06T09:⟨U+202E⟩15:00.000Z</bdi>");
    expect(shown(null)).toBe("<bdi>—</bdi>");
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
