/** The CLI's contact with the outside, injectable so tests run commands in-process. */
import { InvalidInputError } from "../errors/index.js";
import { RAW_IN_JSON, unicodeEscape } from "../policy/text.js";
import { jsonSyntaxError } from "./json-syntax.js";
import { readFdBounded, readFileBounded, sizeText } from "../files/bounded.js";

export { readFileBounded, sizeText };

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /**
   * Whole standard input, read on demand (`-` as a file, JSON lines): at most `maxBytes` of it, null
   * when it holds more. Read whole, a device that never ends (`< /dev/zero`) or a runaway pipe
   * held the CLI until memory ran out. Bytes, bounded before decoding: an invalid byte decodes to
   * U+FFFD, three bytes, so Latin-1 text within the bound would be over it once decoded.
   */
  readonly stdin: (maxBytes: number) => Uint8Array | string | null;
  /**
   * Standard output can take nothing more (its reader left: `| head -1`, EPIPE; or it failed): a
   * command writing line after line stops working out lines nobody will read. Absent: never.
   */
  readonly stdoutGone?: () => boolean;
}

/**
 * Set at the write that failed, not a tick later as `destroyed` is: a command writing in one
 * synchronous loop sees it at its next line.
 */
const stdoutGone = (): boolean => process.stdout.destroyed || process.stdout.errored !== null;

export const processIo: Io = {
  // Once the reader has gone, what is left to say is dropped (writing on would only fail again).
  stdout: (text) => void (stdoutGone() || process.stdout.write(text)),
  stderr: (text) => void (process.stderr.destroyed || process.stderr.write(text)),
  stdin: (maxBytes) => readFdBounded(0, maxBytes),
  stdoutGone,
};

/**
 * The process's output failing, said rather than thrown (an unhandled 'error' event is a stack
 * trace, exit 1). A reader that left early (`clearance … | head -1`: EPIPE) is the reader's
 * choice: the rest is dropped and the command ends as it would have. Any other failure (a full
 * disk) is said once on stderr, and the command exits 1 if it would have exited 0. Standard error
 * failing has nowhere to be said.
 */
export function watchOutput(): { failed: () => boolean } {
  let failed = false;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || failed) return;
    failed = true;
    // The command may have ended already (the error comes a tick after the write).
    if (!process.exitCode) process.exitCode = 1;
    processIo.stderr(`clearance: cannot write to standard output: ${err.message}\n`);
  });
  process.stderr.on("error", () => undefined);
  return { failed: () => failed };
}

/**
 * Escape sequences (CSI, OSC, DCS and the like, ESC- or C1-introduced), then control characters
 * other than line break and tab, and the bidirectional overrides (which make a line read otherwise
 * than it is): what a terminal would act on rather than show.
 */
const TERMINAL_CONTROL = new RegExp(
  [
    "\\u001b(?:\\[[0-?]*[ -/]*[@-~]|[\\]PX^_][^\\u0007\\u001b\\u009c\\n]*(?:\\u0007|\\u001b\\\\|\\u009c)?|[^\\n])?",
    "\\u009b[0-?]*[ -/]*[@-~]",
    "[\\u0090\\u009d-\\u009f][^\\u0007\\u001b\\u009c\\n]*(?:\\u0007|\\u001b\\\\|\\u009c)?",
    "[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]",
  ].join("|"),
  "g",
);

/**
 * Text from elsewhere (a server's message, a page, a value stored by another user) as it may be
 * written to a terminal: escape sequences and control characters taken out (they could move the
 * cursor, rewrite what was said, set the window title or worse), line breaks and tabs kept.
 */
export const printable = (text: string): string => text.replace(TERMINAL_CONTROL, "");

/** What printableJson escapes: what `quoted` does, and the line and paragraph separators. */
const RAW_IN_PRINTED_JSON = new RegExp(`${RAW_IN_JSON.source}|[\\u2028\\u2029]`, "g");

/**
 * JSON as it may be written to a terminal: the characters JSON.stringify leaves raw that a terminal
 * acts on (DEL, C1, bidirectional overrides; they can only be inside strings) as \u escapes, so the
 * text is the same JSON, as `quoted` writes a value. The line and paragraph separators too: a
 * reader splitting lines as Unicode does (Python's splitlines, an editor) would find a JSON line
 * cut in two.
 */
export const printableJson = (json: string): string => json.replace(RAW_IN_PRINTED_JSON, unicodeEscape);

/**
 * Control characters (C0 with line break and tab, DEL, C1), the line and paragraph separators, and
 * the bidirectional overrides.
 */
export const CONTROL_CHARACTERS = [
  "\\u0000-\\u001f",
  "\\u007f-\\u009f",
  "\\u2028\\u2029",
  "\\u202a-\\u202e",
  "\\u2066-\\u2069",
].join("");
/** What a cell escapes: the control characters, and the backslash that starts an escape. */
const CELL_CONTROL = new RegExp(`[\\\\${CONTROL_CHARACTERS}]`, "g");
/** The escapes a cell shows for the backslash and the commonest control characters; others are `\uXXXX`. */
const CELL_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * A stored value (a key's label, a note, a name from a list) as one cell of a table or listing:
 * control characters (ESC included), line breaks, tabs and the bidirectional overrides shown as
 * escapes, as JSON writes them (`\n`, `\u001b`), so the value can neither act on the terminal nor
 * break the table into rows it does not hold, and what was stored is still seen. A backslash is
 * shown doubled, as JSON writes it: a stored `\u001b` (six characters) does not read as an ESC.
 */
export const cellText = (text: string): string =>
  text.replace(CELL_CONTROL, (c) => CELL_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/**
 * Every string in a value (a report: its rows, names, notes; object keys too) as cellText shows
 * it, for a renderer whose output goes to a terminal: a CSV or HTML report on stdout, a text
 * summary. Numbers, booleans and null are kept.
 */
export function cellValues<T>(value: T): T {
  const shown = (v: unknown): unknown =>
    typeof v === "string"
      ? cellText(v)
      : Array.isArray(v)
        ? v.map(shown)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [cellText(k), shown(x)]))
          : v;
  return shown(value) as T;
}

/**
 * A report as written: JSON as the CLI prints it (printableJson: the same JSON, what a terminal
 * acts on escaped); a text summary, and CSV or HTML on stdout, with stored values (organization and
 * principal ids, names, notes) as table cells show them (`\u202e`, `\n`), since stdout may be a
 * terminal; CSV or HTML written to a file (--out) with them exact, for the spreadsheet or browser
 * it is meant for. CSV guards formulas either way (csvTable); HTML escapes markup either way.
 */
export function reportText<R, F extends string, A extends unknown[]>(
  r: R,
  format: F,
  out: string | undefined,
  render: (r: R, format: F, ...rest: A) => string,
  ...rest: A
): string {
  if (format === "json") return printableJson(render(r, format, ...rest));
  return render(format === "text" || out === undefined ? cellValues(r) : r, format, ...rest);
}

/** A value as --json prints it: JSON (indented unless `indent` is 0) that is printableJson, and a line break. */
export const jsonText = (value: unknown, indent = 2): string =>
  `${printableJson(JSON.stringify(value, null, indent === 0 ? undefined : indent))}\n`;

/** Most of an error page that is shown. */
const EXCERPT = 200;

/**
 * What an error page that is not Clearance's JSON says (a proxy's or a load balancer's): an HTML
 * page's title or first heading, else its text without tags; one line, printable, at most EXCERPT
 * characters.
 */
export function pageExcerpt(text: string): string {
  const html = /^\s*</.test(text);
  const heading = html ? /<(title|h1)\b[^>]*>([^<]*)<\/\1>/i.exec(text)?.[2] : undefined;
  const plain = heading ?? (html ? text.replace(/<[^>]*>?/g, " ") : text);
  const line = printable(plain).replace(/\s+/g, " ").trim();
  return line.length > EXCERPT ? `${line.slice(0, EXCERPT)}…` : line;
}

/**
 * The most of a JSON or scheme file given to a verb that is read: the admin API's body limit (no
 * larger one could be sent), far above any real principal, partner, application or scheme.
 */
export const MAX_INPUT_BYTES = 10 * 1024 * 1024;

/** A file as messages name it: `-` is standard input. */
export const fileName = (path: string): string => (path === "-" ? "(stdin)" : path);

/**
 * Standard input's text, at most `maxBytes`; more (or input that cannot be read) is invalid input
 * naming `(stdin)`, `tooLarge` saying what to do. An Io's stdin that ignores the bound (a test's)
 * is held to it here too.
 */
export function readStdin(io: Io, maxBytes: number, what: string, tooLarge: string): string {
  const problem = (code: string, message: string) =>
    new InvalidInputError([{ code, path: [], file: fileName("-"), message }]);
  let read: Uint8Array | string | null;
  try {
    read = io.stdin(maxBytes);
  } catch (cause) {
    throw problem("file_unreadable", `cannot read ${what}: ${(cause as Error).message}`);
  }
  const size = read === null ? Infinity : typeof read === "string" ? Buffer.byteLength(read) : read.length;
  if (read === null || size > maxBytes) {
    throw problem("file_too_large", `cannot read ${what}: larger than ${sizeText(maxBytes)}, ${tooLarge}`);
  }
  return typeof read === "string"
    ? read
    : Buffer.from(read.buffer, read.byteOffset, read.length).toString("utf8");
}

/**
 * A file's text (or stdin's for `-`), at most MAX_INPUT_BYTES: a missing, unreadable or larger file
 * is invalid input naming it.
 */
export function readTextArg(io: Io, path: string, what: string): string {
  const tooLarge = `which no ${what} is (a device, or the wrong file?)`;
  if (path === "-") return readStdin(io, MAX_INPUT_BYTES, what, tooLarge);
  const problem = (code: string, message: string) =>
    new InvalidInputError([{ code, path: [], file: path, message }]);
  let bytes: Buffer | null;
  try {
    bytes = readFileBounded(path, MAX_INPUT_BYTES);
  } catch (cause) {
    throw problem("file_unreadable", `cannot read ${what}: ${(cause as Error).message}`);
  }
  if (bytes === null) {
    throw problem(
      "file_too_large",
      `cannot read ${what}: larger than ${sizeText(MAX_INPUT_BYTES)}, ${tooLarge}`,
    );
  }
  return bytes.toString("utf8");
}

/**
 * Reads a JSON file (or stdin for `-`); a missing file or bad JSON is invalid input naming the file
 * (and for bad JSON the line and column, as a scheme file's problems are named).
 */
export function readJsonArg(io: Io, path: string, what: string): unknown {
  const file = fileName(path);
  const text = readTextArg(io, path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const at = jsonSyntaxError(text);
    throw new InvalidInputError([
      {
        code: "invalid_json",
        path: [],
        file,
        ...(at === null ? {} : { line: at.line, column: at.column }),
        message: `${what} is not valid JSON: ${at === null ? (cause as Error).message : at.message}`,
      },
    ]);
  }
}

/**
 * A JSON file read and checked by `parse` (which throws InvalidInputError): its problems name the
 * file, as a bad JSON's do, so a field at fault can be found where it was written.
 */
export function readJsonWith<T>(io: Io, path: string, what: string, parse: (value: unknown) => T): T {
  const value = readJsonArg(io, path, what);
  try {
    return parse(value);
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    throw new InvalidInputError(err.problems.map((p) => ({ ...p, file: p.file ?? fileName(path) })));
  }
}
