/**
 * An upstream response body fed by undici's dispatch callbacks: the few things of a Readable the
 * gateway uses (see UpstreamBody), without a stream, a promise and an async resource per request.
 *
 * Nothing flows before the first "data" listener: chunks that arrive earlier (the upstream often
 * answers while the audit entry is still being made durable) are held — up to EARLY bytes, then the
 * socket is paused — and the held chunks, then the end or the error, are handed over on the next
 * microtask — by when the reader has attached all its listeners, as it does in one go.
 *
 * Destroyed before its reader came (the client left while the entry was being made durable), it
 * aborts the upstream but keeps what had arrived for the reader, who reads the upstream's usage from
 * it: the held chunks, then the end (or error) if the upstream had finished, then "close".
 */
import { EventEmitter } from "node:events";
import type { UpstreamBody } from "./types.js";

const noop = (): void => {};

/**
 * Bytes taken in before the reader comes: a short answer whole, the usage it ends with included (a
 * client that leaves before the entry is durable is charged it), without a pause and a resume.
 */
const EARLY = 64 * 1024;

/**
 * What a body that must not pause its upstream may hold for a reader slower than the upstream: past
 * it the answer fails (502 before the head, a cut stream after) rather than grow without bound.
 */
export const NO_PAUSE_HOLD = 16 * 1024 * 1024;

export class DispatchedBody extends EventEmitter implements UpstreamBody {
  /** Nothing more is emitted but "close" (not yet so for a body destroyed before its reader came). */
  destroyed = false;
  /** Set by the dispatch: resumes reading the socket after onData returned false; aborts the request. */
  resumeUpstream: () => void = noop;
  abortUpstream: (err?: Error) => void = noop;
  /**
   * Never ask the upstream to pause: set for an answer its upstream ends by closing the connection
   * (`Connection: close`, or a body delimited by the close). undici 7 asserts, from the socket's end
   * handler — an uncaught exception that ends the process — when such a connection closes while its
   * parser is paused (nodejs/undici#5360, fixed only in undici 8, which needs Node 22). Its chunks
   * are held instead, up to NO_PAUSE_HOLD.
   */
  noPause = false;

  private flowing = false;
  /** destroy() was called: the upstream is aborted, and nothing more is taken from it. */
  private aborted = false;
  private paused = false;
  /** The upstream was told to pause (onData returned false). */
  private stalled = false;
  private held: Buffer[] = [];
  /** Bytes held before the first reader. */
  private early = 0;
  /** Bytes held for a body that never pauses its upstream (noPause). */
  private heldBytes = 0;
  /** An end (null) or error that came while chunks were held. */
  private ending: { readonly error: Error | null } | undefined;

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    super.on(event, listener as (...args: unknown[]) => void);
    if (event === "data" && !this.flowing) {
      this.flowing = true;
      queueMicrotask(() => this.drain());
    }
    return this;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    this.drain();
    return this;
  }

  /**
   * Stops the body: the upstream request is aborted; "error" (if given), then "close", follow. Before
   * the first reader, they follow what had arrived, once the reader comes (see above).
   */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    if (!this.aborted) {
      this.aborted = true;
      this.abortUpstream(err);
    }
    if (!this.flowing) {
      if (err !== undefined) this.ending ??= { error: err };
      return this;
    }
    this.destroyed = true;
    this.held = [];
    this.ending = undefined;
    process.nextTick(() => {
      if (err !== undefined) this.emit("error", err);
      this.emit("close");
    });
    return this;
  }

  // --- fed by the dispatch handler -----------------------------------------------------------

  /** A chunk from the upstream; false asks it to pause. */
  push(chunk: Buffer): boolean {
    if (this.destroyed || this.aborted) return false;
    if (!this.flowing) {
      this.held.push(chunk);
      this.early += chunk.length;
      if (this.early < EARLY) return true;
      return this.stall(chunk.length);
    }
    if (this.paused || this.held.length > 0) {
      this.held.push(chunk);
      return this.stall(chunk.length);
    }
    this.emit("data", chunk);
    return this.paused ? this.stall(0) : true;
  }

  /** The reader cannot take more now: the upstream is asked to pause, or (noPause) the chunk held. */
  private stall(bytes: number): boolean {
    if (!this.noPause) {
      this.stalled = true;
      return false;
    }
    this.heldBytes += bytes;
    if (this.heldBytes > NO_PAUSE_HOLD) {
      this.destroy(new Error(`the upstream's answer outran its reader by over ${NO_PAUSE_HOLD} bytes`));
      return false;
    }
    return true;
  }

  /** The upstream's body ended (error null) or failed. */
  finish(error: Error | null): void {
    if (this.destroyed || this.aborted) return;
    if (!this.flowing || this.paused || this.held.length > 0) {
      this.ending = { error };
      return;
    }
    this.settle(error);
  }

  private drain(): void {
    while (this.held.length > 0 && !this.paused && !this.destroyed) {
      const chunk = this.held.shift() as Buffer;
      if (this.heldBytes > 0) this.heldBytes = Math.max(0, this.heldBytes - chunk.length);
      this.emit("data", chunk);
    }
    if (this.paused || this.destroyed || this.held.length > 0) return;
    if (this.ending !== undefined) {
      const { error } = this.ending;
      this.ending = undefined;
      this.settle(error);
    } else if (this.aborted) {
      // Destroyed before this reader came, the upstream unfinished: what it had sent, then close.
      this.destroyed = true;
      this.emit("close");
    } else if (this.stalled) {
      this.stalled = false;
      this.resumeUpstream();
    }
  }

  private settle(error: Error | null): void {
    this.destroyed = true;
    if (error === null) this.emit("end");
    else this.emit("error", error);
    this.emit("close");
  }
}
