/**
 * `clearance`: the command line. Exit codes: 0 done; 1 denied (with --fail-on-deny), a failed audit
 * verification, or a refusal (by the server for remote commands, by Clearance itself for local
 * ones, e.g. a list too large, or no principal, key or match by that id: the server's code either
 * way); 2 invalid input or usage (the server's 400 included), with the message on stderr. Errors
 * are said in one place, src/cli/render.ts, for local and remote commands alike.
 */
import { Command, CommanderError } from "commander";
import { registerAudit } from "./commands/audit.js";
import { registerCheck } from "./commands/check.js";
import { registerDemo } from "./commands/demo.js";
import { registerRemote } from "./commands/remote.js";
import { registerReport } from "./commands/report.js";
import { registerWhatIf } from "./commands/whatif.js";
import { registerScheme } from "./commands/scheme.js";
import { registerScreening } from "./commands/screening.js";
import { registerServe } from "./commands/serve.js";
import { registerSets } from "./commands/sets.js";
import { registerStore } from "./commands/store.js";
import type { Io } from "./io.js";
import { EXIT_INVALID, type Outcome } from "./outcome.js";
import { renderError } from "./render.js";

export { EXIT_DENIED, EXIT_INVALID, type Outcome } from "./outcome.js";

export function buildProgram(io: Io, outcome: Outcome = { exitCode: 0 }): Command {
  const program = new Command("clearance")
    .description("Trusted-partner access decisions and enforcement for frontier AI models")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerScheme(program, io);
  registerCheck(program, io, outcome);
  registerSets(program, io);
  registerServe(program, io);
  registerDemo(program, io);
  registerStore(program, io);
  registerAudit(program, io, outcome);
  registerRemote(program, io, outcome);
  registerScreening(program, io, outcome);
  registerReport(program, io);
  registerWhatIf(program, io);
  return program;
}

/** Runs the CLI; resolves to the exit code. Errors become messages, never stack traces. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const outcome: Outcome = { exitCode: 0 };
  const program = buildProgram(io, outcome);
  try {
    await program.parseAsync(argv, { from: "user" });
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successful exits; every other commander error is a usage error.
      return err.exitCode === 0 ? 0 : EXIT_INVALID;
    }
    const rendered = renderError(err);
    if (rendered === null) throw err;
    io.stderr(rendered.text);
    return rendered.exitCode;
  }
}
