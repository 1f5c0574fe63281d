/**
 * The audit log read back as a stream of entries: the published entry bundles (a directory such as
 * <data_dir>/audit, or a gateway's /audit URL), up to the published checkpoint, a few bundles
 * fetched ahead of the one being parsed. Reports count what it says (src/report), the alert
 * detectors warm up from its tail at start (src/alerts/warmup.ts); proving the log is what was
 * signed is `clearance audit verify`'s job.
 */
import { parseCheckpoint, type Checkpoint } from "./checkpoint.js";
import { leafHash, rootFromLeafHashes, treeRoot, type HashReader } from "./merkle.js";
import { readResource, tileHashReader, VerifyError, widthAt, type LogSource } from "./source.js";
import { decodeBundle, TILE_HEIGHT, TILE_WIDTH, tilePath } from "./tiles.js";
import { ClearanceError } from "../errors/index.js";
import { quoted } from "../policy/text.js";

/** A decision entry as the gateway writes it (entry.ts). */
export interface DecisionEntry {
  readonly action: string;
  readonly decision: "allow" | "deny" | "fallback";
  readonly grant: string | null;
  readonly location: string | null;
  /** A model lookup (GET /v1/models/{id}), not a request served; absent on every other entry. */
  readonly lookup?: true;
  readonly model: string;
  readonly node: string;
  readonly organization: string | null;
  readonly principal: string;
  /**
   * The purpose the request declared (x-clearance-purpose), as decided on; absent when it declared
   * none, or was logged before purposes were recorded.
   */
  readonly purpose?: string;
  readonly reason: string;
  readonly request_id: string;
  readonly scheme: string;
  readonly served_model: string | null;
  readonly time: string;
  readonly type: "decision";
}

export interface ReadOptions {
  /** First entry index read (default 0). */
  readonly from?: bigint;
  /** Entry index to stop before (default: the checkpoint's size). */
  readonly to?: bigint;
  /** After each bundle: entries read so far, and how many will be read. */
  readonly onProgress?: (done: number, total: number) => void;
}

const WIDTH = BigInt(TILE_WIDTH);
/** Bundles read ahead of the one being parsed: hides HTTP and disk latency. */
const AHEAD = 8;

/** The log cannot be read: nothing (a report, a warm-up) is made from part of it. */
export class LogUnreadableError extends ClearanceError {
  constructor(message: string, cause?: unknown) {
    super("unavailable", "log_unreadable", message, { cause });
    this.name = "LogUnreadableError";
  }
}

/** The size of the published tree (the checkpoint's second line; the signature is not checked here). */
export async function publishedSize(source: LogSource): Promise<bigint> {
  return (await publishedCheckpoint(source)).size;
}

/** The published checkpoint's size and root (the signature is not checked here). */
async function publishedCheckpoint(source: LogSource): Promise<Checkpoint> {
  const data = await readResource(source, "checkpoint").catch((err: unknown) => {
    throw new LogUnreadableError(
      `cannot read the audit log at ${source.location}: ${(err as Error).message}`,
    );
  });
  if (data === null) {
    throw new LogUnreadableError(`no audit log at ${source.location}: it has no checkpoint`);
  }
  const text = data.toString("utf8");
  const end = text.indexOf("\n\n");
  try {
    return parseCheckpoint(end < 0 ? text : text.slice(0, end + 1));
  } catch (err) {
    throw new LogUnreadableError(`the audit log at ${source.location}: ${(err as Error).message}`);
  }
}

/**
 * Every entry in [from, to), in order, in batches (one per bundle) of [index, entry bytes]. Admin
 * entries are included: callers pick the types they count.
 */
export async function* readEntries(
  source: LogSource,
  options: ReadOptions = {},
): AsyncGenerator<{ first: bigint; entries: string[] }> {
  const checkpoint = await publishedCheckpoint(source);
  const size = checkpoint.size;
  const from = options.from ?? 0n;
  const to = options.to === undefined || options.to > size ? size : options.to;
  if (from >= to) return;
  const total = Number(to - from);
  const firstBundle = from / WIDTH;
  const lastBundle = (to - 1n) / WIDTH;
  const fetch = (b: bigint) =>
    readTexts(source, b, widthAt("entries", b, size), checkpoint).catch((err: unknown) => {
      throw new LogUnreadableError(
        `cannot read entry bundle ${b} of the audit log at ${source.location}: ${(err as Error).message}`,
        err,
      );
    });
  const queue: Promise<{ entries: string[] }>[] = [];
  let next = firstBundle;
  const fill = () => {
    while (queue.length < AHEAD && next <= lastBundle) queue.push(fetch(next++));
  };
  fill();
  // A rejected read ahead must not go unhandled while an earlier bundle is still being parsed.
  for (const q of queue) q.catch(() => undefined);
  let done = 0;
  for (let b = firstBundle; b <= lastBundle; b++) {
    const p = queue.shift() as Promise<{ entries: string[] }>;
    fill();
    for (const q of queue) q.catch(() => undefined);
    const { entries } = await p;
    const start = b * WIDTH;
    const lo = from > start ? Number(from - start) : 0;
    const hi = to < start + WIDTH ? Number(to - start) : entries.length;
    const slice = lo === 0 && hi === entries.length ? entries : entries.slice(lo, hi);
    done += slice.length;
    yield { first: start + BigInt(lo), entries: slice };
    options.onProgress?.(done, total);
  }
}

/**
 * The first `width` entries of a bundle, as text: decoded straight from the bundle's bytes (no copy
 * per entry), from the bundle the checkpoint names when it is there.
 */
async function readTexts(
  source: LogSource,
  index: bigint,
  width: number,
  checkpoint: Checkpoint,
): Promise<{ entries: string[] }> {
  const path = tilePath({ level: "entries", index, width });
  let data = await readResource(source, path);
  if (data === null && width === TILE_WIDTH) throw new Error(`${path} is missing`);
  data ??= await widerBundle(source, index, width, checkpoint);
  const entries: string[] = [];
  let at = 0;
  while (entries.length < width) {
    if (at + 2 > data.length) throw new Error(`the bundle ends after ${entries.length} of ${width} entries`);
    const length = data.readUInt16BE(at);
    if (at + 2 + length > data.length) throw new Error(`entry ${entries.length} of the bundle is cut short`);
    entries.push(data.toString("utf8", at + 2, at + 2 + length));
    at += 2 + length;
  }
  return { entries };
}

/** Rounds of reading a newer checkpoint before a missing partial bundle is given up on. */
const WIDER_ROUNDS = 5;

/**
 * A partial bundle that is gone: the log has filled it since (the full bundle), or has grown and
 * pruned it (a gateway keeps a checkpoint's partial tiles one round after a newer checkpoint, about
 * two seconds on a busy log) — and the full bundle may not be written yet either. The same entries
 * are the first `width` of the full bundle, or of the partial bundle of the checkpoint published now
 * (read again, as many rounds as it takes the log to move on, up to WIDER_ROUNDS). Taken from a
 * bundle other than the one the checkpoint names, they are used only once they hash, with the
 * tree's other nodes from the published tiles, to the root of the checkpoint this read started from.
 */
async function widerBundle(
  source: LogSource,
  index: bigint,
  width: number,
  checkpoint: Checkpoint,
): Promise<Buffer> {
  const named = tilePath({ level: "entries", index, width });
  let unchecked = null as VerifyError | null; // set in a callback: not narrowed to null
  for (let round = 0; round < WIDER_ROUNDS; round++) {
    const now = await publishedCheckpoint(source);
    if (now.size < checkpoint.size) {
      throw new Error(
        `${named} is missing, and the log's checkpoint went back from ${checkpoint.size} to ${now.size} entries`,
      );
    }
    const widths = [TILE_WIDTH];
    const partial = widthAt("entries", index, now.size);
    if (partial > width && partial < TILE_WIDTH) widths.push(partial);
    for (const w of widths) {
      const path = tilePath({ level: "entries", index, width: w });
      const data = await readResource(source, path);
      if (data === null) continue;
      const entries = bytesOf(data, width);
      const root = await rootWith(source, now.size, index, entries).catch((err: unknown) => {
        // A hash tile of the newer tree pruned meanwhile: the next round reads a newer one still.
        if (!(err instanceof VerifyError) || err.code !== "missing-tile") throw err;
        unchecked = err;
        return null;
      });
      if (root === null) break;
      if (!root.equals(checkpoint.root)) {
        throw new Error(
          `${named} is missing, and the first ${width} entries of ${path} do not hash to the root of ` +
            `the checkpoint of ${checkpoint.size} entries: not the entries that checkpoint signed`,
        );
      }
      return data;
    }
  }
  throw new Error(
    `${named} is missing, and no wider bundle that holds its entries could be read and checked after ` +
      `${WIDER_ROUNDS} checkpoints` +
      (unchecked === null ? "" : ` (the last could not be checked: ${unchecked.message})`),
  );
}

/**
 * The root of the tree of `index * 256 + entries.length` leaves: the nodes over these entries hashed
 * from them, every other node read from the published hash tiles of the tree of `size` leaves (the
 * nodes left of the bundle are the same in every tree that holds them).
 */
function rootWith(
  source: LogSource,
  size: bigint,
  index: bigint,
  entries: readonly Buffer[],
): Promise<Buffer> {
  const leaves = entries.map((e) => leafHash(e));
  const start = index * WIDTH;
  const tiles = tileHashReader(source, size);
  const read: HashReader = (level, at) => {
    const first = at << BigInt(level);
    if (level >= TILE_HEIGHT || first < start) return tiles(level, at);
    const from = Number(first - start);
    return rootFromLeafHashes(leaves.slice(from, from + (1 << level)));
  };
  return treeRoot(read, start + BigInt(entries.length));
}

/** A bundle's first `width` entries, as bytes (the audit log's own decoder: a malformed bundle is refused). */
function bytesOf(data: Buffer, width: number): Buffer[] {
  const entries = decodeBundle(data);
  if (entries.length < width) throw new Error(`the bundle ends after ${entries.length} of ${width} entries`);
  return entries.slice(0, width);
}

/** Parses a decision entry; null for admin entries and anything else. */
export function decisionOf(text: string): DecisionEntry | null {
  const value = JSON.parse(text) as { type?: unknown };
  return value.type === "decision" ? (value as DecisionEntry) : null;
}

/** Entry times as the gateway writes them (toISOString): the form period bounds compare with as text. */
const ENTRY_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Days in each month of a leap year; February 29th is checked against the year apart. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * Whether `t` is an entry's time as the gateway writes it: of its shape, and a time the calendar
 * has (`2026-06-31…` is counted by its text as June, where `Date.parse` reads 1 July). Checked by
 * hand, not by a round trip through `Date`, which costs more on every entry a report reads.
 */
export const isEntryTime = (t: unknown): t is string => {
  if (typeof t !== "string" || !ENTRY_TIME.test(t)) return false;
  const year = Number(t.slice(0, 4));
  const month = Number(t.slice(5, 7));
  const day = Number(t.slice(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > (MONTH_DAYS[month - 1] as number)) return false;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return false;
  return Number(t.slice(11, 13)) < 24 && Number(t.slice(14, 16)) < 60 && Number(t.slice(17, 19)) < 60;
};
const OUTCOMES: ReadonlySet<unknown> = new Set(["allow", "deny", "fallback"]);
const TEXTS = ["principal", "model", "action", "reason", "scheme"] as const;
const TEXTS_OR_NULL = ["location", "organization", "served_model", "grant"] as const;

/** What is wrong with a decision entry, as the gateway writes one; null when nothing is. */
function faultOf(e: Record<string, unknown>): string | null {
  const what = (field: string) =>
    `a decision entry whose ${field} is ${field in e ? quoted(e[field]) : "missing"}`;
  if (!isEntryTime(e.time)) {
    return `${what("time")}, not a UTC time as the gateway writes it (YYYY-MM-DDTHH:MM:SS.sssZ)`;
  }
  if (!OUTCOMES.has(e.decision)) return `${what("decision")}, not allow, deny or fallback`;
  for (const f of TEXTS) if (typeof e[f] !== "string") return `${what(f)}, not a text`;
  for (const f of TEXTS_OR_NULL) {
    if (e[f] !== null && typeof e[f] !== "string") return `${what(f)}, not a text or null`;
  }
  if (e.lookup !== undefined && e.lookup !== true) return `${what("lookup")}, not true`;
  return null;
}

/**
 * Entry `index` of `log` (as errors name it) read back: its decision, or null for any other entry.
 * An entry that is not JSON, or a decision missing or garbling what its readers go by, is refused as
 * damaged (LogUnreadableError naming the entry): counted, a decision without a time would fall
 * inside every period. Reports refuse the log for it; the alerts' warm-up skips the entry.
 */
export function checkedDecision(text: string, index: bigint | number, log: string): DecisionEntry | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw damaged(index, log, `not JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw damaged(index, log, `${quoted(value)}, not an entry (a JSON object)`);
  }
  const e = value as Record<string, unknown>;
  if (e.type !== "decision") return null;
  const fault = faultOf(e);
  if (fault !== null) throw damaged(index, log, fault);
  return e as unknown as DecisionEntry;
}

const damaged = (index: bigint | number, log: string, what: string) =>
  new LogUnreadableError(`entry ${index} of ${log} is damaged: ${what}`);
