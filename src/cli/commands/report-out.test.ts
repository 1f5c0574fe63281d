/**
 * `--out` of `report footprint` and `scheme what-if`: the report is written aside and renamed, so a
 * reader never sees half of one; a write that fails leaves nothing behind either (a copy under
 * another name would hold the report's principals and organizations where nobody looks for it).
 * Their failures are said as every verb's: a refusal `clearance: <message> (<code>)`, bad input at
 * the flag given (`--from`, not the admin API's `from`), locally and remotely alike.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";
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
  it("what-if onto a directory: refused before the log is read, exit 2, nothing left", async () => {
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
    expect(r.err).toBe(
      `--out: ${out} is not a regular file (a directory); name a regular file, or leave --out out to write to stdout\n`,
    );
    expect(readdirSync(dir)).toEqual(["impact.json"]);
  });
});

describe("--out naming something other than a regular file", () => {
  // A what-if: it has a report to write from this gateway's log, which holds no decision yet.
  const footprint = (out: string) =>
    cli(
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

  // Everything named lives in a directory of the test's own: run as root, the old code renamed its
  // report over /dev/stdout itself (a regular file left in its place); here a regression replaces a
  // link of the test's, not the machine's.
  it("/dev/stdout, a device, a FIFO: refused at --out, exit 2, nothing written beside them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-out-"));
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    const stdout = join(dir, "stdout");
    symlinkSync("/proc/self/fd/1", stdout); // as /dev/stdout is
    const device = join(dir, "null");
    symlinkSync("/dev/null", device);
    for (const [out, what] of [
      [stdout, /\(a symbolic link to a (character device|FIFO|socket)\)/],
      [device, /\(a symbolic link to a character device\)/],
      [fifo, /\(a FIFO\)/],
    ] as const) {
      const r = await footprint(out);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).toMatch(new RegExp(`^--out: ${out} is not a regular file`));
      expect(r.err).toMatch(what);
    }
    expect(readdirSync(dir).sort()).toEqual(["null", "pipe", "stdout"]);
  });

  it("a symlink to a regular file is written through: the link stays, its target holds the report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-out-"));
    const target = join(dir, "target.json");
    writeFileSync(target, "old");
    const link = join(dir, "link.json");
    symlinkSync(target, link);
    const r = await footprint(link);
    expect(r.code).toBe(0);
    expect(readFileSync(target, "utf8")).toMatch(/^\{/);
    expect(readdirSync(dir).sort()).toEqual(["link.json", "target.json"]);
    expect(readFileSync(link, "utf8")).toBe(readFileSync(target, "utf8"));
    // A link to nothing: refused, not replaced by a file of that name.
    const dangling = join(dir, "dangling.json");
    symlinkSync(join(dir, "nowhere.json"), dangling);
    const d = await footprint(dangling);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(new RegExp(`^--out: ${dangling} is a symbolic link to nothing`));
  });
});

describe("a report's failure, said as every verb's", () => {
  it("a refusal is `clearance: <message> (<code>)`, exit 1, for footprint and what-if alike", async () => {
    const missing = join(tmpdir(), "clearance-no-such-audit-log");
    const footprint = await cli("report", "footprint", "--data-dir", t.dataDir, "--log", missing);
    expect(footprint.code).toBe(1);
    expect(footprint.err).toMatch(
      new RegExp(`^clearance: no audit log at ${missing}: [^\n]* \\(log_unreadable\\)\n$`),
    );
    const whatIf = await cli(
      "scheme",
      "what-if",
      "examples/g7-trusted-partners.yaml",
      "--data-dir",
      t.dataDir,
      "--log",
      missing,
      "--days",
      "1",
    );
    expect(whatIf).toEqual({ code: 1, out: "", err: footprint.err });
  });

  it("a bad or empty period names the flag given, exit 2", async () => {
    const footprint = (...args: string[]) => cli("report", "footprint", "--data-dir", t.dataDir, ...args);
    expect(await footprint("--from", "yesterday")).toEqual({
      code: 2,
      out: "",
      err: '--from: expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got "yesterday"\n',
    });
    const backwards = await footprint("--from", "2026-02-01", "--to", "2026-01-01");
    expect(backwards.code).toBe(2);
    expect(backwards.err).toMatch(/^--to: "2026-01-01" \(2026-01-02T00:00:00\.000Z\) is not after from/);
    const future = await footprint("--from", "2999-01-01");
    expect(future.code).toBe(2);
    expect(future.err).toMatch(
      /^--from: "2999-01-01" \(2999-01-01T00:00:00\.000Z\) is not before now \(.*\): the period would be empty\n$/,
    );
    // No decision in the period (this gateway's log has none): said with the log, as bad input.
    const none = await footprint("--from", "2020-01-01", "--to", "2020-01-31");
    expect(none).toMatchObject({ code: 2, out: "" });
    expect(none.err).toMatch(
      /^the audit log at .* has no decisions from 2020-01-01T00:00:00\.000Z to 2020-02-01T00:00:00\.000Z \(none of its \d+ entries is a decision\)\n$/,
    );
  });

  it("remotely too: the server's problem at `from` is said at --from", async () => {
    const saved = process.env.CLEARANCE_TOKEN;
    process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
    try {
      const r = await cli("reports", "footprint", "--from", "yesterday", "--url", t.url);
      expect(r).toEqual({
        code: 2,
        out: "",
        err: '--from: expected a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone, got "yesterday"\n',
      });
    } finally {
      if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
      else process.env.CLEARANCE_TOKEN = saved;
    }
  });

  it("remotely, a what-if's bad or empty range and window are said at the flags given", async () => {
    const saved = process.env.CLEARANCE_TOKEN;
    process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
    const whatIf = (...args: string[]) => cli("schemes", "what-if", "1", "--url", t.url, ...args);
    try {
      expect(await whatIf("--from-index", "abc")).toEqual({
        code: 2,
        out: "",
        err: "--from-index: expected a log index\n",
      });
      const reversed = await whatIf("--from-index", "9", "--to-index", "5");
      expect(reversed).toMatchObject({ code: 2, out: "" });
      expect(reversed.err).toMatch(/^--from-index: 9 is not before /);
      expect((await whatIf("--to-index", "0")).err).toMatch(/^--to-index: 0 leaves no entries/);
      expect((await whatIf("--days", "99999")).err).toMatch(/^--days: /);
      expect((await whatIf("--examples", "5000")).err).toMatch(/^--examples: /);
    } finally {
      if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
      else process.env.CLEARANCE_TOKEN = saved;
    }
  });
});
