import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSseParser, encodeEvent, encodeJsonEvent, parseSse, type SseEvent } from "./sse.js";

/** Parses `bytes` fed in pieces cut at `cuts` (sorted offsets). */
function parseInPieces(bytes: Buffer, cuts: readonly number[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createSseParser((e) => events.push(e));
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.push(bytes.subarray(from, cut));
    from = cut;
  }
  parser.end();
  return events;
}

const SAMPLE = Buffer.from(
  "\uFEFF: a comment\r\n" +
    "event: first\r\ndata: héllo 日本 🎉\r\n\r\n" +
    "data:no space\rdata:  two spaces\r\r" +
    "event: empty-data\ndata\n\n" +
    "id: 7\nretry: 100\nevent: no-data\n\n" +
    'event:\ndata: {"json":true}\n\n' +
    "data: unterminated",
);
const SAMPLE_EVENTS: SseEvent[] = [
  { event: "first", data: "héllo 日本 🎉" },
  { data: "no space\n two spaces" },
  { event: "empty-data", data: "" },
  { data: '{"json":true}' },
];

describe("encodeEvent", () => {
  it("writes event and data lines and a blank line", () => {
    expect(encodeEvent("x")).toBe("data: x\n\n");
    expect(encodeEvent("[DONE]")).toBe("data: [DONE]\n\n");
    expect(encodeEvent("a\nb\r\nc", "e")).toBe("event: e\ndata: a\ndata: b\ndata: c\n\n");
    expect(encodeJsonEvent({ type: "ping" }, "ping")).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });

  it("round-trips through the parser", () => {
    const events = [encodeEvent("one"), encodeEvent("two\nlines", "t"), encodeEvent("", "empty")].join("");
    expect(parseSse(events)).toEqual([
      { data: "one" },
      { event: "t", data: "two\nlines" },
      { event: "empty", data: "" },
    ]);
  });
});

describe("createSseParser", () => {
  it("follows the event-stream rules (BOM, comments, CR/CRLF/LF, spaces, missing data, EOF)", () => {
    expect(parseSse(SAMPLE)).toEqual(SAMPLE_EVENTS);
  });

  it("gives the same events however one cut splits the bytes, even inside \\r\\n or a character", () => {
    for (let cut = 0; cut <= SAMPLE.length; cut++) {
      expect(parseInPieces(SAMPLE, [cut]), `cut at ${cut}`).toEqual(SAMPLE_EVENTS);
    }
  });

  it("gives the same events however two cuts split the bytes", () => {
    const expected = JSON.stringify(SAMPLE_EVENTS);
    const wrong: number[][] = [];
    for (let a = 0; a <= SAMPLE.length; a++) {
      for (let b = a; b <= SAMPLE.length; b++) {
        if (JSON.stringify(parseInPieces(SAMPLE, [a, b])) !== expected) wrong.push([a, b]);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("handles a stream fed one byte at a time", () => {
    const cuts = Array.from({ length: SAMPLE.length }, (_, i) => i);
    expect(parseInPieces(SAMPLE, cuts)).toEqual(SAMPLE_EVENTS);
  });

  it("accepts strings and Uint8Arrays too", () => {
    const events: SseEvent[] = [];
    const parser = createSseParser((e) => events.push(e));
    parser.push("data: a");
    parser.push(new Uint8Array(Buffer.from("bc\n\nevent: x\r")));
    parser.push("\ndata: y\r\n\r\n");
    expect(events).toEqual([{ data: "abc" }, { event: "x", data: "y" }]);
  });

  it("delivers each event as soon as its blank line arrives", () => {
    const events: SseEvent[] = [];
    const parser = createSseParser((e) => events.push(e));
    parser.push("data: 1\n");
    expect(events).toHaveLength(0);
    parser.push("\ndata: 2");
    expect(events).toEqual([{ data: "1" }]);
  });

  it("tells a line that is no event stream's once the blank line after it has come, split anywhere", () => {
    // Comments, the four fields (alone or with a value), blank lines, a BOM: nothing stray.
    for (let cut = 0; cut <= SAMPLE.length; cut++) {
      const parser = createSseParser(() => undefined);
      parser.push(SAMPLE.subarray(0, cut));
      parser.push(SAMPLE.subarray(cut));
      parser.end();
      expect(parser.stray(), `cut at ${cut}`).toBe(false);
    }
    const parser = createSseParser(() => undefined);
    parser.push('data: 1\n\n{"error":{"message":"gpu-17"}}\r');
    expect(parser.stray()).toBe(false); // not ended by a blank line yet
    parser.push("\r\n");
    expect(parser.stray()).toBe(true);
    expect(parser.stray()).toBe(false); // told once
    parser.push("<html>\ndata: 2\n");
    parser.push("Data: x\n\n");
    expect(parser.stray()).toBe(true);
    parser.push("data: 3\n\n: comment\n\n");
    expect(parser.stray()).toBe(false);
  });

  it("round-trips any events, split anywhere (property)", () => {
    const line = fc.string({ unit: "grapheme" }).filter((s) => !/[\r\n]/.test(s));
    const event = fc.record({
      event: fc.option(
        line.filter((s) => s !== ""),
        { nil: undefined },
      ),
      data: fc.string(),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        (events, rawCuts, eol) => {
          const text = events.map((e) => encodeEvent(e.data, e.event)).join("");
          const bytes = Buffer.from(text.replace(/\n/g, eol));
          const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((x, y) => x - y);
          const expected = events.map((e) => ({
            ...(e.event === undefined ? {} : { event: e.event }),
            data: e.data.replace(/\r\n|\r/g, "\n"),
          }));
          expect(parseInPieces(bytes, cuts)).toEqual(expected);
        },
      ),
    );
  });
});

describe("createSseParser with a limit on the event not yet ended", () => {
  /** Feeds `pieces`; the events dispatched and what each push answered. */
  function feed(limit: number, pieces: readonly string[]) {
    const events: SseEvent[] = [];
    const parser = createSseParser((e) => events.push(e), limit);
    const answers = pieces.map((p) => parser.push(p));
    parser.end();
    return { events, answers };
  }

  it("holds an event up to the limit, and refuses one that outgrows it, dispatching nothing after", () => {
    // "data: " + 94 characters + its line end: 101 characters held once its line has ended.
    const line = `data: ${"x".repeat(94)}\n`;
    const within = feed(101, ["data: a\n\n", line, "\n"]);
    expect(within.answers).toEqual([true, true, true]);
    expect(within.events).toEqual([{ data: "a" }, { data: "x".repeat(94) }]);
    const over = feed(100, ["data: a\n\n", line, "\ndata: b\n\n"]);
    expect(over.answers).toEqual([true, false, false]);
    expect(over.events).toEqual([{ data: "a" }]);
  });

  it("counts many short data lines and a line never ended alike (an upstream that never sends a blank line)", () => {
    const lines = feed(
      1000,
      Array.from({ length: 200 }, () => "data: x\n"),
    );
    expect(lines.answers.indexOf(false)).toBe(125); // 8 characters a line: the 126th is one too many
    expect(lines.events).toEqual([]);
    const endless = feed(
      1000,
      Array.from({ length: 20 }, () => "y".repeat(100)),
    );
    expect(endless.answers.indexOf(false)).toBe(10);
    expect(endless.events).toEqual([]);
  });

  it("comments and the other fields hold nothing, so they count for nothing once their line has ended", () => {
    const pieces = Array.from({ length: 50 }, () => `: keep-alive\nid: 7\nevent: ping\n`);
    const { answers, events } = feed(100, [...pieces, "data: z\n\n"]);
    expect(answers.every((a) => a)).toBe(true);
    expect(events).toEqual([{ event: "ping", data: "z" }]);
  });
});
