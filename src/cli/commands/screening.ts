/**
 * `clearance screening …` on the store directly (the embedded one, or with --config the one
 * clearance.yaml names): import a list file, list versions and their diffs. The same verbs against a
 * running server are under `clearance remote screening`.
 */
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { existsSync } from "node:fs";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import { configFlag } from "../flag-files.js";
import { isCalendarDate } from "../../policy/dates.js";
import { loadList, ofacCompanions } from "../../screening/loaders/index.js";
import { DEFAULT_MAX_LIST_ENTRIES, importInput, importList } from "../../screening/lists.js";
import { LIST_FORMATS, type ListFormat } from "../../screening/types.js";
import type { ListVersionRow } from "../../store/index.js";
import {
  cellText,
  jsonText,
  printableJson,
  processIo,
  readFileBounded,
  readStdin,
  sizeText,
  type Io,
} from "../io.js";
import type { Outcome } from "../outcome.js";
import { EXIT_INVALID } from "../outcome.js";
import { compareLines, searchLines, type LineOutcome } from "../../screening/batch.js";
import { DEFAULT_THRESHOLD, ScreeningEngine, checkFacts } from "../../screening/engine.js";
import { finishRescreens, rescreenAll, type FinishedRescreen } from "../../screening/rescreen.js";
import type { MatchExplanation } from "../../screening/matcher.js";
import type { MatchRow } from "../../store/index.js";
import { actor, CONFIG, DATA_DIR, refuseHiddenText, table, withStore, type Where } from "./store.js";
import { quoted } from "../../policy/text.js";

type Opts = Where & { json?: boolean };

/** Reads the files named; for an OFAC main file, its companions (add, alt, comments) beside it too. */
export function readListFiles(paths: readonly string[]): { name: string; bytes: Uint8Array }[] {
  const all = [...paths];
  const first = paths[0];
  if (first !== undefined && paths.length === 1 && /(^|[\\/])(sdn|cons_prim)\.csv$/i.test(first))
    all.push(...ofacCompanions(first).filter((f) => existsSync(f)));
  return all.map((path) => {
    let bytes: Buffer | null;
    try {
      bytes = readFileBounded(path, MAX_LIST_FILE_BYTES);
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
    if (bytes === null)
      throw new InvalidInputError([
        {
          code: "file_too_large",
          path: [],
          file: path,
          message: `cannot read the list: larger than ${sizeText(MAX_LIST_FILE_BYTES)}, which no list file is (a device, or the wrong file?)`,
        },
      ]);
    return { name: path, bytes };
  });
}

/**
 * The most of a list file read: far above the largest real list (OFAC's and the UN's are a few
 * MB, a full FollowTheMoney export of the entries a store takes some hundreds), and a device that
 * never ends (/dev/zero) is stopped here rather than when memory runs out.
 */
export const MAX_LIST_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * The most of standard input `--jsonl` reads: some hundreds of thousands of names (a name is at
 * most 1 KiB), with their answers held until written. A larger batch is split by its sender.
 */
export const MAX_JSONL_BYTES = 64 * 1024 * 1024;

const readJsonLines = (io: Io): string =>
  readStdin(io, MAX_JSONL_BYTES, "JSON lines", "more than one batch takes: split it into smaller ones");

/**
 * Each answer written as soon as it is worked out: held until the last, a batch's answers (a search
 * line's candidates take about a kilobyte) cost memory in proportion to the whole batch. Exits
 * EXIT_INVALID once every line is answered if any line was refused, as before. A reader that left
 * (`| head -1`) stops the batch: the lines after are not screened for nobody (each a search), and
 * the exit status is that of the lines answered.
 */
function writeJsonLines(io: Io, outcome: Outcome, lines: Iterable<LineOutcome>): void {
  let failed = false;
  // Names from the list files, and the input echoed in errors: what JSON leaves raw escaped.
  for (const l of lines) {
    io.stdout(`${printableJson(l.text)}\n`);
    // A line whose answer found the reader gone was not answered: its refusal does not count.
    if (io.stdoutGone?.() === true) break;
    failed ||= l.failed;
  }
  if (failed) outcome.exitCode = EXIT_INVALID;
}

export const versionRow = (v: ListVersionRow): string[] => [
  v.list,
  String(v.version),
  // An import's rescreen that has not finished (killed or failing part way): said, until finished.
  `${v.active ? "active" : "-"}${v.rescreened === false ? ", not rescreened" : ""}`,
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
      .map((id) => `  ${cellText(id)}\n`)
      .join("")}${ids.length > limit ? `  … ${ids.length - limit} more (--json for all)\n` : ""}`;
  return (
    `${v.list} version ${v.version} (${v.published ?? "publication date not given"}), against the version before:\n` +
    part("added", v.diff.added) +
    part("removed", v.diff.removed) +
    part("changed", v.diff.changed)
  );
}

/** One line per match: score, list and entry, the name matched, and why. */
export function matchLines(matches: readonly MatchExplanation[]): string {
  if (matches.length === 0) return "no match at or above the threshold\n";
  // Names and ids come from the list files (and, in a review, from the store): shown as cellText.
  const c = cellText;
  return matches
    .map(
      (m) =>
        `${m.score.toFixed(3)}  ${c(m.list)}/${c(m.entry_id)}  ${c(m.matched_name)}${m.matched_name === m.primary_name ? "" : ` (a.k.a. of ${c(m.primary_name)})`}\n` +
        `       ${m.entry_type}, ${m.strength} ${m.name_kind}; ${m.method}: ${m.tokens.map((t) => `${c(t.query)}=${c(t.listed)} ${t.similarity}`).join(", ")}` +
        `${m.unmatched_listed.length ? `; not matched: ${c(m.unmatched_listed.join(" "))}` : ""}\n` +
        m.factors
          .map((f) => `       ${f.effect > 0 ? "+" : ""}${f.effect.toFixed(2)} ${f.field}: ${c(f.detail)}\n`)
          .join(""),
    )
    .join("");
}

export const MATCH_HEADER = ["ID", "STATUS", "SCORE", "SUBJECT", "LIST", "ENTRY", "MATCHED NAME", "REVIEWER"];
export const matchRow = (m: MatchRow): string[] => [
  m.id,
  m.status,
  m.score.toFixed(3),
  `${m.subject_kind}:${m.subject_id}`,
  m.list,
  m.entry_id,
  (m.explanation as MatchExplanation).matched_name ?? "-",
  m.reviewer ?? "-",
];

/** A bar on the terminal for long runs; never when stderr is not the process's own TTY. */
function progress(io: Io, json: boolean) {
  let bar: cliProgress.SingleBar | null = null;
  const enabled = !json && io === processIo && process.stderr.isTTY === true;
  return {
    update(done: number, total: number) {
      if (!enabled) return;
      if (bar === null) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
            format:
              "rescreening [{bar}] {percentage}% | {value}/{total} principals and organizations | ETA {eta_formatted}",
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}

/** The deployment's threshold: `screening.threshold` of the config --config names, else the default. */
function configured(opts: Where): number {
  return opts.config === undefined ? DEFAULT_THRESHOLD : configFlag(opts.config).file.screening.threshold;
}

/**
 * A threshold from the command line: a number from 0 to 1 (a typo must not resolve every match).
 * Not given: the deployment's (`configured`), as the gateway screens with it.
 */
function threshold(value: string | undefined, fallback = DEFAULT_THRESHOLD): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidInputError([
      {
        code: "invalid_threshold",
        path: ["--threshold"],
        message: `expected a score from 0 to 1, found ${quoted(value)}`,
      },
    ]);
  return n;
}

function nationalities(country: string | undefined): string[] {
  return country === undefined ? [] : country.split(",").map((c) => c.trim());
}

export function registerScreening(program: Command, io: Io, outcome: Outcome = { exitCode: 0 }): Command {
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
      if (
        opts.published !== undefined &&
        !(/^\d{4}-\d{2}-\d{2}$/.test(opts.published) && isCalendarDate(opts.published))
      )
        throw new InvalidInputError([
          { code: "invalid_date", path: ["--published"], message: "expected a real date (YYYY-MM-DD)" },
        ]);
      const config = opts.config === undefined ? undefined : configFlag(opts.config).file.screening;
      const maxEntries = config?.max_list_entries ?? DEFAULT_MAX_LIST_ENTRIES;
      refuseHiddenText(opts.list, ["--list"]);
      const input = readListFiles(files);
      return withStore(opts, async (store) => {
        const { version, unchanged } = await importList(
          store,
          input,
          {
            ...(opts.format === undefined ? {} : { format: opts.format as ListFormat }),
            ...(opts.list === undefined ? {} : { list: opts.list }),
            ...(opts.published === undefined ? {} : { published: opts.published }),
            maxEntries,
          },
          actor(),
        );
        // This import's rescreen, and any an earlier import left unfinished (its process killed:
        // importing the same file again finishes it).
        const finished = await finishRescreens(store, actor(), {
          force: true,
          threshold: config?.threshold ?? DEFAULT_THRESHOLD,
        });
        const own = (f: FinishedRescreen) =>
          f.version.list === version.list && f.version.version === version.version;
        const rescreen = unchanged ? null : (finished.find(own)?.summary ?? null);
        const earlier = finished.filter((f) => unchanged || !own(f));
        if (opts.json)
          return io.stdout(
            jsonText({ version: { ...version, rescreened: true }, unchanged, rescreen, finished: earlier }),
          );
        if (unchanged)
          io.stdout(`${version.list}: identical to active version ${version.version}; nothing imported\n`);
        for (const f of earlier)
          io.stdout(
            `finished the unfinished rescreen of ${f.version.list} version ${f.version.version}: ` +
              `${f.summary.subjects} principals and organizations against ${f.summary.entries} added or changed entries, ` +
              `${f.summary.potential} potential matches, ${f.summary.resolved} resolved\n`,
          );
        if (unchanged) return;
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
        if (opts.json) return io.stdout(jsonText(versions.map(({ diff: _d, ...v }) => v)));
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
          throw new ClearanceError(
            "not-found",
            "not_found",
            `no ${version === undefined ? "active version" : `version ${version}`} of list ${list}`,
          );
        if (opts.json) return io.stdout(jsonText(v));
        io.stdout(renderDiff(v, Number(opts.limit) || 50));
      }),
    );
  screening
    .command("rescreen")
    .description("screen every principal and organization against every active list, with a progress bar")
    .option(
      "--threshold <score>",
      `potential match from this score (default: --config's screening.threshold, else ${DEFAULT_THRESHOLD})`,
    )
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((opts: Opts & { threshold?: string }) =>
      withStore(opts, async (store) => {
        const bar = progress(io, opts.json === true);
        const summary = await rescreenAll(store, {
          actor: actor(),
          threshold: threshold(opts.threshold, configured(opts)),
          onProgress: (done, total) => bar.update(done, total),
        });
        bar.stop();
        if (opts.json) return io.stdout(jsonText(summary, 0));
        io.stdout(
          `rescreened ${summary.subjects} principals and organizations against ${summary.entries} entries: ` +
            `${summary.potential} matches at or above the threshold, ${summary.changed} changes recorded, ${summary.resolved} resolved\n`,
        );
      }),
    );
  screening
    .command("search")
    .description(
      "screen a name against the active lists (or, with --lists and --jsonl, JSON lines on stdin against list files)",
    )
    .argument("[name]", "the name to screen")
    .option("--type <type>", "person, organization or unknown", "unknown")
    .option("--birth-date <date>", "YYYY, YYYY-MM or YYYY-MM-DD")
    .option("--country <code>", "nationality or country: ISO alpha-2 codes or English names, comma-separated")
    .option(
      "--threshold <score>",
      `lowest score shown (default: --config's screening.threshold, else ${DEFAULT_THRESHOLD})`,
    )
    .option("--lists <file...>", "list files to screen against instead of the store's active lists")
    .option(
      "--jsonl",
      'read {"name", "schema", "birth_date", "nationality"} lines on stdin; write one line each',
    )
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action(
      async (
        name: string | undefined,
        opts: Opts & {
          type: string;
          birthDate?: string;
          country?: string;
          threshold?: string;
          lists?: string[];
          jsonl?: boolean;
        },
      ) => {
        const min = threshold(opts.threshold, configured(opts));
        if (!["person", "organization", "unknown"].includes(opts.type))
          throw new InvalidInputError([
            { code: "invalid_type", path: ["--type"], message: "expected person, organization or unknown" },
          ]);
        // List files are taken as an import now would take them: a denial order lapsed by now is out.
        const asOf = new Date().toISOString();
        const engine =
          opts.lists !== undefined
            ? ScreeningEngine.fromLists(
                opts.lists.map((f) => {
                  const parsed = loadList(readListFiles([f]), { asOf });
                  const lapsed = parsed.expired?.length ?? 0;
                  if (lapsed > 0)
                    io.stderr(
                      `${f}: ${lapsed === 1 ? "1 order past its expiration date" : `${lapsed} orders past their expiration dates`} ` +
                        `left out, as an import now would leave ${lapsed === 1 ? "it" : "them"} out\n`,
                    );
                  const input = importInput(parsed);
                  return {
                    list: parsed.list,
                    entries: parsed.entries.map((entry, i) => ({ entry, digest: input.entries[i]!.digest })),
                  };
                }),
                min,
              )
            : await withStore(opts, (store) => ScreeningEngine.load(store, min));
        if (opts.jsonl) {
          writeJsonLines(io, outcome, searchLines(readJsonLines(io), engine));
          return;
        }
        if (name === undefined)
          throw new InvalidInputError([
            { code: "missing_name", path: ["name"], message: "give the name to screen (or --jsonl)" },
          ]);
        const facts = checkFacts({
          name,
          type: opts.type as "person" | "organization" | "unknown",
          ...(opts.birthDate === undefined ? {} : { birth_date: opts.birthDate }),
          nationalities: nationalities(opts.country),
        });
        const result = engine.screen(facts);
        if (opts.json) return io.stdout(jsonText({ match: result.status === "potential", ...result }));
        if (result.lists.length === 0) io.stderr("no lists imported: nothing to screen against\n");
        io.stdout(matchLines(result.matches));
      },
    );
  screening
    .command("compare")
    .description(
      'score name pairs: {"schema", "a", "b"} lines on stdin, one {"score", "match"} line out each',
    )
    .requiredOption("--jsonl", "JSON lines in and out (the only mode)")
    .option("--threshold <score>", `what counts as a match (default ${DEFAULT_THRESHOLD})`)
    .action((opts: { threshold?: string }) => {
      writeJsonLines(io, outcome, compareLines(readJsonLines(io), threshold(opts.threshold)));
    });

  const review = screening.command("review").description("the review queue: potential screening matches");
  review
    .command("list")
    .description("screening matches (default: the open ones, status potential)")
    .option("--status <status>", "potential, confirmed, cleared or resolved", "potential")
    .option("--subject <id>", "only this principal's or organization's")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((opts: Opts & { status: string; subject?: string }) =>
      withStore(opts, async (store) => {
        const matches = await store.screening.matches({
          status: opts.status as MatchRow["status"],
          ...(opts.subject === undefined ? {} : { subjectId: opts.subject }),
        });
        if (opts.json) return io.stdout(jsonText(matches));
        if (matches.length === 0) return io.stdout(`no ${opts.status} screening matches\n`);
        io.stdout(table([MATCH_HEADER, ...matches.map(matchRow)]));
      }),
    );
  review
    .command("show")
    .argument("<id>", "the match id (see review list)")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((id: string, opts: Opts) =>
      withStore(opts, async (store) => {
        const m = (await store.screening.matches()).find((x) => x.id === id);
        if (m === undefined)
          throw new ClearanceError("not-found", "not_found", `no screening match ${quoted(id)}`);
        if (opts.json) return io.stdout(jsonText(m));
        io.stdout(
          `${m.id}: ${m.status}${m.reviewer === null ? "" : ` by ${cellText(m.reviewer)} (${cellText(m.reason ?? "")})`}\n`,
        );
        io.stdout(matchLines([m.explanation as MatchExplanation]));
      }),
    );
  for (const verb of ["confirm", "clear"] as const) {
    review
      .command(verb)
      .description(
        verb === "confirm"
          ? "confirm a potential match: a denied party"
          : "clear a potential match (holds until the entry changes)",
      )
      .argument("<id>", "the match id")
      .requiredOption("--reason <text>", "why (kept in the audit log)")
      .option("--reviewer <name>", "who reviews (default: the operating-system user)")
      .option(...DATA_DIR)
      .option(...CONFIG)
      .action((id: string, opts: Opts & { reason: string; reviewer?: string }) => {
        refuseHiddenText(opts.reason, ["--reason"]);
        refuseHiddenText(opts.reviewer, ["--reviewer"]);
        return withStore(opts, async (store) => {
          // An unknown match or one already reviewed is the store's StoreError: a refusal (exit 1)
          // with the code the admin API answers it with.
          const m = await store.screening.review(
            id,
            verb === "confirm" ? "confirmed" : "cleared",
            opts.reviewer ?? actor(),
            opts.reason,
          );
          io.stdout(`${m.id}: ${m.status}\n`);
        });
      });
  }
  return screening;
}
