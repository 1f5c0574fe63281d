/**
 * Files named on the command line (`--key @file`, `--file`, `--principal`, a scheme to upload, a
 * list to import) were read whole, however long: `/dev/zero` held the CLI until memory ran out. A
 * pipe is a legitimate file (`--key @<(…)`, `--file <(jq …)`) and is still read as it comes, but
 * only as far as the bound of what it names; past it the file is refused (exit 2), naming it. Run
 * as a user runs it (a child process), so the old endless read ends with the test.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import {
  closeSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
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

/** The CLI as a process; `stdin`: a file (or device) to open as its standard input, or text piped in. */
function clearance(args: readonly string[], stdin?: { file: string; skip?: number } | { text: string }) {
  const input = stdin !== undefined && "file" in stdin ? openSync(stdin.file, "r") : undefined;
  // Standing past its start, as after `{ head -c N >/dev/null; clearance …; } < file`.
  if (input !== undefined && stdin !== undefined && "skip" in stdin && stdin.skip !== undefined) {
    readSync(input, Buffer.alloc(stdin.skip), 0, stdin.skip, null);
  }
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    stdio: [input ?? (stdin === undefined ? "ignore" : "pipe"), "pipe", "pipe"],
    env: { ...process.env, CLEARANCE_TOKEN: "t".repeat(40) },
  });
  if (input !== undefined) closeSync(input);
  // The CLI may refuse before reading it all: what it leaves unread is no error of ours.
  child.stdin?.on("error", () => undefined);
  if (stdin !== undefined && "text" in stdin) child.stdin?.end(stdin.text);
  children.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
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

describe.skipIf(process.platform === "win32")("standard input", () => {
  const tooLarge = (what: string) =>
    `(stdin): cannot read ${what}: larger than 10 MiB, which no ${what} is (a device, or the wrong file?)\n`;
  const check = [
    "check",
    "--scheme",
    "examples/g7-trusted-partners.yaml",
    "--request",
    "examples/requests/mythos-5-from-FR.json",
  ];

  it(
    "check --principal - past 10 MiB is refused (exit 2), naming the limit",
    { timeout: 60_000 },
    async () => {
      // Before: read whole, then "principal is not valid JSON"; from a device, until memory ran out.
      const piped = await clearance([...check, "--principal", "-"], {
        text: " ".repeat(10 * 1024 * 1024 + 1),
      });
      expect(piped).toEqual({ code: 2, out: "", err: tooLarge("principal") });
      // As much is still read: a principal padded to the limit is taken.
      const principal = readFileSync("examples/principals/fr-researcher.json", "utf8");
      const padded = principal.padEnd(10 * 1024 * 1024, " ");
      const taken = await clearance([...check, "--principal", "-"], { text: padded });
      expect([taken.code, taken.err]).toEqual([0, ""]);
    },
  );

  it(
    "check --principal - is bounded on its bytes, not on their text: Latin-1 within 10 MiB is read",
    { timeout: 60_000 },
    async () => {
      // 4 MiB of 0xE9 decodes to 12 MiB of U+FFFD. Before: refused as "larger than 10 MiB" from
      // standard input, though the same bytes as a file were read.
      const file = join(dir, "latin1-principal.json");
      const head = '{"id":"benoit","citizenships":[{"country":"FR"}],"residence":"FR","note":"';
      writeFileSync(
        file,
        Buffer.concat([Buffer.from(head), Buffer.alloc(4 * 1024 * 1024, 0xe9), Buffer.from('"}')]),
      );
      const read = await clearance([...check, "--principal", "-"], { file });
      expect(read.code).toBe(2);
      expect(read.err).toMatch(/^\(stdin\): principal\.note: unknown key "note"/);
    },
  );

  it(
    "check --principal - takes what is left of a file standing past its start, within the bound",
    { timeout: 60_000 },
    async () => {
      // Before: refused by the whole file's size (11 MiB skipped, then a principal).
      const file = join(dir, "skipped.json");
      const principal = readFileSync("examples/principals/fr-researcher.json");
      writeFileSync(file, Buffer.concat([Buffer.alloc(11 * 1024 * 1024, 0x78), principal]));
      const taken = await clearance([...check, "--principal", "-"], { file, skip: 11 * 1024 * 1024 });
      expect([taken.code, taken.err]).toEqual([0, ""]);
    },
  );

  it(
    "principals add --file - < /dev/zero is refused (exit 2), not read until memory runs out",
    { timeout: 60_000 },
    async () => {
      expect(
        await clearance(["principals", "add", "--file", "-", "--data-dir", dir], { file: "/dev/zero" }),
      ).toEqual({
        code: 2,
        out: "",
        err: tooLarge("principal"),
      });
      const url = ["--url", "http://127.0.0.1:9"];
      expect(await clearance(["schemes", "upload", "-", ...url], { file: "/dev/zero" })).toMatchObject({
        code: 2,
        err: tooLarge("scheme file"),
      });
    },
  );

  it(
    "screening --jsonl past 64 MiB of standard input is refused (exit 2), naming the limit",
    { timeout: 60_000 },
    async () => {
      // A file given as standard input larger than the limit is refused, read no further than it.
      const big = join(dir, "names.jsonl");
      writeFileSync(big, "");
      truncateSync(big, 64 * 1024 * 1024 + 1);
      const err =
        "(stdin): cannot read JSON lines: larger than 64 MiB, more than one batch takes: split it into smaller ones\n";
      expect(await clearance(["screening", "compare", "--jsonl"], { file: big })).toEqual({
        code: 2,
        out: "",
        err,
      });
      // A batch within it is read as ever.
      const line = JSON.stringify({ schema: "Person", a: "John Smith", b: "Jon Smith" });
      const ok = await clearance(["screening", "compare", "--jsonl"], { text: `${line}\n` });
      expect([ok.code, ok.err, JSON.parse(ok.out)]).toEqual([
        0,
        "",
        { score: expect.any(Number), match: expect.any(Boolean) },
      ]);
    },
  );
});
