import type { Command } from "commander";
import { InvalidInputError } from "../../errors/index.js";
import { decide, decisionView, explain, parsePrincipal, parseRequest } from "../../policy/index.js";
import { schemeFlag } from "../flag-files.js";
import { cellText, jsonText, readJsonWith, type Io } from "../io.js";
import { EXIT_DENIED, type Outcome } from "../outcome.js";

interface CheckOptions {
  scheme: string;
  principal: string;
  request: string;
  explain?: boolean;
  failOnDeny?: boolean;
}

export function registerCheck(program: Command, io: Io, outcome: Outcome): void {
  program
    .command("check")
    .description("decide one request: JSON out, or a readable account with --explain")
    .requiredOption("--scheme <file>", "scheme file (YAML)")
    .requiredOption("--principal <file>", "principal JSON file, or - for stdin")
    .requiredOption("--request <file>", "request JSON file, or - for stdin")
    .option("--explain", "print a readable account of each check instead of JSON")
    .option("--fail-on-deny", "exit 1 when the decision is deny (a fallback is not a deny)")
    .action((opts: CheckOptions) => {
      if (opts.principal === "-" && opts.request === "-") {
        throw new InvalidInputError([
          { code: "usage", path: [], message: "only one of --principal and --request can read stdin" },
        ]);
      }
      const s = schemeFlag("--scheme", opts.scheme);
      const principal = readJsonWith(io, opts.principal, "principal", (v) =>
        parsePrincipal(v, ["principal"]),
      );
      const request = readJsonWith(io, opts.request, "request", (v) => parseRequest(v, ["request"]));
      const d = decide(s, principal, request);
      // The files' text (an organization's id, a purpose) is in the decision: shown, never acted on.
      io.stdout(
        opts.explain ? `${explain(d).split("\n").map(cellText).join("\n")}\n` : jsonText(decisionView(d)),
      );
      if (opts.failOnDeny && d.decision === "deny") outcome.exitCode = EXIT_DENIED;
    });
}
