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
