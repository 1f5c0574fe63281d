/**
 * Files named on the command line (`--key @file`, `--file`, `--principal`, a scheme to upload, a
 * list to import) were read whole, however long: `/dev/zero` held the CLI until memory ran out. A
 * pipe is a legitimate file (`--key @<(…)`, `--file <(jq …)`) and is still read as it comes, but
 * only as far as the bound of what it names; past it the file is refused (exit 2), naming it. Run
 * as a user runs it (a child process), so the old endless read ends with the test.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateKey } from "../audit/note.js";

const dir = mkdtempSync(join(tmpdir(), "clearance-input-files-"));
const vkey = generateKey("input-files.example/audit").verifierKey;
/** A directory holding no log: verifying it fails (exit 1) once the key is taken. */
const emptyLog = join(dir, "empty-log");
mkdirSync(emptyLog);
const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL")));

function clearance(args: readonly string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CLEARANCE_TOKEN: "t".repeat(40) },
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

/** A FIFO that `text` is written into once the CLI opens it: `<(…)` as a shell makes it. */
function fifoOf(name: string, text: string): string {
  const fifo = join(dir, name);
  execFileSync("mkfifo", [fifo]);
  createWriteStream(fifo).end(text);
  return fifo;
}

describe.skipIf(process.platform === "win32")("files named on the command line", () => {
  it(
    "--key @/dev/zero is refused (exit 2), not read until memory runs out",
    { timeout: 60_000 },
    async () => {
      expect(await clearance(["audit", "verify", emptyLog, "--key", "@/dev/zero"])).toEqual({
        code: 2,
        out: "",
        err: "--key: /dev/zero holds more than 64 KiB, which no verifier key does: give the .vkey file\n",
      });
    },
  );

  it("--key @FIFO is still read: the key comes through the pipe", { timeout: 60_000 }, async () => {
    const fifo = fifoOf("key.fifo", `${vkey}\n`);
    // The key is taken; the log (empty) is what fails.
    expect(await clearance(["audit", "verify", emptyLog, "--key", `@${fifo}`])).toMatchObject({
      code: 1,
      err: expect.stringContaining("(missing-checkpoint)") as unknown,
    });
  });

  it(
    "principals add --file /dev/zero is refused (exit 2), naming the file",
    { timeout: 60_000 },
    async () => {
      expect(await clearance(["principals", "add", "--file", "/dev/zero", "--data-dir", dir])).toEqual({
        code: 2,
        out: "",
        err: "/dev/zero: cannot read principal: larger than 10 MiB, which no principal is (a device, or the wrong file?)\n",
      });
    },
  );

  it("remote verbs refuse it alike, before anything is sent", { timeout: 60_000 }, async () => {
    const url = ["--url", "http://127.0.0.1:9"];
    expect(await clearance(["remote", "principals", "add", "--file", "/dev/zero", ...url])).toMatchObject({
      code: 2,
      err: "/dev/zero: cannot read principal: larger than 10 MiB, which no principal is (a device, or the wrong file?)\n",
    });
    expect(await clearance(["schemes", "upload", "/dev/zero", ...url])).toMatchObject({
      code: 2,
      err: expect.stringContaining("/dev/zero: cannot read scheme file: larger than 10 MiB") as unknown,
    });
  });

  it("check --principal FIFO is still read (a pipe is a file)", { timeout: 60_000 }, async () => {
    const principal = fifoOf(
      "principal.fifo",
      readFileSync("examples/principals/fr-researcher.json", "utf8"),
    );
    const result = await clearance([
      "check",
      "--scheme",
      "examples/g7-trusted-partners.yaml",
      "--principal",
      principal,
      "--request",
      "examples/requests/mythos-5-from-FR.json",
    ]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ decision: expect.any(String) as unknown });
  });
});
