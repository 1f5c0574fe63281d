import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "../../cli/io.js";
import { run } from "../../cli/program.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");

async function cli(args: string[], stdin = "") {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => stdin };
  const code = await run(args, io);
  return { code, out, err };
}

describe("clearance screening import | lists | diff (on the store)", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-screening-cli-"));
  const dataDir = ["--data-dir", join(dir, "data")];

  it("imports OFAC with its companions, refuses a malformed file naming file and line, and diffs versions", async () => {
    const ofac = join(dir, "ofac");
    cpSync(join(FIXTURES, "ofac"), ofac, { recursive: true });
    const first = await cli(["screening", "import", join(ofac, "sdn.csv"), ...dataDir]);
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toContain("imported ofac-sdn version 1: 3 entries (+3 -0 ~0)");
    expect((await cli(["screening", "import", join(ofac, "sdn.csv"), ...dataDir])).out).toContain(
      "identical to active version 1",
    );

    const broken = join(dir, "broken", "sdn.csv");
    cpSync(join(ofac, "sdn.csv"), broken);
    writeFileSync(broken, '104,"TRUNCATED ROW"\n', { flag: "a" });
    const refused = await cli(["screening", "import", broken, ...dataDir]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/broken\/sdn\.csv:4:1: column 3: expected 12 columns, found 2/);

    // Version 2: 103 removed, 102 changed (new remarks), 104 added.
    const v2 = join(dir, "v2", "sdn.csv");
    cpSync(ofac, join(dir, "v2"), { recursive: true });
    writeFileSync(
      v2,
      [
        '101,"PETROV, Ivan Sergeyevich","individual","[RUSSIA-EO14024]",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 12 Jan 1965; nationality Russia; Passport 7512345 (Russia); a.k.a. \'PETROFF, John\'."',
        '102,"ACME TRADING CO., LTD.",-0- ,"[IRAN]",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"Website acme.example."',
        '104,"NOVA BANK",-0- ,"[IRAN]",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ',
      ].join("\r\n") + "\r\n",
    );
    expect((await cli(["screening", "import", v2, ...dataDir])).out).toContain(
      "version 2: 3 entries (+1 -1 ~1)",
    );

    const lists = await cli(["screening", "lists", ...dataDir]);
    expect(lists.out).toMatch(/ofac-sdn +2 +active +ofac-csv +- +3 +\+1 -1 ~1/);
    const all = await cli(["screening", "lists", "--all", ...dataDir]);
    expect(all.out.split("\n").filter((l) => l.startsWith("ofac-sdn"))).toHaveLength(2);
    const diff = await cli(["screening", "diff", "ofac-sdn", ...dataDir]);
    expect(diff.out).toContain("added (1):\n  104\n");
    expect(diff.out).toContain("removed (1):\n  103\n");
    expect(diff.out).toContain("changed (1):\n  102\n");
    const json = JSON.parse((await cli(["screening", "diff", "ofac-sdn", "1", "--json", ...dataDir])).out);
    expect(json.diff).toEqual({ added: ["101", "102", "103"], removed: [], changed: [] });
  });

  it("imports every other format from the fixtures", async () => {
    for (const f of ["un.xml", "dpl.txt", "csl-old.csv", "ftm.jsonl"]) {
      const r = await cli(["screening", "import", join(FIXTURES, f), ...dataDir]);
      expect(r.code, r.err).toBe(0);
    }
    const names = JSON.parse((await cli(["screening", "lists", "--json", ...dataDir])).out).map(
      (v: { list: string }) => v.list,
    );
    expect(names).toEqual(expect.arrayContaining(["un-sc", "bis-dpl", "us-csl", "test-sanctions"]));
  });
});
