import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { loadSchemeFile, parseScheme } from "./load.js";
import { schemeJsonSchema } from "./schema.js";

const problemsOf = (text: string): Problem[] => {
  try {
    parseScheme(text, "bad.yaml");
  } catch (err) {
    if (err instanceof InvalidInputError) return [...err.problems];
    throw err;
  }
  throw new Error("expected the scheme to be rejected");
};

const BASE = `version: 1
name: s
home: [US]
models:
  a: {control: controlled, fallback: b}
  b: {control: open}
`;

describe("scheme files", () => {
  it("loads the example and reports its digest", () => {
    const s = loadSchemeFile("examples/g7-trusted-partners.yaml");
    expect(s.name).toBe("g7-trusted-partners");
    expect(s.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(s.models.get("mythos-5")?.fallback).toBe("mythos-4");
    expect(s.sets.get("trusted")?.has("AU")).toBe(true);
    expect(s.home.has("US")).toBe(true);
    expect(s.restricted.has("CN")).toBe(true);
    expect(s.restricted.has("MO")).toBe(true);
    expect(s.embargoed).toEqual(new Set(["CU", "IR", "KP", "SY"]));
  });

  it("the digest ignores comments, layout and key order, and changes with content", () => {
    const a = parseScheme(BASE);
    const reordered = parseScheme(
      `# a comment\nname: s\nversion: 1\nmodels:\n  b: {control: open}\n  a:\n    fallback: b\n    control: controlled\nhome:\n  - US\n`,
    );
    expect(reordered.digest).toBe(a.digest);
    expect(parseScheme(BASE.replace("name: s", "name: t")).digest).not.toBe(a.digest);
  });

  it("reports every problem at once, each with line, column and what was expected", () => {
    const text = `version: 1
name: broken
home: [US, UK]
embargoed: [EAR_E1, NOPE]
sets:
  trusted: [G7, de]
models:
  a: {control: controlled, fallback: b}
  b: {control: controlled, fallback: a}
  c: {control: open, fallbak: a}
  d: {control: open, fallback: zzz}
partners:
  countries:
    - {id: p1, countries: [trusted], assurance: attested, grants: [{models: [a, ghost], actions: [infer]}]}
    - {id: p1, countries: [G7], assurance: attested, grants: [{models: [a], actions: [infer]}]}
licenses:
  - {id: L1, licensee: {organization: o}, models: [a], actions: [infer], destinations: [DE],
     valid_from: 2027-01-01, valid_until: 2026-01-01, status: approved}
`;
    const problems = problemsOf(text);
    const at = (code: string) => problems.filter((p) => p.code === code).map((p) => `${p.line}:${p.column}`);
    expect(at("invalid_country")).toEqual(["3:12"]);
    expect(problems.find((p) => p.code === "invalid_country")?.message).toContain("did you mean GB?");
    expect(at("unknown_set")).toEqual(["4:21", "6:17"]);
    expect(problems.find((p) => p.path.join(".") === "sets.trusted.1")?.message).toContain("upper case: DE");
    expect(at("unknown_key")).toEqual(["10:22"]);
    expect(problems.find((p) => p.code === "unknown_key")?.message).toMatch(
      /fallbak.*expected one of: control, fallback/,
    );
    expect(at("fallback_cycle")).toEqual(["8:38"]);
    expect(problems.find((p) => p.code === "fallback_cycle")?.message).toBe("fallback cycle: a → b → a");
    expect(at("duplicate_id")).toEqual(["15:12"]);
    expect(at("invalid_period")).toEqual(["18:43"]);
    expect(problems.every((p) => p.file === "bad.yaml")).toBe(true);
  });

  it("shape problems and reference problems: the first failing stage reports all of its problems", () => {
    const problems = problemsOf(`version: 2\nname: x\nhome: US\nmodels:\n  a: {control: secret}\nextra: 1\n`);
    expect(problems.map((p) => [p.code, p.line])).toEqual([
      ["invalid_value", 1],
      ["invalid_union", 3],
      ["invalid_value", 5],
      ["unknown_key", 6],
    ]);
  });

  it("a missing required field says so, at its parent", () => {
    const problems = problemsOf(`version: 1\nname: x\nmodels:\n  a: {control: open}\n`);
    expect(problems).toEqual([
      expect.objectContaining({ code: "missing", path: ["home"], line: 1, column: 1 }),
    ]);
  });

  it("unknown models in grants and licenses name the models that exist", () => {
    const problems = problemsOf(
      `${BASE}licenses:\n  - {id: L, licensee: {principal: p}, models: [zz], actions: [infer], destinations: [DE], valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved}\n`,
    );
    expect(problems).toEqual([expect.objectContaining({ code: "unknown_model", line: 8 })]);
    expect(problems[0]?.message).toContain("a, b");
  });

  it("YAML syntax errors carry their position", () => {
    const problems = problemsOf(`version: 1\nname: [unclosed\n`);
    expect(problems[0]).toMatchObject({ code: "yaml_syntax", file: "bad.yaml" });
    expect(problems[0]?.line).toBeGreaterThan(0);
  });

  it("duplicate YAML keys are an error, not a silent overwrite", () => {
    expect(problemsOf(`${BASE}home: [CA]\n`)[0]?.message).toMatch(/unique/i);
  });

  it("set expressions: include/exclude, user sets built on sets, cycles", () => {
    const s = parseScheme(
      `${BASE}sets:\n  eu_no_fr: {include: [EU], exclude: [FR]}\n  allies: [eu_no_fr, GB]\n`,
    );
    expect(s.sets.get("allies")?.has("FR")).toBe(false);
    expect(s.sets.get("allies")?.has("DE")).toBe(true);
    expect(s.sets.get("allies")?.has("GB")).toBe(true);
    const cyc = problemsOf(`${BASE}sets:\n  x: [y]\n  y: [x]\n`);
    expect(cyc.map((p) => p.code)).toEqual(["set_cycle"]);
    expect(problemsOf(`${BASE}sets:\n  G7: [US]\n`).map((p) => p.code)).toEqual(["set_name_taken"]);
  });

  it("a missing file is reported, not thrown raw", () => {
    expect(() => loadSchemeFile("no/such/file.yaml")).toThrow(InvalidInputError);
  });
});

describe("scheme files: what must not pass silently", () => {
  it("two spellings of one set name are refused, not the last silently taken as the embargo", () => {
    const problems = problemsOf(
      'version: 1\nname: t\nhome: [US]\nembargoed: ["2026"]\nsets:\n  "2026": [EAR_E1, EAR_E2]\n  2026: [KP]\nmodels:\n  m: {control: controlled}\n',
    );
    expect(problems).toEqual([expect.objectContaining({ code: "yaml_syntax", line: 7, column: 3 })]);
    expect(problems[0]?.message).toMatch(/unique/);
  });

  it("a model id with / can be granted, licensed and a fallback", () => {
    const s = parseScheme(
      `version: 1
name: t
home: [US]
models:
  meta/llama-3: {control: controlled, fallback: open/one}
  open/one: {control: open}
partners:
  countries:
    - {id: p, countries: [GB], assurance: verified, grants: [{models: [meta/llama-3], actions: [infer]}]}
licenses:
  - {id: L, licensee: {principal: p}, models: [meta/llama-3], actions: [infer], destinations: [DE], valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved}
`,
    );
    expect(s.models.get("meta/llama-3")?.fallback).toBe("open/one");
    expect(s.countryPartners[0]?.grants.has("meta/llama-3")).toBe(true);
    expect(s.licenses.get("L")?.models.has("meta/llama-3")).toBe(true);
  });

  it("a model id is bounded where it is declared and where it is named", () => {
    const long = "a".repeat(257);
    const declared = problemsOf(`version: 1\nname: t\nhome: [US]\nmodels:\n  ${long}: {control: open}\n`);
    expect(declared).toEqual([expect.objectContaining({ code: "invalid_id", line: 5 })]);
    expect(declared[0]?.message).toContain("at most 256");
    const named = problemsOf(`${BASE}  c: {control: open, fallback: ${long}}\n`);
    expect(named).toEqual([expect.objectContaining({ code: "too_big", path: ["models", "c", "fallback"] })]);
    expect(parseScheme(`${BASE}  ${"a".repeat(256)}: {control: open}\n`).models.size).toBe(3);
  });

  it("a fallback cycle is reported once, at its first model, its members listed in order", () => {
    const problems = problemsOf(
      `version: 1\nname: t\nhome: [US]\nmodels:\n  x: {control: open, fallback: b}\n  a: {control: open, fallback: b}\n  b: {control: open, fallback: c}\n  c: {control: open, fallback: a}\n  s: {control: open, fallback: s}\n`,
    );
    expect(problems.map((p) => [p.code, p.path.join("."), p.message])).toEqual([
      ["fallback_cycle", "models.a.fallback", "fallback cycle: a → b → c → a"],
      ["fallback_cycle", "models.s.fallback", "fallback cycle: s → s"],
    ]);
  });

  it("a long fallback cycle is listed first ten … last (3,000 models: the walk was cubic)", () => {
    const n = 3000;
    const models = Array.from({ length: n }, (_, i) => `  m${i}: {control: open, fallback: m${(i + 1) % n}}`);
    const problems = problemsOf(`version: 1\nname: t\nhome: [US]\nmodels:\n${models.join("\n")}\n`);
    expect(problems).toEqual([
      expect.objectContaining({ code: "fallback_cycle", path: ["models", "m0", "fallback"] }),
    ]);
    expect(problems[0]?.message).toBe(
      `fallback cycle: m0 → m1 → m2 → m3 → m4 → m5 → m6 → m7 → m8 → m9 → … (${n - 11} more) → m${n - 1} → m0`,
    );
  });

  it("a fallback chain of more than 16 fallbacks is refused once, at the model heading it", () => {
    // Unbounded before: a chain of 3,000 made each denied request 3,000 decisions (a 3.5 MB
    // decision) and GET /v1/models, which decides every model, quadratic (1.1 s a list).
    const chain = (n: number, prefix = "m") =>
      Array.from(
        { length: n },
        (_, i) => `  ${prefix}${i}: {control: controlled${i + 1 < n ? `, fallback: ${prefix}${i + 1}` : ""}}`,
      ).join("\n");
    const scheme = (models: string) => `version: 1\nname: t\nhome: [US]\nmodels:\n${models}\n`;
    const long = problemsOf(scheme(chain(3000)));
    expect(long).toEqual([
      expect.objectContaining({
        code: "fallback_chain_too_long",
        path: ["models", "m0", "fallback"],
        line: 5,
      }),
    ]);
    expect(long[0]?.message).toBe(
      'model "m0" falls back 2999 times (m0 → m1 → m2 → m3 → m4 → m5 → m6 → m7 → m8 → m9 → … (2989 more) → m2999), ' +
        "more than the 16 a chain may: each model is decided in turn for a denied request; shorten the chain",
    );
    // 16 fallbacks (17 models) load; 17 do not.
    expect(parseScheme(scheme(chain(17))).models.get("m0")?.fallback).toBe("m1");
    expect(problemsOf(scheme(chain(18))).map((p) => p.message)).toEqual([
      'model "m0" falls back 17 times (m0 → m1 → m2 → m3 → m4 → m5 → m6 → m7 → m8 → m9 → … (7 more) → m17), ' +
        "more than the 16 a chain may: each model is decided in turn for a denied request; shorten the chain",
    ]);
    // Two heads sharing a tail: each named; one that is short enough is not.
    const shared = problemsOf(
      scheme(
        `  x: {control: open, fallback: m0}\n  y: {control: open, fallback: m0}\n  z: {control: open, fallback: m5}\n${chain(17)}`,
      ),
    );
    expect(shared.map((p) => p.path.join("."))).toEqual(["models.x.fallback", "models.y.fallback"]);
    // A long way into a cycle is the cycle's problem only.
    const cycle = problemsOf(
      scheme(
        `${chain(40)}\n  c: {control: open, fallback: c2}\n  c2: {control: open, fallback: c}`.replace(
          "m39: {control: controlled}",
          "m39: {control: controlled, fallback: c}",
        ),
      ),
    );
    expect(cycle.map((p) => p.code)).toEqual(["fallback_cycle"]);
  });

  it("a home that resolves to no country is refused, however it is written", () => {
    for (const home of ["{include: [US], exclude: [US]}", "[none]"]) {
      const problems = problemsOf(
        `version: 1\nname: t\nhome: ${home}\nsets:\n  none: []\nmodels:\n  m: {control: open}\n`,
      );
      expect(problems).toEqual([expect.objectContaining({ code: "empty", path: ["home"], line: 3 })]);
    }
    // An unknown country is reported as such, not also as an empty home.
    expect(
      problemsOf(`version: 1\nname: t\nhome: [UK]\nmodels:\n  m: {control: open}\n`).map((p) => p.code),
    ).toEqual(["invalid_country"]);
  });

  it("a set named __proto__ is refused at its line, not dropped", () => {
    const problems = problemsOf(`${BASE}embargoed: [__proto__]\nsets:\n  __proto__: [IR]\n`);
    expect(problems).toEqual([expect.objectContaining({ code: "yaml_reserved_key", line: 9, column: 3 })]);
    const s = parseScheme(`${BASE}embargoed: [constructor]\nsets:\n  constructor: [IR]\n`);
    expect([...s.embargoed]).toEqual(["IR"]);
  });

  it("a partner listed twice under two spellings of its id is refused, not two organizations", () => {
    // The license workflow compares organizations without regard to case (conflicts of interest):
    // UK-AISI suspended beside uk-aisi active would have served one organization as both.
    const org = (id: string, status: string) =>
      `    - {id: ${id}, country: GB, status: ${status}, assurance: verified, grants: [{models: [a], actions: [infer]}]}\n`;
    const problems = problemsOf(
      `${BASE}partners:\n  organizations:\n${org("uk-aisi", "active")}${org("UK-AISI", "suspended")}`,
    );
    expect(problems).toEqual([
      expect.objectContaining({
        code: "duplicate_id",
        path: ["partners", "organizations", 1, "id"],
        line: 10,
      }),
    ]);
    expect(problems[0]?.message).toContain('"UK-AISI" names the same partner as "uk-aisi"');
    // Across the two lists too: a country partner and an organization partner share the ids.
    const across = problemsOf(
      `${BASE}partners:\n  countries:\n    - {id: G7, countries: [G7], assurance: verified, grants: [{models: [a], actions: [infer]}]}\n  organizations:\n${org("g7", "active")}`,
    );
    expect(across.map((p) => [p.code, p.path.join(".")])).toEqual([
      ["duplicate_id", "partners.organizations.0.id"],
    ]);
    // Distinct ids still load.
    expect(
      parseScheme(
        `${BASE}partners:\n  organizations:\n${org("uk-aisi", "active")}${org("uk-aisi2", "active")}`,
      ).organizationPartners.size,
    ).toBe(2);
  });

  it("a license's empty list of destinations, nationalities or purposes is refused, not read as none", () => {
    // DESIGN: a license limits purpose and nationalities "where it names them": [] is neither
    // "any" nor a useful "none", so it is refused at its line, as an empty home is.
    const license = (extra: string) =>
      `${BASE}licenses:\n  - {id: L, licensee: {organization: o}, models: [a], actions: [infer], valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved, ${extra}}\n`;
    const cases: [string, string, string][] = [
      ["destinations: []", "destinations", "usable nowhere"],
      ["destinations: {include: [GB], exclude: [GB]}", "destinations", "usable nowhere"],
      ["destinations: [GB], nationalities: []", "nationalities", "leave nationalities out"],
      ["destinations: [GB], purposes: []", "purposes", "leave purposes out"],
    ];
    for (const [extra, field, words] of cases) {
      const problems = problemsOf(license(extra));
      expect(problems, extra).toEqual([
        expect.objectContaining({ code: "empty", path: ["licenses", 0, field], line: 8 }),
      ]);
      expect(problems[0]?.message).toContain(words);
    }
    // An unknown country is reported as such, not also as an empty list.
    expect(problemsOf(license("destinations: [UK]")).map((p) => p.code)).toEqual(["invalid_country"]);
    const s = parseScheme(license("destinations: [GB], nationalities: [DE], purposes: [research]"));
    expect(s.licenses.get("L")?.purposes).toEqual(new Set(["research"]));
  });

  it("a license's purpose no request can declare is refused at its item, not left to serve nobody", () => {
    // The gateway reads an empty x-clearance-purpose as none, trims the header's surrounding
    // whitespace and refuses control characters: such a purpose could never be matched.
    const license = (purposes: string) =>
      `${BASE}licenses:\n  - {id: L, licensee: {organization: o}, models: [a], actions: [infer], destinations: [GB], valid_from: 2026-01-01, valid_until: 2027-01-01, status: approved,\n     purposes: ${purposes}}\n`;
    const cases: [string, string, string][] = [
      ['[""]', "empty", "is empty"],
      ['[research, "   "]', "empty", "is blank"],
      ['[" research"]', "invalid_purpose", "whitespace"],
      ['["research\\t"]', "invalid_purpose", "whitespace"],
      ['["re\\nsearch"]', "invalid_purpose", "control characters"],
      // A NUL is refused where the YAML is read, as in any other text (was invalid_purpose).
      ['["re\\u0000search"]', "control_character", "U+0000 (null)"],
    ];
    for (const [purposes, code, words] of cases) {
      const problems = problemsOf(license(purposes));
      const at = purposes.startsWith("[research") ? 1 : 0;
      expect(problems, purposes).toEqual([
        expect.objectContaining({ code, path: ["licenses", 0, "purposes", at], line: 9 }),
      ]);
      expect(problems[0]?.message, purposes).toContain(words);
    }
    expect(parseScheme(license('["red teaming", évaluation]')).licenses.get("L")?.purposes).toEqual(
      new Set(["red teaming", "évaluation"]),
    );
  });

  it("an unknown model's message names a bounded number of the models there are", () => {
    // Each message listed every model: 5,000 models and 20,000 references to an unknown one
    // (224 KB of YAML) held 2 GB and ended in "RangeError: Invalid string length".
    const models = Array.from({ length: 300 }, (_, i) => `  model-number-${i}: {control: open}`);
    const refs = Array.from({ length: 300 }, () => "zz").join(", ");
    const problems = problemsOf(
      `version: 1\nname: t\nhome: [US]\nmodels:\n${models.join("\n")}\npartners:\n  countries:\n    - {id: p, countries: [DE], assurance: none, grants: [{models: [${refs}], actions: [infer]}]}\n`,
    );
    expect(problems).toHaveLength(300);
    expect(problems.every((p) => p.code === "unknown_model")).toBe(true);
    expect(problems[0]?.message).toBe(
      'unknown model "zz"; expected one of the models defined under models: model-number-0, model-number-1, model-number-2, model-number-3, model-number-4, model-number-5, model-number-6, model-number-7, model-number-8, model-number-9, … (290 more)',
    );
  });

  it("sets nested past 64 deep are refused at the reference, not a stack overflow", () => {
    // A chain of 2,000 sets, each naming the next, overflowed the stack: "unexpected error:
    // RangeError: Maximum call stack size exceeded" from `clearance scheme validate`.
    const chain = (n: number) =>
      Array.from({ length: n }, (_, i) => `  s${i}: [${i + 1 < n ? `s${i + 1}` : "IR"}]`).join("\n");
    const deep = problemsOf(`${BASE}embargoed: [s0]\nsets:\n${chain(2000)}\n`);
    expect(deep.length).toBeGreaterThan(0);
    expect(deep.every((p) => p.code === "set_too_deep")).toBe(true);
    expect(deep[0]).toMatchObject({ path: ["sets", "s63", 0], line: 72 });
    expect(deep[0]?.message).toBe(
      'set "s64" is nested more than 64 sets deep (s0 → s1 → s2 → s3 → s4 → s5 → s6 → s7 → s8 → s9 → … (53 more) → s63 → s64): name its countries or a shallower set',
    );
    // 64 deep still loads.
    expect([...parseScheme(`${BASE}embargoed: [s0]\nsets:\n${chain(64)}\n`).embargoed]).toEqual(["IR"]);
    // A cycle names its own members, not the sets that led to it.
    const cyc = problemsOf(`${BASE}embargoed: [x]\nsets:\n  x: [a]\n  a: [b]\n  b: [a]\n`);
    expect(cyc.map((p) => p.message)).toEqual(['set "a" refers to itself through a → b → a']);
  });

  it("a name holding a quote is quoted with it escaped, as messages quote values; plain ones as before", () => {
    // Set names, model keys and an organization's country are free text to the YAML check.
    const text = `${BASE}  'm"1': {control: open}
embargoed: ['E"U', 'c"y']
sets:
  'c"y': ['c"y']
partners:
  organizations:
    - {id: o, country: 'F"R', assurance: attested, grants: [{models: [a], actions: [infer]}]}
`;
    const messages = problemsOf(text).map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unknown country or set "E\\"U"; expected an ISO country code, /),
        'set "c\\"y" refers to itself through "c\\"y" → "c\\"y"',
        expect.stringMatching(/^model id "m\\"1": expected a model id/),
        '"F\\"R" is not an ISO 3166-1 alpha-2 country code',
      ]),
    );
  });

  it("a list or chain of the scheme's names quotes a name that is not plain (a quote, the separator); plain ones as before", () => {
    // Before: listed raw, so a name holding a quote or the list's separator read as another name or
    // two. (A fallback names a valid model id, so a fallback cycle or chain lists only plain ones.)
    const models = problemsOf(`version: 1
name: t
home: [US]
models:
  'a"1': {control: open}
  'b, 2': {control: open}
  c: {control: open, fallback: zz}
`);
    expect(models.find((p) => p.code === "unknown_model")?.message).toBe(
      'unknown model "zz"; expected one of the models defined under models: "a\\"1", "b, 2", c',
    );
    const sets = problemsOf(`${BASE}embargoed: [x]\nsets:\n  x: ['a→b']\n  'a→b': [x]\n`);
    expect(sets.map((p) => p.message)).toEqual(['set "x" refers to itself through x → "a→b" → x']);
  });

  it("%YAML 1.1 is refused, not read as another language (NO as false)", () => {
    const problems = problemsOf(`%YAML 1.1\n---\n${BASE}embargoed: [NO]\n`);
    expect(problems).toEqual([expect.objectContaining({ code: "yaml_version", line: 1, column: 1 })]);
  });
});

describe("JSON Schema", () => {
  const schema = schemeJsonSchema();
  it("describes the top level and rejects unknown keys", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties as object)).toEqual(
      expect.arrayContaining(["version", "name", "home", "models", "partners", "licenses"]),
    );
  });
  it("the committed copy for editors (schemas/scheme-v1.json) is up to date", () => {
    const committed = JSON.parse(readFileSync("schemas/scheme-v1.json", "utf8")) as unknown;
    expect(committed).toEqual(schema);
  });
});
