/**
 * The small HTTP core shared by Clearance's servers (node:http, no framework on the hot path):
 * bounded JSON bodies, JSON responses, and the one table from error kind to HTTP status.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  ClearanceError,
  InvalidInputError,
  formatPath,
  formatProblem,
  rawPath,
  type ErrorKind,
  type Path,
  type Problem,
} from "../errors/index.js";
import { BIDI_CONTROL, bidiControlName, controlName, FORBIDDEN_CONTROL, quoted } from "../policy/text.js";

export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects a body may have. Deeper bodies are refused while they are
 * read: re-serialising 100,000 levels overflows the stack after the request was already decided.
 */
export const DEFAULT_JSON_DEPTH = 128;

/** Every error kind's HTTP status: the only place a status is chosen for an error. */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  "not-found": 404,
  method: 405,
  "request-timeout": 408,
  "client-closed": 499,
  conflict: 409,
  "too-large": 413,
  "media-type": 415,
  "rate-limited": 429,
  "headers-too-large": 431,
  internal: 500,
  upstream: 502,
  unavailable: 503,
  "upstream-timeout": 504,
};

export const statusOf = (err: ClearanceError): number => STATUS_OF_KIND[err.kind];

export interface ReadJsonOptions {
  /** Largest body in bytes (413 beyond). */
  readonly limit?: number;
  /** Deepest nesting of arrays and objects (400 beyond). */
  readonly depth?: number;
  /** OpenAI and Anthropic answer a wrong content type with 400 (`invalid`); the decision and admin APIs with 415. */
  readonly wrongType?: ErrorKind;
  /**
   * `take`: bidirectional controls pass — for a body that is a query, compared and never stored nor
   * shown to another person (a name screened as a list writes it). Default `refuse`.
   */
  readonly bidi?: "refuse" | "take";
  /** `take`: control characters pass, for such a query too (it checks its names itself). Default `refuse`. */
  readonly controls?: "refuse" | "take";
}

/**
 * Reads a JSON body within the size and depth limits (the admin API's). Malformed JSON, wrong
 * content types and a lone surrogate in any string or member name (`invalid_unicode`) are refused:
 * what the admin API reads may be written into the audit log, whose RFC 8785 entries cannot hold
 * one. So are a control character but TAB, LF and CR (`control_character`) and a bidirectional
 * override, embedding or isolate (`bidi_control`): names, labels, reasons and notes are shown to
 * other people, in the console, the CLI, logs and reports.
 */
export async function readJson(req: IncomingMessage, options: ReadJsonOptions = {}): Promise<unknown> {
  const text = await readJsonBodyText(req, options);
  const value = parseJsonText(text);
  refuseLoneSurrogates(value, text);
  if (options.controls !== "take") refuseControlCharacters(value, text);
  if (options.bidi !== "take") refuseBidiControls(value, text);
  return value;
}

/**
 * A JSON body and its text, as it came: lone surrogates are not refused here. The gateway passes
 * the body on to the upstream (a prompt may hold any JSON the upstream takes) and checks only the
 * names it records (request-facts.ts, checkName).
 */
export async function readJsonText(
  req: IncomingMessage,
  options: ReadJsonOptions = {},
): Promise<{ readonly text: string; readonly value: unknown }> {
  const text = await readJsonBodyText(req, options);
  return { text, value: parseJsonText(text) };
}

/**
 * A JSON body's text, within the content type, size and depth limits, not parsed yet: for a caller
 * that parses a large body a piece at a time (the decision API's batches), then parseJsonText.
 */
export function readJsonBodyText(req: IncomingMessage, options: ReadJsonOptions = {}): Promise<string> {
  // A plain function, not async: readJsonText awaits it on the proxy's path, and an async layer
  // returning this promise would add microtask hops. A refusal below, thrown in the executor,
  // rejects the promise as it would from an async function.
  return new Promise<string>((resolve, reject) => {
    const limit = options.limit ?? DEFAULT_BODY_LIMIT;
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/(.+\+)?json\b/i.test(type)) {
      throw new ClearanceError(
        options.wrongType ?? "media-type",
        "unsupported_media_type",
        `expected Content-Type: application/json, got ${quoted(type.slice(0, 100))}`,
      );
    }
    // Bodies are read as they come: a compressed one read as JSON was refused as "not valid JSON",
    // its message quoting the compressed bytes (control characters).
    const encoding = req.headers["content-encoding"]?.trim() ?? "";
    if (encoding !== "" && encoding.toLowerCase() !== "identity") {
      throw new ClearanceError(
        options.wrongType ?? "media-type",
        "unsupported_media_type",
        `Content-Encoding ${quoted(encoding.slice(0, 100))} is not supported: send the JSON body uncompressed`,
      );
    }
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > limit) throw tooLarge(limit);
    const depth = new DepthGauge(options.depth ?? DEFAULT_JSON_DEPTH);
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    // Events rather than for-await: leaving a for-await loop destroys the request, and with it the
    // socket the refusal must be written to. A refused body's rest is read and dropped by Node.
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      try {
        size += chunk.length;
        if (size > limit) throw tooLarge(limit);
        depth.scan(chunk);
        chunks.push(chunk);
      } catch (err) {
        refused = true;
        chunks.length = 0;
        reject(err);
      }
    });
    req.once("end", () => {
      if (!refused)
        resolve(
          chunks.length === 1
            ? (chunks[0] as Buffer).toString("utf8")
            : Buffer.concat(chunks).toString("utf8"),
        );
    });
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete)
        reject(
          new ClearanceError(
            "invalid",
            "request_aborted",
            "the client closed the request before sending all of it",
          ),
        );
    });
  });
}

/** JSON.parse, its failure the caller's 400 (`invalid_json`, with JSON.parse's own words). */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ClearanceError(
      "invalid",
      "invalid_json",
      `request body is not valid JSON: ${(cause as Error).message}`,
    );
  }
}

/** `String.prototype.isWellFormed` (Node 20; its type is in ES2024's lib, not this project's ES2023). */
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/**
 * A `\u` escape of a surrogate (U+D800–U+DFFF) in JSON text. Only such an escape can put a lone
 * surrogate into a string parsed from a UTF-8 body (invalid UTF-8 decodes to U+FFFD), so text with
 * none, and no raw lone surrogate, needs no scan of its value. A well-formed pair's escapes (an
 * emoji written `\ud83d\ude00`) and `\\ud800` (an escaped backslash) match too: the scan decides.
 */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * Refuses (400 `invalid_unicode`, naming the JSON path) a value parsed from `text` that holds a
 * lone surrogate in a string or a member name: not Unicode, and RFC 8785, the audit log's canonical
 * JSON, refuses it (strict verifiers cannot re-encode an entry holding one). Two native scans of
 * the text (about 7 ms each for 10 MB) decide whether the value is walked at all. `at` is where
 * the value sits in the body (a batch's item index).
 */
export function refuseLoneSurrogates(value: unknown, text: string, at: Path = []): void {
  if (!SURROGATE_ESCAPE.test(text) && isWellFormed.call(text)) return;
  const found = loneSurrogateAt(value, [...at]);
  if (found === null) return;
  const message = found.name
    ? `the member name ${quoted(found.path.at(-1))} in ${formatPath(found.path.slice(0, -1))} is not valid Unicode (a lone surrogate, shown as U+FFFD)`
    : `${formatPath(found.path)} is not valid Unicode (a lone surrogate)`;
  const full = `${message}: the audit log's canonical JSON (RFC 8785) cannot hold one`;
  throw new ClearanceError("invalid", "invalid_unicode", full, {
    problems: [{ code: "invalid_unicode", path: found.path, message }],
  });
}

/** A bidirectional control, raw or as a `\u` escape, in JSON text (the scan then decides). */
const BIDI_IN_TEXT = new RegExp(`${BIDI_CONTROL.source}|\\\\u(?:202[a-eA-E]|206[6-9])`);

/**
 * Refuses (400 `bidi_control`, naming the JSON path) a value parsed from `text` holding a
 * bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069) in a string or
 * member name: invisible, it makes text shown to others read otherwise than it is stored (the
 * console and CLI show them escaped; other readers of the audit log and reports may not).
 * Right-to-left letters (Arabic, Hebrew) and the directional marks pass. Text with neither the
 * character nor its escape is not walked. `at`: where `value` is in the body (a batch's item).
 */
export function refuseBidiControls(value: unknown, text: string, at: Path = []): void {
  refuseCharacters(
    value,
    text,
    {
      code: "bidi_control",
      pattern: BIDI_CONTROL,
      inText: BIDI_IN_TEXT,
      name: bidiControlName,
      why: "",
      advice:
        ", an invisible control that makes text read otherwise than it is stored; remove it (right-to-left letters need none)",
    },
    at,
  );
}

/**
 * A control character other than TAB, LF and CR in JSON text: DEL and C1 raw (JSON takes them so),
 * or a `\u` or `\b`/`\f` escape (raw C0 is not JSON); a `\\b` (an escaped backslash) matches too,
 * and the walk then decides.
 */
const CONTROL_IN_TEXT = new RegExp(
  `${FORBIDDEN_CONTROL.source}|\\\\u00(?:0[0-8bBcCe-fE-F]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|\\\\[bf]`,
);

/**
 * Refuses (400 `control_character`, naming the JSON path and the character) a value parsed from
 * `text` holding a control character other than TAB, LF and CR (C0, DEL, C1) in a string or member
 * name: names, reasons and notes are shown in terminals, logs and reports, which an escape sequence
 * garbles (or clears), and a NUL is text PostgreSQL cannot hold. The three line and column controls
 * pass everywhere (a note's lines, a scheme's YAML); fields taking one line refuse them themselves.
 */
export function refuseControlCharacters(value: unknown, text: string): void {
  refuseCharacters(value, text, {
    code: "control_character",
    pattern: FORBIDDEN_CONTROL,
    inText: CONTROL_IN_TEXT,
    name: controlName,
    why: ": text may hold no control characters but tab, line feed and carriage return",
    advice: "; remove it",
  });
}

interface RefusedCharacters {
  readonly code: string;
  /** One of the characters refused; not global. */
  readonly pattern: RegExp;
  /** The character or its escape in the JSON text: without it, the value is not walked. */
  readonly inText: RegExp;
  readonly name: (c: string) => string;
  /** Said in the problem, after the character's name. */
  readonly why: string;
  /** Said in the error's message only, after the problem's. */
  readonly advice: string;
}

/** The first string or member name holding one of `refused`'s characters, refused naming it. */
function refuseCharacters(value: unknown, text: string, refused: RefusedCharacters, within: Path = []): void {
  if (!refused.inText.test(text)) return;
  const found = firstStringAt(value, [...within], (s) => refused.pattern.test(s));
  if (found === null) return;
  const s = found.name ? String(found.path.at(-1)) : (found.text as string);
  const at = s.search(refused.pattern);
  const char = refused.name(s.charAt(at));
  // A long text (a scheme's YAML) is told where in it; a name needs no position.
  const before = s.slice(0, at).split("\n");
  const where =
    before.length > 1
      ? ` at line ${before.length}, column ${(before.at(-1) as string).length + 1} of its text`
      : "";
  // A member name is named with U+FFFD for the characters: the answer must not carry them either.
  const all = new RegExp(refused.pattern.source, "g");
  const path = found.name ? [...found.path.slice(0, -1), s.replace(all, "\ufffd")] : found.path;
  const message = found.name
    ? `the member name ${quoted(path.at(-1))} in ${formatPath(path.slice(0, -1))} holds ${char}${refused.why}`
    : `${formatPath(path)} holds ${char}${where}${refused.why}`;
  throw new ClearanceError("invalid", refused.code, `${message}${refused.advice}`, {
    problems: [{ code: refused.code, path, message }],
  });
}

/** The first string or member name (in the order the parsed object lists them) `bad` is true of. */
function firstStringAt(
  value: unknown,
  path: (string | number)[],
  bad: (s: string) => boolean,
): { path: (string | number)[]; name: boolean; text?: string } | null {
  if (typeof value === "string") return bad(value) ? { path: [...path], name: false, text: value } : null;
  if (typeof value !== "object" || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const found = firstStringAt(value[i], path, bad);
      path.pop();
      if (found !== null) return found;
    }
    return null;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (bad(key)) return { path: [...path, key], name: true };
    path.push(key);
    const found = firstStringAt((value as Record<string, unknown>)[key], path, bad);
    path.pop();
    if (found !== null) return found;
  }
  return null;
}

/**
 * The path of the first string or member name holding a lone surrogate (members in the order the
 * parsed object lists them), or null. `path` is pushed and popped as the walk goes, copied only
 * for the answer. A member name's path ends with that name, its surrogates replaced by U+FFFD (the
 * answer is JSON too). Recursion is bounded by the body's depth limit.
 */
function loneSurrogateAt(
  value: unknown,
  path: (string | number)[],
): { path: (string | number)[]; name: boolean } | null {
  if (typeof value === "string") return isWellFormed.call(value) ? null : { path: [...path], name: false };
  if (typeof value !== "object" || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const found = loneSurrogateAt(value[i], path);
      path.pop();
      if (found !== null) return found;
    }
    return null;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (!isWellFormed.call(key))
      return { path: [...path, key.replace(/\p{Surrogate}/gu, "\ufffd")], name: true };
    path.push(key);
    const found = loneSurrogateAt((value as Record<string, unknown>)[key], path);
    path.pop();
    if (found !== null) return found;
  }
  return null;
}

/**
 * Tracks the nesting depth of JSON text as its bytes arrive, without parsing it: brackets inside
 * strings do not count. UTF-8 continuation bytes are never ASCII, so bytes can be scanned one by one.
 *
 * Text with no more opening brackets than the limit, inside strings or not, cannot nest deeper
 * than it: until that many have arrived, the bytes are only counted (natively, with indexOf) and
 * kept; past it, the exact scan runs over what came so far and then over every later chunk. A
 * large prompt is rarely scanned byte by byte in JavaScript.
 */
export class DepthGauge {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Opening brackets seen while only counting; null once the exact scan runs. */
  private opened: number | null = 0;
  private counted: Buffer[] = [];
  constructor(private readonly max: number) {}

  scan(chunk: Buffer): void {
    if (this.opened !== null) {
      this.opened += count(chunk, 0x7b, this.max) + count(chunk, 0x5b, this.max);
      if (this.opened <= this.max) {
        this.counted.push(chunk);
        return;
      }
      this.opened = null;
      const earlier = this.counted;
      this.counted = [];
      for (const c of earlier) this.exact(c);
    }
    this.exact(chunk);
  }

  /** The exact scan. Inside strings it jumps from quote to quote natively (indexOf). */
  private exact(chunk: Buffer): void {
    let { depth, inString, escaped } = this;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (inString) {
        if (escaped) {
          escaped = false;
          i++;
          continue;
        }
        const quote = chunk.indexOf(0x22, i);
        const end = quote < 0 ? n : quote;
        // Backslashes just before the quote (or the chunk's end): an odd run escapes what follows.
        let run = 0;
        while (end - run - 1 >= i && chunk[end - run - 1] === 0x5c) run++;
        if (quote < 0) {
          escaped = run % 2 === 1;
          break;
        }
        if (run % 2 === 0) inString = false;
        i = quote + 1;
        continue;
      }
      const b = chunk[i] as number;
      if (b === 0x22) inString = true;
      else if (b === 0x7b || b === 0x5b) {
        if (++depth > this.max) {
          throw new ClearanceError(
            "invalid",
            "json_too_deep",
            `request body nests arrays and objects more than ${this.max} levels deep`,
          );
        }
      } else if (b === 0x7d || b === 0x5d) depth--;
      i++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
  }
}

/** How many times `byte` occurs in `chunk`, counting no further than just past `stop`. */
function count(chunk: Buffer, byte: number, stop: number): number {
  let n = 0;
  for (let at = chunk.indexOf(byte); at >= 0 && n <= stop; at = chunk.indexOf(byte, at + 1)) n++;
  return n;
}

function tooLarge(limit: number): ClearanceError {
  return new ClearanceError(
    "too-large",
    "body_too_large",
    `request body is larger than the limit of ${limit} bytes`,
  );
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Any thrown value as a ClearanceError: domain errors carry their kind, invalid input is `invalid`,
 * anything unexpected is `internal` (its details are not leaked).
 */
export function asClearanceError(err: unknown): ClearanceError {
  if (err instanceof ClearanceError) return err;
  if (err instanceof InvalidInputError) {
    // The first problem as a person reads it: where (file:line:column when it came from a file),
    // which field, what is wrong; every problem is in `problems` too.
    const first = err.problems[0];
    const message = first ? formatProblem(first) : err.message;
    return new ClearanceError("invalid", "invalid_request", message, { problems: err.problems, cause: err });
  }
  return new ClearanceError("internal", "internal_error", "internal error", { cause: err });
}

/** The admin / decision API error body: one shape, with the field path of each problem. */
export function errorBody(err: ClearanceError): unknown {
  return {
    error: {
      code: err.code,
      message: err.message,
      ...(err.problems.length > 0 ? { problems: err.problems.map(renderProblem) } : {}),
    },
  };
}

function renderProblem(p: Problem) {
  return Object.assign(
    { code: p.code, path: rawPath(p.path), message: p.message },
    p.file === undefined ? {} : { file: p.file },
    p.line === undefined ? {} : { line: p.line, column: p.column ?? 1 },
  );
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

/** Wraps a handler so that every error, thrown anywhere, is rendered once, here. */
export function withErrors(handler: Handler, onInternal?: (err: unknown) => void): Handler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (thrown) {
      const err = asClearanceError(thrown);
      const status = statusOf(err);
      if (status >= 500) onInternal?.(thrown);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      setErrorHeaders(res, err);
      sendJson(res, status, errorBody(err));
    }
  };
}

/** The headers an error's answer carries besides its body: a 405's `Allow`. */
export function setErrorHeaders(res: ServerResponse, err: ClearanceError): void {
  if (err.allow.length > 0) res.setHeader("allow", err.allow.join(", "));
}

/**
 * The credentials of `Authorization: Bearer <token>`; the scheme name is case-insensitive (RFC 9110
 * 11.1), so `bearer` and `BEARER` work too. Null when the header is absent or another scheme.
 */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.length < 7) return null;
  if (header.slice(0, 6).toLowerCase() !== "bearer" || (header[6] !== " " && header[6] !== "\t")) return null;
  const token = header.slice(7).trim();
  return token === "" ? null : token;
}

/** HTTP/1.1 requests must name their Host (RFC 9112 3.2); refused here, in the caller's format. */
export function requireHost(req: IncomingMessage): void {
  if (req.headers.host === undefined && req.httpVersion === "1.1") {
    throw new ClearanceError("invalid", "missing_host", "an HTTP/1.1 request must carry a Host header");
  }
}

/** A percent-encoded path segment, decoded; a malformed escape is the caller's error (400), not ours. */
export function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ClearanceError(
      "invalid",
      "invalid_path",
      `the path segment ${quoted(part.slice(0, 100))} is not validly percent-encoded`,
    );
  }
}
