/** Reading YAML: whatever the text, the outcome is data or an InvalidInputError placed in the file. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidInputError, type Problem } from "../errors/index.js";
import { MAX_ALIAS_COUNT, readYaml, readYamlFile } from "./index.js";

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
});
