/**
 * `clearance scheme what-if <candidate>`: a candidate scheme file against the policy in force in the
 * data directory (or the store clearance.yaml names) — over every principal, and with --days or
 * --from-index/--to-index over logged decisions too. Written whole, like the footprint report.
 */
import { Option, type Command } from "commander";
import { availableParallelism } from "node:os";
import { InvalidInputError } from "../../errors/index.js";
import { FORMATS } from "../../report/format.js";
import { candidateScheme, renderWhatIf, whatIfReport } from "../../whatif/index.js";
import { readText } from "./remote-define.js";
import { schemeFlag } from "../flag-files.js";
import { reportText, type Io } from "../io.js";
import {
  outTarget,
  progressBar,
  reporting,
  WHERE_OPTIONS,
  withDeployment,
  writeOutput,
  type Where,
} from "./report.js";
import { quoted } from "../../policy/text.js";

interface WhatIfOpts extends Where {
  days?: number;
  fromIndex?: bigint;
  toIndex?: bigint;
  format: (typeof FORMATS)[number] | "text";
  out?: string;
  examples: number;
  active?: string;
}

const usage = (message: string) => new InvalidInputError([{ code: "usage", path: [], message }]);

function positive(flag: string, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > max)
      throw usage(`${flag}: expected a whole number from 1 to ${max}, got ${quoted(text)}`);
    return n;
  };
}

function index(flag: string) {
  return (text: string): bigint => {
    if (!/^(0|[1-9]\d{0,19})$/.test(text)) throw usage(`${flag}: expected a log index, got ${quoted(text)}`);
    return BigInt(text);
  };
}

export function registerWhatIf(program: Command, io: Io): void {
  const scheme = program.commands.find((c) => c.name() === "scheme") ?? program.command("scheme");
  const cmd = scheme
    .command("what-if")
    .description(
      "who gains and who loses access if a candidate scheme file is activated: over every principal, " +
        "and with --days over the decisions of the last N days",
    )
    .argument("<candidate>", "the candidate scheme file (YAML; - for stdin)")
    .addOption(
      new Option("--days <n>", "also re-decide the logged decisions of the last n days").argParser(
        positive("--days", 3650),
      ),
    )
    .addOption(
      new Option("--from-index <i>", "also re-decide logged decisions from this log index").argParser(
        index("--from-index"),
      ),
    )
    .addOption(
      new Option("--to-index <i>", "… up to (not including) this one").argParser(index("--to-index")),
    )
    .addOption(new Option("--format <format>", "output format").choices(["text", ...FORMATS]).default("text"))
    .addOption(
      new Option("--examples <n>", "named examples per group")
        .argParser(positive("--examples", 1000))
        .default(5),
    )
    .option("--active <file>", "compare against this scheme file instead of the policy in force")
    .option("--out <file>", "write to this file (default: stdout)");
  for (const [flags, description] of WHERE_OPTIONS) cmd.option(flags, description);
  cmd.action((file: string, opts: WhatIfOpts) =>
    reporting(async () => {
      const text = readText(io, file, "candidate scheme");
      const label = file === "-" ? "(stdin)" : file;
      // The file is checked before anything else is opened: its problems come with line and column.
      const standalone = opts.active === undefined ? null : schemeFlag("--active", opts.active);
      candidateScheme(text, label, null);
      if (opts.out !== undefined) outTarget(opts.out);
      await withDeployment(opts, async (d) => {
        const bar = progressBar(io, "reading the log");
        try {
          const range =
            opts.fromIndex === undefined && opts.toIndex === undefined
              ? undefined
              : {
                  ...(opts.fromIndex === undefined ? {} : { from: opts.fromIndex }),
                  ...(opts.toIndex === undefined ? {} : { to: opts.toIndex }),
                };
          const r = await whatIfReport({
            store: d.store,
            source: d.source,
            active: standalone ?? d.state.scheme,
            candidate: candidateScheme(text, label, standalone === null ? d.state : null),
            pseudonymKey: d.pseudonymKey,
            now: new Date(),
            examples: opts.examples,
            threads: Math.min(availableParallelism(), 4),
            ...(opts.days === undefined ? {} : { days: opts.days }),
            ...(range === undefined ? {} : { range, rangeNames: { from: "--from-index", to: "--to-index" } }),
            onProgress: bar.update,
          });
          bar.stop();
          writeOutput(io, opts.out, reportText(r, opts.format, opts.out, renderWhatIf));
          if (opts.out !== undefined) io.stderr(`wrote ${opts.out}; impact digest ${r.digest}\n`);
        } finally {
          bar.stop();
        }
      });
    }),
  );
}
