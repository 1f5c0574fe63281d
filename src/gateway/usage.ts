/**
 * Token usage as each upstream reports it, read from JSON bodies and from SSE events. Only events
 * that can carry usage are parsed, so a stream is otherwise passed through untouched.
 */
import { CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE } from "../http/members.js";
import { addTokens, tokenCount } from "../metering/tokens.js";
import type { Endpoint, Wire } from "../upstream/types.js";

export interface Usage {
  input: number;
  output: number;
  /**
   * The output count was missing or one no one could have used (not a number, negative, not
   * finite, past 2^53): read as 0, and estimated like an answer that reported none.
   */
  outputUnread?: true;
}

type Json = Record<string, unknown>;
/** A count as the counters keep it (whole, at most 2^53 - 1), 0 when absent or unreadable. */
const num = (v: unknown): number => (typeof v === "number" ? tokenCount(v) : 0);
/** Whether a count is one num() keeps as given (rounded up), rather than one it reads as none. */
const readable = (v: unknown): boolean => typeof v === "number" && v >= 0 && tokenCount(v) === Math.ceil(v);
/** usage with its output count, marked when it could not be read. */
const withOutput = (input: number, v: unknown): Usage =>
  readable(v) ? { input, output: num(v) } : { input, output: 0, outputUnread: true };

/** OpenAI chat/completions/embeddings: prompt/completion tokens; Responses and Anthropic: input/output tokens. */
export function usageOf(u: unknown): Usage | null {
  if (typeof u !== "object" || u === null) return null;
  const o = u as Json;
  if ("prompt_tokens" in o || "completion_tokens" in o)
    return withOutput(num(o.prompt_tokens), o.completion_tokens);
  if ("input_tokens" in o || "output_tokens" in o) return withOutput(inputOf(o), o.output_tokens);
  return null;
}

/**
 * Input tokens under `input_tokens`: Anthropic counts those read from and written to its prompt
 * cache apart from them (each is input the model read); the Responses API has no such members (its
 * cached tokens are inside input_tokens).
 */
function inputOf(o: Json): number {
  // Each part read on its own and the sum capped: one impossible part must not zero the others.
  return addTokens(
    addTokens(num(o.input_tokens), num(o.cache_read_input_tokens)),
    num(o.cache_creation_input_tokens),
  );
}

export function usageFromBody(text: string): Usage | null {
  try {
    return usageOfAnswer(JSON.parse(text));
  } catch {
    return null;
  }
}

/** The usage of a JSON answer already parsed (its `usage` member), or null. */
export function usageOfAnswer(json: unknown): Usage | null {
  return typeof json === "object" && json !== null ? usageOf((json as Json).usage) : null;
}

/**
 * The usage of a body too large to keep whole, from its last bytes: every API puts `usage` last
 * (OpenAI chat, completions, embeddings, responses; Anthropic messages). Only the answer's own, a
 * member of its top-level object, is taken: the tail is read back from the body's end, so what
 * holds each member is known, and an object named `usage` deeper in (in the client's tools or
 * schema, which a Responses answer echoes) is not the answer's. null when the members the tail
 * holds whole name no usage object (then the answer said none, or said it further back).
 */
export function usageFromTail(tail: string): Usage | null {
  let i = tail.length - 1;
  while (i >= 0 && SPACE.has(tail.charCodeAt(i))) i--;
  if (tail.charCodeAt(i) !== CLOSE_BRACE) return null;
  /** How deep inside the top-level object's members the scan is (0: among them). */
  let depth = 0;
  for (i--; i >= 0; i--) {
    const c = tail.charCodeAt(i);
    if (c === QUOTE) {
      const open = openingQuote(tail, i);
      if (open < 0) return null;
      if (depth === 0 && i - open <= 64) {
        const value = memberValue(tail, open, i);
        if (value !== null) {
          // The answer's own usage, whatever it holds: read as usageFromBody reads it.
          if (value === -1) return null;
          const close = closingBrace(tail, value);
          if (close < 0) return null;
          try {
            return usageOf(JSON.parse(tail.slice(value, close + 1)));
          } catch {
            return null;
          }
        }
      }
      i = open;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth++;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      // The top-level object's opening: its members are all read.
      if (depth === 0) return null;
      depth--;
    }
  }
  return null;
}

/**
 * Where the value of the member `usage` named by the string from `open` to `close` starts, when it
 * is one: its `{`, or -1 when that value is no object (null); null when the string is no member
 * name, or another name.
 */
function memberValue(text: string, open: number, close: number): number | null {
  let at = close + 1;
  while (SPACE.has(text.charCodeAt(at))) at++;
  if (text.charCodeAt(at) !== COLON) return null;
  let name: unknown;
  try {
    name = JSON.parse(text.slice(open, close + 1));
  } catch {
    return null;
  }
  if (name !== "usage") return null;
  for (at++; SPACE.has(text.charCodeAt(at)); at++);
  return text.charCodeAt(at) === OPEN_BRACE ? at : -1;
}

/** The quote opening the string whose closing quote is at `close`: -1 if the text has none. */
function openingQuote(text: string, close: number): number {
  let open = text.lastIndexOf('"', close - 1);
  while (open >= 0 && escaped(text, open)) open = text.lastIndexOf('"', open - 1);
  return open;
}

/** Whether the quote at `at` is escaped: an odd number of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; text.charCodeAt(k) === BACKSLASH; k--) n++;
  return n % 2 === 1;
}

const BACKSLASH = 0x5c;
const COLON = 0x3a;
const SPACE: ReadonlySet<number> = new Set([0x20, 0x0a, 0x0d, 0x09]);

/** Index of the brace closing the object opened at `start`, skipping strings; -1 if it never closes. */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

export interface StreamUsage {
  /** Returns true when the event must be dropped (the usage chunk the client did not ask for). */
  onEvent(event: string | undefined, data: string): boolean;
  /** What the upstream reported so far. */
  readonly usage: Usage | null;
  /**
   * The upstream sent its final count (not only Anthropic's opening estimate, or nothing): a count
   * with no content after it. A count that content followed (sent early, and not again) is not.
   */
  readonly final: boolean;
  /**
   * Events passed on that carry output: each is at least one token (a Responses item passed on
   * whole in `.done` events: estimated from their size, see streamUsage).
   */
  readonly outputEvents: number;
}

/** Characters counted as one token, where the upstream never said. */
const CHARS_PER_TOKEN = 4;

/**
 * What an image given in a cut Responses stream (an `image_generation_call`'s `result`, or a
 * partial image's `partial_image_b64`, both base64) is charged: the most a documented image size
 * and quality costs (gpt-image-1, high, 1024×1536), not its base64 at a token per 4 characters — a
 * 2 MB image read that way is 500,000 tokens, a hundred times what images cost.
 */
export const IMAGE_TOKENS = 6_240;

/**
 * A Responses `.done` (or partial image) event's output, estimated as its deltas would have been:
 * the text it carries at a token per 4 characters — string members only, not the event's JSON
 * (names, quotes, braces, numbers: about 30 tokens an item) nor the members that only label it
 * (WRAPPING) — and each image (an `image_generation_call` item's `result`, a `partial_image_b64`)
 * IMAGE_TOKENS. Images by name only: other long base64-like text (reasoning's `encrypted_content`,
 * a hex dump) is text. At least one token: an item with no text (a click) is output all the same.
 * Walks the event's parsed members (a few events a response), to a bounded depth.
 */
function doneEstimate(done: unknown): number {
  let chars = 0;
  let images = 0;
  const walk = (v: unknown, depth: number): void => {
    if (typeof v !== "object" || v === null || depth >= 12) return;
    if (Array.isArray(v)) {
      for (const m of v) {
        if (typeof m === "string") chars += m.length;
        else walk(m, depth + 1);
      }
      return;
    }
    const image = (v as Json).type === "image_generation_call" ? "result" : undefined;
    for (const [k, m] of Object.entries(v as Json)) {
      if (WRAPPING.has(k)) continue;
      if (typeof m !== "string") walk(m, depth + 1);
      else if (k === image || k === "partial_image_b64") images++;
      else chars += m.length;
    }
  };
  walk(done, 0);
  return Math.max(1, addTokens(Math.ceil(chars / CHARS_PER_TOKEN), images * IMAGE_TOKENS));
}

/**
 * Members of a Responses event and its items that label the output rather than carry it (the API's
 * values, not the model's; an image's size, quality, background and format): not counted by
 * doneEstimate, nor anything inside them. `logprobs` repeat the text, token by token.
 */
const WRAPPING: ReadonlySet<string> = new Set([
  "type",
  "id",
  "item_id",
  "call_id",
  "status",
  "role",
  "object",
  "logprobs",
  "size",
  "quality",
  "background",
  "output_format",
]);

/** The input of a request whose upstream never said: estimated from the request body's size. */
const inputEstimate = (requestChars: number): number => Math.ceil(requestChars / CHARS_PER_TOKEN);

/**
 * What a stream is charged. Complete with the upstream's final count: that count (its input
 * estimated from the request's size if it gave none). Otherwise — cut short before the final
 * report (the client went away, or the upstream failed mid-stream), ended without one, or with
 * content after its last count (a count sent early is no final one) — what it
 * reported, but never less than what was passed on: one output token an event, and the input
 * estimated when it never said. Metering nothing would let a client read a stream and leave before
 * its end, or an upstream that omits its count serve, off the quota. The final count is taken as it
 * is rather than raised to the events: events over-count by the chunks that carry no text (a role,
 * a finish reason). null: a stream cut short before anything was passed on or reported.
 */
export function streamCharge(stream: StreamUsage, requestChars: number, complete: boolean): Usage | null {
  const reported = stream.usage;
  const input = reported !== null && reported.input > 0 ? reported.input : inputEstimate(requestChars);
  if (complete && stream.final && reported !== null) return { input, output: reported.output };
  if (!complete && reported === null && stream.outputEvents === 0) return null;
  return { input, output: Math.max(reported?.output ?? 0, stream.outputEvents) };
}

/**
 * What a stream is charged whose client left after the upstream had answered but before any of it
 * could be relayed (its entry was still being made durable): what the upstream had sent is charged
 * as streamCharge charges it; where that is nothing, the input estimate, as an answer that reports
 * no usage — the upstream had taken the request and was working on it.
 */
export function unrelayedStreamCharge(stream: StreamUsage, requestChars: number, complete: boolean): Usage {
  return streamCharge(stream, requestChars, complete) ?? { input: inputEstimate(requestChars), output: 0 };
}

/**
 * What a request is charged whose client left after the upstream had it whole but before the
 * answer's head came (a non-streamed answer's comes with the whole answer): the input estimate, as
 * for a stream left before its first event; a token count (messages.count_tokens) nothing.
 */
export function unansweredCharge(endpoint: Endpoint, requestChars: number): Usage | null {
  return endpoint === "messages.count_tokens" ? null : { input: inputEstimate(requestChars), output: 0 };
}

/**
 * What a JSON answer is charged: the usage it reported (`found`), its input estimated from the
 * request's size where it reported none (absent, 0, or a count no one could have used), as a
 * stream's is, and its output estimated from the body's size where its count is missing or one no
 * one could have used (charging 0 would let an upstream's odd count serve off the quota); without
 * any usage, unreportedBody's estimate.
 */
export function bodyCharge(
  found: Usage | null,
  endpoint: Endpoint,
  requestChars: number,
  bodyBytes: number,
): Usage | null {
  if (found === null) return unreportedBody(endpoint, requestChars, bodyBytes);
  const input = found.input > 0 ? found.input : inputEstimate(requestChars);
  // An output count missing or unreadable is estimated as an answer without usage is (embeddings: 0).
  if (found.outputUnread === true)
    return { input, output: unreportedBody(endpoint, requestChars, bodyBytes)?.output ?? 0 };
  return { input, output: found.output };
}

/**
 * What a JSON answer that reported no usage is charged: the input estimated from the request's
 * size and the output from the body's (none for embeddings, whose body is vectors). A token count
 * (messages.count_tokens) runs no model and is charged nothing.
 */
function unreportedBody(endpoint: Endpoint, requestChars: number, bodyBytes: number): Usage | null {
  if (endpoint === "messages.count_tokens") return null;
  return {
    input: inputEstimate(requestChars),
    output: endpoint === "embeddings" ? 0 : Math.ceil(bodyBytes / CHARS_PER_TOKEN),
  };
}

/**
 * A chat or completion chunk with output in it — text, a tool or function call, a refusal — not a
 * role, a finish or a content filter's verdict alone. One that cannot be read counts as output (a
 * count it follows is then not taken as final: never charged less).
 */
function carriesOutput(json: Json | null): boolean {
  if (json === null || !Array.isArray(json.choices)) return json === null;
  return (json.choices as unknown[]).some((c) => {
    if (c === null || typeof c !== "object") return false;
    const { delta, text } = c as Json;
    if (typeof text === "string" && text !== "") return true;
    if (delta === null || typeof delta !== "object") return false;
    return Object.entries(delta as Json).some(
      ([k, v]) => k !== "role" && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0),
    );
  });
}

/**
 * Watches a stream's events for usage. `stripUsageChunk`: Clearance asked an OpenAI-compatible
 * upstream for `stream_options.include_usage` to meter the stream; the client did not, so the extra
 * final chunk (empty `choices`, with `usage`) is removed.
 */
export function streamUsage(wire: Wire, endpoint: Endpoint, stripUsageChunk: boolean): StreamUsage {
  let usage: Usage | null = null;
  let final = false;
  let outputEvents = 0;
  if (wire === "anthropic") {
    return {
      get usage() {
        return usage;
      },
      get final() {
        return final;
      },
      get outputEvents() {
        return outputEvents;
      },
      onEvent(named, data) {
        // An event sent without an `event:` line (SSE allows it), or under a name that is none of
        // Anthropic's (`message`, SSE's name for an event without one, among them), is told by its
        // `type` member, as a client reading the data sees it (the Anthropic SDK reads any event but
        // a ping or an error by it): otherwise its deltas and counts would go unmetered.
        const own = named !== undefined && ANTHROPIC_EVENTS.has(named);
        const json = own ? undefined : parse(data);
        const event = own ? named : typeof json?.type === "string" ? json.type : undefined;
        if (event === "content_block_delta") {
          outputEvents++;
          // Content after a count: that count was not the upstream's last word (see `final`).
          final = false;
        } else if (event === "message_start") {
          const message = (json ?? parse(data))?.message as Json | undefined;
          const u = usageOf(message?.usage);
          if (u) usage = { input: u.input, output: u.output };
        } else if (event === "message_delta") {
          const u = ((json ?? parse(data))?.usage ?? null) as Json | null;
          if (u) {
            usage ??= { input: 0, output: 0 };
            if ("output_tokens" in u) {
              // An unreadable final count is no count: charged as a stream that ended without one
              // (what was counted before it is kept, as the floor under the events passed on).
              final = readable(u.output_tokens);
              if (final) usage.output = num(u.output_tokens);
            }
            // A cumulative count: never below what message_start said (nor added to it).
            usage.input = Math.max(usage.input, inputOf(u));
          }
        }
        return false;
      },
    };
  }
  /**
   * Responses: output passed on whole in `.done` events (an upstream that sends no deltas, or an
   * item that has none: a computer call, an image) is output too. Each output item is estimated
   * from the largest of its `.done` events, from the text they carry (see doneEstimate: an item's
   * text, content part and item events repeat one text, counted once), and the stream's floor is
   * the larger of that and its deltas (both tell the same output, never summed).
   */
  const doneItems = new Map<unknown, number>();
  let doneTokens = 0;
  const responsesOutput = (data: string, json?: Json | null): void => {
    if (data.includes('.delta"')) {
      outputEvents++;
      final = false;
      return;
    }
    // Few a response (one to three an item, and the partial images asked for): parsed, unlike the
    // deltas. A partial image is output the client has, as a `.done` event's is.
    if (!data.includes('.done"') && !data.includes('.partial_image"')) return;
    const done = json === undefined ? parse(data) : json;
    const type = done?.type;
    if (
      typeof type !== "string" ||
      !type.startsWith("response.") ||
      !(type.endsWith(".done") || type.endsWith(".partial_image"))
    )
      return;
    const item = done?.output_index;
    const tokens = doneEstimate(done);
    const before = doneItems.get(item) ?? 0;
    if (tokens > before) {
      doneItems.set(item, tokens);
      doneTokens = addTokens(doneTokens, tokens - before);
    }
    final = false;
  };
  return {
    get usage() {
      return usage;
    },
    get final() {
      return final;
    },
    get outputEvents() {
      return outputEvents > doneTokens ? outputEvents : doneTokens;
    },
    onEvent(event, data) {
      if (!data.includes('"usage"')) {
        // Chat and completion chunks each carry output; of the Responses API's events, the deltas
        // and the `.done` events (see responsesOutput).
        // Output after a count: that count was not the upstream's last word (see `final`).
        if (endpoint === "responses") responsesOutput(data);
        else if (data !== "[DONE]") {
          outputEvents++;
          // Read only after a count (rare): a finish or a filter's verdict after it leaves it final.
          if (final && carriesOutput(parse(data))) final = false;
        }
        return false;
      }
      const json = parse(data);
      if (json === null) return false;
      if (endpoint === "responses") {
        // A response cut short (max_output_tokens) or failed still used what it reports.
        if (FINAL_RESPONSE_EVENTS.has(json.type as string)) {
          usage = usageOf((json.response as Json | undefined)?.usage) ?? usage;
          final = usage !== null && usage.outputUnread !== true;
        } else responsesOutput(data, json);
        return false;
      }
      // Asked for usage, upstreams send `"usage": null` with every chunk until the last.
      const content = Array.isArray(json.choices) && json.choices.length > 0;
      if (content) outputEvents++;
      const u = usageOf(json.usage);
      if (u === null) {
        if (final && carriesOutput(json)) final = false;
        return false;
      }
      usage = u;
      final = u.outputUnread !== true;
      return stripUsageChunk && Array.isArray(json.choices) && json.choices.length === 0;
    },
  };
}

/** The events an Anthropic stream names: an event named otherwise is told by its `type` member. */
const ANTHROPIC_EVENTS: ReadonlySet<string> = new Set([
  "message_start",
  "message_delta",
  "message_stop",
  "content_block_start",
  "content_block_delta",
  "content_block_stop",
  "ping",
  "error",
]);

/** The Responses API's last event, whichever way the response ended: each carries its usage. */
const FINAL_RESPONSE_EVENTS: ReadonlySet<string> = new Set([
  "response.completed",
  "response.incomplete",
  "response.failed",
]);

function parse(data: string): Json | null {
  try {
    const v = JSON.parse(data) as unknown;
    return typeof v === "object" && v !== null ? (v as Json) : null;
  } catch {
    return null;
  }
}
