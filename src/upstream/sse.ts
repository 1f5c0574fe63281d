/**
 * Server-sent events: an encoder for the demo provider and an incremental parser the gateway uses to
 * read usage out of a stream as it passes through. The parser follows the WHATWG event-stream rules:
 * lines end in `\n`, `\r\n` or `\r`; a blank line dispatches; `:` starts a comment; one space after the
 * colon is dropped; several `data:` lines join with `\n`; a leading BOM is ignored; `id` and `retry`
 * are ignored; an event with no `data` line is not dispatched; an unterminated event at the end of
 * the stream is discarded. What it holds of an event not yet ended is bounded (see createSseParser).
 */
import { StringDecoder } from "node:string_decoder";

export interface SseEvent {
  /** The `event:` field, when present and non-empty (absent means the default type, "message"). */
  readonly event?: string;
  readonly data: string;
}

/**
 * Whether a Content-Type names an event stream. Media types are case-insensitive (RFC 9110 §8.3.1):
 * an upstream's `Text/Event-Stream` is a stream all the same, and must be read (and its error events
 * replaced) as one; the SDKs read a stream whatever its spelling, so taken for a JSON body it was
 * held, metered by its size rather than its usage, and passed on unsanitised.
 */
export function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.trimStart().toLowerCase().startsWith("text/event-stream");
}

/** Whether a Content-Type names JSON (`application/json`, or a `+json` type), in any case. */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = (contentType.split(";", 1)[0] as string).trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/**
 * Whether a 2xx answer is read, relayed and metered as an event stream: one typed as a stream, and
 * one to a request that asked for a stream typed as anything but JSON — or not typed at all (an
 * upstream may leave the header out, or send it twice, when it is not passed on): read as JSON, its
 * error events would reach the client as they came. A non-JSON body relayed as JSON is refused (see
 * the relay), so nothing is passed on unread either way.
 */
export function answersAsStream(contentType: string | undefined, askedStream: boolean): boolean {
  return isEventStream(contentType) || (askedStream && !isJson(contentType));
}

/** One event as wire text: `event: X\n` (if given), a `data:` line per line of `data`, then a blank line. */
export function encodeEvent(data: string, event?: string): string {
  const head = event === undefined ? "" : `event: ${event}\n`;
  return `${head}${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join("")}\n`;
}

/** `encodeEvent` for a JSON payload. */
export function encodeJsonEvent(value: unknown, event?: string): string {
  return encodeEvent(JSON.stringify(value), event);
}

export interface SseParser {
  /**
   * Feeds the next piece of the stream; pieces may split lines, events and UTF-8 characters anywhere.
   * false once the event being read has outgrown the parser's limit: what it held is dropped, and
   * nothing more is read or dispatched.
   */
  push(chunk: Buffer | Uint8Array | string): boolean;
  /** Signals the end of the stream: a trailing unterminated event is dropped, as the spec says. */
  end(): void;
  /**
   * Whether, since the last call, a blank line ended lines of which one is no event stream's: not a
   * comment nor a field the spec names (`data`, `event`, `id`, `retry`) — text, HTML, a JSON error
   * sent where a stream was read. Every client ignores such a line, but a relay passing the bytes
   * on as they came would hand its text over.
   */
  stray(): boolean;
}

const LF = 10;
const CR = 13;

/**
 * `limit`: the most characters of an event not yet ended that are held (its `data:` lines as they
 * came, and the line under way), checked once a piece has been read. An upstream that never ends its
 * event would otherwise grow the gateway's memory without bound; an event larger than the limit
 * that arrives whole within one piece is dispatched (the piece itself is the bound then).
 */
export function createSseParser(onEvent: (event: SseEvent) => void, limit = Infinity): SseParser {
  const decoder = new StringDecoder("utf8");
  let partial = ""; // the current line so far, when a chunk ended inside it
  let afterCR = false; // the last chunk ended in `\r`: a `\n` opening the next one belongs to it
  let started = false;
  let data: string[] | undefined;
  let type: string | undefined;
  /** Characters of the current event's `data:` lines, each counted with its field name and line end. */
  let held = 0;
  let over = false;
  /** A line that is no event stream's since the last blank line; one ended by a blank line since asked. */
  let strayLine = false;
  let strayEnded = false;

  const line = (text: string): void => {
    if (text === "") {
      if (data !== undefined)
        onEvent(type === undefined ? { data: data.join("\n") } : { event: type, data: data.join("\n") });
      data = undefined;
      type = undefined;
      held = 0;
      if (strayLine) {
        strayEnded = true;
        strayLine = false;
      }
      return;
    }
    if (text.charCodeAt(0) === 58 /* ":" */) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* " " */) value = value.slice(1);
    if (field === "data") {
      (data ??= []).push(value);
      held += text.length + 1;
    } else if (field === "event") type = value === "" ? undefined : value;
    else if (field !== "id" && field !== "retry") strayLine = true;
  };

  const feed = (text: string): void => {
    if (text === "") return;
    if (!started) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    if (afterCR && text.charCodeAt(0) === LF) start = 1;
    afterCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      line(partial + text.slice(start, i));
      partial = "";
      if (c === CR) {
        if (i + 1 === text.length) afterCR = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    partial += text.slice(start);
  };

  return {
    push(chunk) {
      if (over) return false;
      if (typeof chunk === "string") feed(chunk);
      else
        feed(
          decoder.write(
            Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
          ),
        );
      if (held + partial.length <= limit) return true;
      over = true;
      partial = "";
      data = undefined;
      type = undefined;
      return false;
    },
    end() {
      if (over) return;
      feed(decoder.end());
      partial = "";
      data = undefined;
      type = undefined;
    },
    stray() {
      const ended = strayEnded;
      strayEnded = false;
      return ended;
    },
  };
}

/** Parses a whole stream at once (for tests and small bodies). */
export function parseSse(text: string | Buffer): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createSseParser((e) => events.push(e));
  parser.push(text);
  parser.end();
  return events;
}
