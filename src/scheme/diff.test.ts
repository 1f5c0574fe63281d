import { describe, expect, it } from "vitest";
import { diffSchemes, formatDiff, type SchemeChange, type SchemeDiff } from "./diff.js";
import { parseScheme } from "./load.js";

const BASE = `version: 1
name: base
description: test scheme
home: [US]
embargoed: [hostile]
restricted_nationalities: [CN]
sets:
  trusted: [GB, CA, NZ]
  hostile: [KP, IR]
models:
  mythos-5: { control: controlled, fallback: mythos-4 }
  mythos-4: { control: open }
  fable-5: { control: controlled }
partners:
  countries:
    - id: g7-fvey
      name: Allies
      countries: [trusted]
      assurance: attested
      grants:
        - { models: [mythos-5], actions: [infer, evaluate] }
        - { models: [fable-5], actions: [evaluate] }
  organizations:
    - id: uk-aisi
      name: UK AISI
      country: GB
      assurance: verified
      grants:
        - { models: [mythos-5], actions: [infer] }
licenses:
  - id: BIS-2026-0001
    licensee: { organization: bw-cyber }
    models: [mythos-5]
    actions: [infer]
    destinations: [DE]
    purposes: [cyber-defense]
    nationalities: [DE]
    valid_from: 2026-07-01
    valid_until: 2027-07-01
    quota_tokens: 50000000
    status: approved
`;

/** BASE with each [old, new] replacement applied; fails loudly if a replacement does not apply. */
function vary(...edits: [string, string][]): string {
  return edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`test setup: "${from}" not found`);
    return text.replace(from, to);
  }, BASE);
}

const diff = (from: string, to: string): SchemeDiff => diffSchemes(parseScheme(from), parseScheme(to));
const summaries = (d: SchemeDiff): string[] => d.changes.map((c) => c.summary);

describe("diffSchemes", () => {
  it("finds nothing between a scheme and itself", () => {
    const d = diff(BASE, BASE);
    expect(d.identical).toBe(true);
    expect(d.changes).toEqual([]);
    expect(d.from).toEqual(d.to);
    expect(d.from.name).toBe("base");
  });

  it("ignores comments, layout and key order", () => {
    const rewritten = `# reviewed 2026-07-01
name: base
version: 1
description: "test scheme"
home:
  - US   # home persons
sets:
  hostile: [KP, IR]
  trusted: [GB, CA, NZ]
embargoed: [hostile]
restricted_nationalities: [CN]
models:
  fable-5: { control: controlled }
  mythos-4: { control: open }
  mythos-5: { fallback: mythos-4, control: controlled }
partners:
  organizations:
    - { id: uk-aisi, country: GB, name: UK AISI, assurance: verified, grants: [{ actions: [infer], models: [mythos-5] }] }
  countries:
    - id: g7-fvey
      assurance: attested
      countries: [trusted]
      name: Allies
      grants:
        - { actions: [infer, evaluate], models: [mythos-5] }
        - { models: [fable-5], actions: [evaluate] }
licenses:
  - id: BIS-2026-0001
    status: approved
    licensee: { organization: bw-cyber }
    models: [mythos-5]
    actions: [infer]
    destinations: [DE]
    purposes: [cyber-defense]
    nationalities: [DE]
    valid_from: 2026-07-01
    valid_until: 2027-07-01
    quota_tokens: 50000000
`;
    const d = diff(BASE, rewritten);
    expect(d.from.digest).toBe(d.to.digest);
    expect(d.identical).toBe(true);
    expect(formatDiff(d)).toContain("No changes");
  });

  it("treats reordered or regrouped grants, rewritten set expressions and equal instants as no change", () => {
    const text = vary(
      [
        "        - { models: [mythos-5], actions: [infer, evaluate] }\n        - { models: [fable-5], actions: [evaluate] }",
        "        - { models: [fable-5, mythos-5], actions: [evaluate] }\n        - { models: [mythos-5], actions: [infer, evaluate] }",
      ],
      ["countries: [trusted]", "countries: { include: [NZ, GB, CA, FR], exclude: [FR] }"],
      ["valid_from: 2026-07-01", "valid_from: 2026-07-01T02:00:00+02:00"],
    );
    const d = diff(BASE, text);
    expect(d.from.digest).not.toBe(d.to.digest);
    expect(d.changes).toEqual([]);
    expect(d.identical).toBe(true);
    expect(formatDiff(d)).toContain("No effective changes");
  });

  const cases: [string, [string, string][], string[]][] = [
    ["scheme name", [["name: base", "name: next"]], ["scheme: name changes from base to next"]],
    [
      "scheme description",
      [["description: test scheme", "description: v2"]],
      ['scheme: description changes from "test scheme" to "v2"'],
    ],
    ["home", [["home: [US]", "home: [US, CA]"]], ["home adds CA (Canada)"]],
    [
      "embargo",
      [["embargoed: [hostile]", "embargoed: [hostile, RU]"]],
      ["embargo adds RU (Russian Federation)"],
    ],
    [
      "restricted nationalities",
      [["restricted_nationalities: [CN]", "restricted_nationalities: []"]],
      ["restricted nationalities removes CN (People's Republic of China)"],
    ],
    [
      "nationality rule",
      [["home: [US]\n", "home: [US]\nnationality_rule: all\n"]],
      ["nationality rule changes from most-recent to all"],
    ],
    [
      "set added",
      [["sets:\n", "sets:\n  nordics: [NO, IS]\n"]],
      ["set nordics added: IS (Iceland), NO (Norway)"],
    ],
    [
      "set changed both ways",
      [["trusted: [GB, CA, NZ]", "trusted: [GB, CA, AU]"]],
      [
        "set trusted adds AU (Australia), removes NZ (New Zealand)",
        "country partner g7-fvey: countries add AU (Australia), remove NZ (New Zealand)",
      ],
    ],
    [
      "model control",
      [["mythos-4: { control: open }", "mythos-4: { control: controlled }"]],
      ["model mythos-4: control changes from open to controlled"],
    ],
    [
      "model fallback",
      [["fallback: mythos-4 }", "fallback: fable-5 }"]],
      ["model mythos-5: fallback changes from mythos-4 to fable-5"],
    ],
    [
      "model availability",
      [["fable-5: { control: controlled }", "fable-5: { control: controlled, available_in: [US, CA] }"]],
      ["model fable-5: available_in changes from everywhere to CA (Canada), US (United States of America)"],
    ],
    [
      "model added",
      [
        [
          "  fable-5: { control: controlled }\n",
          "  fable-5: { control: controlled }\n  fable-6: { control: home-only, fallback: fable-5 }\n",
        ],
      ],
      ["model fable-6 added: home-only; fallback fable-5; available everywhere"],
    ],
    [
      "country partner status and assurance",
      [["      assurance: attested", "      status: suspended\n      assurance: verified"]],
      [
        "country partner g7-fvey: status changes from active to suspended",
        "country partner g7-fvey: assurance changes from attested to verified",
      ],
    ],
    [
      "country partner name",
      [["name: Allies", "name: G7 and Five Eyes"]],
      ['country partner g7-fvey: name changes from "Allies" to "G7 and Five Eyes"'],
    ],
    [
      "organization partner locations",
      [["      country: GB\n", "      country: GB\n      locations: [GB, IE]\n"]],
      ["organization partner uk-aisi: locations add IE (Ireland)"],
    ],
    [
      "organization partner removed",
      [
        [
          "  organizations:\n    - id: uk-aisi\n      name: UK AISI\n      country: GB\n      assurance: verified\n      grants:\n        - { models: [mythos-5], actions: [infer] }\n",
          "",
        ],
      ],
      [
        "organization partner uk-aisi removed (was UK AISI; country GB (United Kingdom); active; assurance verified; locations GB (United Kingdom); grants infer on mythos-5)",
      ],
    ],
    [
      "grants as effective pairs",
      [
        [
          "- { models: [mythos-5], actions: [infer, evaluate] }",
          "- { models: [mythos-5, fable-5], actions: [infer, fine_tune] }",
        ],
      ],
      [
        "country partner g7-fvey gains infer and fine_tune on fable-5, fine_tune on mythos-5; loses evaluate on mythos-5",
      ],
    ],
    [
      "organization partner grants gained",
      [["actions: [infer] }\nlicenses", "actions: [infer, evaluate] }\nlicenses"]],
      ["organization partner uk-aisi gains evaluate on mythos-5"],
    ],
    [
      "license period, quota and status",
      [
        ["valid_until: 2027-07-01", "valid_until: 2027-01-01"],
        ["quota_tokens: 50000000", "quota_tokens: 10000000"],
        ["status: approved", "status: suspended"],
      ],
      [
        "license BIS-2026-0001: status changes from approved to suspended",
        "license BIS-2026-0001: valid_until changes from 2027-07-01 to 2027-01-01",
        "license BIS-2026-0001: quota_tokens changes from 50,000,000 tokens to 10,000,000 tokens",
      ],
    ],
    [
      "license scope",
      [
        ["models: [mythos-5]\n    actions: [infer]", "models: [mythos-5, fable-5]\n    actions: [evaluate]"],
        ["destinations: [DE]", "destinations: [DE, FR]"],
        ["    nationalities: [DE]\n", ""],
        ["purposes: [cyber-defense]", "purposes: [cyber-defense, research]"],
        ["licensee: { organization: bw-cyber }", "licensee: { principal: alice }"],
      ],
      [
        "license BIS-2026-0001: licensee changes from organization bw-cyber to principal alice",
        "license BIS-2026-0001: models add fable-5",
        "license BIS-2026-0001: actions add evaluate, remove infer",
        "license BIS-2026-0001: destinations add FR (France)",
        "license BIS-2026-0001: nationalities changes from DE (Germany) to any",
        "license BIS-2026-0001: purposes add research",
      ],
    ],
    [
      "license added",
      [
        [
          "licenses:\n",
          "licenses:\n  - { id: L2, licensee: { principal: bob }, models: [fable-5], actions: [infer], destinations: [FR], valid_from: 2026-01-01, valid_until: 2026-12-31, status: pending }\n",
        ],
      ],
      [
        "license L2 added: pending; licensee principal bob; infer on fable-5; destinations FR (France); valid 2026-01-01 to 2026-12-31; quota unlimited",
      ],
    ],
  ];

  it("reports a license's quota period: a total quota turned monthly is not 'no effective change'", () => {
    // A total quota turned monthly hands the licensee the same amount again every month.
    const monthly = diff(
      BASE,
      vary(["quota_tokens: 50000000", "quota_tokens: 50000000\n    quota_period: month"]),
    );
    expect(summaries(monthly)).toEqual([
      "license BIS-2026-0001: quota_period changes from total (for the whole license) to month (per calendar month)",
    ]);
    expect(monthly.identical).toBe(false);
    expect(monthly.changes[0]?.details).toEqual({ field: "quota_period", from: "total", to: "month" });
    // Without a quota the period limits nothing: no effective change.
    const unlimited = vary(["    quota_tokens: 50000000\n", ""]);
    expect(
      diff(unlimited, unlimited.replace("status: approved", "quota_period: month\n    status: approved"))
        .identical,
    ).toBe(true);
    // An added license says its quota's period.
    const added = diff(
      BASE,
      vary([
        "licenses:\n",
        "licenses:\n  - { id: L2, licensee: { principal: bob }, models: [fable-5], actions: [infer], destinations: [FR], valid_from: 2026-01-01, valid_until: 2026-12-31, quota_tokens: 1000, quota_period: quarter, status: pending }\n",
      ]),
    );
    expect(summaries(added)[0]).toContain("quota 1,000 tokens per quarter");
  });

  it("reports an organization partner's rate limit, which the gateway enforces", () => {
    const limited = vary([
      "      country: GB\n",
      "      country: GB\n      rate_limit: { requests_per_minute: 60 }\n",
    ]);
    const lifted = diff(limited, BASE);
    expect(summaries(lifted)).toEqual([
      "organization partner uk-aisi: rate_limit.requests_per_minute changes from 60 to unlimited",
    ]);
    expect(lifted.changes[0]?.details).toEqual({
      field: "rate_limit.requests_per_minute",
      from: 60,
      to: null,
    });
    expect(
      summaries(
        diff(
          limited,
          limited.replace("requests_per_minute: 60", "requests_per_minute: 60, tokens_per_minute: 5000"),
        ),
      ),
    ).toEqual(["organization partner uk-aisi: rate_limit.tokens_per_minute changes from unlimited to 5,000"]);
    // `rate_limit: {}` limits nothing, as no rate_limit does.
    expect(
      diff(BASE, vary(["      country: GB\n", "      country: GB\n      rate_limit: {}\n"])).identical,
    ).toBe(true);
    const removed = diff(
      limited,
      vary([
        "  organizations:\n    - id: uk-aisi\n      name: UK AISI\n      country: GB\n      assurance: verified\n      grants:\n        - { models: [mythos-5], actions: [infer] }\n",
        "",
      ]),
    );
    expect(summaries(removed).find((s) => s.startsWith("organization partner uk-aisi removed"))).toContain(
      "rate limit 60 requests a minute",
    );
  });

  it.each(cases)("reports a change: %s", (_, edits, expected) => {
    const d = diff(BASE, vary(...edits));
    expect(summaries(d)).toEqual(expected);
    expect(d.identical).toBe(false);
  });

  it("reports a set change and every effective change it ripples into", () => {
    const d = diff(BASE, vary(["hostile: [KP, IR]", "hostile: [KP, IR, RU]"]));
    expect(d.changes).toEqual([
      {
        kind: "added",
        area: "embargo",
        subject: "embargo",
        summary: "embargo adds RU (Russian Federation)",
        details: { added: ["RU"], removed: [] },
      },
      {
        kind: "added",
        area: "set",
        subject: "set hostile",
        summary: "set hostile adds RU (Russian Federation)",
        details: { added: ["RU"], removed: [] },
      },
    ]);
  });

  it("gives grant changes as machine-readable (model, action) pairs", () => {
    const d = diff(
      BASE,
      vary(["- { models: [fable-5], actions: [evaluate] }", "- { models: [fable-5], actions: [infer] }"]),
    );
    expect(d.changes).toEqual([
      {
        kind: "changed",
        area: "grant",
        subject: "country partner g7-fvey",
        summary: "country partner g7-fvey gains infer on fable-5; loses evaluate on fable-5",
        details: {
          added: [{ model: "fable-5", action: "infer" }],
          removed: [{ model: "fable-5", action: "evaluate" }],
        },
      },
    ]);
  });

  it("is symmetric: the reverse diff swaps added and removed, from and to", () => {
    const changed = vary(
      ["trusted: [GB, CA, NZ]", "trusted: [GB, CA, AU, JP]"],
      ["hostile: [KP, IR]", "hostile: [KP]"],
      ["mythos-4: { control: open }", "mythos-4: { control: open }\n  mythos-6: { control: controlled }"],
      [
        "- { models: [fable-5], actions: [evaluate] }",
        "- { models: [fable-5, mythos-6], actions: [evaluate, infer] }",
      ],
      ["    quota_tokens: 50000000\n", ""],
    );
    const forward = diff(BASE, changed);
    const backward = diff(changed, BASE);
    const flip = (c: SchemeChange): SchemeChange => {
      const d = c.details ?? {};
      const swapped: Record<string, unknown> = { ...d };
      if ("added" in d || "removed" in d) Object.assign(swapped, { added: d.removed, removed: d.added });
      if ("from" in d || "to" in d) Object.assign(swapped, { from: d.to, to: d.from });
      const kind = c.kind === "added" ? "removed" : c.kind === "removed" ? "added" : "changed";
      return { kind, area: c.area, subject: c.subject, details: swapped, summary: "" };
    };
    const strip = (c: SchemeChange) => ({ ...c, summary: "" });
    expect(forward.changes.length).toBeGreaterThan(5);
    expect(backward.changes.map(strip)).toEqual(forward.changes.map(flip));
    expect(summaries(backward)).toContain("embargo adds IR (Islamic Republic of Iran)");
    expect(summaries(forward)).toContain("embargo removes IR (Islamic Republic of Iran)");
  });

  it("orders changes by area, then subject", () => {
    const d = diff(
      BASE,
      vary(
        ["valid_until: 2027-07-01", "valid_until: 2028-07-01"],
        ["fable-5: { control: controlled }", "fable-5: { control: open }"],
        ["mythos-4: { control: open }", "mythos-4: { control: controlled }"],
        ["home: [US]", "home: [US, PR]"],
      ),
    );
    expect(d.changes.map((c) => c.subject)).toEqual([
      "home",
      "model fable-5",
      "model mythos-4",
      "license BIS-2026-0001",
    ]);
  });
});

describe("formatDiff", () => {
  it("prints a heading, a count and the changes grouped by area", () => {
    const to = vary(
      ["name: base", "name: base-v2"],
      ["trusted: [GB, CA, NZ]", "trusted: [GB, CA, AU]"],
      ["hostile: [KP, IR]", "hostile: [KP, IR, RU]"],
      ["mythos-4: { control: open }", "mythos-4: { control: controlled }"],
      ["- { models: [fable-5], actions: [evaluate] }", "- { models: [fable-5], actions: [infer] }"],
      ["valid_until: 2027-07-01", "valid_until: 2027-01-01"],
    );
    const d = diff(BASE, to);
    expect(formatDiff(d)).toBe(
      `Scheme diff: base → base-v2
  from ${d.from.digest}
  to   ${d.to.digest}

8 changes: 2 added, 0 removed, 6 changed

Scheme
  ~ scheme: name changes from base to base-v2

Embargo
  + embargo adds RU (Russian Federation)

Country sets
  + set hostile adds RU (Russian Federation)
  ~ set trusted adds AU (Australia), removes NZ (New Zealand)

Models
  ~ model mythos-4: control changes from open to controlled

Country partners
  ~ country partner g7-fvey: countries add AU (Australia), remove NZ (New Zealand)

Partner grants
  ~ country partner g7-fvey gains infer on fable-5; loses evaluate on fable-5

Licenses
  ~ license BIS-2026-0001: valid_until changes from 2027-07-01 to 2027-01-01
`,
    );
  });
});
