/**
 * What the demo provider says, and how it counts: shared by the OpenAI and Anthropic wire formats.
 *
 * Token counts are an approximation: one token per whitespace-separated word of message text (no
 * tokenizer, no per-message overhead). They are consistent, which is what the tests and the
 * gateway's accounting need: the streamed and non-streamed forms of a request report the same numbers,
 * and `messages.count_tokens` agrees with the `input_tokens` of the matching `messages` call.
 */
import { createHash } from "node:crypto";

/** Every demo response claims this creation time (2026-01-01T00:00:00Z), so that bytes repeat. */
export const CREATED = 1767225600;

/** How many words of the user's message the answer echoes. */
const ECHO_WORDS = 12;

/** A request the demo refuses, answered as a 400 in the wire's error format. */
export class DemoBadRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
}

export function countWords(texts: readonly string[]): number {
  return texts.reduce((n, t) => n + words(t).length, 0);
}

/** The text of a message's content: a string, or the `text` of its parts (nested `content` too). */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => {
      if (!isRecord(part)) return "";
      if (typeof part.text === "string") return part.text;
      return textOf(part.content);
    })
    .filter((t) => t !== "")
    .join(" ");
}

export interface Answer {
  /** The pieces the stream sends, one per word; they concatenate to `text`. */
  readonly tokens: readonly string[];
  readonly text: string;
  /** True when the token limit cut the answer short. */
  readonly truncated: boolean;
}

/**
 * `[demo] <model> answering: <the first 12 words of the prompt>…`, cut to `limit` tokens. Whitespace
 * in the prompt is collapsed, so the answer is its own words joined by single spaces.
 */
export function answer(model: string, prompt: string, limit?: number): Answer {
  const said = words(prompt);
  const echo = said.length === 0 ? ["(nothing)"] : said.slice(0, ECHO_WORDS);
  if (said.length > ECHO_WORDS) echo[echo.length - 1] += "…";
  const all = ["[demo]", ...words(model), "answering:", ...echo];
  const kept = limit === undefined ? all : all.slice(0, limit);
  const tokens = kept.map((w, i) => (i === 0 ? w : ` ${w}`));
  return { tokens, text: tokens.join(""), truncated: kept.length < all.length };
}

/** A deterministic id: `prefix` and `length` hex digits of a hash of the request body (and a salt). */
export function demoId(prefix: string, body: string, length = 24, salt = ""): string {
  return prefix + createHash("sha256").update(salt).update("\0").update(body).digest("hex").slice(0, length);
}

/** A unit vector of `dimensions` floats, fixed by the model and the input. */
export function embed(model: string, input: string, dimensions: number): number[] {
  const raw: number[] = [];
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash("sha256").update(`${model}\0${block}\0${input}`).digest();
    for (let i = 0; i + 4 <= digest.length && raw.length < dimensions; i += 4) {
      raw.push((digest.readUInt32BE(i) / 0xffffffff) * 2 - 1);
    }
  }
  const norm = Math.hypot(...raw) || 1;
  return raw.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

/** What the last user message asks the demo to do besides answering. */
export type Trigger = "fail" | "fail-mid-stream" | undefined;

export function triggerIn(prompt: string): Trigger {
  if (prompt.includes("[demo:fail-mid-stream]")) return "fail-mid-stream";
  if (prompt.includes("[demo:fail]")) return "fail";
  return undefined;
}

/** The model field, which the gateway has already set. */
export function modelOf(json: Readonly<Record<string, unknown>>): string {
  const model = json.model;
  if (typeof model !== "string" || model.trim() === "") {
    throw new DemoBadRequest("you must provide a model parameter", "model");
  }
  return model;
}

/** An optional positive integer field (a token limit); `null` counts as absent. */
export function limitOf(json: Readonly<Record<string, unknown>>, field: string): number | undefined {
  const v = json[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new DemoBadRequest(`${field} must be a positive integer`, field);
  }
  return v;
}

export interface Message {
  readonly role: string;
  readonly text: string;
}

/**
 * A non-empty array of `{role, content}` messages with one of `roles`; content is a string or an
 * array of parts (or, when `nullContent`, absent or null, as OpenAI allows for tool-calling turns).
 */
export function messagesOf(
  value: unknown,
  roles: readonly string[],
  nullContent: boolean,
  param = "messages",
): Message[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new DemoBadRequest(`'${param}' must be a non-empty array`, param);
  }
  return value.map((m: unknown, i) => {
    if (!isRecord(m)) throw new DemoBadRequest(`'${param}[${i}]' must be an object`, `${param}[${i}]`);
    if (typeof m.role !== "string" || !roles.includes(m.role)) {
      throw new DemoBadRequest(
        `'${param}[${i}].role' must be one of ${roles.join(", ")}`,
        `${param}[${i}].role`,
      );
    }
    const c = m.content;
    const ok =
      typeof c === "string" ||
      (Array.isArray(c) && c.every(isRecord)) ||
      (nullContent && (c === null || c === undefined));
    if (!ok) {
      throw new DemoBadRequest(
        `'${param}[${i}].content' must be a string or an array of content parts`,
        `${param}[${i}].content`,
      );
    }
    return { role: m.role, text: textOf(c) };
  });
}

/** The text of the last message from the user ("" when there is none). */
export function lastUser(messages: readonly Message[]): string {
  return messages.findLast((m) => m.role === "user")?.text ?? "";
}

/** What the provider sends: a JSON body, or SSE events (the answer's tokens start at `firstToken`). */
export type Reply =
  | { readonly status: number; readonly json: unknown }
  | { readonly events: readonly string[]; readonly firstToken: number };

/** A reply, and the user's last words, which may hold a `[demo:…]` trigger. */
export interface Plan {
  readonly reply: Reply;
  readonly prompt: string;
}
