/**
 * A flag's or argument's value named in a usage error is quoted as messages quote values (`quoted`):
 * a C1 control (U+009B starts a terminal's control sequence), a DEL or a bidirectional override in
 * it is written as an escape on stderr, not raw. The CLI writes its errors to a terminal.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "./io.js";
import { run } from "./program.js";

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

const ODD = "1\u009b2J\u202e\u007f";
const SHOWN = '"1\\u009b2J\\u202e\\u007f"';

describe("values from argv in usage errors", () => {
  it("an unsigned 64-bit flag's value (audit proof --index)", async () => {
    const r = await cli([
      "audit",
      "proof",
      "inclusion",
      "--index",
      ODD,
      "--size",
      "5",
      "http://127.0.0.1:9/",
    ]);
    expect(r).toEqual({
      code: 2,
      out: "",
      err: `--index: expected an unsigned 64-bit integer, got ${SHOWN}\n`,
    });
  });

  it("a built-in set's name (sets)", async () => {
    const r = await cli(["sets", ODD]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^no built-in set ${SHOWN.replace(/\\/g, "\\\\")}; try: G7, `));
    expect(r.err).not.toMatch(/[\u007f-\u009f\u202a-\u202e]/);
  });

  it("a what-if's number of days and log index", async () => {
    const days = await cli(["scheme", "what-if", "examples/g7-trusted-partners.yaml", "--days", ODD]);
    expect(days).toEqual({
      code: 2,
      out: "",
      err: `--days: expected a whole number from 1 to 3650, got ${SHOWN}\n`,
    });
    const index = await cli(["scheme", "what-if", "examples/g7-trusted-partners.yaml", "--from-index", ODD]);
    expect(index.code).toBe(2);
    expect(index.err).toBe(`--from-index: expected a log index, got ${SHOWN}\n`);
  });

  it("a port to serve on (serve --port, demo --port)", async () => {
    for (const verb of [["serve", "--scheme", "examples/g7-trusted-partners.yaml"], ["demo"]]) {
      const r = await cli([...verb, "--port", ODD]);
      expect(r).toEqual({ code: 2, out: "", err: `--port: expected 0–65535, got ${SHOWN}\n` });
    }
    // A plain value reads as before.
    const plain = await cli(["serve", "--scheme", "examples/g7-trusted-partners.yaml", "--port", "99999"]);
    expect(plain.err).toBe('--port: expected 0–65535, got "99999"\n');
  });

  it("a file named in a problem or a summary (scheme validate): quoted when it holds what quoted() escapes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-quoted-argv-"));
    const odd = join(dir, "s\u009b2J\u202e.yaml");
    const shown = `"${join(dir, "s\\u009b2J\\u202e.yaml")}"`;
    writeFileSync(odd, "version: 1\nname: x\nhome: [UK]\nmodels:\n  a: {control: open}\n");
    const bad = await cli(["scheme", "validate", odd]);
    expect(bad).toEqual({
      code: 2,
      out: "",
      err: `${shown}:3:8: home[0]: "UK" is not an ISO 3166-1 alpha-2 country code (did you mean GB?)\n`,
    });
    writeFileSync(odd, "version: 1\nname: x\nhome: [GB]\nmodels:\n  a: {control: open}\n");
    const good = await cli(["scheme", "validate", odd]);
    expect(good.code).toBe(0);
    expect(good.out.split(" (")[0]).toBe(`${shown}: valid — scheme x`);
    const missing = await cli(["serve", "--scheme", `${odd}.gone`]);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(
      `--scheme: cannot read "${join(dir, "s\\u009b2J\\u202e.yaml.gone")}": no such file\n`,
    );
    // A plain file name reads as before: bare.
    const plain = join(dir, "plain.yaml");
    writeFileSync(plain, "version: 1\nname: x\nhome: [UK]\nmodels:\n  a: {control: open}\n");
    expect((await cli(["scheme", "validate", plain])).err).toBe(
      `${plain}:3:8: home[0]: "UK" is not an ISO 3166-1 alpha-2 country code (did you mean GB?)\n`,
    );
  });
});
