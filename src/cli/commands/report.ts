/**
 * `clearance report footprint`: the jurisdiction footprint from the data directory (or the store
 * clearance.yaml names) and its audit log, as CSV, JSON or a self-contained HTML page. The report is
 * built whole in memory and written only then (a file: written aside and renamed), so a failure
 * never leaves half a report behind.
 */
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { lstatSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import { openSource, type LogSource } from "../../audit/source.js";
import { buildState, ControlStateError, type ControlState } from "../../control/state.js";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import { footprintReport } from "../../report/footprint.js";
import {
  FOOTPRINT_TABLES,
  FORMATS,
  renderFootprint,
  type Format,
  type FootprintTable,
} from "../../report/format.js";
import { parsePeriod } from "../../report/period.js";
import type { Store } from "../../store/index.js";
import { openDeploymentStore } from "./store.js";
import { configFlag } from "../flag-files.js";
import { processIo, reportText, type Io } from "../io.js";

/** Below this many entries a bar would only flicker. */
const PROGRESS_THRESHOLD = 10_000;

export interface Where {
  readonly dataDir?: string;
  readonly config?: string;
  readonly log?: string;
}

export interface Opened {
  readonly store: Store;
  readonly state: ControlState;
  readonly source: LogSource;
  readonly pseudonymKey: string | null;
}

const usage = (message: string) => new InvalidInputError([{ code: "usage", path: [], message }]);

/** The store, the policy in force from it, the audit log and the pseudonym key, as a gateway has them. */
export async function withDeployment<T>(where: Where, work: (o: Opened) => Promise<T>): Promise<T> {
  const config = where.config === undefined ? undefined : configFlag(where.config);
  const { store, dataDir } = await openDeploymentStore(where, config);
  try {
    let state: ControlState;
    try {
      state = buildState((await store.snapshot()).records);
    } catch (err) {
      if (err instanceof ControlStateError)
        throw usage(`${dataDir}: ${err.message} (start the gateway once)`);
      throw err;
    }
    let source: LogSource;
    try {
      source = openSource(where.log ?? join(dataDir, "audit"));
    } catch (err) {
      throw usage(`--log: ${(err as Error).message}`);
    }
    return await work({ store, state, source, pseudonymKey: config?.pseudonymKey ?? null });
  } finally {
    await store.close();
  }
}

/** A bar on stderr for long reads; only on the process's own terminal. */
export function progressBar(io: Io, what: string, unit = "entries") {
  let bar: cliProgress.SingleBar | null = null;
  const enabled = io === processIo && process.stderr.isTTY === true;
  return {
    update(done: number, total: number) {
      if (!enabled || total <= PROGRESS_THRESHOLD) return;
      if (bar === null) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            clearOnComplete: true,
            hideCursor: true,
            format: `${what} [{bar}] {percentage}% | {value}/{total}${unit === "" ? "" : ` ${unit}`} | ETA {eta_formatted}`,
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

/** What a file that is not a regular one is, for the refusal. */
const kind = (s: Stats) =>
  s.isDirectory()
    ? "a directory"
    : s.isCharacterDevice()
      ? "a character device"
      : s.isBlockDevice()
        ? "a block device"
        : s.isFIFO()
          ? "a FIFO"
          : s.isSocket()
            ? "a socket"
            : "not a regular file";

/**
 * Where `--out` is written: the path itself, or, for a symbolic link to a regular file, the file it
 * leads to (the report is renamed onto the target, so the link stays a link, as `>` would write
 * through it). Anything else that exists is refused: the rename would replace `/dev/stdout` (run
 * as root, with a regular file), a device or a FIFO with the report, and a link to nothing with a
 * file of its name. Checked before the log is read and again before the write.
 */
export function outTarget(out: string): string {
  const refuse = (what: string) =>
    usage(`--out: ${out} is ${what}; name a regular file, or leave --out out to write to stdout`);
  let link: Stats;
  try {
    link = lstatSync(out);
  } catch {
    return out; // nothing there yet (a missing directory is said by the write)
  }
  if (link.isFile()) return out;
  if (!link.isSymbolicLink()) throw refuse(`not a regular file (${kind(link)})`);
  let target: Stats;
  try {
    target = statSync(out);
  } catch {
    throw refuse("a symbolic link to nothing");
  }
  if (!target.isFile()) throw refuse(`not a regular file (a symbolic link to ${kind(target)})`);
  return realpathSync(out);
}

/**
 * Writes the output whole: to a file beside its final name (outTarget), then renamed; or to stdout.
 * A write that fails (a full disk, --out naming a directory) takes its aside copy away: nothing is
 * left behind.
 */
export function writeOutput(io: Io, out: string | undefined, text: string): void {
  if (out === undefined) return io.stdout(text);
  const target = outTarget(out);
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw usage(`--out: cannot write ${out}: ${(err as Error).message}`);
  }
}

/**
 * A report's failure (an unreadable log, an empty period), said as every verb's is
 * (src/cli/render.ts: a refusal as `clearance: <message> (<code>)` with its problems, exit 1; bad
 * input as its problems, exit 2), nothing written; a problem at one of the report's fields (the
 * admin API's `from`, `to`) is named by its flag here.
 */
export async function reporting(
  work: () => Promise<void>,
  flags: Readonly<Record<string, string>> = {},
): Promise<void> {
  try {
    await work();
  } catch (err) {
    throw atFlags(err, flags);
  }
}

function atFlags(err: unknown, flags: Readonly<Record<string, string>>): unknown {
  if (!(err instanceof InvalidInputError || err instanceof ClearanceError)) return err;
  const flagOf = (field: unknown) =>
    typeof field === "string" && Object.hasOwn(flags, field) ? flags[field] : undefined;
  if (!err.problems.some((p) => flagOf(p.path[0]) !== undefined)) return err;
  const problems = err.problems.map((p) => {
    const flag = flagOf(p.path[0]);
    return flag === undefined ? p : { ...p, path: [flag, ...p.path.slice(1)] };
  });
  if (err instanceof InvalidInputError) return new InvalidInputError(problems);
  return new ClearanceError(err.kind, err.code, err.message, { problems, cause: err });
}

export const WHERE_OPTIONS = [
  ["--data-dir <dir>", "the gateway's data directory: store and audit log (default: .clearance)"],
  ["--config <file>", "use the store and pseudonym key clearance.yaml names"],
  ["--log <dir|url>", "the audit log (default: <data-dir>/audit; or a gateway's http://host:port/audit)"],
] as const;

interface FootprintOpts extends Where {
  from?: string;
  to?: string;
  format: Format;
  table: FootprintTable;
  out?: string;
}

/** The report's fields as the period's problems name them (as the admin API's query does). */
const PERIOD_FLAGS = { from: "--from", to: "--to" };

export function registerReport(program: Command, io: Io): void {
  const report = program.command("report").description("reports from the audit log and the policy in force");
  const footprint = report
    .command("footprint")
    .description(
      "the jurisdiction footprint: decisions by location, nationality, organization, model and outcome; " +
        "license and grant use; who each model is served to, per country",
    )
    .option("--from <date>", "start of the period (YYYY-MM-DD or ISO date-time; default: the log's start)")
    .option("--to <date>", "end of the period (a date includes that day; default: now)")
    .addOption(new Option("--format <format>", "output format").choices(FORMATS).default("json"))
    .addOption(
      new Option("--table <table>", "with --format csv: the table to write")
        .choices(FOOTPRINT_TABLES)
        .default("served"),
    )
    .option("--out <file>", "write to this file (default: stdout)");
  for (const [flags, description] of WHERE_OPTIONS) footprint.option(flags, description);
  footprint.action((opts: FootprintOpts) =>
    reporting(
      () =>
        withDeployment(opts, async (d) => {
          if (opts.out !== undefined) outTarget(opts.out);
          const now = new Date();
          const period = parsePeriod(opts.from, opts.to, now);
          const bar = progressBar(io, "reading the log");
          try {
            const r = await footprintReport({
              store: d.store,
              source: d.source,
              scheme: d.state.scheme,
              period,
              pseudonymKey: d.pseudonymKey,
              now,
              onProgress: bar.update,
            });
            bar.stop();
            writeOutput(io, opts.out, reportText(r, opts.format, opts.out, renderFootprint, opts.table));
            if (opts.out !== undefined) {
              io.stderr(`wrote ${opts.out}: ${r.served.decisions} decisions, ${r.served.rows.length} rows\n`);
            }
          } finally {
            bar.stop();
          }
        }),
      PERIOD_FLAGS,
    ),
  );
}
