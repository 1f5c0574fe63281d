/**
 * An upstream's error answer, passed on without its text: upstream messages can name internal
 * hosts, keys or passwords. The client gets the status and the provider's standard error type and
 * code (which SDKs and retry logic act on) with Clearance's own message; the original body goes to
 * the gateway's log, bounded, under the request id, with credentials taken out (an upstream may
 * echo the key it was sent, and the log is read by more people than hold the key).
 */
import type { ServerResponse } from "node:http";
import type { SseEvent } from "../upstream/sse.js";
import type { UpstreamResponse, Wire } from "../upstream/types.js";
import { quoted } from "../policy/text.js";

/** Error types the providers document; anything else (a proxy's or a server's own) is not passed on. */
const STANDARD_TYPES: Readonly<Record<Wire, ReadonlySet<string>>> = {
  openai: new Set([
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "rate_limit_error",
    "insufficient_quota",
    "server_error",
    "api_error",
  ]),
  anthropic: new Set([
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "timeout_error",
  ]),
};

/** OpenAI's documented error codes that a client can act on. */
const STANDARD_CODES: ReadonlySet<string> = new Set([
  "context_length_exceeded",
  "rate_limit_exceeded",
  "insufficient_quota",
  "model_not_found",
  "invalid_value",
  "invalid_type",
  "unsupported_parameter",
  "unsupported_value",
  "unknown_parameter",
  "missing_required_parameter",
  "string_above_max_length",
  "content_filter",
  "content_policy_violation",
  "invalid_prompt",
  "server_error",
]);

/** Kept of the body for the log. */
const LOGGED_BYTES = 2048;

export interface UpstreamErrorOptions {
  readonly wire: Wire;
  readonly upstream: UpstreamResponse;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly log: (line: string) => void;
}

/** Answers the client with the sanitised error once the upstream's body has been read (or cut short). */
export function relayUpstreamError(o: UpstreamErrorOptions): Promise<null> {
  const { upstream } = o;
  return new Promise((resolve) => {
    const kept: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const text = Buffer.concat(kept).toString("utf8");
      logUpstreamText(o, `upstream answered ${upstream.status}`, text);
      answer(o, classify(o.wire, text));
      resolve(null);
    };
    upstream.body.on("data", (chunk: Buffer) => {
      if (size >= LOGGED_BYTES) return;
      kept.push(chunk);
      size += chunk.length;
      // Enough to classify and log: the rest is not read (an endless error stream cannot hold us).
      if (size >= LOGGED_BYTES) upstream.body.destroy();
    });
    upstream.body.once("end", finish);
    // Destroyed above, cut off by the upstream, or aborted because the client left: answer if one can.
    upstream.body.once("close", finish);
    upstream.body.once("error", () => undefined);
  });
}

/**
 * An upstream's error text, into the gateway's log only: redacted, then cut (a key across the cut
 * would leave its first part in clear). Only twice what is kept is redacted: an error event in a
 * stream may be megabytes (limits.body_bytes), all of it to be scanned on the event loop.
 */
export function logUpstreamText(
  o: Pick<UpstreamErrorOptions, "requestId" | "log"> & {
    readonly upstream: Pick<UpstreamResponse, "secrets">;
  },
  what: string,
  text: string,
): void {
  const shown = redact(text.slice(0, 2 * LOGGED_BYTES), o.upstream.secrets).slice(0, LOGGED_BYTES);
  o.log(`clearance: request ${o.requestId}: ${what}: ${quoted(shown)}`);
}

type Json = Record<string, unknown>;

/**
 * An upstream's error event inside a stream (status 200 already sent), with its text replaced as a
 * refusal's is: the same event in the same shape, the provider's standard type and code kept, the
 * message Clearance's own. null when the event is not an error. The ones the SDKs raise or read:
 * OpenAI `data: {"error":{…}}` (and a server's variants of it: the error as a string,
 * `{"error":"…"}`, or vLLM's top-level `{"object":"error","message":…}`), Anthropic `event: error`,
 * and the Responses API's `error` event and `response.failed` (whose response, usage included, is
 * kept but for its error).
 */
export function sanitizedStreamError(wire: Wire, e: SseEvent, requestId: string): SseEvent | null {
  // Nearly every event: no error form in it, and nothing parsed here.
  if (e.event !== "error" && e.event !== "response.failed" && !errorish(e.data)) return null;
  let json: Json;
  try {
    const parsed = JSON.parse(e.data) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
    json = parsed as Json;
  } catch {
    // Not JSON: an event named error is an error all the same, in the stream's own shape.
    if (e.event !== "error") return null;
    json = {};
  }
  const message = `the upstream failed mid-stream; its message is not passed on (request ${requestId} in the gateway's log)`;
  const error = typeof json.error === "object" && json.error !== null ? (json.error as Json) : null;
  // The error as a string, or vLLM's error object at the top: an error, with no standard type or code
  // that could be told apart from the server's own (vLLM's `type` is a Python class name).
  const bare = typeof json.error === "string" || json.object === "error";
  const shaped = (data: unknown): SseEvent =>
    e.event === undefined ? { data: JSON.stringify(data) } : { event: e.event, data: JSON.stringify(data) };
  if (wire === "anthropic") {
    if (e.event !== "error" && json.type !== "error" && error === null && !bare) return null;
    return shaped({
      type: "error",
      error: { type: standardType(wire, error?.type) ?? "api_error", message },
    });
  }
  const response =
    typeof json.response === "object" && json.response !== null ? (json.response as Json) : null;
  const failed = json.type === "response.failed" || e.event === "response.failed";
  if (failed && response !== null && response.error !== null && response.error !== undefined) {
    const code = standardCode((response.error as Json).code) ?? "server_error";
    const out: Json = Object.assign({}, json, {
      response: Object.assign({}, response, { error: { code, message } }),
    });
    // Not documented on the event: text there would be the upstream's.
    delete out.error;
    delete out.message;
    return shaped(out);
  }
  if (json.type !== "error" && (error !== null || bare)) {
    return shaped({
      error: {
        message,
        type: standardType(wire, error?.type) ?? "api_error",
        code: standardCode(error?.code),
        param: null,
      },
    });
  }
  if (e.event === "error" || json.type === "error") {
    // Only the members the event is documented with: any other could carry the upstream's text.
    const code = standardCode(json.code) ?? standardCode(error?.code);
    const out: Json = { type: "error", code, message, param: null };
    if (typeof json.sequence_number === "number") out.sequence_number = json.sequence_number;
    // The `error` object the Responses API also sends it with, cleaned as chat's is: the openai
    // SDKs raise an event holding one as an APIError, and yield one without it as an event, so
    // dropping it would turn the error a client catches into an event it may never look at.
    if (error !== null)
      out.error = { message, type: standardType(wire, error.type) ?? "api_error", code, param: null };
    return shaped(out);
  }
  return null;
}

/**
 * A 2xx JSON answer that is the upstream's error all the same — a proxy's or a server's
 * `{"error":…}` (an object or a string), vLLM's `{"object":"error",…}`, Anthropic's
 * `{"type":"error",…}` — whose text must not reach the client any more than an error status's:
 * `refuse` (the caller answers it as the upstream's failure). A Responses object that failed
 * (`"object":"response"` with its `error`) is a real answer, usage included: passed on as `text`,
 * its error's message replaced as a `response.failed` event's is. null when the body is no error.
 */
export function answerError(
  text: string,
  requestId: string,
): { readonly refuse: true } | { readonly text: string } | null {
  // Nearly every answer: no error form in it, and nothing parsed here.
  if (!errorish(text)) return null;
  let json: Json;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
    json = parsed as Json;
  } catch {
    return null;
  }
  const error = json.error;
  if (json.object === "response") {
    if (error === null || error === undefined) return null;
    const code = standardCode((error as Json).code) ?? "server_error";
    const message = `the upstream's response failed; its message is not passed on (request ${requestId} in the gateway's log)`;
    return { text: JSON.stringify(Object.assign({}, json, { error: { code, message } })) };
  }
  const refused =
    (typeof error === "object" && error !== null) ||
    typeof error === "string" ||
    json.object === "error" ||
    json.type === "error";
  return refused ? { refuse: true } : null;
}

/**
 * Whether an event's data may be an error (a false "yes" costs a parse, a false "no" a leak): a
 * member named `error` whose value is an object or a string, or `"error"` as a member's value
 * (`"type":"error"`, `"object":"error"`). Not a member `"error": null`, which every Responses API
 * event carries, nor model output (its quotes are escaped inside a JSON string); `response.failed`
 * carries its error as `"error":{…}` inside its response. Looked for natively: events run to
 * hundreds of kilobytes (a response's last carries all of it).
 */
export function errorish(data: string): boolean {
  for (let i = data.indexOf('"error"'); i >= 0; i = data.indexOf('"error"', i + 7)) {
    let j = i + 7;
    while (isJsonSpace(data.charCodeAt(j))) j++;
    if (data.charCodeAt(j) === COLON) {
      j++;
      while (isJsonSpace(data.charCodeAt(j))) j++;
      const c = data.charCodeAt(j);
      if (c === BRACE || c === QUOTE) return true;
    }
    let k = i - 1;
    while (isJsonSpace(data.charCodeAt(k))) k--;
    if (data.charCodeAt(k) === COLON) return true;
  }
  return false;
}

const COLON = 58;
const BRACE = 123;
const QUOTE = 34;
const isJsonSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

const standardType = (wire: Wire, type: unknown): string | null =>
  typeof type === "string" && STANDARD_TYPES[wire].has(type) ? type : null;
const standardCode = (code: unknown): string | null =>
  typeof code === "string" && STANDARD_CODES.has(code) ? code : null;

/**
 * A member or parameter name that says it holds a credential: ending in key, token, secret,
 * password (passwd, pwd) or credential(s), in any case — `api_key`, `aws_secret_access_key`,
 * `privateKey`, `key`, `access_token`, `client_secret`. Not `max_tokens` or `keys` (counts). A
 * match starts only where a name does (the lookbehind): starting anywhere in a long run of name
 * characters, each start scanned the rest of the run, and 64 KiB of `a-a-a-…` held the event loop
 * for seconds.
 */
const SECRET_NAME = String.raw`(?<![\w-])[\w-]*(?:key|token|secret|passw(?:or)?d|pwd|credentials?)`;
/** Such a member's JSON string value, to its closing quote (spaces and escapes included). */
const QUOTED_SECRET = new RegExp(String.raw`(${SECRET_NAME}"\s*:\s*")(?:[^"\\]|\\.)*"`, "gi");
/** The same inside a JSON string (`\"password\": \"a b\"`): to the next escaped quote. */
const ESCAPED_QUOTED_SECRET = new RegExp(
  String.raw`(${SECRET_NAME}\\"\s*:\s*\\")(?:[^"\\]|\\(?!"))*\\"`,
  "gi",
);
/** Else its value up to the first character that may end it (unquoted, or JSON escaped in a string). */
const UNQUOTED_SECRET = new RegExp(String.raw`(${SECRET_NAME}\\?"?\s*[:=]\s*\\?"?)[^\s"',;&\\]+`, "gi");
/** Where a URL's password starts: `scheme://user:` (a scheme starting where a word does). */
const URL_USER = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s/:@"'\\]*:/i;

/**
 * A URL's password, to the last `@` of its run of text (no white space): at worst more than the
 * password is hidden, never part of it shown. One look per run, so a run of many `x://a:` without
 * an `@` is not scanned again from each.
 */
const maskUrlPasswords = (text: string): string =>
  text.replace(/\S+/g, (run) => {
    if (!run.includes("://")) return run;
    const at = run.lastIndexOf("@");
    const user = at < 0 ? null : URL_USER.exec(run);
    if (user === null) return run;
    const from = user.index + user[0].length;
    return at < from ? run : `${run.slice(0, from)}[redacted]${run.slice(at)}`;
  });

/**
 * The text with the upstream's own key and anything shaped like a credential replaced: bearer and
 * basic credentials, `sk-…` keys, URL passwords, the values of members or parameters named like a
 * key, token, secret, password or credentials — also as escaped JSON inside a string (a proxy
 * wrapping the next hop's error); another hop's keys are secrets too. The text may end inside a
 * secret (the body is read to a bound): a trailing start of the upstream's key, or of an `sk-` key,
 * goes too. Every pattern is scanned in time linear in the text (an upstream's text is not ours).
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    out = out.split(secret).join("[redacted]");
    for (let k = secret.length - 1; k >= 4; k--)
      if (out.endsWith(secret.slice(0, k))) {
        out = `${out.slice(0, out.length - k)}[redacted]`;
        break;
      }
  }
  // URL passwords last: a secret member after a URL in one run may hold an `@`, and masking the URL
  // first (to the run's last `@`) would swallow that member's name and leave its value's tail.
  return maskUrlPasswords(
    out
      .replace(/\b(bearer|basic)(\s+)[^\s"',;\\]+/gi, "$1$2[redacted]")
      .replace(/\bsk-[A-Za-z0-9_-]{8,}/g, "[redacted]")
      .replace(/\bsk-[A-Za-z0-9_-]*$/, "[redacted]")
      .replace(QUOTED_SECRET, '$1[redacted]"')
      .replace(ESCAPED_QUOTED_SECRET, '$1[redacted]\\"')
      .replace(UNQUOTED_SECRET, "$1[redacted]"),
  );
}

interface Classified {
  readonly type: string | null;
  readonly code: string | null;
}

/** The standard type and code of an error body in either format (OpenAI `{error:{type,code}}`, Anthropic `{type:"error",error:{type}}`). */
function classify(wire: Wire, text: string): Classified {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { type: null, code: null };
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== "object" || error === null) return { type: null, code: null };
  const { type, code } = error as { type?: unknown; code?: unknown };
  return { type: standardType(wire, type), code: wire === "openai" ? standardCode(code) : null };
}

function answer(o: UpstreamErrorOptions, c: Classified): void {
  if (o.res.headersSent || o.res.destroyed) return;
  const upstream = o.upstream.status;
  // The upstream refusing the gateway's own credentials, or answering oddly, is a gateway failure
  // (502): passing 401 on would tell the client its own, valid key was wrong.
  const status = upstream === 401 || upstream === 403 || upstream < 400 || upstream > 599 ? 502 : upstream;
  const what = c.type === null ? "" : ` (${c.type}${c.code === null ? "" : `, ${c.code}`})`;
  const message =
    status === 502 && upstream !== 502
      ? `the upstream refused the gateway's request (${upstream}); see the gateway's log for request ${o.requestId}`
      : `the upstream answered ${upstream}${what}; its message is not passed on (request ${o.requestId} in the gateway's log)`;
  const type = status === upstream ? c.type : null;
  const text =
    o.wire === "anthropic"
      ? JSON.stringify({
          type: "error",
          error: { type: type ?? anthropicType(status), message },
          request_id: o.requestId,
        })
      : JSON.stringify({
          error: {
            message,
            type: type ?? openaiType(status),
            code: status === upstream ? c.code : null,
            param: null,
          },
        });
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  };
  // Said to the client only where a retry may succeed (a 429 or a 5xx passed on as such), and only
  // as a bounded number: it is the upstream's word (a client may sleep for years, or its timer fire
  // at once past 2^31 ms).
  const retryAfter = o.upstream.headers["retry-after"];
  if (retryAfter !== undefined && status === upstream && (status === 429 || status >= 500)) {
    const seconds = retryAfterSeconds(retryAfter, Date.now());
    if (seconds !== null) headers["retry-after"] = seconds;
  }
  o.res.writeHead(status, headers);
  o.res.end(text);
}

/** The longest wait an upstream's Retry-After is passed on with, in seconds. */
export const RETRY_AFTER_MAX = 3600;

/**
 * A Retry-After value (RFC 9110 §10.2.3: delay-seconds or an HTTP date) as whole seconds from `now`,
 * at least 0 and at most RETRY_AFTER_MAX; null when it is neither.
 */
export function retryAfterSeconds(value: string, now: number): number | null {
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Math.min(Number(text), RETRY_AFTER_MAX);
  // An HTTP date: a day name, a comma (but in asctime's form), then digits, month, time and zone.
  if (!/^[A-Za-z]{3,9},? [0-9A-Za-z :-]+$/.test(text)) return null;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return null;
  return Math.min(Math.max(Math.ceil((at - now) / 1000), 0), RETRY_AFTER_MAX);
}

function openaiType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 404) return "not_found_error";
  return status < 500 ? "invalid_request_error" : "api_error";
}

function anthropicType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 529 || status === 503) return "overloaded_error";
  if (status === 504) return "timeout_error";
  return status < 500 ? "invalid_request_error" : "api_error";
}
