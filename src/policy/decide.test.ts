import { describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/index.js";
import { NOW, TEST_SCHEME_YAML, testScheme } from "../testing/schemes.js";
import { decide } from "./decide.js";
import type { CheckResult } from "./types.js";
import { describeFinding } from "./words.js";

/** A check's finding in words, as people read it. */
const words = (c: CheckResult | undefined) => (c === undefined ? "" : describeFinding(c.finding));
import type { DecisionRequest, Principal, Reason } from "./types.js";
import { REASONS } from "./types.js";

const scheme = testScheme();
const req = (
  model: string,
  location: string | null,
  extra: Partial<DecisionRequest> = {},
): DecisionRequest => ({
  model,
  action: "infer",
  location,
  time: NOW,
  ...extra,
});
const citizen = (country: string, since?: string) => ({ country, since: since ?? null });

const US: Principal = { id: "p-us", citizenships: [citizen("US")], residence: "US", assurance: "self" };
const FR: Principal = { id: "p-fr", citizenships: [citizen("FR")], residence: "FR", assurance: "attested" };
const IN: Principal = { id: "p-in-x", citizenships: [citizen("IN")], residence: "IN", assurance: "verified" };
const UK_AISI: Principal = {
  id: "p-aisi",
  citizenships: [citizen("GB")],
  residence: "GB",
  organization: "uk-aisi",
  assurance: "verified",
};
const BW: Principal = {
  id: "p-bw",
  citizenships: [citizen("DE")],
  residence: "DE",
  organization: { id: "bw-cyber", country: "DE" },
  assurance: "verified",
};

interface Row {
  name: string;
  principal: Principal;
  request: DecisionRequest;
  decision: "allow" | "deny" | "fallback";
  reason: Reason;
  served?: string | null;
}

const rows: Row[] = [
  {
    name: "confirmed match denies even open models",
    principal: { ...US, screening: "confirmed" },
    request: req("m4", "US"),
    decision: "deny",
    reason: "denied-party",
  },
  {
    name: "confirmed match of the organization",
    principal: { ...BW, organization: { id: "bw-cyber", country: "DE", screening: "confirmed" } },
    request: req("m4", "DE"),
    decision: "deny",
    reason: "denied-party",
  },
  {
    name: "potential match withholds controlled models, falls back to open",
    principal: { ...FR, screening: "potential" },
    request: req("m5", "FR"),
    decision: "fallback",
    reason: "screening-review",
    served: "m4",
  },
  {
    name: "potential match withholds home-only models",
    principal: { ...US, screening: "potential" },
    request: req("w5", "US"),
    decision: "deny",
    reason: "screening-review",
  },
  {
    name: "potential match does not withhold open models",
    principal: { ...FR, screening: "potential" },
    request: req("m4", "FR"),
    decision: "allow",
    reason: "open-model",
  },
  {
    name: "embargoed location",
    principal: US,
    request: req("m4", "IR"),
    decision: "deny",
    reason: "embargoed-location",
  },
  {
    name: "embargoed residence",
    principal: { ...FR, residence: "CU" },
    request: req("m4", "FR"),
    decision: "deny",
    reason: "embargoed-residence",
  },
  {
    name: "embargoed organization country",
    principal: { ...FR, organization: { id: "acme-kp", country: "KP" } },
    request: req("m4", "FR"),
    decision: "deny",
    reason: "embargoed-organization",
  },
  {
    name: "embargoed nationality of a foreign person",
    principal: { id: "p-sy", citizenships: [citizen("SY")], residence: "DE" },
    request: req("m4", "DE"),
    decision: "deny",
    reason: "embargoed-nationality",
  },
  {
    name: "embargoed nationality does not apply to a home person",
    principal: {
      id: "p-us-ir",
      citizenships: [citizen("IR", "1980-01-01"), citizen("US", "2010-01-01")],
      residence: "US",
    },
    request: req("m5", "US"),
    decision: "allow",
    reason: "home-person",
  },
  {
    name: "unknown model",
    principal: US,
    request: req("nope", "US"),
    decision: "deny",
    reason: "unknown-model",
  },
  {
    name: "model not offered at the location falls back",
    principal: FR,
    request: req("eu5", "US"),
    decision: "fallback",
    reason: "not-available-here",
    served: "m4",
  },
  {
    name: "unknown location never satisfies available_in",
    principal: US,
    request: req("local", null),
    decision: "deny",
    reason: "not-available-here",
  },
  { name: "open model", principal: IN, request: req("m4", "IN"), decision: "allow", reason: "open-model" },
  { name: "home person", principal: US, request: req("m5", "DE"), decision: "allow", reason: "home-person" },
  {
    name: "permanent resident is a home person",
    principal: {
      id: "p-lpr",
      citizenships: [citizen("IN")],
      permanent_residencies: [citizen("US", "2020-01-01")],
    },
    request: req("m5", "US"),
    decision: "allow",
    reason: "home-person",
  },
  {
    name: "home-only model inside home",
    principal: US,
    request: req("w5", "US"),
    decision: "allow",
    reason: "home-person",
  },
  {
    name: "home-only model abroad",
    principal: US,
    request: req("w5", "FR"),
    decision: "deny",
    reason: "home-only-outside-home",
  },
  {
    name: "home-only model with unknown location",
    principal: US,
    request: req("w5", null),
    decision: "deny",
    reason: "home-only-outside-home",
  },
  {
    name: "foreign persons never get home-only models",
    principal: FR,
    request: req("w5", "US"),
    decision: "deny",
    reason: "no-authorization",
  },
  {
    name: "country partner",
    principal: FR,
    request: req("m5", "FR"),
    decision: "allow",
    reason: "partner-country",
  },
  {
    name: "country partner used from the home country",
    principal: FR,
    request: req("m5", "US"),
    decision: "allow",
    reason: "partner-country",
  },
  {
    name: "country partner, location outside partner and home falls back",
    principal: FR,
    request: req("m5", "BR"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "country partner needs the partner's assurance",
    principal: { ...FR, assurance: "verified" },
    request: req("m5", "FR"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "suspended country partner does not cover",
    principal: { id: "p-no", citizenships: [citizen("NO")], assurance: "attested" },
    request: req("m5", "NO"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "country partner, unknown location",
    principal: FR,
    request: req("m5", null),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "organization partner",
    principal: UK_AISI,
    request: req("m5", "GB", { action: "fine_tune" }),
    decision: "allow",
    reason: "partner-organization",
  },
  {
    name: "organization partner outside its locations",
    principal: UK_AISI,
    request: req("m5", "FR", { action: "fine_tune" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "organization partner with a restricted nationality",
    principal: { ...UK_AISI, citizenships: [citizen("CN")] },
    request: req("m5", "GB", { action: "evaluate" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "suspended organization partner",
    principal: { id: "p-jp", citizenships: [citizen("JP")], organization: "old-lab", assurance: "verified" },
    request: req("m5", "JP", { action: "fine_tune" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "organization license",
    principal: BW,
    request: req("m5", "DE", { purpose: "cyber-defense" }),
    decision: "allow",
    reason: "license",
  },
  {
    name: "license purpose must match",
    principal: BW,
    request: req("m5", "DE", { purpose: "marketing" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "license destination must match",
    principal: BW,
    request: req("m5", "FR", { purpose: "cyber-defense" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "license nationalities must match",
    principal: { ...BW, citizenships: [citizen("PL")] },
    request: req("m5", "DE", { purpose: "cyber-defense" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "exhausted license",
    principal: BW,
    request: req("m5", "DE", { purpose: "cyber-defense", usage: { "L-ORG": { tokens: 1000 } } }),
    decision: "fallback",
    reason: "license-quota-exhausted",
    served: "m4",
  },
  {
    name: "license with quota left",
    principal: BW,
    request: req("m5", "DE", { purpose: "cyber-defense", usage: { "L-ORG": { tokens: 999 } } }),
    decision: "allow",
    reason: "license",
  },
  {
    name: "principal license",
    principal: { ...IN, id: "p-in" },
    request: req("m5", "IN"),
    decision: "allow",
    reason: "license",
  },
  {
    name: "expired license",
    principal: { ...IN, id: "p-expired" },
    request: req("m5", "IN"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "not-yet-valid license",
    principal: { ...IN, id: "p-future" },
    request: req("m5", "IN"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "revoked license",
    principal: { ...IN, id: "p-revoked" },
    request: req("m5", "IN"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "pending license",
    principal: { ...IN, id: "p-pending" },
    request: req("m5", "IN"),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "license is valid up to, not at, valid_until",
    principal: BW,
    request: req("m5", "DE", { purpose: "cyber-defense", time: "2027-07-01T00:00:00Z" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "license is valid from valid_from",
    principal: BW,
    request: req("m5", "DE", { purpose: "cyber-defense", time: "2026-07-01T00:00:00Z" }),
    decision: "allow",
    reason: "license",
  },
  {
    name: "no authorization, no fallback",
    principal: IN,
    request: req("m5", "IN", { action: "fine_tune" }),
    decision: "fallback",
    reason: "no-authorization",
    served: "m4",
  },
  {
    name: "fallback chain: c5 → c4 (partner) for a G7 national",
    principal: FR,
    request: req("c5", "FR"),
    decision: "fallback",
    reason: "no-authorization",
    served: "c4",
  },
  {
    name: "fallback chain: c5 → c4 → c3 (open) for anyone else",
    principal: IN,
    request: req("c5", "IN"),
    decision: "fallback",
    reason: "no-authorization",
    served: "c3",
  },
  {
    name: "embargo never falls back",
    principal: FR,
    request: req("m5", "KP"),
    decision: "deny",
    reason: "embargoed-location",
  },
  {
    name: "denied party never falls back",
    principal: { ...FR, screening: "confirmed" },
    request: req("m5", "FR"),
    decision: "deny",
    reason: "denied-party",
  },
];

describe("decide: one row per situation", () => {
  it.each(rows)("$name", (row) => {
    const d = decide(scheme, row.principal, row.request);
    expect({ decision: d.decision, reason: d.reason }).toEqual({
      decision: row.decision,
      reason: row.reason,
    });
    if (row.served !== undefined) expect(d.served_model).toBe(row.served);
    else if (d.decision === "allow") expect(d.served_model).toBe(row.request.model);
    else expect(d.served_model).toBeNull();
    expect(d.scheme).toEqual({ name: "test-scheme", digest: scheme.digest });
    const last = d.checks.at(-1);
    expect(last?.reason).toBe(d.reason);
  });

  it("covers every reason code", () => {
    const seen = new Set(rows.map((r) => r.reason));
    expect(REASONS.filter((r) => !seen.has(r))).toEqual([]);
  });
});

describe("decide: dual nationals under both nationality rules", () => {
  const all = parseScheme(TEST_SCHEME_YAML.replace("nationality_rule: most-recent", "nationality_rule: all"));
  const cnToCa: Principal = {
    id: "p-cnca",
    citizenships: [citizen("CN", "1985-03-01"), citizen("CA", "2015-06-01")],
    residence: "CA",
    assurance: "attested",
  };
  const frIr: Principal = {
    id: "p-frir",
    citizenships: [citizen("IR", "1990-01-01"), citizen("FR", "2012-01-01")],
    residence: "FR",
    assurance: "attested",
  };

  it("most-recent: a CN→CA naturalised citizen is a Canadian national, covered by the country partner", () => {
    const d = decide(scheme, cnToCa, req("m5", "CA"));
    expect([d.decision, d.reason]).toEqual(["allow", "partner-country"]);
  });
  it("all: the same person also counts as CN, so the partner does not cover (every nationality must hold)", () => {
    const d = decide(all, cnToCa, req("m5", "CA"));
    expect([d.decision, d.reason, d.served_model]).toEqual(["fallback", "no-authorization", "m4"]);
    expect(words(d.checks.find((c) => c.check === "partner-country"))).toContain("CN");
  });
  it("all: a restriction applies if it holds for any nationality (CN is restricted at an organization partner)", () => {
    const d = decide(
      all,
      { ...cnToCa, organization: "uk-aisi", assurance: "verified" },
      req("m5", "GB", { action: "evaluate" }),
    );
    expect(d.reason).toBe("no-authorization");
    expect(words(d.checks.find((c) => c.check === "partner-organization"))).toContain("CN is restricted");
  });
  it("most-recent: FR citizenship acquired after IR makes FR the relevant nationality", () => {
    expect(decide(scheme, frIr, req("m5", "FR")).reason).toBe("partner-country");
  });
  it("all: a citizen of FR and IR is denied everything for the embargoed nationality", () => {
    const d = decide(all, frIr, req("m4", "FR"));
    expect([d.decision, d.reason]).toEqual(["deny", "embargoed-nationality"]);
    expect(d.fallbacks).toBeUndefined();
  });
  it("most-recent: IR acquired last is embargoed", () => {
    const irLast = { ...frIr, citizenships: [citizen("FR", "1990-01-01"), citizen("IR", "2020-01-01")] };
    expect(decide(scheme, irLast, req("m4", "FR")).reason).toBe("embargoed-nationality");
  });
  it("most-recent with dates missing falls back to all nationalities, and says so", () => {
    const undated = { ...frIr, citizenships: [citizen("FR"), citizen("IR", "1990-01-01")] };
    const d = decide(scheme, undated, req("m4", "FR"));
    expect(d.reason).toBe("embargoed-nationality");
    expect(words(d.checks.at(-1))).toMatch(/dates missing/);
  });
  it("most-recent: a missing date is not ambiguous when every entry is the same country", () => {
    const p = { ...FR, citizenships: [citizen("FR")], permanent_residencies: [citizen("FR", "2001-01-01")] };
    const d = decide(scheme, p, req("m5", "FR"));
    expect(d.reason).toBe("partner-country");
  });
  it("a permanent residency acquired last is the relevant nationality under most-recent", () => {
    const p: Principal = {
      id: "p",
      citizenships: [citizen("IN", "1990-01-01")],
      permanent_residencies: [citizen("GB", "2021-01-01")],
      assurance: "attested",
    };
    expect(decide(scheme, p, req("m5", "GB")).reason).toBe("partner-country");
  });
});

describe("decide: explanation", () => {
  it("a fallback names why the requested model was denied and why the fallback is allowed", () => {
    const d = decide(scheme, IN, req("m5", "IN"));
    expect(d.decision).toBe("fallback");
    expect(d.reason).toBe("no-authorization");
    expect(d.fallbacks).toEqual([
      expect.objectContaining({ model: "m4", outcome: "allow", reason: "open-model" }),
    ]);
    expect(d.checks.map((c) => c.check)).toEqual([
      "screening",
      "embargo",
      "model",
      "open-model",
      "home-person",
      "partner-country",
      "partner-organization",
      "license",
      "default",
    ]);
  });
  it("an allow names the grant it rests on", () => {
    expect(decide(scheme, FR, req("m5", "FR")).grant).toEqual({
      kind: "partner-country",
      partner: "g7",
      index: 0,
    });
    expect(decide(scheme, UK_AISI, req("m5", "GB", { action: "evaluate" })).grant).toEqual({
      kind: "partner-organization",
      partner: "uk-aisi",
      index: 0,
    });
    expect(decide(scheme, BW, req("m5", "DE", { purpose: "cyber-defense" })).grant).toEqual({
      kind: "license",
      license: "L-ORG",
    });
  });
  it("a stateless foreign person satisfies no nationality condition", () => {
    const d = decide(scheme, { id: "p-none", assurance: "attested" }, req("m5", "FR"));
    expect(d.reason).toBe("no-authorization");
    expect(words(d.checks.find((c) => c.check === "partner-country"))).toContain("no nationality on record");
  });
  it("accepts time as epoch milliseconds", () => {
    const d = decide(scheme, BW, req("m5", "DE", { purpose: "cyber-defense", time: Date.parse(NOW) }));
    expect(d.reason).toBe("license");
  });
});
