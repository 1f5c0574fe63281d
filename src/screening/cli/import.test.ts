import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Io } from "../../cli/io.js";
import { run } from "../../cli/program.js";
import { openStore } from "../../store/index.js";

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
  // The store is the gateway's: its first start (serve, demo) creates it.
  beforeAll(async () => (await openStore({ dataDir: join(dir, "data") })).close());

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
    expect(await cli(["screening", "diff", "ofac-sdn", "9", ...dataDir])).toMatchObject({
      code: 1,
      err: "clearance: no version 9 of list ofac-sdn (not_found)\n",
    });
    expect(diff.out).toContain("changed (1):\n  102\n");
    const json = JSON.parse((await cli(["screening", "diff", "ofac-sdn", "1", "--json", ...dataDir])).out);
    expect(json.diff).toEqual({ added: ["101", "102", "103"], removed: [], changed: [] });
  });

  it("refuses a list larger than the config's screening.max_list_entries: exit 1, nothing imported", async () => {
    const config = join(dir, "small.yaml");
    writeFileSync(
      config,
      `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
        `data_dir: ${JSON.stringify(join(dir, "small"))}\n` +
        `providers: { demo: { type: demo } }\ndefault_provider: demo\n` +
        `screening: { max_list_entries: 1 }\n`,
    );
    await (await openStore({ dataDir: join(dir, "small") })).close();
    const refused = await cli(["screening", "import", join(FIXTURES, "dpl.txt"), "--config", config]);
    expect(refused).toMatchObject({ code: 1, out: "" });
    expect(refused.err).toBe(
      `clearance: ${join(FIXTURES, "dpl.txt")}: 2 entries, more than the 1 a list may hold (screening.max_list_entries) (list_too_large)\n`,
    );
    expect((await cli(["screening", "lists", "--config", config])).out).not.toContain("bis-dpl");
    const bad = await cli(["screening", "import", join(FIXTURES, "dpl.txt"), "--published", "2026-02-30"]);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.err).toContain("--published: expected a real date (YYYY-MM-DD)");
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

describe("clearance screening search | compare | rescreen | review", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-screening-cli2-"));
  const dataDir = ["--data-dir", join(dir, "data")];
  // The store is the gateway's: its first start (serve, demo) creates it.
  beforeAll(async () => (await openStore({ dataDir: join(dir, "data") })).close());

  it("compare --jsonl: one score line per input line, in order; bad lines say which", async () => {
    const input = [
      { schema: "Person", a: "Ivan Petrov", b: "PETROV, Ivan" },
      { schema: "Company", a: "Acme Trading Co., Ltd.", b: "ACME TRADING LIMITED" },
      { schema: "Person", a: "Ivan Petrov", b: "Olga Smirnova" },
      { schema: "Person", a: "", b: "x" },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const r = await cli(["screening", "compare", "--jsonl"], input);
    const lines = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, 3)).toEqual([
      { score: 1, match: true },
      { score: 1, match: true },
      expect.objectContaining({ match: false }),
    ]);
    expect(lines[3].error.problems[0]).toMatchObject({ path: ["a"], line: 4 });
    expect(r.code).toBe(2);
  });

  it("search --lists --jsonl against list files, without a store", async () => {
    const input = [
      { name: "Ivan Petrov", schema: "Person", birth_date: "1965", nationality: "ru" },
      { name: "Global Relief Foundation", schema: "Organization" },
      { name: "Hanna Schmidt", schema: "Person", nationality: "Germany" },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const r = await cli(
      [
        "screening",
        "search",
        "--jsonl",
        "--lists",
        join(FIXTURES, "ofac", "sdn.csv"),
        join(FIXTURES, "un.xml"),
      ],
      input,
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0].match).toBe(true);
    expect(lines[0].candidates[0]).toMatchObject({
      list: "ofac-sdn",
      entry_id: "101",
      name: "PETROV, Ivan Sergeyevich",
    });
    expect(lines[0].candidates[0].why.factors.length).toBe(2);
    expect(lines[1].candidates[0]).toMatchObject({ list: "un-sc", entry_id: "9002" });
    expect(lines[2]).toEqual({ match: false, candidates: [] });
  });

  it("rescreen finds principals on the lists; review confirms or clears with a reason", async () => {
    await cli(["screening", "import", join(FIXTURES, "un.xml"), ...dataDir]);
    const p = join(dir, "p.json");
    writeFileSync(
      p,
      JSON.stringify({
        id: "abdul",
        name: "Abdulhai Salek",
        birth_date: "1970-03-01",
        citizenships: [{ country: "AF" }],
      }),
    );
    await cli(["principals", "add", "--file", p, ...dataDir]);
    const rescreen = await cli(["screening", "rescreen", ...dataDir]);
    expect(rescreen.out).toMatch(/rescreened 1 principals and organizations against 2 entries: 1 matches/);
    const list = await cli(["screening", "review", "list", "--json", ...dataDir]);
    const [m] = JSON.parse(list.out);
    expect(m).toMatchObject({ subject_id: "abdul", list: "un-sc", entry_id: "9001", status: "potential" });
    const show = await cli(["screening", "review", "show", m.id, ...dataDir]);
    expect(show.out).toContain("un-sc/9001  Abdulhai Salek (a.k.a. of ABDUL SALEK)");
    expect(show.out).toMatch(/\+0\.0\d birth_date/);
    const confirm = await cli([
      "screening",
      "review",
      "confirm",
      m.id,
      "--reason",
      "same passport",
      "--reviewer",
      "rita",
      ...dataDir,
    ]);
    expect(confirm.out).toBe(`${m.id}: confirmed\n`);
    expect((await cli(["principals", "list", ...dataDir])).out).toContain("abdul");
    const missing = await cli(["screening", "review", "clear", "nope", "--reason", "x", ...dataDir]);
    // Not found is a refusal (exit 1) with the admin API's code, as `clearance remote screening …` has it.
    expect(missing).toMatchObject({ code: 1, err: 'clearance: no screening match "nope" (unknown-match)\n' });
    expect(await cli(["screening", "review", "show", "nope", ...dataDir])).toMatchObject({
      code: 1,
      err: 'clearance: no screening match "nope" (not_found)\n',
    });
    const search = await cli([
      "screening",
      "search",
      "Abu Salek",
      "--type",
      "person",
      "--threshold",
      "0.5",
      ...dataDir,
    ]);
    expect(search.out).toContain("weak aka");
  });
});

describe("clearance screening import | rescreen | search --config: the deployment's screening.threshold", () => {
  it("screens with the config's threshold (lowered to 0.7), not the default 0.86", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-screening-cli3-"));
    const config = join(dir, "clearance.yaml");
    writeFileSync(
      config,
      `scheme: ${JSON.stringify(resolve("examples/g7-trusted-partners.yaml"))}\n` +
        `data_dir: ${JSON.stringify(join(dir, "data"))}\n` +
        `providers: { demo: { type: demo } }\ndefault_provider: demo\n` +
        `screening: { threshold: 0.7 }\n`,
    );
    await (await openStore({ dataDir: join(dir, "data") })).close();
    // Against UN 9001 (ABDUL SALEK, born 1970-03-01, AF) this scores 0.734: under 0.86, over 0.7
    // (a spelling a letter off, and a birth date 20 years off).
    const p = join(dir, "p.json");
    writeFileSync(
      p,
      JSON.stringify({
        id: "abdul",
        name: "Abdul Zalek",
        birth_date: "1990-01-01",
      }),
    );
    expect((await cli(["principals", "add", "--file", p, "--config", config])).code).toBe(0);
    const imported = await cli(["screening", "import", join(FIXTURES, "un.xml"), "--config", config]);
    expect(imported.out).toContain("against 2 added or changed entries: 1 potential matches, 0 resolved");
    const queue = JSON.parse((await cli(["screening", "review", "list", "--json", "--config", config])).out);
    expect(queue).toMatchObject([{ subject_id: "abdul", entry_id: "9001", score: 0.734 }]);
    // A full rescreen keeps it open (at 0.86 it would resolve it).
    const rescreen = await cli(["screening", "rescreen", "--config", config]);
    expect(rescreen.out).toMatch(
      /against 2 entries: 1 matches at or above the threshold, \d+ changes recorded, 0 resolved/,
    );
    expect(
      JSON.parse((await cli(["screening", "review", "list", "--json", "--config", config])).out),
    ).toHaveLength(1);
    const search = await cli([
      "screening",
      "search",
      "Abdul Zalek",
      "--birth-date",
      "1990-01-01",
      "--config",
      config,
    ]);
    expect(search.out).toContain("0.734  un-sc/9001  ABDUL SALEK");
    // --threshold still wins over the config.
    const strict = await cli(["screening", "rescreen", "--threshold", "0.86", "--json", "--config", config]);
    expect(JSON.parse(strict.out)).toMatchObject({ potential: 0 });
  });
});
