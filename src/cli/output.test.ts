/**
 * The process's own output failing (a real child process): a reader that leaves early (`clearance …
 * | head -1`) ends nothing with a stack trace, and a full disk is said, exit 1.
 */
import { spawn, type StdioOptions } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCHEME = "examples/g7-trusted-partners.yaml";

/**
 * The CLI in a child process; `closed` closes that stream of ours at once, as `| head -0` would
 * (`stdin`, `stdout`: a file descriptor of ours for the child's).
 */
function cli(
  args: string[],
  options: { closed?: "stdout" | "stderr"; stdin?: number; stdout?: number } = {},
) {
  const stdio: StdioOptions = [options.stdin ?? "ignore", options.stdout ?? "pipe", "pipe"];
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { stdio });
  let err = "";
  if (options.closed === "stdout") child.stdout?.destroy();
  if (options.closed === "stderr") child.stderr?.destroy();
  else child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  return new Promise<{ code: number | null; err: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, err })),
  );
}

describe("output to a closed pipe", () => {
  it(
    "a reader gone before the output: no EPIPE stack, the command's own exit code",
    { timeout: 60_000 },
    async () => {
      expect(await cli(["scheme", "schema"], { closed: "stdout" })).toEqual({ code: 0, err: "" });
      const denied = await cli(
        [
          "check",
          ...["--scheme", SCHEME, "--principal", "examples/principals/us-engineer.json"],
          ...["--request", "examples/requests/mythos-5-from-IR.json", "--fail-on-deny"],
        ],
        { closed: "stdout" },
      );
      expect(denied).toEqual({ code: 1, err: "" });
    },
  );

  // Before: every remaining line was still screened after the reader had gone, its answers
  // dropped: a refused line at the end of the batch still made the exit status 2.
  it(
    "a reader that leaves after the first --jsonl answer stops the batch: the lines after it are not worked out",
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "clearance-epipe-"));
      try {
        // Far more answers than a pipe holds (64 KiB), then a line that is refused.
        const pair = JSON.stringify({ schema: "Person", a: "John Smith", b: "Jon Smith" });
        const input = join(dir, "pairs.jsonl");
        writeFileSync(input, `${`${pair}\n`.repeat(20_000)}{"a": 5}\n`);
        const stdin = openSync(input, "r");
        const child = spawn(
          process.execPath,
          ["--import", "tsx", "src/cli/main.ts", "screening", "compare", "--jsonl"],
          { stdio: [stdin, "pipe", "pipe"] },
        );
        closeSync(stdin);
        const { stdout, stderr } = child;
        if (stdout === null || stderr === null) throw new Error("spawned with pipes");
        let err = "";
        stderr.on("data", (c: Buffer) => (err += c.toString()));
        let first = "";
        // As `| head -1`: the first answer read, then the pipe closed.
        stdout.once("data", (c: Buffer) => {
          first = c.toString().split("\n")[0] ?? "";
          stdout.destroy();
        });
        const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
        expect(JSON.parse(first)).toMatchObject({ match: true });
        // The refused last line was never reached: the answers the reader took decide the status.
        expect({ code, err }).toEqual({ code: 0, err: "" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  // Before: a refused line counted before the write of its answer was seen to fail, so a reader
  // gone before it (`| head -0`) made the exit status 2 though it was given no answer.
  it(
    "a refused --jsonl line whose answer finds the reader gone does not count: the status of the lines answered",
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "clearance-epipe-"));
      try {
        const input = join(dir, "refused.jsonl");
        writeFileSync(input, '{"a": 5}\n');
        const stdin = openSync(input, "r");
        const done = cli(["screening", "compare", "--jsonl"], { closed: "stdout", stdin });
        closeSync(stdin);
        expect(await done).toEqual({ code: 0, err: "" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("standard error gone: a usage error still exits 2", { timeout: 60_000 }, async () => {
    expect((await cli(["sets", "--bogus"], { closed: "stderr" })).code).toBe(2);
  });

  it("a full disk: said once on stderr, exit 1", { timeout: 60_000 }, async () => {
    const full = openSync("/dev/full", "w");
    try {
      const r = await cli(["sets"], { stdout: full });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^clearance: cannot write to standard output: ENOSPC: no space left on device, write\n$/,
      );
    } finally {
      closeSync(full);
    }
  });
});
