/**
 * Remote commands, declared: each names its arguments and options, builds its request from them
 * (reading local files first, so bad input is exit 2 before anything is sent), and renders the
 * answer for people. What every one of them shares is here, once: `--url`, `--json`, the token from
 * CLEARANCE_TOKEN, and pagination for lists. Errors are said where local commands' are
 * (src/cli/render.ts): the server's 400 as invalid input (exit 2, its problems naming the local file
 * the body came from), any other refusal, or no server, exit 1.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { InvalidInputError } from "../../errors/index.js";
import { fileName, printable, printableJson, readJsonArg, readTextArg, type Io } from "../io.js";
import type { Outcome } from "../outcome.js";
import {
  createClient,
  cleartextWarning,
  DEFAULT_URL,
  MAX_PAGE,
  RemoteError,
  resolveUrl,
  TOKEN_ENV,
  URL_ENV,
  type JobProgress,
  type Method,
  type Query,
} from "./remote-client.js";
import { progressBar } from "./report.js";

export interface OptionSpec {
  /** Commander flags, e.g. "--role <role>". */
  readonly flags: string;
  readonly description: string;
  readonly required?: boolean;
  /** May be given more than once; the value is then a list. */
  readonly repeatable?: boolean;
  readonly choices?: readonly string[];
}

export interface Invocation<O> {
  /** Positional arguments, in declaration order. */
  readonly args: readonly string[];
  /** Options, camel-cased by commander (`--valid-until` → validUntil). */
  readonly opts: O;
  readonly io: Io;
}

export interface Call {
  readonly method: Method;
  /** e.g. /admin/v1/licenses/LIC-1/approve (segments already encoded: use `seg`). */
  readonly path: string;
  readonly body?: unknown;
  readonly query?: Query;
  /** The local file the body is (a JSON file, a scheme's text): every problem of a 400 is at it. */
  readonly file?: string;
  /** Files the body carries: the local path of each, by the name sent. */
  readonly files?: Readonly<Record<string, string>>;
  /** The flag each field sent (in the query or body) came from: a 400's problem at it names the flag. */
  readonly flags?: Readonly<Record<string, string>>;
}

export interface RemoteCommand<R = unknown, O = object> {
  readonly name: string;
  readonly description: string;
  /** e.g. ["<id>", "identity id"] */
  readonly args?: readonly (readonly [string, string])[];
  readonly options?: readonly OptionSpec[];
  /** A paginated list: `--limit`/`--cursor` for one page; without `--limit`, every page. */
  readonly list?: boolean;
  /** A long job: its progress is shown on the terminal as the server reports it. */
  readonly long?: boolean;
  /** The request, from the arguments and local files; throws InvalidInputError for bad input. */
  request(inv: Invocation<O>): Call;
  /** Readable output; `--json` prints the answer as is instead. A string goes to stdout. */
  render(result: R, inv: Invocation<O>): string | { readonly stdout: string; readonly stderr?: string };
}

/** Declares a command; R is the answer's shape, O the options'. */
export const remote = <R, O = object>(def: RemoteCommand<R, O>): RemoteCommand =>
  def as unknown as RemoteCommand;

export interface RemoteGroup {
  readonly name: string;
  readonly description: string;
  readonly commands: readonly RemoteCommand[];
}

/** One path segment, encoded. */
export const seg = (value: string): string => encodeURIComponent(value);

const usage = (message: string, file?: string) =>
  new InvalidInputError([{ code: "usage", path: [], message, ...(file === undefined ? {} : { file }) }]);

/** A JSON object from a file (or - for stdin); anything else is invalid input. */
export function readJsonObject(io: Io, file: string, what: string): Record<string, unknown> {
  const value = readJsonArg(io, file, what);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw usage(`${what} must be a JSON object`, file === "-" ? "(stdin)" : file);
  }
  return value as Record<string, unknown>;
}

/** A text file (or - for stdin), not empty. */
export function readText(io: Io, file: string, what: string): string {
  const name = fileName(file);
  const text = readTextArg(io, file, what);
  if (text.trim() === "") throw usage(`${what} is empty`, name);
  return text;
}

const HELP_AFTER = `
Against a running server: --url, default $${URL_ENV}, else ${DEFAULT_URL}.
The admin token is read from $${TOKEN_ENV}, never from the command line.
Exit codes: 0 done; 1 refused by the server, or it cannot be reached;
2 invalid usage or input (a local file's, or the server's 400).`;

function toOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  const { choices } = spec;
  if (spec.repeatable) {
    option.argParser((value: string, previous: string[] | undefined) => {
      if (choices !== undefined && !choices.includes(value)) {
        throw new InvalidArgumentError(`Allowed choices are ${choices.join(", ")}.`);
      }
      return [...(previous ?? []), value];
    });
  } else if (choices !== undefined) {
    option.choices(choices);
  }
  if (spec.required) option.makeOptionMandatory();
  return option;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_PAGE) {
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_PAGE}.`);
  }
  return n;
}

interface CommonOpts {
  url?: string;
  json?: boolean;
  limit?: number;
  cursor?: string;
}

export function registerRemoteCommand(
  parent: Command,
  def: RemoteCommand,
  io: Io,
  outcome: Outcome,
  env: NodeJS.ProcessEnv,
): Command {
  const cmd = parent.command(def.name).description(def.description);
  for (const [name, description] of def.args ?? []) cmd.argument(name, description);
  for (const spec of def.options ?? []) cmd.addOption(toOption(spec));
  if (def.list) {
    cmd.addOption(
      new Option("--limit <n>", `one page of at most n (1–${MAX_PAGE}); default: every page`).argParser(
        parseLimit,
      ),
    );
    cmd.option("--cursor <id>", "with --limit: the page after this id (the previous page's next_cursor)");
  }
  cmd
    .option("--url <url>", `the Clearance server (default: $${URL_ENV}, else ${DEFAULT_URL})`)
    .option("--json", "print the API's JSON answer as is")
    .addHelpText("after", HELP_AFTER);
  cmd.action(async (...params: unknown[]) => {
    const self = params.at(-1) as Command;
    const opts = self.opts<CommonOpts>();
    const inv: Invocation<object> = { args: self.processedArgs as string[], opts, io };
    if (opts.cursor !== undefined && opts.limit === undefined) throw usage("--cursor needs --limit");
    // Local input first: a bad file or URL is exit 2, and nothing is sent.
    const call = def.request(inv);
    const url = resolveUrl(opts.url, env);
    const cleartext = cleartextWarning(url);
    if (cleartext !== null) io.stderr(`${cleartext}\n`);
    const client = createClient({ url, token: env[TOKEN_ENV] });
    let result: unknown;
    let bar: ReturnType<typeof stageBar> | null = null;
    try {
      result = def.list
        ? await client.list(call.path, call.query, {
            ...(opts.limit === undefined ? {} : { limit: opts.limit }),
            ...(opts.cursor === undefined ? {} : { cursor: opts.cursor }),
          })
        : await client.request(call.method, call.path, {
            ...(call.body === undefined ? {} : { body: call.body }),
            ...(call.query === undefined ? {} : { query: call.query }),
            ...(def.long === true ? { progress: (bar = stageBar(io)).update } : {}),
          });
    } catch (err) {
      throw err instanceof RemoteError && err.status === 400 ? atLocalFiles(err, call) : err;
    } finally {
      bar?.stop();
    }
    // The server's values (names, reasons, notes another user wrote) are shown, never acted on.
    const pending = notYetInForce(result);
    if (opts.json) io.stdout(`${printableJson(JSON.stringify(result, null, 2))}\n`);
    else {
      const out = def.render(result, inv);
      io.stdout(printable(typeof out === "string" ? out : out.stdout));
      if (typeof out !== "string" && out.stderr !== undefined) io.stderr(printable(out.stderr));
    }
    if (pending !== null) io.stderr(printable(`warning: ${pending}\n`));
  });
  return cmd;
}

/**
 * A change the server stored but has not yet put in force on the node that answered (its reload
 * failed): the server's `not_yet_in_force.message`, else null. Said on stderr, in --json mode too.
 */
function notYetInForce(result: unknown): string | null {
  if (typeof result !== "object" || result === null || !("not_yet_in_force" in result)) return null;
  const said = (result as { not_yet_in_force?: { message?: unknown } }).not_yet_in_force;
  return typeof said?.message === "string" ? said.message : "the change is stored but not yet in force";
}

/**
 * The server's 400 with its problems at the files and flags as named here, as a local command names
 * them.
 */
function atLocalFiles(err: RemoteError, call: Call): RemoteError {
  const problems = err.problems.map((p) => {
    const field = p.path[0];
    const flag =
      typeof field === "string" && call.flags && Object.hasOwn(call.flags, field)
        ? call.flags[field]
        : undefined;
    const at = flag === undefined ? p : { ...p, path: [flag, ...p.path.slice(1)] };
    const file = call.file !== undefined ? fileName(call.file) : p.file && (call.files?.[p.file] ?? p.file);
    return file === undefined ? at : { ...at, file };
  });
  return new RemoteError(err.code, err.message, problems, err.status);
}

/** The server's progress as bars on stderr, one per stage it names; only on the process's own terminal. */
function stageBar(io: Io) {
  let stage: string | null = null;
  let bar: ReturnType<typeof progressBar> | null = null;
  return {
    update: (p: JobProgress) => {
      if (p.stage !== stage) {
        bar?.stop();
        stage = p.stage;
        bar = progressBar(io, p.stage, "");
      }
      bar?.update(p.done, p.total);
    },
    stop: () => bar?.stop(),
  };
}

export function registerRemoteGroup(
  program: Command,
  group: RemoteGroup,
  io: Io,
  outcome: Outcome,
  env: NodeJS.ProcessEnv,
): Command {
  const cmd = program.command(group.name).description(group.description).addHelpText("after", HELP_AFTER);
  for (const def of group.commands) registerRemoteCommand(cmd, def, io, outcome, env);
  return cmd;
}
