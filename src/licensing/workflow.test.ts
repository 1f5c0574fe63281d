/**
 * The workflow's conflict-of-interest rule as a pure function: every organization a license
 * benefits is checked, organization ids compare without regard to case or surrounding white space,
 * and an unknown beneficiary refuses an approval or a reinstatement (fail closed) but not a denial.
 */
import { describe, expect, it } from "vitest";
import type { LicenseRecord, LicenseTerms } from "./types.js";
import { apply, approve, deny, reinstate, sameOrganization, transition } from "./workflow.js";

const NOW = "2026-07-01T00:00:00Z";
const TERMS: LicenseTerms = {
  models: ["mythos-5"],
  actions: ["infer"],
  destinations: ["GB"],
  valid_from: "2026-07-01",
  valid_until: "2027-07-01",
  quota_period: "total",
};
const application = (licensee: LicenseRecord["licensee"]): LicenseRecord =>
  apply({ id: "LIC-1", licensee, terms: TERMS, justification: "test" }, "officer", NOW);
const resolve = () => new Set<string>();
const approveAs = (r: LicenseRecord, organization: string | null, beneficiaries: readonly string[] | null) =>
  approve(r, { id: "approver", organization }, NOW, undefined, resolve, beneficiaries);

describe("conflict of interest", () => {
  it("refuses a member of any organization the license benefits, whatever the case or white space", () => {
    const r = application({ principal: "fed:aisi-login:pat" });
    for (const org of ["uk-aisi", "UK-AISI", " uk-aisi ", "Uk-Aisi"])
      expect(() => approveAs(r, org, ["g7-fvey", "uk-aisi"]), org).toThrow(
        expect.objectContaining({ code: "conflict-of-interest", kind: "forbidden" }),
      );
    expect(approveAs(r, "inria", ["g7-fvey", "uk-aisi"]).approvals).toHaveLength(1);
    expect(approveAs(r, null, ["uk-aisi"]).approvals).toHaveLength(1);
    expect(sameOrganization("bw-cyber", "bw-cyber2")).toBe(false);
  });

  it("a known licensee of no organization can be approved; an unknown one cannot (fail closed)", () => {
    const r = application({ principal: "ghost" });
    expect(approveAs(r, "uk-aisi", []).approvals).toHaveLength(1);
    expect(() => approveAs(r, null, null)).toThrow(
      expect.objectContaining({
        code: "beneficiary-unknown",
        kind: "conflict",
        message: expect.stringContaining("principal ghost"),
      }),
    );
    // A denial grants nothing: an unknown beneficiary does not stop it.
    expect(deny(r, { id: "approver", organization: null }, NOW, "unknown", null).status).toBe("denied");
  });
});

describe("denial", () => {
  it("refuses a denier revoked before the application is decided: a denial is decided by one", () => {
    const r = application({ organization: "uk-aisi" });
    const denier = { id: "approver", organization: null };
    expect(() => deny(r, denier, NOW, "no", [], true)).toThrow(
      expect.objectContaining({ code: "revoked-decider", kind: "forbidden" }),
    );
    expect(deny(r, denier, NOW, "no", [], false).status).toBe("denied");
  });
});

describe("reinstatement", () => {
  const suspended = (licensee: LicenseRecord["licensee"]): LicenseRecord =>
    transition({ ...application(licensee), status: "approved" }, "suspend", "officer", NOW, "check");
  const reinstateAs = (
    r: LicenseRecord,
    organization: string | null,
    beneficiaries: readonly string[] | null,
  ) => reinstate(r, { id: "approver", organization }, NOW, "check passed", beneficiaries);

  it("is refused to a member of an organization the license benefits, and when none can be told", () => {
    const r = suspended({ organization: "bw-cyber" });
    expect(() => reinstateAs(r, " BW-Cyber", ["bw-cyber"])).toThrow(
      expect.objectContaining({ code: "conflict-of-interest", kind: "forbidden" }),
    );
    expect(() => reinstateAs(r, null, null)).toThrow(
      expect.objectContaining({ code: "beneficiary-unknown", kind: "conflict" }),
    );
    const back = reinstateAs(r, "inria", ["bw-cyber"]);
    expect(back.status).toBe("approved");
    expect(back.history.at(-1)).toEqual({
      at: NOW,
      actor: "approver",
      action: "reinstate",
      reason: "check passed",
    });
  });

  it("needs a suspended license whose validity has not ended, a reason and a live reinstater", () => {
    const r = suspended({ organization: "bw-cyber" });
    const ended = { ...r, terms: { ...r.terms, valid_until: NOW } };
    for (const x of [ended, { ...r, status: "revoked" as const }, { ...r, status: "approved" as const }])
      expect(() => reinstateAs(x, null, [])).toThrow(
        expect.objectContaining({ code: "invalid-transition", kind: "conflict" }),
      );
    expect(() => reinstate(r, { id: "approver", organization: null }, NOW, " ", [])).toThrow(
      expect.objectContaining({ code: "reason-required" }),
    );
    // Decided by one, as a denial is: a revoked reinstater is refused.
    expect(() => reinstate(r, { id: "approver", organization: null }, NOW, "ok", [], true)).toThrow(
      expect.objectContaining({ code: "revoked-decider", kind: "forbidden" }),
    );
  });
});

describe("countries fixed by an approval", () => {
  // An application stored before countries were resolved when it was made, approved once then:
  // its first approver approved the set name "trusted", never a list of countries.
  const legacy: LicenseRecord = {
    ...apply(
      {
        id: "LIC-OLD",
        licensee: { organization: "bw-cyber" },
        terms: { ...TERMS, destinations: ["trusted"] },
        justification: "test",
      },
      "officer",
      NOW,
    ),
    approvals: [{ identity: "first", at: NOW }],
  };
  const widened = () => new Set(["GB", "RU"]);
  const as = (id: string) => ({ id, organization: null });

  it("the approval that fixes them is the first of two: one approved before does not count", () => {
    const second = approve(legacy, as("second"), NOW, undefined, widened, []);
    expect(second.terms.resolved?.destinations).toEqual(["GB", "RU"]);
    expect(second.status).toBe("pending");
    expect(second.approvals.map((a) => [a.identity, a.fixed_countries])).toEqual([
      ["first", undefined],
      ["second", true],
    ]);
    // The earlier approver may now approve the countries themselves; that makes two.
    const again = approve(second, as("first"), NOW, undefined, widened, []);
    expect(again.status).toBe("approved");
    expect(() => approve(second, as("second"), NOW, undefined, widened, [])).toThrow(
      expect.objectContaining({ code: "duplicate-approval" }),
    );
  });

  it("an application whose countries were fixed when it was made counts every approval", () => {
    const fixed = apply(
      { id: "LIC-2", licensee: { organization: "bw-cyber" }, terms: TERMS, justification: "t" },
      "officer",
      NOW,
    );
    const pinned = { ...fixed, terms: { ...fixed.terms, resolved: { destinations: ["GB"] } } };
    const one = approve(pinned, as("first"), NOW, undefined, widened, []);
    expect(one.approvals[0]?.fixed_countries).toBeUndefined();
    expect(approve(one, as("second"), NOW, undefined, widened, []).status).toBe("approved");
    // Fixed by its first approval: the next one completes the two.
    const first = approve({ ...legacy, approvals: [] }, as("first"), NOW, undefined, widened, []);
    expect(first.approvals[0]?.fixed_countries).toBeUndefined();
    expect(approve(first, as("second"), NOW, undefined, widened, []).status).toBe("approved");
  });
});
