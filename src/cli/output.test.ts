/**
 * The process's own output failing (a real child process): a reader that leaves early (`clearance …
 * | head -1`) ends nothing with a stack trace, and a full disk is said, exit 1.
 */
import { spawn, type StdioOptions } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { describe, expect, it } from "vitest";

const SCHEME = "examples/g7-trusted-partners.yaml";

/** The CLI in a child process; `closed` closes that stream of ours at once, as `| head -0` would. */
function cli(args: string[], options: { closed?: "stdout" | "stderr"; stdout?: number } = {}) {
  const stdio: StdioOptions = ["ignore", options.stdout ?? "pipe", "pipe"];
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
