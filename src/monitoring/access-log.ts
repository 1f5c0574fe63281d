/**
 * The access log: one JSON line per request, with the request id, the decision, its reason and the
 * timings. What a line may hold is chosen here field by field — never the request's headers or
 * body — so API keys, admin tokens, bearer tokens and prompts cannot reach it: the key is named by
 * its public id only, the path is logged without its query string.
 *
 * The line has pino's shape (`level` 30, `time` in epoch milliseconds, the fields, `msg`), so the
 * usual pino tooling reads it, but it is one `JSON.stringify` of a flat object of fixed shape: pino's
 * general serializer measured 6.8 µs a line inside the gateway, most of monitoring's cost per
 * request (bench:monitoring).
 */
import { finished, type Writable } from "node:stream";
import type { ObservedRequest } from "../gateway/observer.js";
import { openLogFile } from "./access-log-file.js";

/** Where lines go: a file or a standard stream (buffered), or a test's sink. */
export interface DestinationStream {
  write(line: string): unknown;
}

export interface AccessLogOptions {
  /** "stdout", "stderr", or a file path (appended to). */
  readonly destination: string;
  /** Instead of the destination (tests): where lines are written. */
  readonly stream?: DestinationStream;
  /**
   * A file destination that cannot be written (the gateway's own log says so): once when it fails,
   * and again only after it has been written to since.
   */
  readonly onError?: (err: unknown) => void;
  /** Lines that could not be written, and are lost (clearance_access_log_dropped_lines_total). */
  readonly onDropped?: (lines: number) => void;
}

export interface AccessLog {
  write(o: ObservedRequest): void;
  /**
   * A file destination opened again by name (SIGHUP, after a log rotator renamed the file): what is
   * buffered goes to the file it was accepted for (the renamed one), later lines to the new one.
   * Resolves true once the new file is open and the old one has taken its last lines; rejects with
   * the reason when the new file cannot be opened (its lines are then dropped and counted, and the
   * file opened again at the next chunk, as after any failure). false when nothing was reopened:
   * stdout, stderr, a stream, or a log whose close() has begun.
   */
  reopen(): Promise<boolean>;
  /** Writes what is buffered and closes a file destination. */
  close(): Promise<void>;
}

const ms = (from: number | null, to: number | null): number | null =>
  from === null || to === null ? null : Math.round((to - from) * 1000) / 1000;

/**
 * Bytes handed to the destination and not yet written, past which a chunk is dropped (counted)
 * rather than held: a file that has stopped taking writes (a hung network mount) must not grow the
 * gateway's memory without bound.
 */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** How long close() waits for the file to take its last lines (see close). */
export const CLOSE_WAIT_MS = 5_000;

/**
 * Lines gathered in memory and written in chunks (64 KiB, or every 200 ms): a write per request
 * would cost a system call each (pino's asynchronous destination measured several times dearer per
 * line than this under load). Every chunk's fate is known (its write's callback): lines that could
 * not be written are counted as dropped. A file that failed is opened again at the next chunk, so
 * that the log goes on once the file can be written again (a full disk freed, a directory made).
 */
class BufferedDestination implements DestinationStream {
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  private out: Writable | null = null;
  /** Whether the failure in progress has been reported (once until a chunk is written again). */
  private told = false;
  private closed = false;
  /** close() has begun: a reopen then would open a file nobody closes. */
  private closing = false;
  /** Files left by reopen() still taking their last chunks: close() waits for them too. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    private readonly destination: string,
    private readonly onError: (err: unknown) => void,
    private readonly onDropped: (lines: number) => void,
  ) {
    if (destination === "stdout") this.out = process.stdout;
    else if (destination === "stderr") this.out = process.stderr;
    // Opened now, so that a destination that cannot be opened is said at start, not at the first line.
    else this.open();
    this.timer = setInterval(() => this.flush(), 200);
    this.timer.unref();
  }

  write(line: string): boolean {
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= 65_536) this.flush();
    return true;
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const count = this.lines.length;
    const text = this.lines.join("");
    this.lines = [];
    this.bytes = 0;
    const out = this.out ?? this.open();
    if (out.writableLength + text.length > MAX_PENDING_BYTES) return this.onDropped(count);
    out.write(text, (err) => {
      if (err === null || err === undefined) {
        this.told = false;
        return;
      }
      this.onDropped(count);
      this.failed(out, err);
    });
  }

  async reopen(): Promise<boolean> {
    if (this.closing || this.destination === "stdout" || this.destination === "stderr") return false;
    // The lines gathered so far were accepted while the old file was the log: they are handed to
    // it (a renamed file's descriptor still writes to it), then it is ended, not destroyed, so
    // that every chunk under way lands.
    this.flush();
    const old = this.out;
    const out = this.open();
    // The open is asynchronous: its failure (a directory gone) comes after open() returned, and
    // would otherwise be said only in the gateway's log while SIGHUP reported the file reopened.
    const opened = new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", reject);
    });
    const retired = old === null ? Promise.resolve() : this.retire(old);
    try {
      await opened;
    } finally {
      await retired;
    }
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    this.flush();
    const out = this.out;
    if (out !== null && out !== process.stdout && out !== process.stderr) await this.retire(out);
    await Promise.all(this.retiring);
    // Only now: a failure of the last chunk is still said.
    this.closed = true;
  }

  /**
   * Ends a file's stream once its chunks are written. Bounded: a file that takes nothing (a FIFO no
   * one reads, a hung mount) must not hold the gateway's shutdown, and what comes after it (usage,
   * the audit log), for ever. Its lines still waiting are dropped, counted and said (their chunks'
   * callbacks, on destroy).
   */
  private retire(out: Writable): Promise<void> {
    const done = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        new Promise<boolean>((resolve) => {
          // finished, not end's callback: a stream that fails while ending settles too.
          finished(out, () => resolve(true));
          out.end();
        }),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS))),
      ]);
      clearTimeout(timer);
      if (!ended) {
        out.destroy(new Error(`it took nothing for ${CLOSE_WAIT_MS} ms after it was closed`));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
    return done;
  }

  /**
   * The file, (re)opened for appending without waiting for a reader (openLogFile: a FIFO nothing
   * reads fails at once): its own failures arrive through the chunks' callbacks.
   */
  private open(): Writable {
    const out = openLogFile(this.destination, 0o640);
    // A file that cannot be opened, or fails with no chunk under way, is said here (once, as the
    // chunks' callbacks say theirs: the lines themselves are counted there).
    out.on("error", (err) => this.failed(out, err));
    this.out = out;
    return out;
  }

  private failed(out: Writable, err: Error): void {
    // A stream that failed is done for: the next chunk opens the file again.
    if (this.out === out && out !== process.stdout && out !== process.stderr) {
      this.out = null;
      out.destroy();
    }
    if (this.told || this.closed) return;
    this.told = true;
    this.onError(
      new Error(
        `the access log (${this.destination}) cannot be written: ${err.message}; its lines are dropped, counted in clearance_access_log_dropped_lines_total, until a write succeeds (the file is opened again for each)`,
        { cause: err },
      ),
    );
  }
}

export function openAccessLog(options: AccessLogOptions): AccessLog {
  const buffered =
    options.stream === undefined
      ? new BufferedDestination(
          options.destination,
          options.onError ?? (() => {}),
          options.onDropped ?? (() => {}),
        )
      : null;
  const dest: DestinationStream = options.stream ?? (buffered as BufferedDestination);
  return {
    write(o) {
      const d = o.decision;
      const line = JSON.stringify({
        level: 30,
        // Epoch milliseconds, as pino writes them: an ISO timestamp costs a microsecond a line.
        time: Date.now(),
        request_id: o.requestId,
        method: o.method,
        path: o.path,
        status: o.status,
        decision: d?.decision ?? "none",
        reason: o.reason,
        model: d?.model ?? null,
        served_model: d?.served_model ?? null,
        principal: o.principal?.id ?? null,
        key: o.credential,
        location: o.location,
        // The client the locator believes (behind trusted proxies, not the proxy), and the peer.
        client: o.client,
        peer: o.peer ?? null,
        audit_index: o.auditIndex === null ? null : Number(o.auditIndex),
        // Flat: nested objects cost the serializer a pass each.
        ms_total: ms(o.start, o.end),
        ms_overhead: ms(o.start, o.forwarded ?? o.end),
        ms_audit_append: ms(o.decided, o.recorded),
        ms_upstream: ms(o.forwarded, o.answered),
        ms_first_chunk: ms(o.forwarded, o.firstChunk),
        input_tokens: o.inputTokens,
        output_tokens: o.outputTokens,
        msg: "request",
      });
      dest.write(`${line}\n`);
    },
    reopen: async () => (buffered === null ? false : buffered.reopen()),
    close: async () => {
      await buffered?.close();
    },
  };
}
