import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "./io.js";
import { run } from "./program.js";

const EXAMPLE = "examples/g7-trusted-partners.yaml";
const dir = mkdtempSync(join(tmpdir(), "clearance-cli-"));
const file = (name: string, value: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
  return path;
};

async function cli(args: string[], stdin = "") {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => stdin };
  const code = await run(args, io);
  return { code, out, err };
}

const indian = file("in.json", {
  id: "p-in",
  citizenships: [{ country: "IN" }],
  residence: "IN",
  assurance: "verified",
});
const french = file("fr.json", {
  id: "p-fr",
  citizenships: [{ country: "FR", since: "1990-01-01" }],
  assurance: "attested",
});
const mythos = (location: string) =>
  file(`req-${location}.json`, {
    model: "mythos-5",
    action: "infer",
    location,
    time: "2026-11-21T12:00:00Z",
  });

describe("clearance CLI", () => {
  it("scheme validate: a valid file", async () => {
    const r = await cli(["scheme", "validate", EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/valid — scheme g7-trusted-partners \(sha256:[0-9a-f]{64}\)/);
  });

  it("scheme validate: every problem on stderr with file:line:column, exit 2", async () => {
    const bad = file(
      "bad.yaml",
      "version: 1\nname: x\nhome: [UK]\nmodels:\n  a: {control: open, fallbak: a}\n",
    );
    const r = await cli(["scheme", "validate", bad]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toEqual([
      `${bad}:3:8: home[0]: "UK" is not an ISO 3166-1 alpha-2 country code (did you mean GB?)`,
      `${bad}:5:22: models.a.fallbak: unknown key "fallbak" (expected one of: control, fallback, available_in, description)`,
    ]);
  });

  it("scheme validate and what-if --active: a file that never ends (/dev/zero) is refused once past 10 MiB, naming it, exit 2", async () => {
    // Before: read whole, it grew the process until memory ran out.
    const r = await cli(["scheme", "validate", "/dev/zero"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("/dev/zero holds more than 10 MiB");
    const w = await cli(["scheme", "what-if", EXAMPLE, "--active", "/dev/zero"]);
    expect(w.code).toBe(2);
    expect(w.err).toContain("/dev/zero holds more than 10 MiB");
  });

  it("scheme schema prints a JSON Schema", async () => {
    const r = await cli(["scheme", "schema"]);
    expect(JSON.parse(r.out)).toMatchObject({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
    });
  });

  it("check: JSON decision, and --fail-on-deny does not fail a fallback", async () => {
    const r = await cli([
      "check",
      "--scheme",
      EXAMPLE,
      "--principal",
      indian,
      "--request",
      mythos("IN"),
      "--fail-on-deny",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      decision: "fallback",
      reason: "no-authorization",
      served_model: "mythos-4",
    });
  });

  it("check --fail-on-deny exits 1 on deny", async () => {
    const r = await cli([
      "check",
      "--scheme",
      EXAMPLE,
      "--principal",
      french,
      "--request",
      mythos("IR"),
      "--fail-on-deny",
    ]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ decision: "deny", reason: "embargoed-location" });
  });

  it("check --explain reads the principal from stdin and explains each check", async () => {
    const stdin = JSON.stringify({ id: "p-fr", citizenships: [{ country: "FR" }], assurance: "attested" });
    const r = await cli(
      ["check", "--scheme", EXAMPLE, "--principal", "-", "--request", mythos("FR"), "--explain"],
      stdin,
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain("ALLOW mythos-5 — partner-country");
    expect(r.out).toMatch(/6\. ✔ partner-country +allow \(partner-country\): country partner g7-fvey/);
    expect(r.out).toContain("rests on: country partner g7-fvey, grant #1");
  });

  it("check: a bad principal is exit 2 naming the field", async () => {
    const bad = file("bad-principal.json", { id: "x", citizenships: [{ country: "France" }] });
    const r = await cli(["check", "--scheme", EXAMPLE, "--principal", bad, "--request", mythos("FR")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("principal.citizenships[0].country: expected an ISO 3166-1 alpha-2 country code");
  });

  it("check: unreadable files and bad JSON are exit 2 naming the file", async () => {
    const r1 = await cli([
      "check",
      "--scheme",
      EXAMPLE,
      "--principal",
      join(dir, "nope.json"),
      "--request",
      mythos("FR"),
    ]);
    expect([r1.code, r1.err]).toEqual([2, expect.stringContaining("nope.json")]);
    const r2 = await cli([
      "check",
      "--scheme",
      EXAMPLE,
      "--principal",
      file("x.json", "{"),
      "--request",
      mythos("FR"),
    ]);
    expect([r2.code, r2.err]).toEqual([2, expect.stringContaining("principal is not valid JSON")]);
  });

  it("usage errors exit 2", async () => {
    expect((await cli(["check", "--scheme", EXAMPLE])).code).toBe(2);
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["serve", "--scheme", EXAMPLE, "--port", "99999"])).code).toBe(2);
    // The gateway or the decision API alone: asking for both is refused, not half-ignored.
    const both = await cli(["serve", "--scheme", EXAMPLE, "--config", "examples/clearance.yaml"]);
    expect([both.code, both.err]).toEqual([
      2,
      expect.stringContaining("cannot be used with option '--config"),
    ]);
  });

  it("refuses to serve the token-less decision API beyond loopback unless told so explicitly", async () => {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "gateway.example"]) {
      const r = await cli(["serve", "--scheme", EXAMPLE, "--host", host, "--port", "0"]);
      expect([r.code, r.err], host).toEqual([
        2,
        expect.stringMatching(/has no authentication.*--allow-unauthenticated/s),
      ]);
    }
  });

  it("refuses an empty --host, which Node would bind on every interface", async () => {
    for (const args of [
      ["serve", "--scheme", EXAMPLE, "--host", "", "--port", "0"],
      ["serve", "--config", "no-such-clearance.yaml", "--host", " ", "--port", "0"],
    ]) {
      const r = await cli(args);
      expect([r.code, r.err]).toEqual([2, expect.stringMatching(/--host: expected an address/)]);
    }
  });

  it("--scheme, --config and --active naming a file that cannot be read say which flag and which path (exit 2)", async () => {
    // Before: "/x.yaml: ENOENT: no such file or directory, open '/x.yaml'", naming no flag.
    const gone = join(dir, "gone.yaml");
    const scheme = `--scheme: cannot read ${gone}: no such file\n`;
    const config = `--config: cannot read ${gone}: no such file\n`;
    const runs: [string[], string][] = [
      [["check", "--scheme", gone, "--principal", french, "--request", mythos("FR")], scheme],
      [["serve", "--scheme", gone, "--port", "0"], scheme],
      [["serve", "--config", gone, "--port", "0"], config],
      [["demo", "--config", gone, "--data-dir", join(dir, "demo")], config],
      [["principals", "list", "--config", gone], config],
      [["keys", "list", "--config", gone], config],
      [["screening", "lists", "--config", gone], config],
      [["report", "footprint", "--config", gone], config],
      [["scheme", "what-if", EXAMPLE, "--active", gone], `--active: cannot read ${gone}: no such file\n`],
      [["scheme", "what-if", EXAMPLE, "--config", gone], config],
      [
        ["check", "--scheme", dir, "--principal", french, "--request", mythos("FR")],
        `--scheme: cannot read ${dir}: is a directory\n`,
      ],
    ];
    for (const [args, err] of runs) {
      const r = await cli(args);
      expect([r.code, r.err], args.join(" ")).toEqual([2, err]);
    }
    // A config that names a scheme it cannot read is the config's problem, at its line.
    const example = readFileSync("examples/clearance.yaml", "utf8");
    const cfg = file("names-gone.yaml", example.replace(/^scheme: .*$/m, `scheme: ${gone}`));
    const r = await cli(["principals", "list", "--config", cfg]);
    expect([r.code, r.err]).toEqual([
      2,
      `${cfg}:5:9: scheme: cannot read scheme file ${gone}: no such file\n`,
    ]);
  });

  it("scheme validate <file> and a config's scheme that cannot be read say so as the flags do (exit 2)", async () => {
    // Before: "/x.yaml: ENOENT: no such file or directory, open '/x.yaml'", fs's own words.
    const gone = join(dir, "gone.yaml");
    expect(await cli(["scheme", "validate", gone])).toEqual({
      code: 2,
      out: "",
      err: `cannot read ${gone}: no such file\n`,
    });
    expect(await cli(["scheme", "validate", dir])).toEqual({
      code: 2,
      out: "",
      err: `cannot read ${dir}: is a directory\n`,
    });
    const example = readFileSync("examples/clearance.yaml", "utf8");
    const cfg = file("names-a-directory.yaml", example.replace(/^scheme: .*$/m, `scheme: ${dir}`));
    const r = await cli(["principals", "list", "--config", cfg]);
    expect([r.code, r.err]).toEqual([
      2,
      `${cfg}:5:9: scheme: cannot read scheme file ${dir}: is a directory\n`,
    ]);
  });

  it("sets lists built-in sets with source and as-of date", async () => {
    const r = await cli(["sets", "EAR_E1"]);
    expect(r.out).toMatch(/EAR_E1 +3 countries +as of \d{4}-\d{2}-\d{2} +15 CFR/);
    expect(r.out).toMatch(/IR {2}.*Iran/);
  });
});

describe("the README walkthrough (examples/principals, examples/requests)", () => {
  const cases = [
    ["us-engineer", "mythos-5-from-US", "allow", "home-person"],
    ["fr-researcher", "mythos-5-from-FR", "allow", "partner-country"],
    ["uk-aisi-evaluator", "mythos-5-fine-tune-from-GB", "allow", "partner-organization"],
    ["in-engineer", "mythos-5-from-IN", "fallback", "no-authorization"],
    ["bw-cyber-analyst", "fable-5-cyber-defense-from-DE", "allow", "license"],
    ["fr-researcher", "mythos-5-from-IR", "deny", "embargoed-location"],
    ["cn-ca-engineer", "mythos-5-from-CA", "allow", "partner-country"],
  ] as const;
  it.each(cases)("%s asking %s: %s (%s)", async (principal, request, decision, reason) => {
    const r = await cli([
      "check",
      "--scheme",
      EXAMPLE,
      "--principal",
      `examples/principals/${principal}.json`,
      "--request",
      `examples/requests/${request}.json`,
    ]);
    expect(JSON.parse(r.out)).toMatchObject({ decision, reason });
  });
});
