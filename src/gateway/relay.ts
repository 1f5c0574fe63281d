/**
 * Relaying an upstream response to the client: chunk by chunk, with backpressure, never buffered
 * beyond an event not yet whole (and that only up to the capture limit). SSE streams are watched for
 * usage as they pass; a failure mid-stream ends the stream with a well-formed error event in the
 * client's format.
 */
import type { ServerResponse } from "node:http";
import { ClearanceError } from "../errors/index.js";
import {
  answersAsStream,
  createSseParser,
  encodeEvent,
  isEventStream,
  type SseEvent,
} from "../upstream/sse.js";
import type { Endpoint, UpstreamResponse, Wire } from "../upstream/types.js";
import {
  bodyCharge,
  streamCharge,
  streamUsage,
  unrelayedStreamCharge,
  usageFromBody,
  usageFromTail,
  usageOfAnswer,
  type Usage,
} from "./usage.js";
import { answerError, logUpstreamText, relayUpstreamError, sanitizedStreamError } from "./upstream-error.js";
import { completedItems } from "./relay-output.js";
import {
  responseErrorCode,
  responseFailed,
  responsesFailure,
  streamErrorEvent,
  type CutResponse,
} from "./wire.js";

export interface RelayOptions {
  readonly wire: Wire;
  readonly endpoint: Endpoint;
  /** The request asked for a stream (an answer to it not typed JSON is read as one); default no. */
  readonly stream?: boolean;
  readonly upstream: UpstreamResponse;
  readonly res: ServerResponse;
  /** Headers added to the upstream's (the x-clearance-* set). */
  readonly headers: Readonly<Record<string, string>>;
  readonly stripUsageChunk: boolean;
  /**
   * Largest non-streamed body kept aside to read its usage (it is relayed in full regardless), and
   * the most of a streamed event not yet ended that is held (a larger one cuts the stream).
   */
  readonly captureLimit: number;
  readonly requestId: string;
  /** The gateway's own log: an upstream error's original text goes there, never to the client. */
  readonly log: (line: string) => void;
  /** Told when the first chunk of a successful body arrives (for the time to first token). */
  readonly firstChunk?: () => void;
  /** The request body's length in characters: a cut stream's input estimate when it never said. */
  readonly requestChars: number;
  /** The model asked for: a cut Responses stream's failed response names it if the upstream never did. */
  readonly model?: string;
}

/** Bytes kept from the end of a body larger than the capture limit (where its usage is). */
const TAIL = 64 * 1024;

/**
 * A non-streamed body up to this size is held until it ends and sent with its length in one write:
 * a client cannot use half a JSON document, and chunked framing would cost a second system call
 * (its final empty chunk) on every response. Larger bodies stream chunk by chunk.
 */
const HOLD = 64 * 1024;

/**
 * Resolves, when the response has ended, with the usage to charge: what the upstream reported, or
 * an estimate where it reported none (null: nothing to charge, e.g. a token count).
 *
 * A client that left while the entry was being made durable, after the upstream had answered, is
 * sent nothing (and is not there), but is charged: the upstream did the work. What it had sent is
 * read for the usage it reported, or else the estimate is charged.
 */
export function relay(o: RelayOptions): Promise<Usage | null> {
  const { upstream, res } = o;
  const body = upstream.body;
  const gone = res.destroyed;
  if (upstream.status < 200 || upstream.status >= 300)
    // A body already destroyed emits nothing more (its "close" may have gone): nothing to wait for.
    return body.destroyed ? Promise.resolve(null) : relayUpstreamError(o);
  const type = upstream.headers["content-type"];
  const sse = answersAsStream(type, o.stream === true);
  // Copied by assignment: a literal with two spreads, or a spread and a member after it, takes V8's
  // slow path on Node 20 (about 1 µs a response).
  const head: Record<string, string> = Object.assign({}, upstream.headers, o.headers);
  // Read as a stream although not typed as one: the client is told what it gets.
  if (sse && !isEventStream(type)) head["content-type"] = "text/event-stream";
  // Only an error answer says when to retry (see upstream-error.ts): a success has nothing to retry.
  if (head["retry-after"] !== undefined) delete head["retry-after"];

  let write: (chunk: Buffer) => boolean;
  /**
   * `complete`: the upstream's body ended (not cut short by a failure or the client leaving);
   * `left`: the client left (the body closed without an upstream error).
   */
  let usage: (complete: boolean, left: boolean) => Usage | null;
  /** Ends the answer once the upstream's body has ended. */
  let finish = (): void => void res.end();
  /** A non-streamed answer that ended with nothing in it, and nothing sent yet. */
  let empty = (): boolean => false;
  /**
   * Why a non-streamed answer that ended, held and not sent yet, is not passed on: a 2xx that is the
   * upstream's error all the same (its text would reach the client); else null.
   */
  let failed = (): ClearanceError | null => null;
  /** Settles the relay as refused before anything was sent, the upstream's body abandoned (set below). */
  let refuse: (err: ClearanceError) => void = noop;
  /**
   * The number of the last event that carries one (see `sequenceOf`), -1 before any: the gateway's
   * own last event takes the number after it. Not simply the last event's: an upstream's error event
   * whose data is not JSON, or has no number (naming it only, say), would number the gateway's
   * event 0 mid-stream.
   */
  let lastSequence = -1;
  /** A Responses stream's first event when it is `response.created`: the response a cut fails. */
  let created: string | undefined;
  /**
   * The stream's terminal event went out (see isTerminal): the client has the whole answer, so an
   * upstream that resets its connection after it is no failure (charged as an ended stream is).
   */
  let terminal = false;
  const responses = o.endpoint === "responses";
  /** A Responses stream's completed output items: a cut's failed response carries them. */
  const items = responses && !gone ? completedItems(o.captureLimit) : null;
  /** What a Responses stream the gateway ends knows of its response, numbered after the last event. */
  const cut = (): CutResponse => ({
    sequence: lastSequence + 1,
    created,
    model: o.model ?? "",
    requestId: o.requestId,
    output: items === null ? [] : items.output(),
  });
  /** The gateway's own last events, ending the stream with an error. */
  const errorEvent = (message: string): string =>
    responses ? responsesFailure(message, cut()) : streamErrorEvent(o.wire, message);
  /**
   * The upstream's own error event in a Responses stream, as it went out (cleaned): unless a terminal
   * event follows, the stream it ends is failed by the gateway (see `finish`).
   */
  let upstreamError: string | undefined;
  if (sse) {
    const watcher = streamUsage(o.wire, o.endpoint, o.stripUsageChunk);
    /** Events seen: a stream that ended without any is the upstream's failure, said as one. */
    let events = 0;
    /** Counts an event relayed, keeping what a cut's last events are numbered and built from. */
    const relayed = (data: string, event: string | undefined): void => {
      events++;
      if (responses) {
        const n = sequenceOf(data);
        if (n !== null) lastSequence = n;
      }
      if (!terminal && isTerminal(o.wire, o.endpoint, data, event)) terminal = true;
      if (!terminal) items?.offer(event, data);
      // Kept as it came, parsed only if the gateway cuts the stream (the API sends it first).
      if (events === 1 && responses && data.includes('"response.created"')) created = data;
    };
    // An event the upstream has not ended outgrew the capture limit: held no longer (an upstream that
    // never ends one would grow the gateway's memory without bound). The stream is cut as one the
    // upstream fails mid-stream is: its error event after the last whole event, metered as cut short
    // (the "error" the body is destroyed with settles it), and the upstream request aborted.
    const tooLarge = (): boolean => {
      if (body.destroyed) return true;
      o.log(
        `clearance: request ${o.requestId}: the upstream's stream held an event over the capture limit (limits.body_bytes, ${o.captureLimit} bytes) not yet ended; the stream was cut`,
      );
      if (!res.destroyed && !res.writableEnded) res.end(errorEvent(EVENT_TOO_LARGE));
      body.destroy(new Error("an event over the capture limit"));
      return true;
    };
    // An upstream's error event inside the stream is passed on with its text replaced (as its error
    // answers are), the original going to the gateway's log.
    const cleaned = (e: SseEvent): SseEvent => {
      const clean = sanitizedStreamError(o.wire, e, o.requestId);
      if (clean === null) return e;
      logUpstreamText(o, "upstream failed mid-stream", e.data);
      if (responses) upstreamError = clean.data;
      return clean;
    };
    if (gone) {
      const parser = createSseParser((e) => {
        relayed(e.data, e.event);
        watcher.onEvent(e.event, e.data);
      }, o.captureLimit);
      write = (chunk) => parser.push(chunk) || tooLarge();
      finish = noop;
    } else if (o.stripUsageChunk) {
      res.writeHead(upstream.status, head);
      // Events are re-encoded one by one so that the extra usage chunk can be left out. A chunk may
      // complete no event (nothing written): the socket's own state says whether to wait for it.
      const parser = createSseParser((e) => {
        relayed(e.data, e.event);
        if (watcher.onEvent(e.event, e.data)) return;
        const out = cleaned(e);
        res.write(encodeEvent(out.data, out.event));
      }, o.captureLimit);
      write = (chunk) => (parser.push(chunk) ? !res.writableNeedDrain : tooLarge());
    } else {
      res.writeHead(upstream.status, head);
      // Set when an event of the chunk being read is the upstream's error: what goes out is then
      // re-encoded event by event from `read`, that one replaced (rare: whole events are passed on as
      // they came). So is what holds a line that is no event stream's, as the parser tells (text,
      // HTML, a JSON error with blank lines — an answer read as a stream because the request asked
      // for one, or an upstream's error text written into its stream): the client gets the events,
      // never the rest. The parser dispatches at the blank line that `eventsEnd` finds, so the events
      // read from a chunk, and its stray lines, are those of the bytes sent with it. Re-encoded
      // events lose their `id:` and `retry:` fields and the comments among them (the parser keeps
      // none).
      let failed = false;
      /** The chunk's events as they go out (the upstream's error replaced by its sanitised one). */
      const read: SseEvent[] = [];
      const parser = createSseParser((e) => {
        relayed(e.data, e.event);
        watcher.onEvent(e.event, e.data);
        const clean = sanitizedStreamError(o.wire, e, o.requestId);
        if (clean === null) read.push(e);
        else {
          logUpstreamText(o, "upstream failed mid-stream", e.data);
          read.push(clean);
          failed = true;
          if (responses) upstreamError = clean.data;
        }
      }, o.captureLimit);
      const send = (bytes: Buffer): boolean => {
        if (!parser.stray() && !failed) return res.write(bytes);
        failed = false;
        let text = "";
        for (const e of read) text += encodeEvent(e.data, e.event);
        return text === "" ? !res.writableNeedDrain : res.write(text);
      };
      // Chunks go out as they come, but only up to the end of their last whole event: the bytes
      // after it wait for the rest of their event, so that an error event after a cut starts on an
      // event's boundary (after half a line, or an event's first lines, no client could parse it).
      // An event not yet ended over the capture limit (held here, or by the parser) cuts the stream.
      let tail: Buffer[] | null = null;
      let tailSize = 0;
      // The stream's last two bytes so far (at its start, as after a blank line).
      let last = LF;
      let beforeLast = LF;
      write = (chunk) => {
        read.length = 0;
        const fits = parser.push(chunk);
        const n = chunk.length;
        if (n === 0) return true;
        const end = eventsEnd(chunk, last, beforeLast);
        beforeLast = n > 1 ? (chunk[n - 2] as number) : last;
        last = chunk[n - 1] as number;
        // Whole events, nothing held: as it came (nearly every chunk; the parser holds nothing then).
        if (tail === null && end === n) return send(chunk);
        // What goes out now with what is held (all of it once an event ends in this chunk).
        const upto = end < 0 ? n : end;
        (tail ??= []).push(upto === n ? chunk : chunk.subarray(0, upto));
        tailSize += upto;
        if (end < 0) return fits && tailSize <= o.captureLimit ? true : tooLarge();
        const out = tail.length === 1 ? (tail[0] as Buffer) : Buffer.concat(tail, tailSize);
        tail = upto === n ? null : [chunk.subarray(upto)];
        tailSize = n - upto;
        // The whole events go out before the cut's error event.
        if (!fits || tailSize > o.captureLimit) {
          send(out);
          return tooLarge();
        }
        return send(out);
      };
      // Bytes held at the end are an event the upstream never ended with a blank line: not an event
      // (the SSE spec, and both SDKs, discard it), so not sent, as the re-encoded path sends none —
      // the client reads what was metered.
      finish = () => void res.end();
    }
    // A stream that ended with no event in it: the upstream failed before its first, said as a
    // failure mid-stream is (the head is sent), and charged as one (nothing).
    const ended = finish;
    finish = () => {
      if (events === 0 && !res.destroyed && !res.writableEnded)
        res.end(errorEvent("the upstream ended the stream without sending any event"));
      // The upstream's error event is no response's end (the openai SDK's `responses.create` stream
      // raises it only when it holds an `error` object; one as documented, code and message at its
      // top, it hands over as an event): a stream ending there leaves the client without the
      // terminal event it waits for, its response still in progress. The gateway fails the
      // response with that error, as the upstream would have.
      // Only to a client still there: its items are parsed for it.
      else if (upstreamError !== undefined && !terminal && !res.destroyed && !res.writableEnded)
        res.end(failedBy(upstreamError, cut()));
      else ended();
    };
    // A client that leaves before the first event is still charged the input: the upstream had
    // taken the prompt (leaving at once after sending a long one must not be free of quota).
    usage = (complete, left) =>
      gone || left
        ? unrelayedStreamCharge(watcher, o.requestChars, complete)
        : streamCharge(watcher, o.requestChars, complete && events > 0);
  } else {
    // The whole body up to the capture limit; past it, only its last TAIL bytes, where usage is:
    // a response too large to keep (a big embeddings batch) must still count against quotas.
    let kept: Buffer[] = [];
    let keptSize = 0;
    let size = 0;
    let held = true;
    /**
     * The upstream's error, or no JSON at all, told by what it says or where it starts, answered as
     * its failure (a 502, nothing of it passed on, nothing charged); its text logged.
     */
    const refusal = (error: boolean, text: string): ClearanceError => {
      const what = error ? "an error" : "a body that is not JSON";
      logUpstreamText(o, `upstream answered ${upstream.status} with ${what}`, text);
      return new ClearanceError(
        "upstream",
        "upstream_failed",
        `the upstream answered ${upstream.status} with ${what}; ${error ? "its message" : "it"} is not passed on (request ${o.requestId} in the gateway's log)`,
      );
    };
    write = (chunk) => {
      size += chunk.length;
      kept.push(chunk);
      keptSize += chunk.length;
      if (held) {
        if (size <= HOLD || gone) return true;
        held = false;
        // Passed on from here as it comes, so read no further than its start: no JSON answer starts
        // otherwise, and none but an error starts with one of the error forms (see answerError). An
        // error whose member comes later, past the hold, is passed on (it cannot be told without
        // holding all of the body).
        const start = firstBytes(kept, START).toString("utf8");
        const json = JSON_START.test(start);
        if (!json || ERROR_START.test(start)) {
          refuse(refusal(json, start));
          return true;
        }
        res.writeHead(upstream.status, head);
        let ok = true;
        for (const k of kept) ok = res.write(k);
        return ok;
      }
      if (size > o.captureLimit) {
        while (kept.length > 1 && keptSize - (kept[0] as Buffer).length >= TAIL) {
          keptSize -= (kept.shift() as Buffer).length;
        }
      }
      return res.write(chunk);
    };
    empty = () => size === 0 && held && !gone;
    /** What goes out instead of the held body: the upstream's error replaced (see answerError). */
    let cleaned: Buffer | null = null;
    /** The held body, parsed by `failed` (its usage is read from it): undefined until then. */
    let parsed: { readonly json: unknown } | undefined;
    failed = () => {
      if (!held || gone) return null;
      const whole = kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept, size);
      kept = [whole];
      const raw = whole.toString("utf8");
      // Parsed before it is sent rather than after (for its usage, as every held body is): one that
      // is not JSON is no answer — half a document whose Content-Length fell short of it, an event
      // stream typed JSON or sent to a request that asked for none, text — and its text could be
      // anything. A BOM is allowed, as the SDKs' fetch allows it: it is no part of the JSON text
      // (told an error by it as any other answer is).
      const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      try {
        parsed = { json: JSON.parse(text) as unknown };
      } catch {
        return refusal(false, raw);
      }
      // Nearly every answer: no member or value named error, nothing more parsed.
      if (!text.includes('"error"')) return null;
      const found = answerError(text, o.requestId);
      if (found === null) return null;
      if ("text" in found) {
        logUpstreamText(o, `upstream answered ${upstream.status} with an error`, text);
        cleaned = Buffer.from(found.text);
        return null;
      }
      return refusal(true, text);
    };
    finish = () => {
      if (gone) return;
      if (!held) return void res.end();
      const body = cleaned ?? (kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept, size));
      head["content-length"] = String(body.length);
      res.writeHead(upstream.status, head);
      res.end(body);
    };
    usage = () => {
      if (parsed !== undefined)
        return bodyCharge(usageOfAnswer(parsed.json), o.endpoint, o.requestChars, size);
      const chunks = kept;
      kept = [];
      // Every API puts usage last: a large body (an embeddings batch runs to megabytes) is read from
      // its end first, and parsed whole only if no usage is found there and it was kept whole.
      // Where no usage (or no input) is reported, an estimate is charged: a body that reports it is
      // read no further.
      if (size > TAIL) {
        const found = usageFromTail(lastBytes(chunks, TAIL).toString("utf8"));
        if (found !== null || size > o.captureLimit)
          return bodyCharge(found, o.endpoint, o.requestChars, size);
      }
      const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      return bodyCharge(usageFromBody(whole.toString("utf8")), o.endpoint, o.requestChars, size);
    };
  }

  // Read once: "end" and then "close" both settle, and a second read of an emptied body would parse
  // "" (a thrown SyntaxError: microseconds on every request).
  let read: { usage: Usage | null } | null = null;
  const once = (complete: boolean, left = false): Usage | null =>
    (read ??= { usage: usage(complete, left) }).usage;
  return new Promise((resolved, reject) => {
    // "end" is followed by "close": settled once (resolving a settled promise again is a call into
    // V8's runtime on every request).
    let settled = false;
    refuse = (err) => {
      if (settled) return;
      settled = true;
      reject(err);
      body.destroy();
    };
    const resolve = (usage: Usage | null) => {
      if (settled) return;
      settled = true;
      resolved(usage);
    };
    // Destroyed before it was read (the client left meanwhile, the call was aborted): it emits
    // nothing more, and its "close" may have gone already.
    if (body.destroyed) {
      if (!res.destroyed) res.destroy();
      resolve(once(false));
      return;
    }
    let first = gone ? undefined : o.firstChunk;
    body.on("data", (chunk: Buffer) => {
      if (first !== undefined) {
        first();
        first = undefined;
      }
      if (!write(chunk)) {
        body.pause();
        res.once("drain", () => body.resume());
      }
    });
    body.once("end", () => {
      // No answer an SDK can read (it would hand its caller `undefined`): nothing is sent yet, so
      // the client gets a 502 it retries, and is charged nothing, as for an answer cut short.
      if (empty()) {
        settled = true;
        reject(
          new ClearanceError(
            "upstream",
            "upstream_empty",
            `the upstream answered ${upstream.status} with an empty body`,
          ),
        );
        return;
      }
      // The upstream's error in a 2xx: a 502 as its error statuses are, charged nothing as they are.
      const refused = failed();
      if (refused !== null) {
        settled = true;
        reject(refused);
        return;
      }
      finish();
      resolve(once(true));
    });
    // A body destroyed without an error (the client went away and the call was aborted) only closes.
    body.once("close", () => resolve(once(false, true)));
    body.once("error", (err: Error) => {
      // After the terminal event the answer is whole: its reset is no failure to tell the client
      // about (an error and a second terminal event after it would contradict it).
      if (terminal) {
        if (!res.destroyed && !res.writableEnded) res.end();
        resolve(once(true));
        return;
      }
      // The cause stays here: upstream error texts can name internal hosts.
      if (!res.destroyed && !res.writableEnded) {
        if (sse) res.end(errorEvent("the upstream failed mid-stream; the response is incomplete"));
        // A body still held has sent nothing yet: the client gets a well-formed 502 instead.
        else if (!res.headersSent) {
          settled = true;
          reject(
            new ClearanceError(
              "upstream",
              "upstream_failed",
              "the upstream failed before its answer was complete",
              { cause: err },
            ),
          );
          return;
        }
        // A JSON body cut short cannot be mended once its head is sent: the client sees a reset.
        else res.destroy(err);
      }
      resolve(once(false));
    });
  });
}

const noop = (): void => {};

/** The member a Responses event numbers itself with, as JSON writes its name plainly. */
const SEQUENCE_NUMBER = '"sequence_number"';
/**
 * A run of a JSON string's characters that need no escape: matched by the engine without a
 * backtracking entry per character. A string is this and its escapes, checked one by one (see
 * stringEnd): one expression for the whole string kept an entry per escape, and threw "Maximum call
 * stack size exceeded" past about 3.3 million of them (930,000 `\uXXXX`), in events under the
 * capture limit.
 */
// eslint-disable-next-line no-control-regex -- a raw control character ends a string's run: JSON refuses it
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const JSON_LITERAL = /true|false|null/y;

/** The index of the first character at or after `i` that is not JSON's white space. */
function skipSpace(data: string, i: number): number {
  let c = data.charCodeAt(i);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = data.charCodeAt(++i);
  return i;
}

/**
 * Whether the member name from `at` to `end` (its quotes included, its escapes already checked) is
 * `sequence_number` as JSON.parse reads it: written plainly, or with escapes (`"sequence\u005fnumber"`).
 * Its letters and `_` can be escaped only as `\uXXXX` (six characters for one), so only a name of 17
 * + 5k characters with a backslash in it is decoded; every other name costs a comparison.
 */
function isSequenceName(data: string, at: number, end: number): boolean {
  const length = end - at;
  if (length === SEQUENCE_NUMBER.length) return data.startsWith(SEQUENCE_NUMBER, at);
  if (length > SEQUENCE_NUMBER.length + 5 * 15 || (length - SEQUENCE_NUMBER.length) % 5 !== 0) return false;
  const name = data.slice(at, end);
  return name.includes("\\") && JSON.parse(name) === "sequence_number";
}

/**
 * The sequence number a member's value at `i` is: a JSON number (in any spelling: `9`, `9.0`, `90E-1`)
 * whose value is a non-negative safe integer, as JSON.parse reads it (`-0` as 0); else null. Only
 * read here: the scan checks the value's grammar after.
 */
function sequenceAt(data: string, i: number): number | null {
  JSON_NUMBER.lastIndex = i;
  const value = JSON_NUMBER.exec(data);
  const n = value === null ? NaN : Number(value[0]);
  return Number.isSafeInteger(n) && n >= 0 ? n + 0 : null;
}

/** The characters a backslash escapes by itself (`\n`), flagged by code; `u` takes four hex digits. */
const SIMPLE_ESCAPE = new Uint8Array(128);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

/** Whether the character code is a hex digit. */
function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/**
 * Just past the JSON string at `i` (its escapes checked); -1 if there is none. Its runs are matched
 * by STRING_RUN, its escapes read here: linear however long the string or many its escapes.
 */
function stringEnd(data: string, i: number): number {
  if (data.charCodeAt(i) !== 0x22) return -1;
  i++;
  for (;;) {
    STRING_RUN.lastIndex = i;
    STRING_RUN.test(data);
    i = STRING_RUN.lastIndex;
    const c = data.charCodeAt(i);
    if (c === 0x22) return i + 1;
    // A raw control character, or the data's end.
    if (c !== 0x5c) return -1;
    const e = data.charCodeAt(i + 1);
    if (SIMPLE_ESCAPE[e] === 1) i += 2;
    else if (
      e === 0x75 &&
      isHex(data.charCodeAt(i + 2)) &&
      isHex(data.charCodeAt(i + 3)) &&
      isHex(data.charCodeAt(i + 4)) &&
      isHex(data.charCodeAt(i + 5))
    )
      i += 6;
    else return -1;
  }
}

/** The index of a member's value, its name ending at `end` (-1: none) and a colon after it; else -1. */
function memberValue(data: string, end: number): number {
  if (end < 0) return -1;
  const i = skipSpace(data, end);
  return data.charCodeAt(i) === 0x3a ? skipSpace(data, i + 1) : -1;
}

/** The arrays and objects sequenceOf's scan is in, innermost last (true: an object); reused. */
const containers: boolean[] = [];

/**
 * The number a Responses event's data carries as its own: the `sequence_number` member of the JSON
 * object (the last, as JSON.parse reads a repeated one), a non-negative integer; else null — also
 * when the data is not whole JSON (`{"sequence_number":5, broken…`, or cut short), which a client
 * cannot read, so that the caller treats it as any event with no number of its own. Read by one
 * pass that checks the JSON grammar without building anything or recursing (every event is read;
 * strings' runs and numbers are matched by sticky regular expressions, the engine skipping them),
 * taking the member's name at depth 1 only: one in a nested object or inside a string is not the
 * event's. As JSON.parse reads it, the name may be written with escapes (`"sequence\u005fnumber"`)
 * and the number in any spelling (`9.0`, `90E-1`). Before, a search stopped at the first such member
 * and never looked at the rest: an event broken after its number counted as numbered, and the
 * gateway's last event was numbered after it. Exported for its test (relay-sequence.test.ts).
 */
export function sequenceOf(data: string): number | null {
  let i = skipSpace(data, 0);
  if (data.charCodeAt(i) !== 0x7b) return null;
  containers.length = 0;
  let number: number | null = null;
  for (;;) {
    // A value at `i`.
    const c = data.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      const object = c === 0x7b;
      i = skipSpace(data, i + 1);
      if (data.charCodeAt(i) === (object ? 0x7d : 0x5d)) i++;
      else {
        containers.push(object);
        if (object) {
          const at = i;
          const end = stringEnd(data, at);
          if ((i = memberValue(data, end)) < 0) return null;
          if (containers.length === 1 && isSequenceName(data, at, end)) number = sequenceAt(data, i);
        }
        continue;
      }
    } else if (c === 0x22) {
      if ((i = stringEnd(data, i)) < 0) return null;
    } else {
      const token = c === 0x74 || c === 0x66 || c === 0x6e ? JSON_LITERAL : JSON_NUMBER;
      token.lastIndex = i;
      if (!token.test(data)) return null;
      i = token.lastIndex;
    }
    // After a value: a comma and the next, or the ends of the arrays and objects it closes.
    for (;;) {
      i = skipSpace(data, i);
      if (containers.length === 0) return i === data.length ? number : null;
      const object = containers[containers.length - 1];
      const d = data.charCodeAt(i);
      if (d === 0x2c) {
        i = skipSpace(data, i + 1);
        if (object) {
          const at = i;
          const end = stringEnd(data, at);
          if ((i = memberValue(data, end)) < 0) return null;
          if (containers.length === 1 && isSequenceName(data, at, end)) number = sequenceAt(data, i);
        }
        break;
      }
      if (d !== (object ? 0x7d : 0x5d)) return null;
      containers.pop();
      i++;
    }
  }
}

/**
 * The `response.failed` event ending a stream after the upstream's own error event (`data`: that
 * event as it went out, its text already replaced), carrying its code and message.
 */
function failedBy(data: string, cut: CutResponse): string {
  let error: { code?: unknown; message?: unknown; error?: { code?: unknown; message?: unknown } } | null;
  try {
    error = JSON.parse(data) as typeof error;
  } catch {
    error = null;
  }
  const code = error?.code ?? error?.error?.code;
  const message = error?.message ?? error?.error?.message;
  return responseFailed(
    {
      code: responseErrorCode(code),
      message: typeof message === "string" ? message : "the upstream failed mid-stream",
    },
    cut,
  );
}

/** A Responses stream's last event, whichever way the response ended. */
const RESPONSE_END = /"response\.(?:completed|incomplete|failed)"/;
const RESPONSE_END_TYPES: ReadonlySet<string> = new Set([
  "response.completed",
  "response.incomplete",
  "response.failed",
]);

/**
 * Whether an event ends its stream as the client reads it: the Responses API's response.completed,
 * response.incomplete or response.failed (told by the data's `type`, as the openai SDK tells it),
 * Anthropic's message_stop, chat and completions' `[DONE]`. Only events naming such a type are
 * parsed (one a stream): a JSON string's quotes are escaped, so text cannot name one.
 */
function isTerminal(wire: Wire, endpoint: Endpoint, data: string, event: string | undefined): boolean {
  if (wire === "anthropic") {
    if (event === "message_stop") return true;
    return data.includes('"message_stop"') && typeOf(data) === "message_stop";
  }
  if (endpoint !== "responses") return data === "[DONE]";
  if (!RESPONSE_END.test(data)) return false;
  const type = typeOf(data);
  return type !== undefined && RESPONSE_END_TYPES.has(type);
}

/** The `type` member of an event's data, when it is a JSON object that has one. */
function typeOf(data: string): string | undefined {
  try {
    const type = (JSON.parse(data) as { type?: unknown } | null)?.type;
    return typeof type === "string" ? type : undefined;
  } catch {
    return undefined;
  }
}

/** The client's error event when an event the upstream had not ended outgrew the capture limit. */
const EVENT_TOO_LARGE = "the upstream sent an event too large to relay; the response is incomplete";

const LF = 10;
const CR = 13;

/**
 * Where the last whole event in `chunk` ends (just past the blank line that ends it), or -1 if none
 * does. `last`, `beforeLast`: the stream's two bytes before the chunk. Nearly every chunk ends an
 * event, which its last bytes tell; otherwise line ends are looked for natively, from the last (an
 * event can be long: a response's last event carries all of it).
 */
function eventsEnd(chunk: Buffer, last: number, beforeLast: number): number {
  let at = chunk.length - 1;
  if (blankLineEnd(chunk, at, last, beforeLast)) return at + 1;
  // The last LF and CR before `at`, each looked for again only once `at` has passed it.
  let lf = at + 1;
  let cr = at + 1;
  while (at > 0) {
    if (lf >= at) lf = chunk.lastIndexOf(LF, at - 1);
    if (cr >= at) cr = chunk.lastIndexOf(CR, at - 1);
    at = lf > cr ? lf : cr;
    if (at < 0) return -1;
    if (blankLineEnd(chunk, at, last, beforeLast)) return at + 1;
  }
  return -1;
}

/**
 * Whether the byte at `p` ends a blank line: lines end in LF, CRLF or CR, as the parser reads them,
 * and a line is blank when its end follows another line's end at once.
 */
function blankLineEnd(chunk: Buffer, p: number, last: number, beforeLast: number): boolean {
  const c = chunk[p];
  if (c !== LF && c !== CR) return false;
  let q = p - 1;
  let before = q >= 0 ? (chunk[q] as number) : last;
  if (c === LF && before === CR) {
    q--;
    before = q >= 0 ? (chunk[q] as number) : q === -1 ? last : beforeLast;
  }
  return before === LF || before === CR;
}

/** Bytes of a body's start read (and logged) to tell an error, or no JSON, from an answer. */
const START = 2048;
/** The start of a JSON text (after a BOM and white space): an object or an array. */
const JSON_START = /^\uFEFF?[ \t\r\n]*[{[]/;
/** An object whose first member is an error (`"error": {…}` or `"…"`), or says it is one. */
const ERROR_START =
  /^\uFEFF?[ \t\r\n]*\{[ \t\r\n]*(?:"error"[ \t\r\n]*:[ \t\r\n]*[{"]|"(?:object|type)"[ \t\r\n]*:[ \t\r\n]*"error")/;

/** The first `n` bytes of the chunks (fewer if they hold fewer), copying only those. */
function firstBytes(chunks: readonly Buffer[], n: number): Buffer {
  const taken: Buffer[] = [];
  let got = 0;
  for (let i = 0; i < chunks.length && got < n; i++) {
    const c = chunks[i] as Buffer;
    taken.push(c);
    got += c.length;
  }
  const head = taken.length === 1 ? (taken[0] as Buffer) : Buffer.concat(taken, got);
  return head.subarray(0, n);
}

/** The last `n` bytes of the chunks (fewer if they hold fewer), copying only those. */
function lastBytes(chunks: readonly Buffer[], n: number): Buffer {
  const taken: Buffer[] = [];
  let got = 0;
  for (let i = chunks.length - 1; i >= 0 && got < n; i--) {
    const c = chunks[i] as Buffer;
    taken.push(c);
    got += c.length;
  }
  const tail = taken.length === 1 ? (taken[0] as Buffer) : Buffer.concat(taken.reverse());
  return tail.subarray(Math.max(0, tail.length - n));
}
