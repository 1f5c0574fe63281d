/**
 * `clearance screening …` on the store directly (the embedded one, or with --config the one
 * clearance.yaml names): import a list file, list versions and their diffs. The same verbs against a
 * running server are under `clearance remote screening`.
 */
import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { InvalidInputError } from "../../errors/index.js";
import { ofacCompanions } from "../../screening/loaders/index.js";
import { importList } from "../../screening/lists.js";
import { LIST_FORMATS, type ListFormat } from "../../screening/types.js";
import type { ListVersionRow } from "../../store/index.js";
import type { Io } from "../io.js";
import { actor, CONFIG, DATA_DIR, table, withStore, type Where } from "./store.js";

type Opts = Where & { json?: boolean };

/** Reads the files named; for an OFAC main file, its companions (add, alt, comments) beside it too. */
export function readListFiles(paths: readonly string[]): { name: string; bytes: Uint8Array }[] {
  const all = [...paths];
  const first = paths[0];
  if (first !== undefined && paths.length === 1 && /(^|[\\/])(sdn|cons_prim)\.csv$/i.test(first))
    all.push(...ofacCompanions(first).filter((f) => existsSync(f)));
  return all.map((path) => {
    try {
      return { name: path, bytes: readFileSync(path) };
    } catch (cause) {
      throw new InvalidInputError([
        {
          code: "file_unreadable",
          path: [],
          file: path,
          message: `cannot read the list: ${(cause as Error).message}`,
        },
      ]);
    }
  });
}

export const versionRow = (v: ListVersionRow): string[] => [
  v.list,
  String(v.version),
  v.active ? "active" : "-",
  v.format,
  v.published ?? "-",
  String(v.counts.entries ?? 0),
  `+${v.diff.added.length} -${v.diff.removed.length} ~${v.diff.changed.length}`,
  v.imported_at,
  v.digest.slice(0, 12),
];
export const VERSION_HEADER = [
  "LIST",
  "VERSION",
  "ACTIVE",
  "FORMAT",
  "PUBLISHED",
  "ENTRIES",
  "DIFF",
  "IMPORTED",
  "DIGEST",
];

export function renderDiff(v: ListVersionRow, limit: number): string {
  const part = (label: string, ids: readonly string[]) =>
    `${label} (${ids.length}):${ids.length === 0 ? " none" : ""}\n${ids
      .slice(0, limit)
      .map((id) => `  ${id}\n`)
      .join("")}${ids.length > limit ? `  … ${ids.length - limit} more (--json for all)\n` : ""}`;
  return (
    `${v.list} version ${v.version} (${v.published ?? "publication date not given"}), against the version before:\n` +
    part("added", v.diff.added) +
    part("removed", v.diff.removed) +
    part("changed", v.diff.changed)
  );
}

export function registerScreening(program: Command, io: Io): Command {
  const screening = program
    .command("screening")
    .description("denied-party screening: sanctions and denied-party lists, matches, review");
  screening
    .command("import")
    .description(
      "import a list file (OFAC CSV, trade.gov CSL CSV, UN XML, BIS DPL, OpenSanctions FtM JSON lines)",
    )
    .argument(
      "<file...>",
      "the list file; for OFAC CSV the companions (add, alt, comments) are found beside sdn.csv",
    )
    .option("--format <format>", `the file's format (${LIST_FORMATS.join(", ")}); default: recognised`)
    .option("--list <name>", "the list's name (default: from the file, e.g. ofac-sdn, un-sc)")
    .option("--published <date>", "publication date (YYYY-MM-DD) when the file does not say")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((files: string[], opts: Opts & { format?: string; list?: string; published?: string }) => {
      if (opts.format !== undefined && !(LIST_FORMATS as readonly string[]).includes(opts.format))
        throw new InvalidInputError([
          {
            code: "invalid_format",
            path: ["--format"],
            message: `expected one of ${LIST_FORMATS.join(", ")}`,
          },
        ]);
      if (opts.published !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.published))
        throw new InvalidInputError([
          { code: "invalid_date", path: ["--published"], message: "expected YYYY-MM-DD" },
        ]);
      const input = readListFiles(files);
      return withStore(opts, async (store) => {
        const { version, unchanged } = await importList(
          store,
          input,
          {
            ...(opts.format === undefined ? {} : { format: opts.format as ListFormat }),
            ...(opts.list === undefined ? {} : { list: opts.list }),
            ...(opts.published === undefined ? {} : { published: opts.published }),
          },
          actor(),
        );
        const { rescreenAfterImport } = await import("../../screening/rescreen.js");
        const rescreen = unchanged ? null : await rescreenAfterImport(store, version, actor());
        if (opts.json) return io.stdout(`${JSON.stringify({ version, unchanged, rescreen }, null, 2)}\n`);
        if (unchanged)
          return io.stdout(
            `${version.list}: identical to active version ${version.version}; nothing imported\n`,
          );
        io.stdout(
          `imported ${version.list} version ${version.version}: ${version.counts.entries} entries ` +
            `(+${version.diff.added.length} -${version.diff.removed.length} ~${version.diff.changed.length})\n`,
        );
        if (rescreen !== null)
          io.stdout(
            `rescreened ${rescreen.subjects} principals and organizations against ${rescreen.entries} added or changed entries: ` +
              `${rescreen.potential} potential matches, ${rescreen.resolved} resolved\n`,
          );
      });
    });
  screening
    .command("lists")
    .description("the lists and their versions")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--all", "every version, not only the active ones")
    .option("--json", "JSON output")
    .action((opts: Opts & { all?: boolean }) =>
      withStore(opts, async (store) => {
        const versions = (await store.screening.versions()).filter((v) => opts.all || v.active);
        if (opts.json)
          return io.stdout(
            `${JSON.stringify(
              versions.map(({ diff: _d, ...v }) => v),
              null,
              2,
            )}\n`,
          );
        if (versions.length === 0)
          return io.stdout("no lists imported yet (clearance screening import <file>)\n");
        io.stdout(table([VERSION_HEADER, ...versions.map(versionRow)]));
      }),
    );
  screening
    .command("diff")
    .description("what a list version added, removed and changed against the version before")
    .argument("<list>", "the list's name (see `screening lists`)")
    .argument("[version]", "the version (default: the active one)")
    .option("--limit <n>", "ids shown per part", "50")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((list: string, version: string | undefined, opts: Opts & { limit: string }) =>
      withStore(opts, async (store) => {
        const versions = await store.screening.versions(list);
        const v =
          version === undefined
            ? versions.find((x) => x.active)
            : versions.find((x) => String(x.version) === version);
        if (v === undefined)
          throw new InvalidInputError([
            {
              code: "not_found",
              path: [],
              message: `no ${version === undefined ? "active version" : `version ${version}`} of list ${list}`,
            },
          ]);
        if (opts.json) return io.stdout(`${JSON.stringify(v, null, 2)}\n`);
        io.stdout(renderDiff(v, Number(opts.limit) || 50));
      }),
    );
  return screening;
}
