import type { Command } from "commander";
import { loadSchemeFile, schemeJsonSchema } from "../../scheme/index.js";
import { plainOrQuoted } from "../../policy/text.js";
import { jsonText, type Io } from "../io.js";

export function registerScheme(program: Command, io: Io): void {
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
          ? jsonText(summary, 0)
          : `${plainOrQuoted(file)}: valid — scheme ${s.name} (${s.digest}): ${summary.models} models, ` +
              `${summary.country_partners} country partners, ${summary.organization_partners} organization partners, ` +
              `${summary.licenses} licenses\n`,
      );
    });
  scheme
    .command("schema")
    .description("print the JSON Schema of scheme files, for editors")
    .action(() => io.stdout(jsonText(schemeJsonSchema())));
}
