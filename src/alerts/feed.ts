/**
 * How sightings reach the detectors. On one node: directly, in the order requests end. With
 * several nodes (`shared: redis`): every node appends its sightings to one Redis stream, in
 * batches off the request path, and feeds its detectors from that stream, so every node sees the
 * whole fleet's traffic in the same order and raises the same alerts (the store keeps one per
 * dedupe key). Nothing waits on Redis per request; a Redis outage delays detection.
 *
 * What a node holds for Redis is bounded, also when Redis stops answering without closing the
 * connection (a partition, a paused server): one batch at a time is sent, the next only once the
 * last is answered or has failed, and a command unanswered for `timeoutMs` (a read: `blockMs` more)
 * fails and drops its connection, which reconnects with backoff. Until it has, sightings wait, at
 * most MAX_PENDING of them (the batch being sent counts); past that `publish` drops them, counted,
 * and reports how many once per DROP_REPORT_MS. A batch that failed is not sent again: it may have
 * been appended all the same (a paused Redis runs it when it resumes), and a sighting is never
 * appended twice.
 *
 * A sighting is dated by the clock of the node that decided its request. One dated more than
 * MAX_AHEAD_MS ahead of this node's clock (that node's clock is wrong) is dated when Redis received
 * it instead (its entry id's milliseconds; now, if Redis' clock is ahead of this node's), counted
 * and reported, by the rule the audit log's replay follows too (clock.ts). Dated now, a sighting in
 * the backlog read at start was taken as of the restart, however long before it was appended: an
 * embargoed attempt an hour old counted within the last minute's window, and expired an hour late.
 */
import { Redis } from "ioredis";
import { AheadTimes } from "./clock.js";
import type { Sighting } from "./detectors.js";

export interface SightingFeed {
  publish(s: Sighting): void;
  close(): Promise<void>;
  /**
   * What the fleet published before this feed started, from about `since` (ms), in stream order,
   * a page at a time; nothing for a node's own feed (it keeps no history). The feed delivers only
   * what comes after: the two never overlap.
   */
  backlog(since: number): AsyncIterable<Sighting[]>;
}

export function localFeed(deliver: (s: Sighting) => void): SightingFeed {
  return { publish: deliver, close: async () => {}, backlog: async function* () {} };
}

export interface RedisFeedOptions {
  readonly url: string;
  readonly prefix: string;
  readonly deliver: (s: Sighting) => void;
  readonly onError: (err: unknown) => void;
  /** Publish batches this often (ms). */
  readonly flushMs?: number;
  /** How long one read waits for new entries (ms); tests shorten it. */
  readonly blockMs?: number;
  /** How long a command may go unanswered before its connection is taken for dead (ms); tests shorten it. */
  readonly timeoutMs?: number;
}

/** What the feed holds and has done, since it started. */
export interface FeedCounts {
  /** Published, not sent yet. */
  readonly waiting: number;
  /** In the batch sent and not answered yet (0 or the batch's size, at most 1,000). */
  readonly sending: number;
  /** Appended to the stream, as Redis answered. */
  readonly appended: number;
  /** Refused by `publish` (MAX_PENDING were held already), or left unsent at `close`. */
  readonly dropped: number;
  /** In batches that failed or went unanswered (not sent again). */
  readonly failed: number;
  /** Batches sent. */
  readonly batches: number;
  /**
   * Read dated more than MAX_AHEAD_MS (clock.ts) ahead of this node's clock, and dated when Redis
   * received them instead.
   */
  readonly redated: number;
}

export interface RedisSightingFeed extends SightingFeed {
  counts(): FeedCounts;
}

/** Entries kept in the stream (approximately): a node that falls further behind skips ahead. */
const MAX_LEN = 100_000;
/** Sightings held for Redis at most: waiting, and in the batch being sent. */
export const MAX_PENDING = 50_000;
/** Sightings in one batch at most. */
const MAX_BATCH = 1_000;
/** Drops past the cap are reported at most this often (one report says how many). */
const DROP_REPORT_MS = 10_000;
const TIMED_OUT = "Command timed out"; // ioredis's message for `commandTimeout`
/** Backlog entries read at a time. */
const BACKLOG_PAGE = 1_000;
/** How much earlier than asked the backlog is read (ms): see backlog. */
const BACKLOG_SLACK_MS = 5 * 60_000;

/**
 * A connection to Redis that a command left unanswered takes out of use: its socket is dropped
 * (another could be a healthy one, and a dead one answers nothing) and ioredis reconnects, with its
 * backoff (50 ms more each attempt, at most 2 s); the handshake of a connection that is no better
 * times out too. Every command is bounded: none waits until TCP gives up (about 15 minutes).
 */
class Link {
  readonly client: Redis;
  private dropped = false;

  constructor(url: string, timeoutMs: number) {
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: timeoutMs,
      // A command in flight when its connection closes fails then, and is never sent again: a
      // batch of sightings resent after a reconnect would be appended twice if the first got through.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    // Failures reach the feed through its commands; without a listener ioredis prints each one.
    this.client.on("error", () => undefined);
    this.client.on("ready", () => void (this.dropped = false));
  }

  get usable(): boolean {
    return this.client.status === "ready" && !this.dropped;
  }

  /** After a failure: a command left unanswered takes the connection out of use. */
  failed(err: unknown): void {
    if (!(err instanceof Error) || err.message !== TIMED_OUT || this.dropped) return;
    this.dropped = true;
    this.client.disconnect(true);
  }

  /** Resolves once the connection is ready again, `stop` is aborted, or after `ms`. */
  ready(ms: number, stop: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off("ready", done);
        stop.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.client.once("ready", done);
      stop.addEventListener("abort", done, { once: true });
    });
  }
}

export async function redisFeed(o: RedisFeedOptions): Promise<RedisSightingFeed> {
  const key = `${o.prefix}alerts:sightings`;
  const blockMs = o.blockMs ?? 1000;
  const timeoutMs = o.timeoutMs ?? 3_000;
  const writer = new Link(o.url, timeoutMs);
  // XREAD BLOCK holds its connection: a second one for reading, whose commands may take the BLOCK
  // time longer.
  const reader = new Link(o.url, blockMs + timeoutMs);
  let last: string;
  try {
    await Promise.all([writer.client.connect(), reader.client.connect()]);
    // Only what is published from now on: history before this node started is not its to judge. The
    // stream's last id is taken once, and every read goes on from the last id seen: reading from
    // "$" each time would skip whatever was appended between one read's end and the next one's start.
    const newest = (await reader.client.xrevrange(key, "+", "-", "COUNT", 1)) as [string, string[]][];
    last = newest[0]?.[0] ?? "0-0";
  } catch (err) {
    writer.client.disconnect();
    reader.client.disconnect();
    throw err;
  }
  /** The last entry before this start: the backlog ends with it, live reads begin after it. */
  const started = last;
  let pending: string[] = [];
  let sending = 0;
  let appended = 0;
  let dropped = 0;
  let failed = 0;
  let batches = 0;
  let droppedReported = 0;
  let droppedReportedAt = -Infinity;
  const ahead = new AheadTimes();
  let redatedReportedAt = -Infinity;
  let closed = false;
  const stop = new AbortController();

  /**
   * Sends what waits, a batch at a time, the next once the last is answered; stops at a failure and
   * while the writer's connection is not usable. Batches are small, so an answer takes far less than
   * the timeout even after an outage.
   */
  const flush = async () => {
    while (sending === 0 && pending.length > 0 && writer.usable) {
      const batch = pending.length <= MAX_BATCH ? pending : pending.slice(0, MAX_BATCH);
      pending = batch === pending ? [] : pending.slice(MAX_BATCH);
      sending = batch.length;
      batches++;
      try {
        const pipe = writer.client.pipeline();
        for (const s of batch) pipe.xadd(key, "MAXLEN", "~", String(MAX_LEN), "*", "s", s);
        const results = (await pipe.exec()) ?? [];
        const errors = results.filter(([err]) => err !== null).map(([err]) => err);
        appended += batch.length - errors.length;
        failed += errors.length;
        if (errors.length > 0) throw batchError(errors.length, batch.length, errors[0]);
      } catch (err) {
        if (!(err instanceof BatchError)) failed += batch.length;
        const error = err instanceof BatchError ? err : batchError(batch.length, batch.length, err);
        writer.failed(error.cause);
        throw error;
      } finally {
        sending = 0;
      }
    }
  };
  let flushing: Promise<void> | null = null;
  const reportDrops = (now: number) => {
    const n = dropped - droppedReported;
    if (n === 0 || now - droppedReportedAt < DROP_REPORT_MS) return;
    droppedReported = dropped;
    droppedReportedAt = now;
    o.onError(
      new Error(
        `alert sighting stream: dropped ${n} ${n === 1 ? "sighting" : "sightings"}, ${MAX_PENDING} waiting for Redis already (${dropped} since start)`,
      ),
    );
  };
  /**
   * Sightings read from a node whose clock is ahead (see clock.ts), dated when Redis received them
   * (`id`: their entry's, "<ms>-<n>") and counted.
   */
  const bounded = (s: Sighting, id: string, now: number): Sighting => {
    const t = ahead.bound(s.t, now, () => `request ${s.requestId}`, appendedAt(id, now));
    return t === s.t ? s : { ...s, t };
  };
  const reportRedated = (now: number) => {
    if (now - redatedReportedAt < DROP_REPORT_MS) return;
    const err = ahead.report("alert sighting stream", ["sighting", "sightings"], "when Redis received them");
    if (err === null) return;
    redatedReportedAt = now;
    o.onError(err);
  };
  const timer = setInterval(() => {
    reportDrops(Date.now());
    reportRedated(Date.now());
    flushing ??= flush()
      .catch(o.onError)
      .finally(() => (flushing = null));
  }, o.flushMs ?? 50);
  timer.unref();

  const read = async () => {
    while (!closed) {
      if (!reader.usable) {
        // Reconnecting (ioredis backs off): nothing to read, nothing new to report.
        await reader.ready(blockMs + timeoutMs, stop.signal);
        continue;
      }
      try {
        const got = (await reader.client.xread("COUNT", 1000, "BLOCK", blockMs, "STREAMS", key, last)) as
          [string, [string, string[]][]][] | null;
        let skipped = 0;
        let first = "";
        const now = Date.now();
        for (const [, entries] of got ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const s = sightingOf(fields);
            if (s !== null) o.deliver(bounded(s, id, now));
            else if (skipped++ === 0) first = id;
          }
        }
        // Once per read: a node of another version writing every request's sighting is one report.
        if (skipped > 0) {
          o.onError(
            new Error(
              `alert sighting stream: skipped ${skipped} ${skipped === 1 ? "entry" : "entries"} holding no sighting (another version's?), the first ${first}`,
            ),
          );
        }
      } catch (err) {
        if (closed) return;
        reader.failed(err);
        o.onError(
          new Error(`alert sighting stream: reading failed: ${(err as Error).message}`, { cause: err }),
        );
        // Reconnecting is waited for above; an error Redis answered is not retried at once.
        if (reader.usable) await reader.ready(1_000, stop.signal);
      }
    }
  };
  const reading = read();

  return {
    publish(s) {
      // Never throws, never waits: the request this sighting is of has been answered already.
      if (pending.length + sending >= MAX_PENDING) dropped++;
      else pending.push(JSON.stringify(s));
    },
    counts: () => ({
      waiting: pending.length,
      sending,
      appended,
      dropped,
      failed,
      batches,
      redated: ahead.count,
    }),
    async *backlog(since) {
      if (started === "0-0") return;
      // Entry ids are Redis' clock at append: a few minutes' slack for a node's clock behind it, and
      // for a long request appended after its start (older sightings cost nothing: they are expired).
      let from = String(Math.max(0, Math.floor(since) - BACKLOG_SLACK_MS));
      for (;;) {
        const page = (await writer.client.xrange(key, from, started, "COUNT", BACKLOG_PAGE)) as [
          string,
          string[],
        ][];
        const sightings: Sighting[] = [];
        const now = Date.now();
        for (const [id, fields] of page) {
          const s = sightingOf(fields);
          if (s !== null) sightings.push(bounded(s, id, now));
        }
        if (sightings.length > 0) yield sightings;
        const end = page.at(-1)?.[0];
        if (page.length < BACKLOG_PAGE || end === undefined || end === started) return;
        from = `(${end}`;
      }
    },
    async close() {
      clearInterval(timer);
      // The batch in flight is answered or fails (bounded by timeoutMs); then the rest, if it can be sent.
      await flushing;
      await flush().catch(o.onError);
      reportDrops(Infinity);
      reportRedated(Infinity);
      const unsent = pending.length;
      if (unsent > 0) {
        dropped += unsent;
        droppedReported += unsent;
        pending = [];
        o.onError(
          new Error(
            `alert sighting stream: ${unsent} ${unsent === 1 ? "sighting" : "sightings"} not sent at close, the connection to Redis not usable`,
          ),
        );
      }
      closed = true;
      stop.abort();
      reader.client.disconnect();
      await reading;
      await writer.client.quit().catch(() => writer.client.disconnect());
    },
  };
}

/** When Redis appended a stream entry: its id's milliseconds ("<ms>-<n>"); `otherwise` if not a number. */
function appendedAt(id: string, otherwise: number): number {
  const ms = Number(/^(\d+)-\d+$/.exec(id)?.[1]);
  return Number.isSafeInteger(ms) ? ms : otherwise;
}

class BatchError extends Error {}

function batchError(failed: number, of: number, cause: unknown): BatchError {
  const what = failed === of ? `a batch of ${of}` : `${failed} of a batch of ${of}`;
  return new BatchError(
    `alert sighting stream: ${what} ${of === 1 ? "sighting" : "sightings"} not appended: ${(cause as Error).message}`,
    { cause },
  );
}

const NULLABLE = ["audit", "organization", "partner", "country", "network"] as const;
const STRINGS = ["requestId", "principal", "credential", "model", "reason"] as const;
const DECISIONS: ReadonlySet<unknown> = new Set(["allow", "deny", "fallback"]);

/**
 * The sighting in a stream entry's `s` field, or null when it holds none: every node's detectors
 * read what any writer of the stream put there (a node of another version, during an upgrade). A
 * time that is not a number, in the first sighting a node read, switched its spike detectors off
 * (their first whole window became NaN); a null threw in every detector.
 */
function sightingOf(fields: readonly string[]): Sighting | null {
  let text: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "s") text = fields[i + 1];
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.t !== "number" || !Number.isFinite(o.t) || !DECISIONS.has(o.decision)) return null;
  for (const k of STRINGS) if (typeof o[k] !== "string") return null;
  for (const k of NULLABLE) if (o[k] !== null && typeof o[k] !== "string") return null;
  return o as unknown as Sighting;
}
