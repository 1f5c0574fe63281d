/** Reading YAML: whatever the text, the outcome is data or an InvalidInputError placed in the file. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { MAX_ALIAS_COUNT, MAX_DEPTH, readYaml, readYamlFile } from "./index.js";
import { MAX_LISTED } from "./unicode.js";

/** Nine of x, then six levels of nine aliases each: 9^7 nodes once expanded. */
const BOMB = [
  "version: 1",
  "a: &a [x, x, x, x, x, x, x, x, x]",
  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
  "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
  "",
].join("\n");

function problemsOf(read: () => unknown): Problem[] {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return [...(err as InvalidInputError).problems];
  }
  throw new Error("expected an InvalidInputError");
}

describe("readYaml", () => {
  it("refuses an alias bomb as bad input, at the first alias", () => {
    const problems = problemsOf(() => readYaml(BOMB, "bomb.yaml"));
    expect(problems).toEqual([
      { code: "yaml_aliases", path: [], message: expect.any(String), file: "bomb.yaml", line: 3, column: 8 },
    ]);
    expect(problems[0]?.message).toContain(`more than ${MAX_ALIAS_COUNT} nodes`);
    expect(problems[0]?.message).toContain("*a");
  });

  it("says which file and line, as the CLI and the admin API print it", () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-yaml-"));
    const path = join(dir, "bomb.yaml");
    writeFileSync(path, BOMB);
    const err = (() => {
      try {
        readYamlFile(path);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err?.message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:8: `));
  });

  it("keeps aliases within the limit working", () => {
    const { data } = readYaml("a: &a [x, y]\nb: *a\nc: {k: *a}\n", "ok.yaml");
    expect(data).toEqual({ a: ["x", "y"], b: ["x", "y"], c: { k: ["x", "y"] } });
  });

  it("refuses an alias to no anchor, at that alias", () => {
    const problems = problemsOf(() => readYaml("a: &a 1\nb: *a\nc:\n  - *later\nd: &later 2\n", "x.yaml"));
    expect(problems).toEqual([
      {
        code: "yaml_unresolved_alias",
        path: [],
        message: "alias *later names no anchor &later before it",
        file: "x.yaml",
        line: 4,
        column: 5,
      },
    ]);
  });

  it("refuses an alias inside the node it names, whose value would contain itself", () => {
    const problems = problemsOf(() => readYaml("ok: &x [1]\nloop: &x\n  - 1\n  - [*x]\n", "x.yaml"));
    expect(problems).toEqual([
      expect.objectContaining({ code: "yaml_recursive_alias", file: "x.yaml", line: 4, column: 6 }),
    ]);
  });

  it("still reports syntax errors before anything else", () => {
    const problems = problemsOf(() => readYaml("a: [*nope\n", "x.yaml"));
    expect(problems[0]).toMatchObject({ code: "yaml_syntax", file: "x.yaml" });
  });

  describe("keys as plain data has them", () => {
    // Each pair is two spellings of one key once read (String of the value; "" for null).
    const SAME: readonly [string, string][] = [
      ['"2026"', "2026"],
      ['"true"', "true"],
      ['""', "~"],
      ["null", '""'],
      ['"1.1"', "1.10"],
      ["1.10", "1.1"],
      ["0x10", "16"],
      ["-0", "0"],
      ["'x'", "x"],
      ["!!str 1", "1"],
    ];

    it.each(SAME)("refuses %s and %s in one mapping, at the second", (a, b) => {
      const problems = problemsOf(() => readYaml(`k: 0\n${a}: first\n${b}: second\n`, "x.yaml"));
      expect(problems).toEqual([
        {
          code: "yaml_syntax",
          path: [],
          message: expect.stringMatching(/unique/),
          file: "x.yaml",
          line: 3,
          column: 1,
        },
      ]);
      expect(problems[0]?.message).toContain("line 2");
    });

    it("refuses a key that an alias repeats", () => {
      const problems = problemsOf(() => readYaml("a: &k foo\nm:\n  foo: 1\n  *k : 2\n", "x.yaml"));
      expect(problems).toEqual([expect.objectContaining({ code: "yaml_syntax", line: 4, column: 3 })]);
    });

    it("keys that differ once read are kept, every one (property)", () => {
      // Spellings that collide once read are drawn often: "1" and 1, "" and null, "true" and true.
      const scalar = fc.oneof(
        fc.constantFrom("1", "1.1", "0", "true", "false", "", "null", "x"),
        fc.constantFrom(1, 1.1, 0, -0, true, false, null),
        fc.string({ maxLength: 6 }),
        fc.integer({ min: -1000, max: 1000 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      );
      fc.assert(
        fc.property(fc.array(scalar, { minLength: 1, maxLength: 8 }), (keys) => {
          // Written as YAML flow scalars: JSON is valid YAML 1.2 (except -0, which YAML reads as 0 too).
          const text = keys.map((k, i) => `${JSON.stringify(k)}: ${i}`).join("\n");
          const names = keys.map((k) => (k === null ? "" : String(k)));
          const distinct = new Set(names).size === names.length;
          if (distinct) {
            const { data } = readYaml(text, "p.yaml");
            expect(Object.keys(data as object).sort()).toEqual([...names].sort());
          } else {
            expect(problemsOf(() => readYaml(text, "p.yaml"))[0]?.code).toBe("yaml_syntax");
          }
        }),
      );
    });

    it("refuses __proto__ as a key, which plain data would drop", () => {
      const problems = problemsOf(() => readYaml("sets:\n  a: [DE]\n  __proto__: [IR]\n", "x.yaml"));
      expect(problems).toEqual([
        expect.objectContaining({ code: "yaml_reserved_key", file: "x.yaml", line: 3, column: 3 }),
      ]);
      expect(readYaml("constructor: [IR]\n", "x.yaml").data).toEqual({ constructor: ["IR"] });
    });

    it("refuses a list or mapping as a key", () => {
      const problems = problemsOf(() => readYaml("a: 1\n? [x]\n: 2\n", "x.yaml"));
      expect(problems).toEqual([expect.objectContaining({ code: "yaml_complex_key", line: 2, column: 3 })]);
    });
  });

  describe("text that is not Unicode", () => {
    // The escapes a double-quoted YAML string allows for half a surrogate pair. Such text reaches the
    // audit log (a config's audit.node in every entry, a claim path in set_aside, a scheme's digest
    // over its canonical JSON), which RFC 8785 cannot hold.
    it("refuses a lone surrogate in a value, naming the file, line, column and field", () => {
      const text = 'audit:\n  origin: x\n  node: "gw-\\ud800"\nsets:\n  - a\n  - "b\\U0000DC00"\n';
      expect(problemsOf(() => readYaml(text, "clearance.yaml"))).toEqual([
        {
          code: "invalid_unicode",
          path: ["audit", "node"],
          message: expect.stringContaining("not valid Unicode (a lone surrogate, \\ud800)") as unknown,
          file: "clearance.yaml",
          line: 3,
          column: 9,
        },
        expect.objectContaining({ code: "invalid_unicode", path: ["sets", 1], line: 6, column: 5 }),
      ]);
    });

    it("refuses one in a key and in a flow collection; one read through an alias at its anchor", () => {
      const key = problemsOf(() => readYaml('claims:\n  "nat\\udfff": x\n', "x.yaml"));
      expect(key).toEqual([
        {
          code: "invalid_unicode",
          path: ["claims", "nat\ufffd"],
          message: expect.stringMatching(/^this key is not valid Unicode/) as unknown,
          file: "x.yaml",
          line: 2,
          column: 3,
        },
      ]);
      const flow = problemsOf(() => readYaml('m: {a: [1, "\\ud83d"]}\n', "x.yaml"));
      expect(flow).toEqual([
        expect.objectContaining({ code: "invalid_unicode", path: ["m", "a", 1], line: 1, column: 12 }),
      ]);
      // Read through an alias, it is refused where it is written (the anchor).
      const aliased = problemsOf(() => readYaml('a: &n "\\udc00"\nb: *n\n', "x.yaml"));
      expect(aliased.map((p) => [p.path, p.line])).toEqual([[["a"], 1]]);
    });

    it("takes a well-formed pair, however written, and a character outside the BMP", () => {
      const { data } = readYaml('a: "\\ud83d\\ude00"\nb: "\\U0001F600"\nc: \u{1F600}\n', "x.yaml");
      expect(data).toEqual({ a: "\u{1F600}", b: "\u{1F600}", c: "\u{1F600}" });
    });
  });

  describe("bidirectional controls", () => {
    // An override, embedding or isolate (U+202A–U+202E, U+2066–U+2069) makes a partner's name, or the
    // file as a reviewer reads it, other than it is. Before: read as any text.
    it("refuses one in a value, raw or escaped, at the control itself, naming the field", () => {
      const text = 'partners:\n  - id: acme\n    name: "Acme \u202Elatot"\n  - id: "b\\u2066x"\n';
      expect(problemsOf(() => readYaml(text, "scheme.yaml"))).toEqual([
        {
          code: "bidi_control",
          path: ["partners", 0, "name"],
          message: expect.stringContaining("holds U+202E (right-to-left override)") as unknown,
          file: "scheme.yaml",
          line: 3,
          column: 17,
        },
        expect.objectContaining({ code: "bidi_control", path: ["partners", 1, "id"], line: 4, column: 9 }),
      ]);
    });

    it("refuses one in a key (named with U+FFFD), and outside any value naming what holds it (a comment, an anchor, an alias, a directive)", () => {
      expect(problemsOf(() => readYaml("claims:\n  na\u2067t: x\n", "x.yaml"))).toEqual([
        expect.objectContaining({ code: "bidi_control", path: ["claims", "na\ufffdt"], line: 2, column: 5 }),
      ]);
      const comment = problemsOf(() => readYaml("a: 1 # ok \u202e \u202c\nb: 2\n", "x.yaml"));
      expect(comment).toEqual([
        {
          code: "bidi_control",
          path: [],
          message: expect.stringContaining("outside any value (in a comment)") as unknown,
          file: "x.yaml",
          line: 1,
          column: 11,
        },
      ]);
    });

    // Before: every control outside a value was checked against every value's range, and its line
    // looked for from it, per control: a 308 KB file of them took 7.5 s (10 MiB are read), listing
    // one problem per line. Now one walk, the first MAX_LISTED listed and the rest counted.
    it("lists the first 100 by place and counts the rest (a control on each of 20,000 lines)", () => {
      const lines = Array.from({ length: 20_000 }, (_, i) =>
        i % 40 === 0 ? `k${i}: "v\u202e"` : `k${i}: v # \u202e`,
      );
      const problems = problemsOf(() => readYaml(`${lines.join("\n")}\n`, "x.yaml"));
      expect(problems).toHaveLength(MAX_LISTED + 1);
      expect(problems.slice(0, MAX_LISTED).map((p) => p.line)).toEqual(
        Array.from({ length: MAX_LISTED }, (_, i) => i + 1),
      );
      expect(problems[0]).toMatchObject({ path: ["k0"], column: 7 });
      expect(problems[1]).toMatchObject({ path: [], column: 9 });
      expect(problems.at(-1)).toMatchObject({
        code: "bidi_control",
        path: [],
        message: `and ${20_000 - MAX_LISTED} more values, keys or comment lines hold a bidirectional control (only the first ${MAX_LISTED} are listed)`,
        line: MAX_LISTED + 1,
      });
    });

    it("a line or a value full of controls is one problem each, and a control in a value never a comment's", () => {
      const many = "\u202e\u2066".repeat(50_000);
      const problems = problemsOf(() =>
        readYaml(`a: "x${many}"\nb: |\n  ${many}\n  ${many}\n# ${many}\nc: 1 # ${many}\n`, "x.yaml"),
      );
      expect(problems.map((p) => [p.path, p.line])).toEqual([
        [["a"], 1],
        [["b"], 3],
        [[], 5],
        [[], 6],
      ]);
    });

    it("lists the first 100 lone surrogates and counts the rest", () => {
      const text = Array.from({ length: 250 }, (_, i) => `k${i}: "\\ud800"`).join("\n");
      const problems = problemsOf(() => readYaml(text, "x.yaml"));
      expect(problems).toHaveLength(MAX_LISTED + 1);
      expect(problems.at(-1)).toMatchObject({
        code: "invalid_unicode",
        message: expect.stringContaining("and 150 more values or keys hold a lone surrogate") as unknown,
        line: MAX_LISTED + 1,
      });
    });

    it("takes right-to-left letters and the directional marks, and a stored text read as stored", () => {
      const text = "partners:\n  - name: شركة النور\n  - name: \u200fחברת אור\u200e\n  - name: x\u061c\n";
      expect(readYaml(text, "x.yaml").data).toEqual({
        partners: [{ name: "شركة النور" }, { name: "\u200fחברת אור\u200e" }, { name: "x\u061c" }],
      });
      // A version stored before this check still loads.
      expect(readYaml("a: x\u202ey\n", "version 3", { tags: "as-stored" }).data).toEqual({ a: "x\u202ey" });
    });
  });

  describe("control characters", () => {
    // C0 but TAB, LF and CR, DEL and C1: refused in an admin body, so in a file (a scheme pushed by
    // the CLI, the config) too, raw or as a double-quoted escape. Before: read as any text.
    it("refuses one in a value, raw or escaped, at the character itself, naming the field and the character", () => {
      const text = 'partners:\n  - id: acme\n    name: Acme \u001b[2J Ltd\n  - id: "b\\ax"\n';
      expect(problemsOf(() => readYaml(text, "scheme.yaml"))).toEqual([
        {
          code: "control_character",
          path: ["partners", 0, "name"],
          message:
            "this text holds U+001B (escape): text may hold no control characters but tab, line feed and carriage return; remove it",
          file: "scheme.yaml",
          line: 3,
          column: 16,
        },
        expect.objectContaining({
          code: "control_character",
          path: ["partners", 1, "id"],
          message: expect.stringContaining("holds U+0007 (bell)") as unknown,
          line: 4,
          column: 9,
        }),
      ]);
      for (const [escape, char] of [
        ["\\0", "U+0000 (null)"],
        ["\\e", "U+001B (escape)"],
        ["\\N", "U+0085 (next line)"],
        ["\\x7f", "U+007F (delete)"],
        ["\\u009b", "U+009B (control sequence introducer)"],
        ["\\U00000008", "U+0008 (backspace)"],
      ]) {
        expect(
          problemsOf(() => readYaml(`a: 1\nb: "x${escape}"\n`, "x.yaml")),
          escape,
        ).toEqual([
          expect.objectContaining({
            code: "control_character",
            path: ["b"],
            message: expect.stringContaining(`holds ${char}`) as unknown,
            line: 2,
          }),
        ]);
      }
    });

    it("refuses one in a key (named with U+FFFD), and outside any value naming what holds it (a comment, an anchor, an alias, a directive)", () => {
      expect(problemsOf(() => readYaml("claims:\n  na\u0007t: x\n", "x.yaml"))).toEqual([
        expect.objectContaining({
          code: "control_character",
          path: ["claims", "na\ufffdt"],
          line: 2,
          column: 5,
        }),
      ]);
      expect(problemsOf(() => readYaml("a: 1\n# ok \u009b31m\nb: 2\n", "x.yaml"))).toEqual([
        {
          code: "control_character",
          path: [],
          message: expect.stringContaining(
            "U+009B (control sequence introducer) outside any value (in a comment)",
          ) as unknown,
          file: "x.yaml",
          line: 2,
          column: 6,
        },
      ]);
      // An anchor, an alias, a tag's directive: named as such (was: "in a comment", for all of them).
      const outside = (text: string) =>
        problemsOf(() => readYaml(text, "x.yaml")).map((p) => [p.line, p.column, p.message]);
      const where = (char: string, what: string) =>
        `this line holds ${char} outside any value (${what}): text may hold no control characters but tab, line feed and carriage return; remove it`;
      expect(outside("a: &x\u0007y 1\nb: *x\u0007y\n")).toEqual([
        [1, 6, where("U+0007 (bell)", "in an anchor")],
        [2, 6, where("U+0007 (bell)", "in an alias")],
      ]);
      expect(outside('a: ["x #y", *c\u0085]\nb: 1 # see &d\u007f\n')).toEqual([
        [1, 15, where("U+0085 (next line)", "in an alias")],
        [2, 14, where("U+007F (delete)", "in a comment")],
      ]);
      expect(outside("%TAG !e\u0007! tag:example.com,2000:\n---\na: 1\n")).toEqual([
        [1, 8, where("U+0007 (bell)", "in a directive")],
      ]);
      const many = Array.from({ length: 150 }, (_, i) => `k${i}: "\\a"`).join("\n");
      expect(problemsOf(() => readYaml(many, "x.yaml")).at(-1)).toMatchObject({
        code: "control_character",
        message:
          "and 50 more values, keys or comment lines hold a control character (only the first 100 are listed)",
      });
    });

    it("takes tabs, line feeds and carriage returns, a backslash in a plain value, and a stored text read as stored", () => {
      const text = 'a: "x\\ty\\nz\\r"\r\nb: |\r\n  one\ttwo\r\n  three\r\n#\tnote\r\nc: C:\\archive\\x07\r\n';
      expect(readYaml(text, "x.yaml").data).toEqual({
        a: "x\ty\nz\r",
        b: "one\ttwo\nthree\n",
        c: "C:\\archive\\x07",
      });
      // A version stored before this check still loads.
      expect(readYaml("a: x\u0007y\n", "version 3", { tags: "as-stored" }).data).toEqual({ a: "x\u0007y" });
    });
  });

  describe("tags", () => {
    // A tag outside YAML 1.2's core schema was read as if it were not there (`!foo bar` as "bar"),
    // or as what no field takes (`!!binary` a Buffer, `!!set` an empty object); a core tag on a
    // value not of its kind (`!!int x`) was read as the plain value.
    it.each([
      ["data_dir: !foo bar", "!foo"],
      ["list: !foo [1]", "!foo"],
      ["data_dir: !<tag:example.com,2026:x> bar", "tag:example.com,2026:x"],
      ["data_dir: !!binary aGVsbG8=", "!!binary"],
      ["when: !!timestamp 2026-01-01", "!!timestamp"],
      ["location: !!set {mmdb}", "!!set"],
      ["m: !!omap [a: 1]", "!!omap"],
      ["port: !!int x", "!!int"],
      ["list: !!seq {x: 1}", "!!seq"],
    ])("refuses %s at the tag's line and column", (value, tag) => {
      const problems = problemsOf(() => readYaml(`version: 1\n${value}\n`, "x.yaml"));
      expect(problems).toEqual([
        {
          code: "yaml_tag",
          path: [],
          message: expect.stringContaining(tag) as unknown,
          file: "x.yaml",
          line: 2,
          column: value.indexOf("!") + 1,
        },
      ]);
      expect(problems[0]?.message).toContain("only YAML 1.2's core tags are read");
    });

    it("reads a text as stored (a scheme version stored before tags were checked) as it was read then", () => {
      const text = "a: !foo bar\nb: !!int x\n";
      expect(readYaml(text, "x.yaml", { tags: "as-stored" }).data).toEqual({ a: "bar", b: "x" });
      expect(problemsOf(() => readYaml(text, "x.yaml")).map((p) => [p.code, p.line])).toEqual([
        ["yaml_tag", 1],
        ["yaml_tag", 2],
      ]);
    });

    it("takes core tags on values of their kind, and the non-specific tag", () => {
      const text =
        "a: !!str 1\nb: !!int 2\nc: !!float 3.5\nd: !!bool true\ne: !!null\nf: !!seq [x]\ng: !!map {k: v}\nh: ! 4\n";
      expect(readYaml(text, "x.yaml").data).toEqual({
        a: "1",
        b: 2,
        c: 3.5,
        d: true,
        e: null,
        f: ["x"],
        g: { k: "v" },
        h: "4",
      });
    });
  });

  describe("the YAML version", () => {
    it("refuses %YAML 1.1, which would read NO as false, at the directive", () => {
      const problems = problemsOf(() => readYaml("# c\n%YAML 1.1\n---\na: [NO]\n", "x.yaml"));
      expect(problems).toEqual([
        {
          code: "yaml_version",
          path: [],
          message: expect.stringContaining("1.2"),
          file: "x.yaml",
          line: 2,
          column: 1,
        },
      ]);
    });

    it("takes %YAML 1.2, and no directive, as 1.2", () => {
      expect(readYaml("%YAML 1.2\n---\na: [NO, 2026-07-01]\n", "x.yaml").data).toEqual({
        a: ["NO", "2026-07-01"],
      });
      expect(readYaml("a: [NO]\n", "x.yaml").data).toEqual({ a: ["NO"] });
    });
  });

  describe("nesting", () => {
    it(`takes ${MAX_DEPTH} levels and refuses one more, at the first too deep`, () => {
      const flow = (n: number) => `a:\n  b: ${"[".repeat(n - 2)}x${"]".repeat(n - 2)}\n`;
      expect(() => readYaml(flow(MAX_DEPTH), "x.yaml")).not.toThrow();
      const problems = problemsOf(() => readYaml(flow(MAX_DEPTH + 1), "x.yaml"));
      expect(problems).toEqual([
        {
          code: "yaml_too_deep",
          path: [],
          message: `lists and mappings nest deeper than ${MAX_DEPTH} levels here`,
          file: "x.yaml",
          line: 2,
          column: 6 + (MAX_DEPTH - 2), // the bracket that opens level MAX_DEPTH + 1
        },
      ]);
    });

    it("refuses a deep file with that message, not a stack overflow", () => {
      const flow = "a: " + "[".repeat(20_000) + "]".repeat(20_000) + "\n";
      const block =
        "a:\n" + Array.from({ length: 3000 }, (_, i) => " ".repeat(i + 1) + "- ").join("\n") + "x\n";
      for (const text of [flow, block]) {
        expect(problemsOf(() => readYaml(text, "x.yaml")).map((p) => p.code)).toEqual(["yaml_too_deep"]);
      }
    });
  });
});
