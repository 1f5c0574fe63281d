/**
 * The admin API from the browser: same origin, the identity token as a Bearer header, errors in the
 * API's one shape `{error: {code, message, problems: [{code, path, message, line?, column?}]}}`.
 */
export interface Problem {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: readonly Problem[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const TOKEN_KEY = "clearance.token";

/** The token lives for the browser tab only (sessionStorage), never in a URL or a cookie. */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value: string | null) {
    if (value === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  },
};

/**
 * Dispatched on window when the session's own token stops being accepted (a partner's ID token
 * expired, an identity revoked): the console signs out and says why, instead of showing 401s.
 * `detail`: the API's message.
 */
export const SESSION_ENDED = "clearance:session-ended";

/**
 * A change the server stored but this node has not yet put in force (its reload right after the
 * write failed): the answer is a success with `not_yet_in_force`, and a revoked key, a suspended
 * license or a block still lets access through here until the next successful reload. Every answer
 * carrying it is dispatched on window as this event (`detail`: the NotYetInForce), and the shell
 * shows it (InForceWarnings), whichever page made the change.
 */
export const NOT_YET_IN_FORCE = "clearance:not-yet-in-force";

/** The admin API's `not_yet_in_force` (src/control/in-force.ts). */
export interface NotYetInForce {
  readonly code: string;
  readonly message: string;
  /** The node that answered and does not hold the change (absent from a server that does not say). */
  readonly node?: string;
}

/** The answer's `not_yet_in_force`, or null when it has none (or not in the API's shape). */
export function notYetInForce(json: unknown): NotYetInForce | null {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return null;
  const n = (json as { not_yet_in_force?: unknown }).not_yet_in_force;
  if (n === null || typeof n !== "object") return null;
  const { code, message, node } = n as { code?: unknown; message?: unknown; node?: unknown };
  if (typeof message !== "string") return null;
  return {
    code: typeof code === "string" ? code : "not_yet_in_force",
    message,
    ...(typeof node === "string" && node !== "" ? { node } : {}),
  };
}

/** Says (NOT_YET_IN_FORCE) a successful answer that is not yet in force on this node. */
function sayNotYetInForce(json: unknown): void {
  const n = notYetInForce(json);
  if (n !== null) window.dispatchEvent(new CustomEvent<NotYetInForce>(NOT_YET_IN_FORCE, { detail: n }));
}

/** One call of the admin API: same origin, the token as a Bearer header, a JSON body. */
export function send(
  method: "GET" | "POST" | "DELETE",
  path: string,
  body: unknown,
  accept: string | null,
  token: string | null = session.token,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (accept !== null) headers.accept = accept;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`/admin/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export async function api<T = unknown>(
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
  token: string | null = session.token,
): Promise<T> {
  let res: Response;
  let text: string;
  try {
    res = await send(method, path, body, "application/json", token);
    text = await res.text();
  } catch (err) {
    throw noAnswer(err, method !== "GET");
  }
  return answer<T>(res, text, token);
}

/**
 * The browser got no (whole) answer: the network or the server failed before or during it. Its own
 * words ("Failed to fetch") say nothing of what happened to a change sent: it may have been applied
 * with only its answer lost. A change (`changes`) says so, and how to see whether it was before
 * sending it again; a read keeps the browser's error.
 */
export function noAnswer(err: unknown, changes: boolean): unknown {
  if (!changes || !(err instanceof TypeError)) return err;
  return new ApiError(
    0,
    "no_answer",
    `No answer from the server (${err.message}): the change may or may not have been applied. Reload the page to see whether it was before trying again.`,
  );
}

/**
 * The body as JSON, or `undefined` when it is not JSON: a proxy's or load balancer's own page (an
 * HTML 502) is no answer of the API, and `JSON.parse` on it said "Unexpected token '<'" instead of
 * the status.
 */
export function parseBody(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A plain (not streamed) answer: its JSON, or its error with the status when it is not the API's. */
function answer<T>(res: Response, text: string, token: string | null): T {
  const json = parseBody(text);
  if (!res.ok || json === undefined) throw apiError(res.status, json, token, res.statusText);
  sayNotYetInForce(json);
  return json as T;
}

/** How far a long job on the server is (the admin API's progress lines). */
export interface JobProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
}

/**
 * `api()` for the admin API's long jobs (what-if, footprint, rescreen, list import): asks for
 * progress (`Accept: application/x-ndjson`) and tells `onProgress` each line until the result. A job
 * that finishes before reporting anything, or is refused first, answers plain JSON as usual.
 */
export async function apiWithProgress<T = unknown>(
  method: "GET" | "POST",
  path: string,
  body: unknown,
  onProgress: (p: JobProgress) => void,
  { changes = method !== "GET" }: { readonly changes?: boolean } = {},
): Promise<T> {
  const token = session.token;
  let res: Response;
  let text: string | null = null;
  try {
    res = await send(method, path, body, "application/x-ndjson, application/json", token);
    if (!(res.headers.get("content-type") ?? "").startsWith("application/x-ndjson") || res.body === null) {
      text = await res.text();
    }
  } catch (err) {
    throw noAnswer(err, changes);
  }
  if (text !== null || res.body === null) return answer<T>(res, text ?? "", token);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read().catch((err: unknown) => {
      throw noAnswer(err, changes);
    });
    if (value !== undefined) buffered += value;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = parseBody(buffered.slice(0, newline)) as {
        progress?: JobProgress;
        result?: T;
        status?: number;
        error?: unknown;
      } | null;
      // A line that is not the API's (a proxy's page sent in the stream, a line cut): said with the
      // status, not as "Unexpected token"; for a change, that it may have been applied.
      if (line === null || line === undefined || typeof line !== "object" || Array.isArray(line)) {
        throw new ApiError(
          res.status,
          "not_the_api",
          `the server's progress answer has a line that is not the admin API's (a proxy or load balancer in between may have altered it)${
            changes
              ? ": the change may or may not have been applied. Reload the page to see whether it was before trying again."
              : ": try again"
          }`,
        );
      }
      buffered = buffered.slice(newline + 1);
      if (line.progress !== undefined) onProgress(line.progress);
      else if ("result" in line) {
        sayNotYetInForce(line.result);
        return line.result as T;
      } else if (line.error !== undefined) throw apiError(line.status ?? 500, line, null);
    }
    if (done) throw new ApiError(res.status, "incomplete", "the server stopped before the job's result");
  }
}

/**
 * The API's error as an ApiError; a 401 for the session's own token ends the session (SESSION_ENDED).
 * An answer without the API's error shape (a proxy's page, `json` undefined or not an error) is said
 * with its status, and that it did not come from the API.
 */
export function apiError(status: number, json: unknown, token: string | null, statusText = ""): ApiError {
  const e = (json as { error?: { code?: string; message?: string; problems?: Problem[] } } | null)?.error;
  if (status === 401 && token !== null && token === session.token) {
    session.token = null;
    window.dispatchEvent(new CustomEvent(SESSION_ENDED, { detail: e?.message ?? `HTTP ${status}` }));
  }
  if (e === undefined || typeof e.message !== "string") {
    const said = `${status}${statusText === "" ? "" : ` ${statusText}`}`;
    return new ApiError(
      status,
      "not_the_api",
      `the server answered ${said} without the admin API's answer (a proxy or load balancer in between may have failed): try again`,
    );
  }
  return new ApiError(status, e.code ?? "error", e.message, e.problems ?? []);
}

export interface Page<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

/**
 * How many rows of one list the console reads and shows at most: the API's largest page. A list
 * read whole (every page, unbounded) took one request per 500 rows and rendered every row: tens of
 * thousands of keys or matches froze the tab before anything was shown.
 */
export const LIST_BOUND = 500;

/** The first rows of a list, and whether it holds more than those. */
export interface Bounded<T> {
  readonly rows: T[];
  /** The list holds more rows than `rows` (the API gave a `next_cursor` after the last one read). */
  readonly more: boolean;
}

/**
 * The first `bound` rows of a list (in the API's order, by id), read page by page: as many as a
 * small list has, and no more than `bound` of a long one, with `more` saying it was cut.
 */
export async function listFirst<T>(path: string, bound: number = LIST_BOUND): Promise<Bounded<T>> {
  const rows: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const limit = Math.min(500, bound - rows.length);
    const page: Page<T> = await api<Page<T>>(
      "GET",
      `${path}${sep}limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    rows.push(...page.data.slice(0, limit));
    cursor = page.next_cursor;
  } while (cursor !== null && rows.length < bound);
  return { rows, more: cursor !== null };
}

/**
 * Every row of a list, read whole: for the lists the console needs whole and that stay short
 * (scheme versions, a partner's identity providers); a growing list is read with listFirst.
 */
export async function listAll<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page: Page<T> = await api<Page<T>>(
      "GET",
      `${path}${sep}limit=500${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return out;
}

/**
 * A limit on requests in flight: `run(task)` starts the task when fewer than `limit` run, else when
 * one ends. A page that needs one request per row (a license's usage) sends a few at a time rather
 * than thousands at once, however often it reloads.
 */
export function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active < limit) active++;
    else await new Promise<void>((start) => waiting.push(start));
    try {
      return await task();
    } finally {
      // The slot goes to the next task waiting, if any.
      const next = waiting.shift();
      if (next !== undefined) next();
      else active--;
    }
  };
}
