/** The policy footprint of the G7 example against a table written by hand. */
import { describe, expect, it } from "vitest";
import { allCountryCodes } from "../countries/index.js";
import { loadSchemeFile } from "../scheme/index.js";
import { policyFootprint, type PolicyRow } from "./policy.js";

const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const footprint = policyFootprint(scheme, Date.parse("2026-11-21T12:00:00Z"));
const row = (country: string, model: string, action: string): PolicyRow => {
  const r = footprint.rows.find((x) => x.country === country && x.model === model && x.action === action);
  if (r === undefined) throw new Error(`no row ${country} ${model} ${action}`);
  return r;
};
const brief = (r: PolicyRow) => ({
  access: r.access,
  home: r.home_persons,
  nationals: r.partner_nationals.map((n) => n.split(" ")[0]),
  organizations: r.partner_organizations,
  licensees: r.licensees,
  fallback: r.fallback_model,
  fallback_access: r.fallback_access,
});

// country, model, action → who is served, written from the scheme file by hand.
const TABLE: [string, string, string, ReturnType<typeof brief>][] = [
  // At home, G7 / Five Eyes nationals are served too (location "in the partner's set or at home").
  [
    "US",
    "mythos-5",
    "infer",
    {
      access: "partner-nationals",
      home: true,
      nationals: ["g7-fvey"],
      organizations: [],
      licensees: [],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  // Germany: partner nationals, and the Bundeswehr's license (destination DE).
  [
    "DE",
    "mythos-5",
    "infer",
    {
      access: "partner-nationals",
      home: true,
      nationals: ["g7-fvey"],
      organizations: [],
      licensees: ["organization bw-cyber (BIS-2026-0001)"],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  // Fine-tuning is only in the UK AISI's grant, in GB.
  [
    "GB",
    "mythos-5",
    "fine_tune",
    {
      access: "partner-organizations",
      home: true,
      nationals: [],
      organizations: ["uk-aisi"],
      licensees: [],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  [
    "GB",
    "fable-5",
    "evaluate",
    {
      access: "partner-nationals",
      home: true,
      nationals: ["g7-fvey"],
      organizations: ["uk-aisi"],
      licensees: [],
      fallback: "fable-4",
      fallback_access: "everyone",
    },
  ],
  // India: nobody but home persons; everyone else gets mythos-4.
  [
    "IN",
    "mythos-5",
    "infer",
    {
      access: "home-persons",
      home: true,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  // Embargoed: nobody, not even the open model, and no fallback.
  [
    "IR",
    "mythos-4",
    "infer",
    {
      access: "embargoed",
      home: false,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: null,
      fallback_access: null,
    },
  ],
  [
    "CU",
    "mythos-5",
    "infer",
    {
      access: "embargoed",
      home: false,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: null,
      fallback_access: null,
    },
  ],
  // The EU deployment: EU nationals inside the EU; not offered in the US, where mythos-4 serves.
  [
    "FR",
    "eu-mythos-5",
    "infer",
    {
      access: "partner-nationals",
      home: true,
      nationals: ["eu-members"],
      organizations: [],
      licensees: [],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  [
    "US",
    "eu-mythos-5",
    "infer",
    {
      access: "not-offered",
      home: false,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: "mythos-4",
      fallback_access: "everyone",
    },
  ],
  // Weights: home persons inside the US only.
  [
    "US",
    "mythos-5-weights",
    "weights",
    {
      access: "home-persons",
      home: true,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: null,
      fallback_access: null,
    },
  ],
  [
    "FR",
    "mythos-5-weights",
    "weights",
    {
      access: "nobody",
      home: false,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: null,
      fallback_access: null,
    },
  ],
  [
    "JP",
    "mythos-4",
    "weights",
    {
      access: "everyone",
      home: true,
      nationals: [],
      organizations: [],
      licensees: [],
      fallback: null,
      fallback_access: null,
    },
  ],
];

describe("the policy footprint of the G7 example", () => {
  it.each(TABLE)("%s %s %s", (country, model, action, want) => {
    expect(brief(row(country, model, action))).toEqual(want);
  });

  it("covers every country × model × action, and names partner nationals without embargoed ones", () => {
    expect(footprint.rows.length).toBe(allCountryCodes().length * 6 * 4);
    const g7 = row("US", "mythos-5", "infer").partner_nationals[0]!;
    expect(g7).toMatch(/^g7-fvey \(attested\): /);
    expect(g7.split(": ")[1]!.split(" ")).toEqual(["AU", "CA", "DE", "FR", "GB", "IT", "JP", "NZ", "US"]);
  });

  it("judges licenses at the time given", () => {
    const before = policyFootprint(scheme, Date.parse("2026-06-30T00:00:00Z"));
    const de = before.rows.find((x) => x.country === "DE" && x.model === "mythos-5" && x.action === "infer");
    expect(de?.licensees).toEqual([]);
  });
});
