/**
 * Errors are data: a problem names what is wrong (code), where (path, and for files: line and
 * column), and what was expected (message). Problems are accumulated, then rendered once, by the
 * caller's layer (CLI stderr, admin JSON, OpenAI or Anthropic error body).
 */
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

/** An error an HTTP layer turns into a response: a status, a stable code, and optionally problems. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problems: readonly Problem[];
  constructor(
    status: number,
    code: string,
    message: string,
    options?: { problems?: readonly Problem[]; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.problems = options?.problems ?? [];
  }
}

/** `a.b[2].c` — the way a JSON path is shown to people. */
export function formatPath(path: Path): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out === "" ? "(root)" : out;
}

/** One line per problem: `file:line:column: path: message`. */
export function formatProblem(p: Problem): string {
  const where =
    p.file !== undefined
      ? `${p.file}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ""}: `
      : p.line !== undefined
        ? `${p.line}:${p.column ?? 1}: `
        : "";
  return `${where}${p.path.length > 0 ? `${formatPath(p.path)}: ` : ""}${p.message}`;
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map(formatProblem).join("\n");
}
