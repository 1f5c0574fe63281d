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
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import type { ObservedRequest } from "../gateway/observer.js";

/** Where lines go: a file or a standard stream (buffered), or a test's sink. */
export interface DestinationStream {
  write(line: string): unknown;
}

export interface AccessLogOptions {
  /** "stdout", "stderr", or a file path (appended to). */
  readonly destination: string;
  /** Instead of the destination (tests): where lines are written. */
  readonly stream?: DestinationStream;
  /** A file destination that cannot be written (the gateway's own log says so). */
  readonly onError?: (err: unknown) => void;
}

export interface AccessLog {
  write(o: ObservedRequest): void;
  /** Writes what is buffered and closes a file destination. */
  close(): Promise<void>;
}

const ms = (from: number | null, to: number | null): number | null =>
  from === null || to === null ? null : Math.round((to - from) * 1000) / 1000;

/**
 * Lines gathered in memory and written in chunks (64 KiB, or every 200 ms): a write per request
 * would cost a system call each (pino's asynchronous destination measured several times dearer per
 * line than this under load).
 */
class BufferedDestination implements DestinationStream {
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly out: Writable | null;

  constructor(destination: string, onError: (err: unknown) => void) {
    this.out =
      destination === "stdout"
        ? process.stdout
        : destination === "stderr"
          ? process.stderr
          : createWriteStream(destination, { flags: "a", mode: 0o640 }).on("error", onError);
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
    const text = this.lines.join("");
    this.lines = [];
    this.bytes = 0;
    this.out?.write(text);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    const out = this.out;
    if (out !== null && out !== process.stdout && out !== process.stderr) {
      await new Promise<void>((resolve) => out.end(() => resolve()));
    }
  }
}

export function openAccessLog(options: AccessLogOptions): AccessLog {
  const buffered =
    options.stream === undefined
      ? new BufferedDestination(options.destination, options.onError ?? (() => {}))
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
    close: async () => {
      await buffered?.close();
    },
  };
}
