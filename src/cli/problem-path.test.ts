/**
 * A problem's path names member names from outside (an unknown key, a key named twice): the CLI
 * shows each such name quoted and escaped, as messages quote values, where written raw it would act
 * on the terminal (U+009B starts a control sequence) or read otherwise than it is (an override); the
 * problem itself, and the API's `problems[].path`, keep the name as sent.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { answerDecisions } from "../api/index.js";
import { Turns } from "../api/turns.js";
import { ClearanceError } from "../errors/index.js";
import { errorBody } from "../http/index.js";
import { testScheme } from "../testing/schemes.js";
import type { Io } from "./io.js";
import { run } from "./program.js";
import { renderError } from "./render.js";

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

/** A C1 control sequence, a right-to-left override and a quote. */
const ODD = 'x\u009b2J\u202e"';
const SHOWN = '["x\\u009b2J\\u202e\\""]';

describe("member names in a problem's path", () => {
  it("clearance check names an unknown key holding hidden characters escaped; a plain one as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clearance-problem-path-"));
    const principal = join(dir, "principal.json");
    writeFileSync(principal, JSON.stringify({ id: "p-1", citizenships: [{ country: "FR" }] }));
    const request = (extra: string) => {
      const file = join(dir, "request.json");
      writeFileSync(
        file,
        JSON.stringify({ model: "m5", action: "infer", time: "2026-11-21T12:00:00Z", [extra]: 1 }),
      );
      return file;
    };
    const scheme = "examples/g7-trusted-partners.yaml";
    const check = (file: string) =>
      cli(["check", "--scheme", scheme, "--principal", principal, "--request", file]);
    const odd = await check(request(ODD));
    expect(odd.code).toBe(2);
    expect(odd.err).toBe(
      `${join(dir, "request.json")}: request${SHOWN}: unknown key "x\\u009b2J\\u202e\\"" (expected one of: model, action, location, purpose, time, usage)\n`,
    );
    const plain = await check(request("extra"));
    expect(plain.err).toMatch(/: request\.extra: unknown key "extra" \(/);
  });

  it("a duplicate_member problem keeps the name as sent; the CLI shows it escaped", async () => {
    const text = `{"principal":{"id":"p-1","${ODD.replace('"', '\\"')}":1,"${ODD.replace('"', '\\"')}":2}}`;
    const refused = await answerDecisions(text, testScheme(), new Turns(() => false)).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ClearanceError);
    const err = refused as ClearanceError;
    expect(err.code).toBe("duplicate_member");
    expect(err.problems[0]?.path).toEqual(["principal", ODD]);
    // As data the name is as sent (a client matches it against its own field names) ...
    expect(errorBody(err)).toMatchObject({ error: { problems: [{ path: `principal.${ODD}` }] } });
    // ... as text, escaped.
    expect(renderError(err)).toEqual({
      text: `principal${SHOWN}: the body names "x\\u009b2J\\u202e\\"" more than once in the same object; send each member once\n`,
      exitCode: 2,
    });
  });
});
