/**
 * How sightings reach the detectors. On one node: directly, in the order requests end. With
 * several nodes (`shared: redis`): every node appends its sightings to one Redis stream, in
 * batches off the request path, and feeds its detectors from that stream, so every node sees the
 * whole fleet's traffic in the same order and raises the same alerts (the store keeps one per
 * dedupe key). Nothing waits on Redis per request; a Redis outage delays detection, and sightings
 * published meanwhile are dropped (counted in the errors metric) rather than held without bound.
 */
import { Redis } from "ioredis";
import type { Sighting } from "./detectors.js";

export interface SightingFeed {
  publish(s: Sighting): void;
  close(): Promise<void>;
}

export function localFeed(deliver: (s: Sighting) => void): SightingFeed {
  return { publish: deliver, close: async () => {} };
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
}

/** Entries kept in the stream (approximately): a node that falls further behind skips ahead. */
const MAX_LEN = 100_000;
const MAX_PENDING = 50_000;

export async function redisFeed(o: RedisFeedOptions): Promise<SightingFeed> {
  const key = `${o.prefix}alerts:sightings`;
  const options = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
  const writer = new Redis(o.url, options);
  // XREAD BLOCK holds its connection: a second one for reading.
  const reader = new Redis(o.url, options);
  let last: string;
  try {
    await Promise.all([writer.connect(), reader.connect()]);
    // Only what is published from now on: history before this node started is not its to judge. The
    // stream's last id is taken once, and every read goes on from the last id seen: reading from
    // "$" each time would skip whatever was appended between one read's end and the next one's start.
    const newest = (await reader.xrevrange(key, "+", "-", "COUNT", 1)) as [string, string[]][];
    last = newest[0]?.[0] ?? "0-0";
  } catch (err) {
    writer.disconnect();
    reader.disconnect();
    throw err;
  }
  let pending: string[] = [];
  let closed = false;

  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const pipe = writer.pipeline();
    for (const s of batch) pipe.xadd(key, "MAXLEN", "~", String(MAX_LEN), "*", "s", s);
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err !== null);
    if (failed !== undefined) throw failed[0];
  };
  const timer = setInterval(() => flush().catch(o.onError), o.flushMs ?? 50);
  timer.unref();

  const blockMs = o.blockMs ?? 1000;
  const read = async () => {
    while (!closed) {
      try {
        const got = (await reader.xread("COUNT", 1000, "BLOCK", blockMs, "STREAMS", key, last)) as
          [string, [string, string[]][]][] | null;
        let skipped = 0;
        let first = "";
        for (const [, entries] of got ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const s = sightingOf(fields);
            if (s !== null) o.deliver(s);
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
        o.onError(err);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  };
  const reading = read();

  return {
    publish(s) {
      if (pending.length >= MAX_PENDING) throw new Error("the alert sighting stream is not keeping up");
      pending.push(JSON.stringify(s));
    },
    async close() {
      clearInterval(timer);
      await flush().catch(o.onError);
      closed = true;
      reader.disconnect();
      await reading;
      await writer.quit().catch(() => writer.disconnect());
    },
  };
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
