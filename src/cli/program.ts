/**
 * `clearance`: the command line. Exit codes: 0 done; 1 denied (with --fail-on-deny); 2 invalid input
 * or usage, with the message on stderr.
 */
import { Command, CommanderError, Option } from "commander";
import { BUILTIN_SETS, countryName } from "../countries/index.js";
import { InvalidInputError, formatProblems } from "../errors/index.js";
import { decide, explain, parsePrincipal, parseRequest } from "../policy/index.js";
import { loadSchemeFile, schemeJsonSchema } from "../scheme/index.js";
import { readJsonArg, type Io } from "./io.js";
import { serveDecisions } from "./serve.js";

export const EXIT_DENIED = 1;
export const EXIT_INVALID = 2;

/** What a command reports back besides its output. */
export interface Outcome {
  exitCode: number;
}

export function buildProgram(io: Io, outcome: Outcome = { exitCode: 0 }): Command {
  const program = new Command("clearance")
    .description("Trusted-partner access decisions for frontier AI models")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const scheme = program.command("scheme").description("scheme files: validate, JSON Schema");
  scheme
    .command("validate")
    .description("check a scheme file; every problem is reported with its line and column")
    .argument("<file>", "scheme file (YAML)")
    .option("--json", "print a JSON summary")
    .action((file: string, opts: { json?: boolean }) => {
      const s = loadSchemeFile(file);
      const summary = {
        file,
        valid: true,
        name: s.name,
        digest: s.digest,
        models: s.models.size,
        country_partners: s.countryPartners.length,
        organization_partners: s.organizationPartners.size,
        licenses: s.licenses.size,
      };
      io.stdout(
        opts.json
          ? `${JSON.stringify(summary)}\n`
          : `${file}: valid — scheme ${s.name} (${s.digest}): ${summary.models} models, ` +
              `${summary.country_partners} country partners, ${summary.organization_partners} organization partners, ` +
              `${summary.licenses} licenses\n`,
      );
    });
  scheme
    .command("schema")
    .description("print the JSON Schema of scheme files, for editors")
    .action(() => io.stdout(`${JSON.stringify(schemeJsonSchema(), null, 2)}\n`));

  program
    .command("check")
    .description("decide one request: JSON out, or a readable account with --explain")
    .requiredOption("--scheme <file>", "scheme file (YAML)")
    .requiredOption("--principal <file>", "principal JSON file, or - for stdin")
    .requiredOption("--request <file>", "request JSON file, or - for stdin")
    .option("--explain", "print a readable account of each check instead of JSON")
    .option("--fail-on-deny", "exit 1 when the decision is deny (a fallback is not a deny)")
    .action(
      (opts: {
        scheme: string;
        principal: string;
        request: string;
        explain?: boolean;
        failOnDeny?: boolean;
      }) => {
        if (opts.principal === "-" && opts.request === "-") {
          throw new InvalidInputError([
            { code: "usage", path: [], message: "only one of --principal and --request can read stdin" },
          ]);
        }
        const s = loadSchemeFile(opts.scheme);
        const principal = parsePrincipal(readJsonArg(io, opts.principal, "principal"), ["principal"]);
        const request = parseRequest(readJsonArg(io, opts.request, "request"), ["request"]);
        const d = decide(s, principal, request);
        io.stdout(opts.explain ? `${explain(d)}\n` : `${JSON.stringify(d, null, 2)}\n`);
        if (opts.failOnDeny && d.decision === "deny") outcome.exitCode = EXIT_DENIED;
      },
    );

  program
    .command("sets")
    .description("list the built-in country sets, with their source and as-of date")
    .argument("[name]", "show one set's members")
    .option("--json", "JSON output")
    .action((name: string | undefined, opts: { json?: boolean }) => {
      const sets = name === undefined ? [...BUILTIN_SETS.values()] : [BUILTIN_SETS.get(name)];
      if (sets[0] === undefined) {
        throw new InvalidInputError([
          {
            code: "unknown_set",
            path: [],
            message: `no built-in set "${name}"; try: ${[...BUILTIN_SETS.keys()].join(", ")}`,
          },
        ]);
      }
      if (opts.json) return io.stdout(`${JSON.stringify(sets, null, 2)}\n`);
      for (const s of sets) {
        if (s === undefined) continue;
        io.stdout(
          `${s.name.padEnd(20)} ${String(s.members.length).padStart(3)} countries  as of ${s.asOf}  ${s.source}\n`,
        );
        if (name !== undefined) {
          io.stdout(
            `${s.description}\n${s.members.map((c) => `  ${c}  ${countryName(c) ?? ""}`).join("\n")}\n`,
          );
        }
      }
    });

  program
    .command("serve")
    .description("run the decision API (POST /v1/decisions, GET /healthz)")
    .requiredOption("--scheme <file>", "scheme file (YAML); reloaded on SIGHUP")
    .addOption(new Option("--port <port>", "port").default(8080).argParser(parsePort))
    .option("--host <host>", "address to bind", "127.0.0.1")
    .action((opts: { scheme: string; port: number; host: string }) => serveDecisions(io, opts));

  return program;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidInputError([
      { code: "usage", path: [], message: `--port: expected 0–65535, got "${value}"` },
    ]);
  }
  return port;
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
    if (err instanceof InvalidInputError) {
      io.stderr(`${formatProblems(err.problems)}\n`);
      return EXIT_INVALID;
    }
    throw err;
  }
}
