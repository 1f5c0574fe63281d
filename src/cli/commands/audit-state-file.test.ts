/**
 * `clearance audit verify --state FILE` read the file whatever it was: a FIFO with no writer blocked
 * the verifier for ever (before it had read the log), and `/dev/zero` was read until memory ran
 * out. Only a regular file of at most 4 MiB is read; anything else is usage (exit 2) naming the
 * file, said at once. Run as a user runs it (a child process), so the old hang ends with the test.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../../audit/note.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-audit-state-"));
const vkey = generateKey("state-file.example/audit").verifierKey;
/** A directory holding no log: it fails verification (exit 1) once the state file is read. */
const emptyLog = join(dir, "empty-log");
mkdirSync(emptyLog);
const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL")));

function verify(state: string) {
  const args = ["audit", "verify", emptyLog, "--key", vkey, "--state", state];
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, out, err })),
  );
}

describe.skipIf(process.platform === "win32")("audit verify --state that is not a state file", () => {
  it("a FIFO is refused at once (exit 2), not waited on", { timeout: 60_000 }, async () => {
    const fifo = join(dir, "state.fifo");
    execFileSync("mkfifo", [fifo]);
    expect(await verify(fifo)).toEqual({
      code: 2,
      out: "",
      err: `${fifo}: the state file is not a regular file (a device, a pipe or a directory?): give --state a file's path\n`,
    });
  });

  it("/dev/zero is refused (exit 2), not read until memory runs out", { timeout: 60_000 }, async () => {
    expect(await verify("/dev/zero")).toMatchObject({
      code: 2,
      err: expect.stringContaining("/dev/zero: the state file is not a regular file"),
    });
  });

  it("a regular file over 4 MiB is refused (exit 2) without being parsed", { timeout: 60_000 }, async () => {
    const big = join(dir, "big.json");
    writeFileSync(big, "");
    truncateSync(big, 4 * 1024 * 1024 + 1);
    expect(await verify(big)).toEqual({
      code: 2,
      out: "",
      err: `${big}: the state file is larger than 4 MiB, which no verification state is: not a state file\n`,
    });
    // A state file as the verifier writes it is read as before: the log (empty) is what fails.
    const small = join(dir, "small.json");
    writeFileSync(small, JSON.stringify({ v: 2, keys: {}, origins: {} }));
    expect(await verify(small)).toMatchObject({
      code: 1,
      err: expect.stringContaining("(missing-checkpoint)"),
    });
  });
});
