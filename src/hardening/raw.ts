/**
 * HTTP/1.1 over a raw socket (node:net): the bytes sent are exactly the bytes generated, framing
 * errors included, and the answers are parsed by hand so that a malformed answer is caught rather
 * than smoothed over by a client library.
 */
import { connect } from "node:net";

export interface RawAnswer {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface RawExchange {
  readonly answers: RawAnswer[];
  /** Bytes that did not parse as an answer (must be empty). */
  readonly garbage: string;
  /** The server closed the connection (as opposed to us giving up waiting). */
  readonly closedByServer: boolean;
  readonly timedOut: boolean;
  readonly ms: number;
}

export interface SendOptions {
  readonly host: string;
  readonly port: number;
  /** Source address (127.0.0.2 is a trusted proxy in the hardening config; 127.0.0.1 is not). */
  readonly from?: string;
  /** Pieces sent with a pause before each (slow headers, slow bodies). */
  readonly pieces: readonly { readonly bytes: Buffer; readonly delayMs?: number }[];
  /** Give up after this long without the server closing or answering everything. */
  readonly timeoutMs?: number;
  /** Stop once this many complete answers arrived and the line has been quiet for `quietMs`. */
  readonly expectAnswers?: number;
  readonly quietMs?: number;
  /** The request is a HEAD: its answer has headers only, whatever its content-length says. */
  readonly head?: boolean;
}

export function rawExchange(o: SendOptions): Promise<RawExchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: o.host, port: o.port, ...(o.from ? { localAddress: o.from } : {}) });
    let received = Buffer.alloc(0);
    let done = false;
    let closedByServer = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(overall);
      clearTimeout(quiet);
      socket.destroy();
      const parsed = parseAnswers(received, o.head);
      resolve({ ...parsed, closedByServer, timedOut, ms: Date.now() - started });
    };
    const overall = setTimeout(() => finish(true), o.timeoutMs ?? 10_000);
    socket.on("data", (c: Buffer) => {
      received = Buffer.concat([received, c]);
      const want = o.expectAnswers ?? 1;
      clearTimeout(quiet);
      const parsed = parseAnswers(received, o.head);
      if (parsed.answers.length >= want && parsed.garbage === "") {
        quiet = setTimeout(() => finish(false), o.quietMs ?? 30);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closedByServer = true;
      finish(false);
    });
    socket.once("connect", async () => {
      for (const piece of o.pieces) {
        if (piece.delayMs) await new Promise((r) => setTimeout(r, piece.delayMs));
        if (done || socket.destroyed) return;
        socket.write(piece.bytes);
      }
    });
  });
}

/** Complete answers at the start of `data`; a trailing partial answer counts as garbage. */
export function parseAnswers(data: Buffer, toHead = false): { answers: RawAnswer[]; garbage: string } {
  const answers: RawAnswer[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const head = data.subarray(at, end).toString("latin1").split("\r\n");
    const statusLine = head[0] ?? "";
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine);
    if (m === null) break;
    const headers: Record<string, string> = {};
    let malformed = false;
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) malformed = true;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (malformed) break;
    let bodyStart = end + 4;
    let body: Buffer;
    if (toHead) {
      body = Buffer.alloc(0);
    } else if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf("\r\n", p);
        if (lineEnd < 0) break;
        const size = Number.parseInt(data.subarray(p, lineEnd).toString("latin1"), 16);
        if (!Number.isFinite(size) || lineEnd + 2 + size + 2 > data.length) break;
        if (size === 0) {
          p = lineEnd + 4;
          complete = true;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
      bodyStart = p;
    } else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (!Number.isInteger(length) || bodyStart + length > data.length) break;
      body = data.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      // Delimited by the connection's end.
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    answers.push({ status: Number(m[1]), statusLine, headers, body });
    at = bodyStart;
  }
  return { answers, garbage: data.subarray(at).toString("latin1").slice(0, 200) };
}
