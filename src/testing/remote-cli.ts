/**
 * Runs the CLI in-process against a running gateway as its bootstrap admin (the token from the
 * environment, as a user's shell gives it), capturing what it writes: one helper for the tests that
 * drive remote verbs.
 */
import type { Io } from "../cli/io.js";
import { run } from "../cli/program.js";
import { ADMIN_TOKEN } from "./gateway.js";

export async function remoteCli(
  url: string,
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  const saved = process.env.CLEARANCE_TOKEN;
  process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  try {
    const code = await run([...args, "--url", url], io);
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
    else process.env.CLEARANCE_TOKEN = saved;
  }
}
