/**
 * The admin API over HTTP, for the `clearance` commands that work against a running server: one
 * request function (bearer token, JSON in and out, errors as data), and cursor pagination.
 *
 * The token comes from the environment only (CLEARANCE_TOKEN): a token on the command line would
 * leak into shell history and the process list.
 */
import { readBounded } from "../../http/bounded.js";
import { InvalidInputError, type Problem } from "../../errors/index.js";
import { pageExcerpt, printable } from "../io.js";
import { quoted } from "../../policy/text.js";

export const DEFAULT_URL = "http://127.0.0.1:8080";
export const URL_ENV = "CLEARANCE_URL";
export const TOKEN_ENV = "CLEARANCE_TOKEN";
/** The admin API's largest page. */
export const MAX_PAGE = 500;
const TIMEOUT_MS = 30_000;
/**
 * The most of one answer that is read (or of one progress line): far above any the admin API gives
 * (a page holds at most MAX_PAGE rows, a list version's diff a few MB), and a bound on what a server
 * that is not one, or a broken proxy, can make the CLI hold.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A problem as the admin API renders it: the field path, and for files the line and column. */
export interface RemoteProblem {
  readonly code?: string;
  readonly path: string;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * The server refused (status 4xx/5xx, with its error code and problems), or could not be asked
 * (no token, unreachable, not a Clearance server). Rendered with every other error the CLI ends
 * with, in one place (src/cli/render.ts): a 400 is invalid input (exit 2), anything else exit 1.
 * What the server said is kept printable: it is written to the terminal as it came.
 */
export class RemoteError extends Error {
  readonly code: string;
  readonly problems: readonly Problem[];
  constructor(
    code: string,
    message: string,
    problems: readonly (RemoteProblem | Problem)[] = [],
    readonly status: number | null = null,
  ) {
    super(printable(message));
    this.name = "RemoteError";
    this.code = printable(code);
    this.problems = problems.map(asProblem);
  }
}

/** The server's problem as the CLI's own: its path as one segment ("(root)" is none); printable. */
function asProblem(p: RemoteProblem | Problem): Problem {
  const text = (v: unknown) => (typeof v === "string" ? printable(v) : v);
  const { path, code, message, file, ...rest } = p;
  const segments =
    typeof path !== "string" ? path.map(text) : path === "" || path === "(root)" ? [] : [printable(path)];
  return {
    ...rest,
    code: printable(code ?? "invalid"),
    path: segments as Problem["path"],
    message: printable(message),
    ...(file === undefined ? {} : { file: printable(file) }),
  };
}

export type Method = "GET" | "POST" | "DELETE";
export type Query = Readonly<Record<string, string | number | undefined>>;

export interface Page<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

/** How far a long job on the server is (its progress lines: src/admin/progress.ts). */
export interface JobProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Query;
  /**
   * A long job: asks for its progress lines and tells them here; the time limit is then for the
   * server's silence (no line for that long), not for the whole job.
   */
  readonly progress?: (p: JobProgress) => void;
}

export interface Client {
  /** The server's base URL, as used. */
  readonly url: string;
  request<T>(method: Method, path: string, options?: RequestOptions): Promise<T>;
  /**
   * A list endpoint: with `limit`, that one page (from `cursor`) as the server answers it; without,
   * every page, followed through `next_cursor` and answered as one page.
   */
  list<T>(path: string, query?: Query, page?: { limit?: number; cursor?: string }): Promise<Page<T>>;
}

const usage = (message: string) => new InvalidInputError([{ code: "usage", path: [], message }]);

/**
 * What a bearer token may hold: printable ASCII, no spaces. Anything else cannot go in a header,
 * and fetch's complaint about it would quote the whole header, i.e. the token.
 */
const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/**
 * The token from CLEARANCE_TOKEN, trimmed; undefined when unset or empty. One of the wrong shape
 * (a second line read from the token's file, a stray space) is usage, and is never echoed.
 */
export function resolveToken(value: string | undefined): string | undefined {
  const token = value?.trim();
  if (!token) return undefined;
  if (!TOKEN_SHAPE.test(token)) {
    throw usage(
      `${TOKEN_ENV} holds a space, a line break or a character outside printable ASCII, which no ` +
        "admin token has (a second line read from the token's file?): set it to the token alone",
    );
  }
  return token;
}

/** A would-be URL for a message: all before its last "@" hidden (it may be user:password). */
function redacted(text: string): string {
  const at = text.lastIndexOf("@");
  if (at < 0) return text;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? "";
  return `${scheme}…${text.slice(at)}`;
}

/** The base URL: `--url`, else CLEARANCE_URL, else the default listen address. A bad URL is usage. */
export function resolveUrl(option: string | undefined, env: NodeJS.ProcessEnv): string {
  const fromEnv = env[URL_ENV]?.trim();
  const text = option ?? (fromEnv ? fromEnv : DEFAULT_URL);
  const source = option !== undefined ? "--url" : fromEnv ? URL_ENV : "the default URL";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`${source}: not a URL: ${quoted(redacted(text))} (expected e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usage(`${source}: expected an http:// or https:// URL, got ${quoted(redacted(text))}`);
  }
  // A password in the URL would be echoed in messages (and fetch refuses such URLs anyway).
  if (url.username !== "" || url.password !== "") {
    throw usage(
      `${source}: the URL carries a user name or password (${url.protocol}//…@${url.host}): remove ` +
        `it; the admin token is read from ${TOKEN_ENV}`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw usage(`${source}: expected the server's base URL, without ?query or #fragment`);
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * A warning when the admin token would cross the network in clear text: an http:// URL to a host
 * other than this machine's loopback (null otherwise). Warned rather than refused: a private link
 * may be trusted, but nobody should send a token over one without knowing.
 */
export function cleartextWarning(url: string): string | null {
  const { protocol, hostname } = new URL(url);
  if (protocol !== "http:") return null;
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)) return null;
  return `warning: ${url} is plain http to another machine: the admin token (${TOKEN_ENV}) is sent unencrypted; use https://`;
}

export interface ClientOptions {
  readonly url: string;
  readonly token: string | undefined;
  readonly timeoutMs?: number;
  /** Page size when following every page of a list (default and most: MAX_PAGE). */
  readonly pageSize?: number;
  /** The most of one answer read (default MAX_ANSWER_BYTES). */
  readonly maxBytes?: number;
  readonly fetch?: typeof fetch;
}

export function createClient(options: ClientOptions): Client {
  const base = options.url.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const pageSize = options.pageSize ?? MAX_PAGE;
  const maxBytes = options.maxBytes ?? MAX_ANSWER_BYTES;

  async function request<T>(method: Method, path: string, opts: RequestOptions = {}): Promise<T> {
    const token = resolveToken(options.token);
    if (token === undefined) {
      throw new RemoteError(
        "missing_token",
        `no admin token: set the environment variable ${TOKEN_ENV} to an admin API token; ` +
          "it is never taken from the command line",
      );
    }
    try {
      return await exchange<T>(token, method, path, opts);
    } catch (err) {
      // Whatever a message quotes (a system error, a server echoing the request), never the token.
      if (!(err instanceof RemoteError)) throw err;
      const hide = (text: string) => text.split(token).join("[token]");
      throw new RemoteError(
        err.code,
        hide(err.message),
        err.problems.map((p) => ({ ...p, message: hide(p.message) })),
        err.status,
      );
    }
  }

  async function exchange<T>(
    token: string,
    method: Method,
    path: string,
    { body, query, progress }: RequestOptions,
  ): Promise<T> {
    const target = `${base}${path}${queryString(query)}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: progress === undefined ? "application/json" : `${NDJSON}, application/json`,
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    // Without progress, the whole exchange has timeoutMs; with it, each wait for the server does.
    const silence = new AbortController();
    let timer = setTimeout(() => silence.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    const heard = () => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    };
    let res: Response;
    let text: string;
    try {
      res = await doFetch(target, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: silence.signal,
        redirect: "error",
      });
      if (progress !== undefined && (res.headers.get("content-type") ?? "").startsWith(NDJSON) && res.ok) {
        return await progressLines<T>(res, method, target, progress, heard, maxBytes);
      }
      text = await boundedText(res, method, target, maxBytes);
    } catch (err) {
      if (err instanceof RemoteError) throw err;
      throw failed(base, err, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : (JSON.parse(text) as unknown);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw refusal(res.status, method, target, parsed, text);
    if (parsed === undefined) {
      throw new RemoteError(
        "bad_response",
        `${method} ${target} answered HTTP ${res.status} without JSON: is ${base} a Clearance server?`,
        [],
        res.status,
      );
    }
    return parsed as T;
  }

  async function list<T>(
    path: string,
    query: Query = {},
    page: { limit?: number; cursor?: string } = {},
  ): Promise<Page<T>> {
    if (page.limit !== undefined) {
      return request<Page<T>>("GET", path, { query: { ...query, limit: page.limit, cursor: page.cursor } });
    }
    const data: T[] = [];
    const seen = new Set<string>();
    let cursor = page.cursor;
    for (;;) {
      const got = await request<Page<T>>("GET", path, { query: { ...query, limit: pageSize, cursor } });
      if (!Array.isArray(got.data)) {
        throw new RemoteError("bad_response", `GET ${base}${path} did not answer with a page of data`);
      }
      data.push(...got.data);
      const next = got.next_cursor;
      // A cursor seen before would loop forever: stop (the server never does this).
      if (next === null || next === undefined || seen.has(next)) break;
      seen.add(next);
      cursor = next;
    }
    return { data, next_cursor: null };
  }

  return { url: base, request, list };
}

const NDJSON = "application/x-ndjson";

/** Reads a long job's progress lines until its result (or its error, once progress had begun). */
async function progressLines<T>(
  res: Response,
  method: Method,
  target: string,
  progress: (p: JobProgress) => void,
  heard: () => void,
  maxBytes: number,
): Promise<T> {
  const decoder = new TextDecoder();
  let buffered = "";
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value: chunk } = await reader.read();
      if (done) break;
      heard();
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line: { progress?: JobProgress; result?: unknown; status?: number; error?: unknown };
        try {
          line = JSON.parse(text) as typeof line;
        } catch {
          throw new RemoteError("bad_response", `${method} ${target} sent a progress line that is not JSON`);
        }
        if (line.progress !== undefined) progress(line.progress);
        else if ("result" in line) return line.result as T;
        else if (line.error !== undefined) throw refusal(line.status ?? 500, method, target, line, text);
      }
      // A line not yet ended is held: at most maxBytes characters of it (up to three bytes each).
      if (buffered.length > maxBytes) throw tooLarge(method, target, maxBytes, "a progress line");
    }
  } finally {
    // Whatever is left unread (after the result, or when refused) is not waited for.
    await reader.cancel().catch(() => undefined);
  }
  throw new RemoteError("bad_response", `${method} ${target} ended before the job's result`);
}

/** "64 MiB": a byte limit as messages say it. */
const mebibytes = (bytes: number): string =>
  bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;

function tooLarge(method: Method, target: string, maxBytes: number, what = "an answer"): RemoteError {
  return new RemoteError(
    "answer_too_large",
    `${method} ${target} sent ${what} larger than ${mebibytes(maxBytes)}, more than the admin API ` +
      "ever answers: not read (is the URL a Clearance server's?)",
  );
}

/**
 * The answer's text, read up to maxBytes: one declared larger is refused unread, one that grows past
 * it (a server that never stops) is cut off there.
 */
async function boundedText(res: Response, method: Method, target: string, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readBounded(res, maxBytes, () => tooLarge(method, target, maxBytes)));
}

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}

function refusal(status: number, method: Method, target: string, body: unknown, text: string): RemoteError {
  const error = (body as { error?: unknown } | undefined)?.error as
    { code?: unknown; message?: unknown; problems?: unknown } | undefined;
  if (typeof error?.code === "string" && typeof error.message === "string") {
    const problems = Array.isArray(error.problems) ? (error.problems as RemoteProblem[]) : [];
    const hint = status === 401 ? `; the token is read from ${TOKEN_ENV}` : "";
    return new RemoteError(error.code, `${error.message}${hint}`, problems, status);
  }
  const said = pageExcerpt(text);
  return new RemoteError(
    `http_${status}`,
    `${method} ${target} answered HTTP ${status}${said === "" ? "" : `: ${said}`}`,
    [],
    status,
  );
}

/**
 * Why the exchange failed. Only a network failure (fetch's "fetch failed", a system error code, a
 * time-out) is "cannot reach"; anything else failed here, before or while sending, and says so.
 * (request() takes the token out of either: a header error quotes it.)
 */
function failed(base: string, err: unknown, timeoutMs: number): RemoteError {
  const name = (err as { name?: unknown }).name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new RemoteError(
      "unreachable",
      `no answer from the Clearance server at ${base} within ${timeoutMs / 1000} s`,
    );
  }
  const cause = (err as { cause?: unknown } | null)?.cause;
  const network =
    err instanceof TypeError &&
    cause !== undefined &&
    (err.message === "fetch failed" || typeof (cause as { code?: unknown }).code === "string");
  if (!network) {
    const message = err instanceof Error ? err.message : String(err);
    return new RemoteError("request_failed", `could not send the request to ${base}: ${message}`);
  }
  if ((cause as { message?: unknown }).message === "unexpected redirect") {
    return new RemoteError(
      "redirected",
      `${base} answered with a redirect, which is not followed (it would take the token ` +
        `elsewhere): set --url or ${URL_ENV} to the server's own address`,
    );
  }
  return new RemoteError(
    "unreachable",
    `cannot reach the Clearance server at ${base} (${reason(err)}); is it running? ` +
      `Set --url or ${URL_ENV} to its address`,
  );
}

/** The innermost useful message: fetch wraps the socket error ("fetch failed" → ECONNREFUSED …). */
function reason(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (e as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    e = cause;
  }
  if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
  const { message, code } = (e ?? {}) as { message?: unknown; code?: unknown };
  if (typeof message === "string" && message !== "") return message;
  if (typeof code === "string") return code;
  return err instanceof Error ? err.message : String(err);
}
