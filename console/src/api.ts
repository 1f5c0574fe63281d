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

export async function api<T = unknown>(
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
  token: string | null = session.token,
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`/admin/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text === "" ? null : (JSON.parse(text) as unknown);
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; problems?: Problem[] } } | null)?.error;
    if (res.status === 401 && token !== null && token === session.token) {
      session.token = null;
      window.dispatchEvent(new CustomEvent(SESSION_ENDED, { detail: e?.message ?? `HTTP ${res.status}` }));
    }
    throw new ApiError(res.status, e?.code ?? "error", e?.message ?? `HTTP ${res.status}`, e?.problems ?? []);
  }
  return json as T;
}

export interface Page<T> {
  readonly data: T[];
  readonly next_cursor: string | null;
}

/** Every page of a list (the console's lists are small; the API pages by 500). */
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
