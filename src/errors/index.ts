/**
 * Errors are data: a problem names what is wrong (code), where (path, and for files: line and
 * column), and what was expected (message). Problems are accumulated, then rendered once, by the
 * caller's layer (CLI stderr, admin JSON, OpenAI or Anthropic error body).
 */
import { plainOrQuoted, quoted } from "../policy/text.js";

export type Path = readonly (string | number)[];

export interface Problem {
  readonly code: string;
  readonly path: Path;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * A deployment set up in a way that cannot work — not a bug, and not bad input to one request: the
 * message says what to change (e.g. two nodes signing one log with different keys).
 */
export class SetupError extends Error {
  override name = "SetupError";
}

/** Bad input: one or more problems, all reported together. */
export class InvalidInputError extends Error {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], summary?: string) {
    super(summary ?? formatProblems(problems));
    this.name = "InvalidInputError";
    this.problems = problems;
  }
}

/**
 * What kind of refusal or failure an error is. The edge maps each kind to its status in one table
 * (src/http: STATUS_OF_KIND); no layer below chooses an HTTP status.
 */
export type ErrorKind =
  | "invalid" // bad input: 400
  | "unauthenticated" // 401
  | "forbidden" // 403
  | "not-found" // 404
  | "method" // 405
  | "request-timeout" // the client was too slow sending its request: 408
  | "client-closed" // the client went away before its answer (a report it waited for): 499, as nginx logs it
  | "conflict" // a concurrent change or a state that does not allow it: 409
  | "too-large" // 413
  | "media-type" // 415
  | "headers-too-large" // 431
  | "rate-limited" // 429
  | "internal" // 500
  | "upstream" // the upstream failed or cannot be reached: 502
  | "unavailable" // a dependency this request needs is out of reach (fail closed): 503
  | "upstream-timeout"; // 504

/**
 * The one error type every layer raises and one place renders (admin JSON, OpenAI or Anthropic
 * body): a kind, a stable code for machines, a message for people, and optionally problems.
 */
export class ClearanceError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly problems: readonly Problem[];
  /** For `method`: the methods the route takes (the answer's `Allow` header, RFC 9110 15.5.6). */
  readonly allow: readonly string[];
  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    options?: { problems?: readonly Problem[]; cause?: unknown; allow?: readonly string[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ClearanceError";
    this.kind = kind;
    this.code = code;
    this.problems = options?.problems ?? [];
    this.allow = options?.allow ?? [];
  }
}

/**
 * `a.b[2].c` — the way a JSON path is shown to people. A member name from outside that `quoted`
 * would change (a control or bidirectional character, a quote, a backslash) is shown quoted and
 * escaped, `a["b\u202e"].c`: written raw, it would act on the terminal or log it is shown in, or
 * make the path read otherwise than it is. The problem keeps the name as sent (see `rawPath`).
 */
export function formatPath(path: Path): string {
  return joinPath(path, (name) => quoted(name) === `"${name}"`);
}

/**
 * The path as data: every member name as sent, as the API's `problems[].path` carries it (a
 * client matches it against its own field names); messages show `formatPath`.
 */
export function rawPath(path: Path): string {
  return joinPath(path, () => true);
}

/** The path's segments joined; a name not `plain` is written `["…"]`, quoted. */
function joinPath(path: Path, plain: (name: string) => boolean): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (!plain(part)) out += `[${quoted(part)}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out === "" ? "(root)" : out;
}

/**
 * One line per problem: `file:line:column: path: message`. The file is named as given (argv, a
 * config's `scheme:`), bare when plain, quoted when `quoted` would change it: a control or
 * bidirectional character in it would otherwise reach the terminal raw.
 */
export function formatProblem(p: Problem): string {
  const where =
    p.file !== undefined
      ? `${plainOrQuoted(p.file)}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ""}: `
      : p.line !== undefined
        ? `${p.line}:${p.column ?? 1}: `
        : "";
  return `${where}${p.path.length > 0 ? `${formatPath(p.path)}: ` : ""}${p.message}`;
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map(formatProblem).join("\n");
}
