/**
 * Clauses of DESIGN.md's decision semantics that a review found the code departing from (6
 * December): each test decides with the real functions and holds the answer to the clause.
 */
import { describe, expect, it } from "vitest";
import { licenseApplication } from "../licensing/schema.js";
import { testScheme } from "../testing/schemes.js";
import { instantOf } from "./dates.js";
import { decide } from "./decide.js";
import { factsOf, relevantNationalities } from "./facts.js";
import { parseDecisionInput, parsePrincipal } from "./input.js";
import type { DecisionRequest, Principal } from "./types.js";

const scheme = testScheme();
const at = (time: string, model: string, location: string | null): DecisionRequest => ({
  model,
  action: "infer",
  location,
  time,
});
const outcome = (p: Principal, r: DecisionRequest) => {
  const d = decide(scheme, p, r);
  return `${d.decision} ${d.reason}`;
};

describe("a nationality is held from its `since`, not before (the most recently acquired, at the request's time)", () => {
  it("a home citizenship acquired in 2030 does not make a home person in 2026", () => {
    const p: Principal = {
      id: "p-x",
      citizenships: [
        { country: "CN", since: "1990-01-01" },
        { country: "US", since: "2030-01-01" },
      ],
      assurance: "attested",
    };
    expect(outcome(p, at("2026-12-06T00:00:00Z", "w5", "US"))).toMatch(/^deny /);
    expect(outcome(p, at("2031-01-01T00:00:00Z", "w5", "US"))).toBe("allow home-person");
    // The facts kept for the principal are the ones of no particular time: asked again, still so.
    expect(outcome(p, at("2026-12-06T00:00:00Z", "w5", "US"))).toMatch(/^deny /);
  });

  it("an embargoed nationality is not hidden by a partner's one acquired in the future", () => {
    const p: Principal = {
      id: "p-x",
      citizenships: [
        { country: "IR", since: "1980-01-01" },
        { country: "DE", since: "2031-01-01" },
      ],
      assurance: "attested",
    };
    expect(outcome(p, at("2026-12-06T00:00:00Z", "m5", "DE"))).toBe("deny embargoed-nationality");
    expect(outcome(p, at("2031-06-01T00:00:00Z", "m5", "DE"))).toBe("allow partner-country");
  });
});

it("the facts are worked out once per interval between listed dates, and once for an unreadable date", () => {
  const p: Principal = {
    id: "p-x",
    citizenships: [
      { country: "CN", since: "1990-01-01" },
      { country: "US", since: "2030-01-01" },
    ],
  };
  const now = Date.UTC(2026, 11, 6);
  const before = factsOf(scheme, p, now);
  expect(factsOf(scheme, p, Date.UTC(2029, 0, 1))).toBe(before);
  expect(before.homeCountry).toBeNull();
  const after = factsOf(scheme, p, Date.UTC(2030, 0, 1));
  expect(after).toBe(factsOf(scheme, p));
  expect(after.homeCountry).toBe("US");
  const odd: Principal = { id: "p-y", citizenships: [{ country: "DE", since: "not a date" }] };
  expect(factsOf(scheme, odd, now)).toBe(factsOf(scheme, odd));
});

describe("an instant names its zone: the same text is the same instant on every server", () => {
  it("date-times without a zone are refused (principal, request, license application)", () => {
    expect(() =>
      parsePrincipal({ id: "p", citizenships: [{ country: "DE", since: "2015-06-01T00:00:00" }] }),
    ).toThrow(
      /citizenships\[0\]\.since: expected a real date \(YYYY-MM-DD\) or an ISO 8601 date-time with a time zone/,
    );
    expect(() =>
      parseDecisionInput({
        principal: { id: "p" },
        request: { model: "m5", action: "infer", time: "2026-12-06T10:00:00" },
      }),
    ).toThrow(/request\.time/);
    expect(() =>
      parseDecisionInput({
        principal: { id: "p" },
        request: { model: "m5", action: "infer", time: "2026-02-30T10:00:00Z" },
      }),
    ).toThrow(/request\.time/);
    const application = {
      licensee: { principal: "p" },
      models: ["m5"],
      actions: ["infer"],
      destinations: ["DE"],
      valid_from: "2026-07-01",
      valid_until: "2027-07-01T00:00:00",
      justification: "work",
    };
    expect(licenseApplication.safeParse(application).success).toBe(false);
    expect(
      licenseApplication.safeParse({ ...application, valid_until: "2027-07-01T00:00:00Z" }).success,
    ).toBe(true);
  });

  it("one stored without a zone (before zones were required) is read as UTC, whatever the server's zone", () => {
    const zone = process.env.TZ;
    try {
      for (const tz of ["UTC", "America/New_York", "Asia/Kolkata"]) {
        process.env.TZ = tz;
        expect(instantOf("2027-07-01T00:00:00")).toBe(Date.UTC(2027, 6, 1));
        expect(instantOf("2027-07-01T00:00")).toBe(Date.UTC(2027, 6, 1));
        expect(instantOf("2027-07-01")).toBe(Date.UTC(2027, 6, 1));
        expect(instantOf("2027-07-01T02:00:00+02:00")).toBe(Date.UTC(2027, 6, 1));
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

describe("`most-recent` with a date missing: every nationality counts only when that makes it ambiguous", () => {
  it("an undated entry of a country among the latest dated ones leaves those latest", () => {
    const ir = { country: "IR", since: "1980-01-01" };
    const de = { country: "DE", since: "2010-01-01" };
    expect(relevantNationalities([ir, de], [{ country: "DE" }], false)).toEqual({
      relevant: ["DE"],
      ambiguous: false,
    });
    const p: Principal = { id: "p-x", citizenships: [ir, de], permanent_residencies: [{ country: "DE" }] };
    expect(outcome({ ...p, assurance: "attested" }, at("2026-12-06T00:00:00Z", "m5", "DE"))).toBe(
      "allow partner-country",
    );
  });

  it("an undated entry of another country makes it ambiguous: every nationality counts", () => {
    const r = relevantNationalities(
      [
        { country: "IR", since: "1980-01-01" },
        { country: "DE", since: "2010-01-01" },
      ],
      [{ country: "FR" }],
      false,
    );
    expect(r).toEqual({ relevant: ["IR", "DE", "FR"], ambiguous: true });
  });
});

it("an action named like an Object member covers nothing, even where the caller did not validate it", () => {
  const p: Principal = { id: "p-in", citizenships: [{ country: "IN", since: "2000-01-01" }] };
  const infer = decide(scheme, p, at("2026-12-06T00:00:00Z", "m5", "IN"));
  expect(`${infer.decision} ${infer.reason}`).toBe("allow license");
  for (const action of ["toString", "constructor", "__proto__"]) {
    const d = decide(scheme, p, { ...at("2026-12-06T00:00:00Z", "m5", "IN"), action: action as "infer" });
    expect(d.reason).not.toBe("license");
  }
});
