/**
 * The audit log: durable appends (the WAL, group commit), integration into the tiled Merkle tree,
 * and signed checkpoints, published at least every `checkpointMs` while entries arrive. A
 * checkpoint is signed only after checking that its tree extends the last one signed.
 *
 * Integration (hashing each entry into the tree, writing full tiles) follows the durable batches
 * in the background, a slice of at most INTEGRATE_SLICE entries per turn of the event loop, rather
 * than all at once when a checkpoint is due: a second's entries at a few thousand requests a second
 * took 7–12 ms in one block, a stall every request in flight then waited for.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { openCheckpoint, signCheckpoint, type Checkpoint } from "./checkpoint.js";
import { consistencyProof, inclusionProof, treeRoot, verifyConsistency, type HashReader } from "./merkle.js";
import type { NoteSigner, NoteVerifier } from "./note.js";
import { TileTree, writeAtomic } from "./tree.js";
import { Wal } from "./wal.js";

export interface AuditLogOptions {
  /** Published tree: `checkpoint` and `tile/…`, served read-only under /audit/. */
  readonly dir: string;
  /** The write-ahead file of entries (not published). */
  readonly walPath: string;
  readonly origin: string;
  readonly signer: NoteSigner;
  readonly verifier: NoteVerifier;
  /** At most this long between an entry becoming durable and a checkpoint covering it. */
  readonly checkpointMs: number;
  readonly onError: (err: unknown) => void;
  /** The clock for the publishing stall (see STALL_ROUNDS); Date.now by default. */
  readonly now?: () => number;
  /**
   * A number the log keeps for its owner, folded over every entry in order (e.g. the last admin
   * change logged) and saved with each restore point, so that start-up need not read old entries
   * back to learn it. Read it as `mark` once the log is open.
   */
  readonly mark?: {
    readonly initial: number;
    readonly fold: (mark: number, entries: readonly Buffer[]) => number;
  };
}

/**
 * Where start-up can resume: the tree of `size` entries is in the tiles (a checkpoint of that size
 * was published), and the write-ahead file's records for them end at `walOffset`. Written beside
 * the write-ahead file (not published) after each checkpoint.
 */
export interface RestorePoint {
  readonly size: bigint;
  readonly walOffset: number;
  readonly mark: number;
}

export const restorePath = (walPath: string): string => `${walPath}.restore`;

export async function writeRestorePoint(walPath: string, p: RestorePoint): Promise<void> {
  const json = JSON.stringify({ v: 1, size: String(p.size), wal_offset: p.walOffset, mark: p.mark });
  await writeAtomic(restorePath(walPath), Buffer.from(`${json}\n`));
}

/** The restore point, or null when there is none (a new log, or one written before they existed). */
export async function readRestorePoint(walPath: string): Promise<RestorePoint | null> {
  let text: string;
  try {
    text = await readFile(restorePath(walPath), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const j = JSON.parse(text) as { v?: unknown; size?: unknown; wal_offset?: unknown; mark?: unknown };
  if (
    j.v !== 1 ||
    typeof j.size !== "string" ||
    !/^(0|[1-9][0-9]*)$/.test(j.size) ||
    typeof j.wal_offset !== "number" ||
    typeof j.mark !== "number"
  ) {
    throw new AuditLogError(`${restorePath(walPath)} is not a restore point`);
  }
  return { size: BigInt(j.size), walOffset: j.wal_offset, mark: j.mark };
}

export class AuditLogError extends Error {
  override name = "AuditLogError";
}

/** The tree start-up built does not reach the signed checkpoint (missing entries, another root). */
class CheckpointMismatchError extends AuditLogError {
  override name = "CheckpointMismatchError";
}

export interface Published {
  readonly size: bigint;
  readonly root: Buffer;
  readonly text: string;
}

/**
 * What the gateway holds, whichever log it is: this node's own (AuditLog, a WAL file) or the one
 * several nodes share through the database (SharedAuditLog).
 */
export interface AuditTrail {
  /** Resolves with the entry's index once it is durable; rejects if the log cannot take it. */
  append(entry: Uint8Array): Promise<bigint>;
  /** Null while the log takes entries; else why it cannot. */
  readonly failure: Error | null;
  /** Durable entries known to this node. */
  readonly size: bigint;
  /** The checkpoint served (tiles for it are in the log's directory). */
  readonly published: Published | null;
  start(): void;
  /** Brings the served checkpoint up to date with what is durable. */
  publish(): Promise<void>;
  inclusion(index: bigint, size: bigint): Promise<Buffer[]>;
  consistency(from: bigint, to: bigint): Promise<Buffer[]>;
  /**
   * Asked for something beyond the served checkpoint: serves a newer one first if one is recorded
   * (a shared log's node behind the one that signed it; see SharedAuditLog). Absent where the
   * served checkpoint is the latest there is.
   */
  reach?(size: bigint): Promise<void>;
  close(): Promise<void>;
}

/** An inclusion proof within the published tree (`published`: its size). */
export async function checkedInclusion(
  read: HashReader,
  published: bigint,
  index: bigint,
  size: bigint,
): Promise<Buffer[]> {
  checkSize(published, size);
  if (index >= size) throw new AuditLogError(`index ${index} is not below size ${size}`);
  return inclusionProof(read, index, size);
}

/** A consistency proof within the published tree. */
export async function checkedConsistency(
  read: HashReader,
  published: bigint,
  from: bigint,
  to: bigint,
): Promise<Buffer[]> {
  checkSize(published, to);
  if (from > to) throw new AuditLogError(`from (${from}) is larger than to (${to})`);
  // Every tree extends the empty one: there is no proof to give, and verifiers refuse an empty one.
  if (from === 0n)
    throw new AuditLogError("from must be at least 1: there is no consistency proof from the empty tree");
  return consistencyProof(read, from, to);
}

function checkSize(published: bigint, size: bigint): void {
  if (size > published)
    throw new AuditLogError(`size ${size} is beyond the published checkpoint (${published})`);
}

/**
 * The log stops taking entries (fails closed, as when the write-ahead file fails) when no
 * publishing round has succeeded for this many checkpoint intervals while entries wait for a
 * checkpoint, or when more than MAX_UNWRITTEN_TILES full tiles wait in memory for their write: tiles
 * that cannot be written (an inode table full, a read-only tile tree) otherwise leave requests
 * served with no checkpoint ever covering them, and memory growing. It resumes after a round succeeds.
 */
const STALL_ROUNDS = 3;
export const MAX_UNWRITTEN_TILES = 64;

/**
 * A write that hangs rather than fails (a stuck NFS mount, a frozen disk) never settles its round,
 * so the check above, made when a round settles, would never run: each checkpoint tick also makes
 * it once the change of the tree under way (a round, an integration or sweep step) has been out for
 * STALL_ROUNDS intervals but at least this long (a slow sync is not a stall), failed rounds before
 * it or not. The log stops taking entries as above (once entries wait, however long after the change
 * was judged hung), naming the step that has not returned (see Step), and resumes once it returns
 * and a round succeeds; should it fail instead, the stall is said again as a failed round's.
 */
export const HUNG_MIN_MS = 10_000;

/** How long a write or a change of the tree may stay out before the log judges it hung. */
export const hungMs = (checkpointMs: number): number => Math.max(STALL_ROUNDS * checkpointMs, HUNG_MIN_MS);

/**
 * Those waiting on a change of the tree that may never settle (a hung write): told when the log
 * judges it hung, so that closing the log or answering a request is bounded.
 */
export class HangSignal {
  private waiting: (() => void)[] = [];
  /** A change is judged hung and has not settled since. */
  judged = false;

  judge(): void {
    this.judged = true;
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** True once `work` has settled (its failure thrown), false if judged hung first (or already). */
  until(work: Promise<unknown>): Promise<boolean> {
    if (this.judged) {
      work.catch(() => undefined);
      return Promise.resolve(false);
    }
    return new Promise((resolve, reject) => {
      this.waiting.push(() => resolve(false));
      work.then(() => resolve(true), reject);
    });
  }
}

/**
 * What a change of the tree waits for, named when it is judged hung: `what` (as "…, a write of its
 * tiles not having returned"), `where`, and `then`: what cannot be done, and when the log resumes.
 * Named too by a stall from failed changes, the step the last one failed at: `failed` if given,
 * else `then`.
 */
interface Step {
  readonly what: string;
  readonly where: string;
  readonly then: string;
  readonly failed?: string;
}

/** The steps of the tree's changes (see Step), for the log in `dir` with its write-ahead file `walPath`. */
function stepsOf(dir: string, walPath: string) {
  return {
    tiles: {
      what: "a write of its tiles",
      where: `in ${dir}`,
      then: `the tiles in ${dir} cannot be written; it resumes once they can`,
    },
    checkpoint: {
      what: "the write of its checkpoint",
      where: `at ${join(dir, "checkpoint")}`,
      then: `the checkpoint ${join(dir, "checkpoint")} cannot be written; it resumes once it can`,
    },
    restore: {
      what: "the write of its restore point",
      where: `at ${restorePath(walPath)}`,
      then: `the restore point ${restorePath(walPath)} cannot be written; it resumes once it can`,
    },
    removal: {
      what: "the removal of partial tiles a checkpoint covers",
      where: `in ${dir}`,
      then: `the partial tiles in ${dir} cannot be removed; it resumes once they can`,
      // Only the one-time sweep fails at it (a round goes on when its removal fails), and the sweep
      // is not tried again: the stall is over once a round publishes a checkpoint.
      failed: `the removal of partial tiles in ${dir} failed after holding up the checkpoints; it resumes once one is published`,
    },
  } satisfies Record<string, Step>;
}

/** Entries hashed into the tree per turn of the event loop (about 9 µs each in a busy gateway). */
export const INTEGRATE_SLICE = 64;

/** Resolves on a later turn of the event loop: requests waiting meanwhile go first. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A durable batch not yet wholly in the tree: its entries, how many are in, where its records end. */
interface DurableBatch {
  readonly entries: Buffer[];
  done: number;
  readonly end: number;
}

/** Durable batches waiting for the tree, oldest first; the WAL adds to it and calls `added`. */
interface Durable {
  readonly batches: DurableBatch[];
  added: () => void;
}

export class AuditLog implements AuditTrail {
  /** The tree's changes, one after another: integration slices and publishing rounds. */
  private publishing: Promise<void> = Promise.resolve();
  private integrating = false;
  private timer: NodeJS.Timeout | undefined;
  private current: Published | null;
  /** When a publishing round last succeeded (o.now's clock). */
  private lastRoundOk: number;
  /** Why the log stopped taking entries though its write-ahead file works (see STALL_ROUNDS). */
  private stalled: Error | null = null;
  /** Changes of the tree (rounds, integration and sweep steps) queued or running, not yet settled. */
  private unsettled = 0;
  /** A publishing round queued behind others and not yet begun: later callers share it. */
  private queuedRound: Promise<void> | null = null;
  /** The oldest write-ahead write seen out at a tick, and since when (o.now's clock). */
  private walWrite: { readonly n: number; readonly since: number } | null = null;
  /**
   * A change of the tree judged hung and not settled since: bounds close() (the write-ahead file
   * bounds its own). Cleared when that change settles, whichever way (see track).
   */
  private readonly hang = new HangSignal();
  /** The stall, if any, says a step of a change has not returned: said again once one fails. */
  private stalledHung = false;
  /**
   * The step the stall names (see Step): said again when the change judged hung moves on to another
   * step and waits there, or a change fails at another step. Before, the step the log stalled at
   * was named until the stall ended, also while a later one hung or failed.
   */
  private stalledStep: Step | null = null;
  private readonly steps: ReturnType<typeof stepsOf>;
  /**
   * What the change of the tree under way waits for (changes run one at a time): named by a stall
   * judged hung. Before, it always said "a write of its tiles", also while the restore point's
   * rename or the removal of old partials hung.
   */
  private step: Step;
  /** When the change of the tree under way began (o.now's clock): see HUNG_MIN_MS. */
  private changeSince = 0;
  private closing = false;
  /** Set by crash(): no change of the tree begins after it. */
  private crashed = false;
  /** The change of the tree under way (settled, never rejected), for crash() to let it return. */
  private underWay: Promise<void> = Promise.resolve();

  private constructor(
    private readonly o: AuditLogOptions,
    private readonly tree: TileTree,
    private readonly wal: Wal,
    private readonly durable: Durable,
    published: Published | null,
    /** The tree's entries end at this offset of the write-ahead file. */
    private integrated: number,
    private folded: number,
  ) {
    this.current = published;
    this.lastRoundOk = this.now();
    this.steps = stepsOf(o.dir, o.walPath);
    this.step = this.steps.tiles;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** After a publishing round or an integration step: stalled, recovered, or neither (O(1)). */
  private checkStall(ok: boolean): void {
    if (ok) {
      this.lastRoundOk = this.now();
      if (this.stalled !== null && this.tree.unwrittenFiles === 0) this.stalled = null;
      return;
    }
    // Said already, unless as a write that has not returned (a change has failed since, one at a
    // time, so none hangs now; before, the log kept saying so until a round succeeded), or of
    // another step than this change failed at.
    if (this.stalled !== null && !this.stalledHung && this.stalledStep === this.step) return;
    this.stall(false);
  }

  /**
   * At a checkpoint tick: the change of the tree under way, out for hungMs (see HUNG_MIN_MS), is
   * judged hung, so that close() does not wait for it; and a stall once entries wait. Also over a
   * stall from failed rounds: before, a write that hung after them was never judged, and close()
   * waited for it for ever. Looked at every tick until it stalls the log: before, a change judged
   * hung while no entry waited (its checkpoint published, the restore point's rename hung) was
   * never looked at again, and the log took entries for ever with no checkpoint covering them. Said
   * again when the change has moved on to another step since: the stall names the step it waits
   * for now (before, the step it stalled at, also once that had returned and a later one hung).
   */
  private checkHung(): void {
    if (this.unsettled === 0) return;
    if (this.now() - this.changeSince <= hungMs(this.o.checkpointMs)) return;
    if (this.stalled === null || !this.stalledHung || this.stalledStep !== this.step) this.stall(true);
    if (!this.hang.judged) this.hang.judge();
  }

  /**
   * Stops taking entries, saying why, when entries have waited too long for a checkpoint or too
   * many tiles for their write (`hung`: judged with a change of the tree out); else a stall from
   * failed changes is over, and so is one that named a step of the change out that it has left
   * (its checkpoint published since, say, while its restore point's write hangs: as when a change
   * hangs there with no stall, the entries taken next stall the log again, naming that step).
   */
  private stall(hung: boolean): void {
    const waiting = this.wal.size - (this.current?.size ?? 0n);
    const since = this.now() - this.lastRoundOk;
    // A level-0 tile waits with its entry bundle and its inner nodes: three records each.
    const unwritten = this.tree.unwrittenFiles;
    let why: string | null = null;
    // Three files a level-0 tile: about that many tiles (upper ones are one file each).
    if (unwritten > 3 * MAX_UNWRITTEN_TILES)
      why = `${Math.floor(unwritten / 3)} full tiles are waiting to be written (at most ${MAX_UNWRITTEN_TILES})`;
    else if (waiting > 0n && since > this.stallMs(hung))
      why = `no checkpoint could be published for ${since} ms while ${waiting} entries wait for one${hung ? `, ${this.step.what} not having returned (a hung disk or mount?)` : ""}`;
    if (why === null) {
      if (!hung || this.stalledHung) {
        this.stalled = null;
        this.stalledHung = false;
        this.stalledStep = null;
      }
      return;
    }
    // Tiles waiting to be written are what stops the log, whatever the step; else the step the
    // change out waits for, or the one the last change failed at (before, a failed round's stall
    // always said the tiles, also when its checkpoint could not be written).
    const then =
      unwritten > 3 * MAX_UNWRITTEN_TILES
        ? this.steps.tiles.then
        : hung
          ? this.step.then
          : (this.step.failed ?? this.step.then);
    this.stalled = new AuditLogError(`the audit log takes no entries: ${why} — ${then}`);
    this.stalledHung = hung;
    this.stalledStep = this.step;
    this.o.onError(this.stalled);
  }

  private stallMs(hung: boolean): number {
    return hung ? hungMs(this.o.checkpointMs) : STALL_ROUNDS * this.o.checkpointMs;
  }

  /**
   * A write to the write-ahead file that has not returned for hungMs (a hung disk or mount) is
   * given up on: the requests waiting for it are refused (503) instead of waiting with it, and the
   * log takes no entries until it returns and the file takes writes again.
   */
  private checkWal(): void {
    const n = this.wal.oldestWrite;
    if (n === null || this.walWrite?.n !== n) {
      this.walWrite = n === null ? null : { n, since: this.now() };
      return;
    }
    const since = this.now() - this.walWrite.since;
    if (since <= hungMs(this.o.checkpointMs)) return;
    const why = new AuditLogError(
      `the audit log takes no entries: a write to its write-ahead file ${this.o.walPath} has not returned for ${since} ms (a hung disk or mount?); the entries waiting for it are refused, and it resumes once the write returns and the disk takes writes again`,
    );
    if (this.wal.abandon(why)) this.o.onError(why);
  }

  /**
   * Counts `change` among the unsettled ones until it settles; changes run one after another, so
   * the next begins then. Settled whichever way, a change judged hung is hung no more: close()
   * waits for the next round as for any (a new hang is judged again at a tick). Before, only a
   * round that succeeded cleared the judgement, so after a judged write failed, close() skipped its
   * last round, saying the write "has not returned", and left the tiles' inner-node file open.
   */
  private track(change: Promise<void>): Promise<void> {
    if (this.unsettled++ === 0) this.changeSince = this.now();
    return change.finally(() => {
      this.unsettled--;
      this.changeSince = this.now();
      this.hang.judged = false;
    });
  }

  /**
   * Opens the log. With a restore point, the tree comes back from the tiles (checked against the
   * signed checkpoint) and only the write-ahead records after it are read; without one (or if the
   * tiles do not match), the whole file is replayed into a fresh tree.
   */
  static async open(o: AuditLogOptions): Promise<AuditLog> {
    const published = await readPublished(o);
    // Only a shortcut: one that cannot be read (cut short by a crash) is passed over, not fatal.
    const point = await readRestorePoint(o.walPath).catch((err: unknown) => {
      o.onError(
        new AuditLogError(
          `the restore point ${restorePath(o.walPath)} cannot be read (${(err as Error).message}): the whole write-ahead file is replayed instead`,
          { cause: err },
        ),
      );
      return null;
    });
    if (point !== null && published !== null && point.size <= published.size) {
      // Tiles that are missing or do not match the signed root: replay the whole file instead,
      // which checks the tree it builds against the checkpoint and refuses to start if it differs.
      const restored = restoreFromTiles(o.dir, point, published, o.onError);
      if (restored !== null) {
        try {
          return await AuditLog.openFrom(o, published, restored);
        } catch (err) {
          // A restore point older than the checkpoint (its rename lost to a power loss) is checked
          // only once the records after it are read: a tile it read may still be wrong.
          if (!(err instanceof CheckpointMismatchError)) throw err;
          o.onError(
            new AuditLogError(
              `the tiles at the restore point (${point.size} entries) do not lead to the published checkpoint (${err.message}): the whole write-ahead file is replayed instead`,
              { cause: err },
            ),
          );
        }
      }
    }
    return AuditLog.openFrom(o, published, null);
  }

  private static async openFrom(
    o: AuditLogOptions,
    published: Published | null,
    restored: { tree: TileTree; point: RestorePoint } | null,
  ): Promise<AuditLog> {
    const tree = restored?.tree ?? new TileTree(o.dir, undefined, true);
    tree.syncedThrough = published?.size ?? 0n;
    // The partials on disk are the published checkpoint's (and earlier ones'): removed in turn.
    if (published !== null) tree.trackPartials(published.size);
    const fold = o.mark?.fold ?? ((m: number) => m);
    let mark = restored?.point.mark ?? o.mark?.initial ?? 0;
    const durable: Durable = { batches: [], added: () => {} };
    let wal: Wal;
    try {
      wal = await Wal.open(
        o.walPath,
        restored === null ? null : { offset: restored.point.walOffset, count: restored.point.size },
        async (entries) => {
          mark = fold(mark, entries);
          // A full replay writes the partial tiles of the published size again on its way: they
          // may be what sent start-up here (altered, or cut short), and clients read them.
          const at = published === null || restored !== null ? -1n : published.size - tree.size;
          if (at > 0n && at < BigInt(entries.length)) {
            await tree.append(entries.slice(0, Number(at)));
            await tree.writePartials();
            await tree.append(entries.slice(Number(at)));
          } else {
            await tree.append(entries);
            if (at === BigInt(entries.length)) await tree.writePartials();
          }
        },
        (entries, _first, end) => {
          durable.batches.push({ entries, done: 0, end });
          durable.added();
        },
        // Before the file's tail is cut: a tail the checkpoint covers is damage, not a torn write,
        // and must be left for the operator.
        async () => {
          if (published === null) return;
          if (published.size > tree.size) {
            throw new CheckpointMismatchError(
              `the published checkpoint covers ${published.size} entries but the log holds ${tree.size}: entries are missing`,
            );
          }
          const root = await treeRoot(tree.read, published.size);
          if (!root.equals(published.root)) {
            throw new CheckpointMismatchError(
              `the log's tree at size ${published.size} does not match the published checkpoint`,
            );
          }
        },
      );
    } catch (err) {
      tree.close();
      throw err;
    }
    // Partials of a round that failed before signing (then a crash) were never signed: gone before
    // the first round writes its own. A failure costs disk, not data.
    await tree.removeUnsignedPartials(published?.size ?? 0n).catch(o.onError);
    const log = new AuditLog(o, tree, wal, durable, published, wal.end, mark);
    durable.added = () => log.integrateSoon();
    await log.publish();
    // Partials left by builds that never removed them (before 6 December 2026), at any tile: swept
    // once (a marker says so), a directory a step between publishing rounds (which alone write
    // partials), so checkpoints keep coming while a large tree is swept.
    log.legacySwept = log.publishing
      .then(() => tree.legacyPartialDirs())
      .then(
        (dirs) => (dirs === null ? undefined : log.sweepLegacy(dirs)),
        (err: unknown) => o.onError(err),
      );
    return log;
  }

  /** Settles when the one-time sweep of earlier builds' partial tiles has ended (tests wait on it). */
  legacySwept: Promise<void> = Promise.resolve();

  /** Sweeps `dirs` one a step, each queued behind the publishing rounds waiting when it is. */
  private sweepLegacy(dirs: string[]): Promise<void> {
    const dir = dirs.pop();
    const step = this.track(
      this.publishing.then(() =>
        this.begin(() => {
          this.step = this.steps.removal;
          return dir === undefined
            ? this.tree.markPartialsSwept()
            : this.tree.prunePartials(this.current?.size ?? 0n, [dir]);
        }),
      ),
    );
    // The next round must not inherit a step's failure; a stall saying the step hung is said again
    // (before, it outlived the failure until a round succeeded).
    this.publishing = step.catch(() => this.checkStall(false));
    return step.then(
      () => (dir === undefined ? undefined : this.sweepLegacy(dirs)),
      (err: unknown) => this.o.onError(err),
    );
  }

  /** The owner's number folded over every entry in the tree (see AuditLogOptions.mark). */
  get mark(): number {
    return this.folded;
  }

  /** Durable entries so far (the published checkpoint may lag by up to checkpointMs). */
  get size(): bigint {
    return this.wal.size;
  }

  /** Null while the log takes entries; else why it cannot. */
  get failure(): Error | null {
    // Closed last: a closed log that had stalled says why (before, a closed log's failure was null
    // until an append hit the closed file).
    return this.wal.failure ?? this.stalled ?? this.wal.closedBy;
  }

  get published(): Published | null {
    return this.current;
  }

  /** Resolves with the entry's index once it is durable; rejects if the log cannot take it. */
  append(entry: Uint8Array): Promise<bigint> {
    if (this.stalled !== null) return Promise.reject(this.stalled);
    return this.wal.append(entry);
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.o.checkpointMs);
    this.timer.unref();
  }

  private tick(): void {
    this.checkWal();
    // A round that never settles (a hung write) is a stall too: see HUNG_MIN_MS.
    this.checkHung();
    if (!this.closing) this.publish().catch(this.o.onError);
  }

  /**
   * Integrates what became durable and, if the tree grew, signs and publishes a checkpoint. A call
   * while a round is queued and not yet begun shares that round, which takes in everything durable
   * when it begins: behind a hung write, ticks do not pile rounds up without end.
   */
  publish(): Promise<void> {
    if (this.queuedRound !== null) return this.queuedRound;
    const round = this.track(
      this.publishing.then(() => {
        this.queuedRound = null;
        return this.begin(() => this.round());
      }),
    );
    this.queuedRound = round;
    // A failed round (a full disk) is reported by the caller; the next one starts afresh.
    this.publishing = round.then(
      () => this.checkStall(true),
      () => this.checkStall(false),
    );
    return round;
  }

  private async round(): Promise<void> {
    this.step = this.steps.tiles;
    await this.integrate(Infinity);
    // Always called: it also writes tiles that an earlier, failed round left in memory.
    await this.tree.append([]);
    if (this.current !== null && this.current.size === this.tree.size) return;
    await this.tree.writePartials();
    // Every tile the checkpoint covers is on disk before it is signed: after a power loss,
    // start-up may trust the tiles and read only what the write-ahead file holds after them.
    await this.tree.sync();
    const next: Checkpoint = {
      origin: this.o.origin,
      size: this.tree.size,
      root: this.tree.root(),
      extensions: [],
    };
    const last = this.current;
    if (last !== null && last.size > 0n) {
      // Never sign a tree that does not extend the one signed before.
      const proof = await consistencyProof(this.tree.read, last.size, next.size);
      verifyConsistency(last.size, next.size, proof, last.root, next.root);
    }
    const text = signCheckpoint(next, this.o.signer);
    this.step = this.steps.checkpoint;
    await writeAtomic(join(this.o.dir, "checkpoint"), Buffer.from(text), "synced");
    this.current = { size: next.size, root: next.root, text };
    this.step = this.steps.restore;
    await writeRestorePoint(this.o.walPath, {
      size: next.size,
      walOffset: this.integrated,
      mark: this.folded,
    });
    // Only now, the new checkpoint and restore point durable: the partials of tiles it covers
    // full go (clients read the full tile). A failure costs disk, not data.
    this.step = this.steps.removal;
    await this.tree.prunePartials(next.size).catch(this.o.onError);
  }

  inclusion(index: bigint, size: bigint): Promise<Buffer[]> {
    return checkedInclusion(this.tree.read, this.current?.size ?? 0n, index, size);
  }

  consistency(from: bigint, to: bigint): Promise<Buffer[]> {
    return checkedConsistency(this.tree.read, this.current?.size ?? 0n, from, to);
  }

  /**
   * Closes the write-ahead file and publishes a last checkpoint. Bounded: the ticks go on checking
   * meanwhile (no new rounds), and a write judged hung (see HUNG_MIN_MS) is not waited for; the log
   * says so, and every durable entry is in the write-ahead file for the next start to take in.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.start();
    let whole = false;
    try {
      const walClosed = await this.wal.close();
      const published = await this.hang.until(this.publish());
      whole = walClosed && published;
      if (!whole) {
        this.o.onError(
          new AuditLogError(
            `the audit log closed without ${walClosed ? "a last checkpoint" : "closing its write-ahead file"}: ${walClosed ? `${this.step.what} ${this.step.where}` : `a write to ${this.o.walPath}`} has not returned (a hung disk or mount?). Every entry acknowledged is durable in the write-ahead file; the next start takes them in`,
          ),
        );
      }
    } finally {
      clearInterval(this.timer);
      // Not under a tile write judged hung: it may still land on the inner-node file.
      if (whole || !this.hang.judged) this.tree.close();
    }
  }

  /**
   * The process dying, for tests: the files closed as the kernel closes them at exit, with no last
   * checkpoint and nothing cut (see Wal.crash). Only the change of the tree under way returns
   * first (the tiles' inner-node file, closed under a write, could lend its descriptor to the next
   * log's files); no change queued behind it begins, a round asked for included — its promise
   * never settles, as the process is gone. Before, every queued change ran, a round publishing its
   * checkpoint. A test that left a log open instead handed its write-ahead file to the garbage
   * collector (Node's DEP0137).
   *
   * @internal Test-only: no production path calls it.
   */
  async crash(): Promise<void> {
    this.closing = true;
    this.crashed = true;
    clearInterval(this.timer);
    await Promise.all([this.underWay, this.wal.crash()]);
    this.tree.close();
  }

  /**
   * Begins `work` as the change of the tree under way; after crash(), never (the promise returned
   * never settles: the process is gone).
   */
  private begin(work: () => Promise<void>): Promise<void> {
    if (this.crashed) return new Promise<void>(() => undefined);
    const change = work();
    this.underWay = change.catch(() => undefined);
    return change;
  }

  /** Integrates the next slice of durable entries on a later turn, unless one is already due. */
  private integrateSoon(): void {
    if (this.integrating) return;
    this.integrating = true;
    setImmediate(() => {
      this.integrating = false;
      const step = this.track(
        this.publishing.then(() =>
          this.begin(() => {
            this.step = this.steps.tiles;
            return this.integrate(INTEGRATE_SLICE);
          }),
        ),
      );
      // A failed tile write is left for the next publishing round to retry and report.
      this.publishing = step.catch(() => this.checkStall(false));
      void this.publishing.then(() => {
        if (this.durable.batches.length > 0) this.integrateSoon();
      });
    });
  }

  /** Adds up to `max` durable entries to the tree, oldest first, and writes the tiles they fill. */
  private async integrate(max: number): Promise<void> {
    let left = max;
    while (left > 0) {
      const batch = this.durable.batches[0];
      if (batch === undefined) return;
      const part =
        batch.done === 0 && batch.entries.length <= left
          ? batch.entries
          : batch.entries.slice(batch.done, batch.done + left);
      // The entries are in the tree once append has returned, even if writing their tiles fails
      // later (they are kept and written by the next call): count them in before awaiting that.
      const written = this.tree.append(part);
      batch.done += part.length;
      left -= part.length;
      if (this.o.mark !== undefined) this.folded = this.o.mark.fold(this.folded, part);
      if (batch.done === batch.entries.length) {
        this.durable.batches.shift();
        this.integrated = batch.end;
      }
      await written;
    }
  }
}

function restoreFromTiles(
  dir: string,
  point: RestorePoint,
  published: Published,
  onError: (err: unknown) => void,
): { tree: TileTree; point: RestorePoint } | null {
  let tree: TileTree;
  try {
    tree = TileTree.restore(dir, point.size, undefined, true);
  } catch (err) {
    onError(
      new AuditLogError(
        `the tiles at the restore point (${point.size} entries) cannot be used (${(err as Error).message}): the whole write-ahead file is replayed instead`,
        { cause: err },
      ),
    );
    return null;
  }
  // Smaller than the checkpoint (a crash between the two writes): the replayed tail brings the
  // tree to the checkpoint's size, where open() checks its root.
  if (point.size < published.size || tree.root().equals(published.root)) return { tree, point };
  return null;
}

async function readPublished(o: AuditLogOptions): Promise<Published | null> {
  let text: string;
  try {
    text = await readFile(join(o.dir, "checkpoint"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  let checkpoint: Checkpoint;
  try {
    ({ checkpoint } = openCheckpoint(text, o.verifier, o.origin));
  } catch (err) {
    throw new AuditLogError(
      `the published checkpoint ${join(o.dir, "checkpoint")} cannot be read: ${(err as Error).message}. If a crash cut it short (checkpoints written before 6 December 2026 were not synced), remove it: the log is then rebuilt from its write-ahead file and a new checkpoint signed`,
      { cause: err },
    );
  }
  return { size: checkpoint.size, root: checkpoint.root, text };
}
