import type { Command } from "commander";
import { BUILTIN_SETS, countryName } from "../../countries/index.js";
import { InvalidInputError } from "../../errors/index.js";
import { jsonText, type Io } from "../io.js";
import { quoted } from "../../policy/text.js";

export function registerSets(program: Command, io: Io): void {
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
            message: `no built-in set ${quoted(name)}; try: ${[...BUILTIN_SETS.keys()].join(", ")}`,
          },
        ]);
      }
      if (opts.json) return io.stdout(jsonText(sets));
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
}
