/**
 * `--out` of `report footprint` and `scheme what-if`: the report is written aside and renamed, so a
 * reader never sees half of one; a write that fails leaves nothing behind either (a copy under
 * another name would hold the report's principals and organizations where nobody looks for it).
 */
import { mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../../testing/gateway.js";
import { run } from "../program.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
}, 60_000);
afterAll(() => t.gateway.close());

const cli = async (...args: string[]) => {
  let out = "";
  let err = "";
  const code = await run(args, {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    stdin: () => "",
  });
  return { code, out, err };
};

describe("--out that cannot be written", () => {
  it("what-if onto a directory: said, exit 2, and no partial or temporary file left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-out-"));
    const out = join(dir, "impact.json");
    mkdirSync(out);
    const r = await cli(
      "scheme",
      "what-if",
      "examples/g7-trusted-partners.yaml",
      "--data-dir",
      t.dataDir,
      "--format",
      "json",
      "--out",
      out,
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^--out: cannot write ${out}: EISDIR`));
    expect(readdirSync(dir)).toEqual(["impact.json"]);
  });
});
