/**
 * The usage journal: what the Meter counts, appended to a file in the data directory every
 * JOURNAL_MS, so that a crash (kill -9, out of memory) loses none of the usage counted since the last
 * flush to the store, rather than up to `metering.flush_ms` of it.
 *
 * A segment is one file, `<data_dir>/usage-journal/<node>/<uuid>.jsonl`, one JSON array of usage
 * rows (the Meter's, summed per day and key) a line. Appends go to the kernel (write(2)) and are not
 * fsynced: a process crash keeps them, a power cut may lose the last moments. A flush closes the
 * segment it covers (every line of it is in the batch) and the store records the segment as written
 * in the batch's own transaction; the file is then renamed `<uuid>.written` (never replayed), and
 * removed once the next batch has dropped the record, which is needed only while a `.jsonl` is
 * there: a crash in between leaves the `.written` file, and the next start drops its record then. At
 * a start, `replayJournal` writes the segments the store has not recorded (each exactly once),
 * skipping a last line cut short.
 *
 * Keyed by node (`audit.node`): a data directory renamed to another node, or restored beside one,
 * never replays the other's segments (one gateway a data directory is enforced by its lock). Segment
 * names are random: the store's records of them never collide across nodes.
 */
import { randomUUID } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { InvalidInputError } from "../errors/index.js";
import { cannotSyncDirectory } from "../files/dir-sync.js";
import { quoted } from "../policy/text.js";
import { FAILING_REPORT_MS, FailureRun, failedSince } from "../monitoring/failure-run.js";
import type { Store, UsageDelta } from "../store/index.js";
import { checkUsageDeltas } from "../store/input.js";
import { addTokens } from "./tokens.js";

/** How often what was counted is appended (ms): what a crash can lose at most, and no more. */
export const JOURNAL_MS = 100;

/** The journal's directory in the data directory (one directory a node under it). */
export const JOURNAL_DIR = "usage-journal";

const SEGMENT = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$/;

/**
 * `<dataDir>/usage-journal/<node>`, the node's name made a file name (each character but letters,
 * digits, `-` and `_` as `%XXXX` of its UTF-16 unit: no separator, never `.` or `..`); no name: `default`.
 */
export function journalDir(dataDir: string, node: string): string {
  // Four hex digits each, so that two names never make one directory ("gw 1" and "gw\u0201").
  const name = node.replace(
    /[^A-Za-z0-9_-]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`,
  );
  return join(dataDir, JOURNAL_DIR, node === "" ? "default" : `node-${name}`);
}

/** The other nodes' journal directories next to `dir` that hold segments (said at a start: not replayed here). */
export function otherJournals(dir: string): string[] {
  const parent = dirname(dir);
  return readdirSync(parent)
    .map((name) => join(parent, name))
    .filter((d) => d !== dir && segmentsIn(d).length > 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The journal directory's own id (a random UUID in `<dir>.id`, beside its lock, made at its first
 * start), which names its markers: unlike `audit.node`, which nodes of a shared store may all leave
 * out (each then on `usage-journal/default` of its own data directory), it is one directory's, and
 * the journal's lock makes that one process's. Null when it can be neither read nor made, or the
 * file holds something else (left as it is: markers are then bare UUIDs, never dropped at a start).
 * Not fsynced: a power cut losing a new id only leaves its markers, if any, to stay in the store.
 *
 * The file also holds what the directory is where the id was made: its device and inode numbers and
 * the host name. A data directory copied (a volume snapshot, a machine image, `cp -a`) carries the
 * file but is another directory (another inode, or the same numbers on another host); with the id
 * copied too, two running nodes of one PostgreSQL store would share it, and a start of one would drop
 * the other's live markers (pruneJournal), which that node's Meter then finds missing and writes its
 * kept batch again: usage counted twice. So an id is used only in the directory it was made for;
 * elsewhere, and for a file an earlier release made (the id alone), a new one is made and said once
 * (`notice`). The markers of the old id a crash left are then kept in the store (a few small rows):
 * no start can tell them from another node's. A directory whose numbers change without a copy (some
 * network file systems, a volume moved to another host) only takes a new id the same way.
 */
function journalId(dir: string, notice: (line: string) => void): string | null {
  const file = `${dir}.id`;
  let here: Place;
  try {
    const stat = statSync(dir, { bigint: true });
    here = { device: String(stat.dev), inode: String(stat.ino), host: hostname() };
  } catch {
    return null;
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return null;
    return makeJournalId(file, here, true);
  }
  const found = readJournalId(text);
  if (found === null) return null;
  if (found.place !== undefined && samePlace(found.place, here)) return found.id;
  const made = makeJournalId(file, here, false);
  if (made !== null) {
    const why =
      found.place === undefined
        ? "an earlier release made it, naming no directory"
        : found.place.host !== here.host
          ? `it was made on the host ${found.place.host}, this is ${here.host}`
          : "it was made for another directory (another device or inode)";
    notice(
      `usage journal ${dir}: a new id for its markers (${why}: a copied or restored data directory); ` +
        "markers a crash left under the old id stay in the store, as another node's would",
    );
  }
  return made;
}

/** What a journal directory is: its device and inode numbers (decimal) and the host name. */
interface Place {
  readonly device: string;
  readonly inode: string;
  readonly host: string;
}

const samePlace = (a: Place, b: Place): boolean =>
  a.device === b.device && a.inode === b.inode && a.host === b.host;

/** An id file's content: the id and the directory it was made for (none in an earlier release's); null when it is neither. */
function readJournalId(text: string): { readonly id: string; readonly place?: Place } | null {
  const trimmed = text.trim();
  if (UUID.test(trimmed)) return { id: trimmed };
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { id, device, inode, host } = parsed as Record<string, unknown>;
  if (typeof id !== "string" || !UUID.test(id)) return null;
  if (typeof device !== "string" || typeof inode !== "string" || typeof host !== "string") return null;
  return { id, place: { device, inode, host } };
}

/**
 * Writes a new id for `place` to `file`: made only if there is none (`fresh`), or written over, by a
 * rename (a stop in between leaves the old file or the new one, never a file cut short). The id, or
 * null when it cannot be written.
 */
function makeJournalId(file: string, place: Place, fresh: boolean): string | null {
  const id = randomUUID();
  const text = `${JSON.stringify({ id, ...place })}\n`;
  try {
    if (fresh) writeFileSync(file, text, { flag: "wx", mode: 0o600 });
    else {
      writeFileSync(`${file}.new`, text, { mode: 0o600 });
      renameSync(`${file}.new`, file);
    }
    return id;
  } catch {
    return null;
  }
}

/** A segment the store has recorded as written, its file renamed until the record is dropped. */
const WRITTEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.written$/;

function segmentsIn(dir: string, pattern = SEGMENT): string[] {
  try {
    return readdirSync(dir).filter((n) => pattern.test(n));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw err;
  }
}

/** While appends (or the directory syncs before records are dropped) fail, how often the failure is said again (ms): the first is said at once. */
export { FAILING_REPORT_MS };

export interface UsageJournalOptions {
  /** Where what is said for information goes (appends, or directory syncs, that work again after failing). Default: dropped. */
  readonly notice?: (line: string) => void;
  /** Epoch milliseconds (tests). */
  readonly now?: () => number;
}

export class UsageJournal {
  /** Counted since the last append, summed per key as the Meter sums its rows. */
  private buffer = new Map<string, Row>();
  private current: { readonly segment: string; readonly fd: number; bytes: number } | null = null;
  /** Segments closed since the last `cut`, not yet handed to a flush (a failed append closes one). */
  private closed: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Rows appended to each segment the store has not taken yet (the pending-rows metric). */
  private readonly rowsIn = new Map<string, number>();
  /** Appends that failed since the journal opened (the append-failures metric). */
  appendFailures = 0;
  /** Appends failing (some may have worked in between), said at most every FAILING_REPORT_MS. */
  private readonly appends: FailureRun;
  /** Directory syncs before records are dropped failing, said as appends are. */
  private readonly syncs: FailureRun;
  private readonly notice: (line: string) => void;
  private readonly now: () => number;

  /** Creates `dir` if needed (0700: usage names principals). */
  constructor(
    readonly dir: string,
    private readonly onError: (err: unknown) => void,
    options: UsageJournalOptions = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.notice = options.notice ?? (() => undefined);
    this.now = options.now ?? Date.now;
    this.appends = new FailureRun(this.now);
    this.syncs = new FailureRun(this.now);
    const id = journalId(dir, this.notice);
    this.markerPrefix = id === null ? null : `marker:${id}:`;
  }

  /**
   * What this journal's markers start with (`marker:<its id>:`), so that a start can drop those a
   * crash left (pruneJournal); null when its id file can be neither read nor made (markers are then
   * bare UUIDs, which no start drops over a shared store).
   */
  readonly markerPrefix: string | null;

  /**
   * A fresh id to record a batch no segment holds under (HARDENING item 697): asked about as a
   * segment is, but with no file.
   */
  marker(): string {
    return `${this.markerPrefix ?? ""}${randomUUID()}`;
  }

  /** Rows appended to segments whose usage the store has not taken yet: what a crash now leaves to the next start. */
  get pendingRows(): number {
    let n = 0;
    for (const rows of this.rowsIn.values()) n += rows;
    return n;
  }

  start(everyMs = JOURNAL_MS): void {
    this.timer = setInterval(() => this.append(), everyMs);
    this.timer.unref();
  }

  /** Adds a request's usage (a row of its own, kept) under the Meter's row key: memory only, nothing waits on a file. */
  note(key: string, row: Row): void {
    if (this.buffer.has(key)) sumInto(this.buffer, key, row);
    else this.buffer.set(key, row);
  }

  /**
   * Appends what was counted since the last append as one line of the current segment (opened first
   * if none is). A failed write is reported and closes the segment (a line cut short stays its last);
   * its usage is still in the Meter's batch, only not journaled.
   */
  append(): void {
    this.write(false);
  }

  /**
   * Rows cuts could not journal (their append failed) since the journal opened: each only in the
   * Meter's batch taken with its cut, lost if the store never takes that batch (the Meter counts them
   * per batch, and says them at its close()).
   */
  unjournaledRows = 0;

  /**
   * `fromCut`: the rows go with the Meter's batch taken in this tick, so a failed write cannot put
   * them back for a later segment (that segment would hold them twice). From the timer, a failed
   * write puts them back: the next append writes them to a new segment.
   */
  private write(fromCut: boolean): void {
    if (this.buffer.size === 0) return;
    const taken = this.buffer;
    const line = Buffer.from(`${JSON.stringify([...taken.values()])}\n`);
    this.buffer = new Map();
    let current = this.current;
    try {
      if (current === null) {
        const segment = randomUUID();
        const fd = openSync(this.file(segment), "ax", 0o600);
        current = this.current = { segment, fd, bytes: 0 };
      }
      for (let done = 0; done < line.length;) {
        const wrote = writeSync(current.fd, line, done);
        done += wrote;
        current.bytes += wrote;
      }
      this.rowsIn.set(current.segment, (this.rowsIn.get(current.segment) ?? 0) + taken.size);
    } catch (err) {
      // A segment the failure left empty goes (a disk failing for minutes would leave one per
      // attempt); one with lines is closed, a line cut short its last. Closing it may fail too
      // (the same disk): said with the append's failure, under its limit.
      const closing =
        this.current !== null && this.current.bytes === 0 ? this.dropCurrent() : this.closeCurrent();
      this.failed(err, closing, fromCut);
      if (fromCut) this.unjournaledRows += taken.size;
      else for (const [key, row] of taken) this.note(key, row);
      return;
    }
    this.recovered();
  }

  /**
   * Says a failed append: at once, unless a failure was said less than FAILING_REPORT_MS ago (in
   * this run or an earlier one): then only counted, and said with the count once that time is up.
   * What became of the usage is said as it is: a timer's append puts it back for the next append; a
   * flush's cut leaves it in that flush's batch alone (never put back: a later segment would hold it
   * twice), not journaled.
   */
  private failed(err: unknown, closing: unknown, fromCut: boolean): void {
    this.appendFailures += 1;
    const run = this.appends.failed(fromCut);
    if (run === null) return;
    let count = "";
    if (run.failures > 1) {
      const since = `${run.failures} appends failed since ${new Date(run.since).toISOString()}`;
      const atFlush = "usage only in that flush's batch, not journaled";
      count =
        run.atFlush === 0
          ? ` (${since}, each put back for the next)`
          : run.atFlush === run.failures
            ? ` (${since}, each at a flush, its ${atFlush})`
            : ` (${since}: ${run.failures - run.atFlush} put back for the next, ${run.atFlush} at a flush, their ${atFlush})`;
    }
    const close = closing === undefined ? "" : `; closing its segment: ${(closing as Error).message}`;
    this.onError(
      new Error(`usage journal ${this.dir}: ${(err as Error).message}${count}${close}`, { cause: err }),
    );
  }

  /** After failed appends, an append that worked: said, at most every FAILING_REPORT_MS. */
  private recovered(): void {
    const run = this.appends.worked();
    if (run !== null)
      this.notice(`usage journal ${this.dir}: appending again (${failedSince(run, "append")})`);
  }

  /**
   * Appends what is left and closes the current segment: the segments returned hold exactly the
   * usage counted up to now (the Meter's batch taken in the same tick). Later usage goes to a new one.
   */
  cut(): string[] {
    this.write(true);
    this.report(this.closeCurrent());
    const closed = this.closed;
    this.closed = [];
    return closed;
  }

  /**
   * Renames the files of segments the store has recorded as written (`.written`: never replayed), and
   * returns those that are gone: a segment whose file stays must keep its record, or the next start
   * would replay it again. Their records are dropped with the next batch, then `discard` them.
   */
  remove(segments: readonly string[]): string[] {
    for (const segment of segments) this.rowsIn.delete(segment); // the store has them
    return setAside(this.dir, segments, this.onError);
  }

  /**
   * Makes the renames to `.written` durable (fsyncs the directory), before the store drops their
   * records: after a power cut, a rename lost with its record dropped would replay the segment,
   * counting it twice. False (said) when it cannot: the records are kept, for the next batch.
   */
  syncRenames(): boolean {
    try {
      fsyncDirectory(this.dir);
    } catch (err) {
      // Tried at each flush: said as a failing append is, at most once a minute, with the count.
      const run = this.syncs.failed();
      if (run !== null)
        this.onError(
          new Error(
            `usage journal ${this.dir}: its directory cannot be synced (${(err as Error).message}${run.failures === 1 ? "" : `; ${failedSince(run, "sync")}`}): the store keeps the records of written segments until a sync works`,
            { cause: err },
          ),
        );
      return false;
    }
    const run = this.syncs.worked();
    if (run !== null)
      this.notice(`usage journal ${this.dir}: syncing its directory again (${failedSince(run, "sync")})`);
    return true;
  }

  /** Removes the `.written` files of segments whose records the store has dropped. */
  discard(segments: readonly string[]): void {
    discardWritten(this.dir, segments, this.onError);
  }

  /**
   * At a stop with usage the store did not take: its segments fsynced, then their directory (a new
   * file's name is durable only once its directory is), to be replayed at the next start.
   */
  keep(segments: readonly string[]): void {
    if (segments.length === 0) return;
    for (const segment of segments) fsyncPath(this.file(segment));
    fsyncDirectory(this.dir);
  }

  /** Stops the timer. What is not appended is the caller's (the Meter's close flushes first). */
  close(): void {
    clearInterval(this.timer);
    this.report(this.closeCurrent());
  }

  private report(err: unknown): void {
    if (err !== undefined) this.onError(err);
  }

  /** Stops as a crash would: nothing more appended, nothing flushed (tests). */
  crash(): void {
    clearInterval(this.timer);
    if (this.current !== null) closeSync(this.current.fd);
    this.current = null;
    this.buffer = new Map();
  }

  file(segment: string): string {
    return join(this.dir, `${segment}.jsonl`);
  }

  /** Removes the current segment, empty (nothing of it written): nothing for a flush to record. Closing's error, if any. */
  private dropCurrent(): unknown {
    const current = this.current!;
    this.current = null;
    const closing = closeFd(current.fd);
    try {
      unlinkSync(this.file(current.segment));
    } catch {
      // Left for a flush to record and remove, as any closed segment (empty: it writes nothing).
      this.closed.push(current.segment);
    }
    return closing;
  }

  /** Closes the current segment, for the next cut; closing's error, if any. */
  private closeCurrent(): unknown {
    const current = this.current;
    if (current === null) return undefined;
    this.current = null;
    this.closed.push(current.segment);
    return closeFd(current.fd);
  }
}

/** Renames each segment's `.jsonl` to `.written`; those gone (renamed, or already gone). */
function setAside(dir: string, segments: readonly string[], onError: (err: unknown) => void): string[] {
  const gone: string[] = [];
  for (const segment of segments) {
    try {
      renameSync(join(dir, `${segment}.jsonl`), join(dir, `${segment}.written`));
      gone.push(segment);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") gone.push(segment);
      else onError(err);
    }
  }
  return gone;
}

/** Removes each segment's `.written` file (its record dropped); one that stays is removed at a start. */
function discardWritten(dir: string, segments: readonly string[], onError: (err: unknown) => void): void {
  for (const segment of segments) {
    try {
      unlinkSync(join(dir, `${segment}.written`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") onError(err);
    }
  }
}

/** Closes `fd`; the error, if any (undefined when closed). */
function closeFd(fd: number): unknown {
  try {
    closeSync(fd);
    return undefined;
  } catch (err) {
    return err;
  }
}

/**
 * Makes the renames and new names in `dir` durable. Where a directory cannot be fsynced (some FUSE
 * and volume drivers answer EINVAL; Windows EPERM or EISDIR: `cannotSyncDirectory`, shared with the
 * audit log's own directory sync), it goes on, as SQLite does: refusing would keep every record and
 * `.written` file for ever.
 */
function fsyncDirectory(dir: string): void {
  try {
    fsyncPath(dir);
  } catch (err) {
    if (!cannotSyncDirectory(err)) throw err;
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Adds `row`'s counts into `map`'s row under `key` (a copy of `row` when there is none). */
export function sumInto(map: Map<string, Row>, key: string, row: UsageDelta): void {
  const had = map.get(key);
  if (had === undefined) {
    map.set(key, Object.assign({}, row));
    return;
  }
  had.inputTokens = addTokens(had.inputTokens, row.inputTokens);
  had.outputTokens = addTokens(had.outputTokens, row.outputTokens);
  had.requests += row.requests;
}

/** A row being summed. */
export type Row = { -readonly [K in keyof UsageDelta]: UsageDelta[K] };

/** A segment's file as read at a start. */
export interface ReadSegment {
  readonly segment: string;
  readonly file: string;
  readonly rows: UsageDelta[];
  /** Bytes of a last line cut short (no newline: the write did not finish), skipped; 0 if none. */
  readonly torn: number;
}

/**
 * Reads one segment's file. A last line without its newline was cut short (a power cut, a full disk)
 * and is skipped; any other line that is not an array of usage objects means the file is not what the
 * journal wrote: thrown, naming the file and the line.
 */
export function readSegment(dir: string, name: string): ReadSegment {
  const segment = SEGMENT.exec(name)![1]!;
  const file = join(dir, name);
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const last = lines.pop()!; // "" when the file ends with its newline
  const rows: UsageDelta[] = [];
  lines.forEach((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.some((r) => typeof r !== "object" || r === null || Array.isArray(r)))
      throw new Error(
        `the usage journal ${file} cannot be read (line ${i + 1} is not a JSON array of usage rows): it was not written to the store; correct or remove the file`,
      );
    rows.push(...(parsed as UsageDelta[]));
  });
  return { segment, file, rows, torn: Buffer.byteLength(last) };
}

/**
 * At start, before the counters are seeded from the store: writes every segment of `dir` the store
 * has not recorded as written (a crash, or a stop the store refused), recording them in the same
 * transaction, then removes their files and the records. The number of rows written. A row the store
 * would refuse as invalid is set aside (reported through `onError`, as a flush does); a segment that
 * cannot be read, or a store refusing the rest, stops the start naming the journal (each license's
 * quota would be handed that much back). Run twice, or stopped part way, nothing is written twice.
 */
export async function replayJournal(
  store: Store,
  dir: string,
  log: (line: string) => void,
  onError: (err: unknown) => void,
): Promise<number> {
  const names = segmentsIn(dir);
  // Written, their records not yet dropped (a stop between a batch and the next): dropped now.
  const done = segmentsIn(dir, WRITTEN).map((n) => WRITTEN.exec(n)![1]!);
  if (names.length === 0 && done.length === 0) return 0;
  const segments = names.map((n) => readSegment(dir, n));
  const written = new Set(await store.usage.journaled(segments.map((s) => s.segment)));
  const todo = segments.filter((s) => !written.has(s.segment));
  const rows: UsageDelta[] = [];
  for (const s of todo) {
    if (s.torn > 0)
      log(
        `clearance: the usage journal ${s.file} ends with a line cut short (${s.torn} bytes, written when the process stopped): skipped, the rest replayed`,
      );
    for (const row of s.rows) {
      try {
        checkUsageDeltas([row]);
        rows.push(row);
      } catch (err) {
        if (!(err instanceof InvalidInputError)) throw err;
        onError(
          new UsageSetAsideError(
            row,
            err.problems.map((p) => p.message),
          ),
        );
      }
    }
  }
  if (todo.length > 0) {
    try {
      await store.usage.add(rows, { written: todo.map((s) => s.segment) });
    } catch (err) {
      throw new Error(
        `the usage journal in ${dir} (${todo.map((s) => s.file).join(", ")}) could not be written to the store (${err instanceof Error ? err.message : String(err)}); the gateway does not start without it`,
        { cause: err },
      );
    }
  }
  for (const s of segments) renameSync(s.file, join(dir, `${s.segment}.written`));
  // The records are needed only while a `.jsonl` is there; a stop before this leaves the `.written`
  // files, and the next start drops their records. The renames durable first (those of `done` too, a
  // crash's may be in memory only): a power cut must not leave a `.jsonl` whose record is gone.
  // Failing that, the records are kept (said), and the next start drops them.
  const forget = [...done, ...segments.map((s) => s.segment)];
  try {
    fsyncDirectory(dir);
  } catch (err) {
    onError(err);
    return rows.length;
  }
  await store.usage
    .add([], { written: [], forget })
    .then(() => discardWritten(dir, forget, onError), onError);
  return rows.length;
}

/**
 * At start, after replayJournal and before the Meter writes anything: drops the `usage_journal`
 * records nobody can ever ask about, which nothing else drops — markers (item 697) a crash left
 * between their batch and the next, and (`everyNode`) records orphaned before item 686. The number
 * dropped; a failure is said and nothing else happens (they are dropped at a later start).
 *
 * Why this is safe. A record is asked about only (1) by a start replaying a `.jsonl` of that name
 * (a `.written` is never replayed; its record is only dropped), or (2) by the one running Meter that
 * recorded it, about its kept batches, held in memory only: a process's markers die with it.
 * - This journal's markers (`markerPrefix`): the journal's lock (with the data directory's) lets one
 *   process at a time use this directory and its id, and this is that process's start: its Meter
 *   has no batch yet, so no live process can ask about them, and no file names them. Another node's
 *   markers carry another id (another directory's), and are left alone: that node may be running.
 * - `everyNode` (only for the embedded store, `<data_dir>/clearance.db`: every record in it was made
 *   by a gateway on this data directory, whatever its `audit.node`, and the data directory's lock
 *   lets no other run now): every record that no `.jsonl` or `.written` file in any of the data
 *   directory's journal directories names. Their Meters are gone, and no start will find a file to
 *   ask about them. If any of those directories cannot be listed, only this journal's markers go.
 * Over a shared store (PostgreSQL), records from before this release's markers carry no owner: they
 * are left, as any other node might still hold a `.jsonl` of that name.
 */
export async function pruneJournal(
  store: Store,
  journal: UsageJournal,
  options: { readonly everyNode: boolean },
  onError: (err: unknown) => void,
): Promise<number> {
  const files = options.everyNode ? namedByFiles(dirname(journal.dir)) : null;
  const [prefix, keep] = files !== null ? ["", files] : [journal.markerPrefix, []];
  if (prefix === null) return 0;
  try {
    return await store.usage.dropJournaled(prefix, keep);
  } catch (err) {
    onError(err);
    return 0;
  }
}

/** The segments named by a `.jsonl` or `.written` file in any journal directory under `root`; null if one cannot be listed. */
function namedByFiles(root: string): string[] | null {
  try {
    const named: string[] = [];
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      const dir = join(root, entry.name);
      // A journal directory may be a symbolic link (to another volume): followed, or its files'
      // records would be dropped. One that cannot be followed throws: then every record is kept.
      if (!(entry.isDirectory() || (entry.isSymbolicLink() && statSync(dir).isDirectory()))) continue;
      for (const [pattern, names] of [
        [SEGMENT, segmentsIn(dir)],
        [WRITTEN, segmentsIn(dir, WRITTEN)],
      ] as const)
        for (const name of names) named.push(pattern.exec(name)![1]!);
    }
    return named;
  } catch {
    return null;
  }
}

/** A usage row the store refused as invalid, set aside so that the rest of its batch is written. */
export class UsageSetAsideError extends Error {
  constructor(
    readonly row: UsageDelta,
    reasons: readonly string[],
  ) {
    super(`usage row set aside, the store refused it (${reasons.join("; ")}): ${quoted(row)}`);
    this.name = "UsageSetAsideError";
  }
}
