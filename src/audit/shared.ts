/**
 * The audit log several gateway nodes write together (PostgreSQL store). Entries are appended
 * through the database, which sequences them; an entry is durable when its transaction commits,
 * and only then does the request go on. One node at a time — the integrator, holding the database's
 * advisory lock — signs checkpoints and records them there; when it dies its session ends, the lock
 * frees, and the next node to try (every checkpoint_ms) takes over.
 *
 * Every node keeps a mirror of the tree under <data_dir>/audit, rebuilt from the database at start,
 * and grows it in step with the recorded checkpoints, so it can serve tiles and proofs for exactly
 * the checkpoint it serves. A node adopts a checkpoint only after checking the signature and that
 * its own tree, built from the same entries, has that root; the integrator signs only a tree that
 * extends the last checkpoint recorded, whoever signed it. A size never gets two checkpoints (the
 * table's key), so the log cannot fork silently.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { IntegratorSeat, SharedAuditStore } from "../store/index.js";
import { openCheckpoint, signCheckpoint } from "./checkpoint.js";
import {
  AuditLogError,
  checkedConsistency,
  checkedInclusion,
  HangSignal,
  hungMs,
  INTEGRATE_SLICE,
  nextTurn,
  type AuditTrail,
  type Published,
} from "./log.js";
import { consistencyProof, treeRoot, verifyConsistency } from "./merkle.js";
import type { NoteSigner, NoteVerifier } from "./note.js";
import { TileTree, writeAtomic } from "./tree.js";
import { EntryTooLargeError, MAX_ENTRY } from "./wal.js";

export interface SharedAuditOptions {
  /** The local mirror of tiles (and the checkpoint served), rebuilt from the database at start. */
  readonly dir: string;
  readonly origin: string;
  readonly signer: NoteSigner;
  readonly verifier: NoteVerifier;
  readonly verifierKey: string;
  /** This node's name, recorded with the checkpoints it signs. */
  readonly node: string;
  readonly checkpointMs: number;
  readonly db: SharedAuditStore;
  readonly onError: (err: unknown) => void;
  /**
   * How long the integrator's session may say nothing before another node ends it and takes the
   * seat (default: LEASE_MS, or 5 rounds if longer). See SharedAuditStore.seat.
   */
  readonly leaseMs?: number;
  /** The most bytes of its own entries a node keeps for its mirror (default OWN_BYTES). */
  readonly ownBytes?: number;
  /** The clock for standing down and for judging a round hung (see checkHung); Date.now by default. */
  readonly now?: () => number;
}

/**
 * Own entries kept in memory for the mirror, at most: while checkpoints stall (an integrator frozen
 * with its session alive) they would otherwise pile up without end. The oldest go first; catching
 * up reads them back from the database like any other node's.
 */
export const OWN_BYTES = 64 * 1024 * 1024;

/**
 * An integrator whose rounds fail this many times in a row (its mirror cannot be written, its reads
 * fail) gives the seat up, and stays out of it as many rounds, so that a healthy node signs instead:
 * holding the lock while unable to sign would stop every node's checkpoints for as long as it lived.
 */
export const FAILED_ROUNDS_BEFORE_RELEASE = 3;

/**
 * The integrator's lease by default: a holder silent this long (frozen, or its backend orphaned by a
 * cut link that no keepalive has noticed yet) loses the seat to the next node to try.
 */
export const LEASE_MS = 30_000;

/**
 * A node reads the latest recorded checkpoint for a request beyond its own (see `reach`) at most
 * once this often, however many such requests come: a flood of them costs the database a query
 * per interval, not one each.
 */
export const REACH_GAP_MS = 100;

/** Entries per append transaction, at most (larger batches wait for the next round trip). */
const BATCH = 1_000;
/** Entries per read while catching up. */
const READ = 5_000;

interface Run {
  readonly first: bigint;
  readonly entries: readonly Uint8Array[];
}

interface Waiting {
  readonly entry: Uint8Array;
  readonly resolve: (index: bigint) => void;
  readonly reject: (err: Error) => void;
}

/** What a round waits for, named when it is judged hung or the log closes without it. */
interface Wait {
  readonly what: string;
  readonly why: string;
}

/** A wait on the database (the seat's session or the pool's). */
const onDatabase = (what: string): Wait => ({
  what,
  why: "a link gone silent, or a database not answering?",
});

const LATEST: Wait = onDatabase("a read of the latest checkpoint from the database");
const TILES = "a write of its mirror's tiles";
const READ_TILES = "a read of its mirror's tiles";

const end = (run: Run): bigint => run.first + BigInt(run.entries.length);
const bytes = (run: Run): number => run.entries.reduce((n, e) => n + e.length, 0);

export class SharedAuditLog implements AuditTrail {
  private current: Published | null = null;
  private waiting: Waiting[] = [];
  private appending: Promise<void> | null = null;
  /** A transaction is to start at the end of this turn of the event loop. */
  private scheduled = false;
  /**
   * Why the last append's transaction failed; null once one commits, or once a round's probe has
   * (a node out of rotation for it is sent no request whose append would clear it).
   */
  private lastFailure: Error | null = null;
  private closed = false;
  private committed = 0n;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  /**
   * This node's committed entries, one run per append in index order, until its mirror takes them
   * in: they need not be read back from the database (the transaction that committed them carried
   * exactly these bytes).
   */
  private own: Run[] = [];
  /** The integrator's rounds that failed in a row. */
  private failedRounds = 0;
  /** Not before this time (ms) does this node try to take the seat again, after giving it up. */
  private standDownUntil = 0;
  /** The bytes of the entries in `own`. */
  private ownSize = 0;
  /** The read of the latest recorded checkpoint under way for requests beyond this node's (`reach`). */
  private reading: Promise<void> | null = null;
  /** When that read last began (ms). */
  private readAt = -Infinity;
  /** A round queued behind others and not yet begun: later callers share it. */
  private queuedRound: Promise<void> | null = null;
  /**
   * When the round (or read of the latest checkpoint) under way began or last took entries into
   * the mirror (o.now's clock), or null.
   */
  private busySince: number | null = null;
  /** Why this node takes no entries though the database does: a round judged hung (see checkHung). */
  private stalled: Error | null = null;
  /**
   * The stall says a step of the round under way has not returned: how long the round had not moved
   * when judged, and when (o.now's clock), whether the node gave the seat up then, and what the
   * stall names as not having returned. Null once that round settles.
   */
  private hungStall: {
    readonly since: number;
    readonly at: number;
    readonly gaveUp: boolean;
    readonly what: string;
  } | null = null;
  /**
   * What the round (or read of the latest checkpoint) under way waits for: null once that step has
   * settled, so that no step that returned (with an error, say) is named as one that did not.
   */
  private waitingFor: Wait | null = null;
  private readonly hang = new HangSignal();

  private constructor(
    private readonly o: SharedAuditOptions,
    private readonly tree: TileTree,
    private readonly seat: IntegratorSeat,
  ) {}

  static async open(o: SharedAuditOptions): Promise<SharedAuditLog> {
    await o.db.claim(o.origin, o.verifierKey);
    // A mirror: whatever an earlier run left may belong to another log (e.g. an embedded one).
    await rm(o.dir, { recursive: true, force: true });
    const log = new SharedAuditLog(
      o,
      new TileTree(o.dir),
      o.db.seat({ leaseMs: o.leaseMs ?? Math.max(LEASE_MS, 5 * o.checkpointMs) }),
    );
    await log.publish();
    return log;
  }

  /** Entries this node knows to be committed (its own appends, and the tree it has built). */
  get size(): bigint {
    return this.committed > this.tree.size ? this.committed : this.tree.size;
  }

  get failure(): Error | null {
    return this.closed ? new AuditLogError("the audit log is closed") : (this.lastFailure ?? this.stalled);
  }

  get published(): Published | null {
    return this.current;
  }

  /** True while this node is the integrator. */
  get integrating(): boolean {
    return this.seat.held;
  }

  /** Resolves with the entry's index once its transaction has committed. */
  append(entry: Uint8Array): Promise<bigint> {
    if (this.closed) return Promise.reject(new AuditLogError("the audit log is closed"));
    if (this.stalled !== null) return Promise.reject(this.stalled);
    // Refused before it reaches the database: an entry no tile bundle can hold would stop every node.
    if (entry.length > MAX_ENTRY) return Promise.reject(new EntryTooLargeError(entry.length));
    return new Promise((resolve, reject) => {
      this.waiting.push({ entry, resolve, reject });
      this.flush();
    });
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.checkHung();
      if (!this.closed) this.publish().catch(this.o.onError);
    }, this.o.checkpointMs);
    this.timer.unref();
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** `work`, counted as what the round waits for until it settles. */
  private waitOn<T>(wait: Wait, work: Promise<T>): Promise<T> {
    this.waitingFor = wait;
    const settled = () => {
      if (this.waitingFor === wait) this.waitingFor = null;
    };
    // Registered before the caller awaits `work`: cleared before the round goes on.
    work.then(settled, settled);
    return work;
  }

  /**
   * The round (or read) under way has settled, whichever way: one judged hung is hung no more, so
   * close() and requests wait for the next as for any (a new hang is judged again at a tick). Not
   * only once one succeeds: after a judged round failed, close() skipped its last round, saying the
   * step that had failed "has not returned".
   */
  private settled(): void {
    this.busySince = null;
    this.hang.judged = false;
    this.hungStall = null;
  }

  /**
   * The round (or read) under way failed: a stall that says one of its steps has not returned is
   * said again as a failed round's, still until a round succeeds (what is true now). Before, it said
   * "… not having returned" until then, of a step that had returned with an error long since.
   */
  private failed(err: unknown): void {
    if (this.hungStall === null || this.stalled === null) return;
    const { since, gaveUp } = this.hungStall;
    this.hungStall = null;
    const why = err instanceof Error ? err.message : String(err);
    this.stalled = new AuditLogError(
      `the audit log takes no entries on this node: its round, judged hung after ${since} ms, has failed since (${why})${gaveUp ? "; it gave up the integrator's seat for another node to sign" : ""}; it resumes once a round succeeds`,
      { cause: err },
    );
    this.o.onError(this.stalled);
  }

  /** A wait on the mirror's files. */
  private onMirror(what: string): Wait {
    return { what: `${what} in ${this.o.dir}`, why: "a hung disk or mount?" };
  }

  /**
   * One round: take the integrator's seat if it is free; adopt the latest recorded checkpoint;
   * as the integrator, sign and record one for everything committed since. Rounds are serialised;
   * a call while one is queued and not yet begun shares it (behind a hung round, ticks do not pile
   * rounds up without end).
   */
  publish(): Promise<void> {
    if (this.queuedRound !== null) return this.queuedRound;
    const round = this.ticking.then(() => {
      this.queuedRound = null;
      return this.round();
    });
    this.queuedRound = round;
    this.ticking = round.catch(() => undefined);
    return round;
  }

  /**
   * At each tick: a round that has not moved for hungMs (a write of the mirror's tiles that never
   * returns: a stuck mount, a frozen disk; or a database that does not answer) would otherwise keep
   * the seat — its heartbeat goes on — and stop every node's checkpoints. The node gives the seat up
   * for another to sign, stands down as after failed rounds, and takes no entries (so /readyz is not
   * ready) until a round succeeds. The message names what the round waits for; should the round
   * fail instead, it is said again as a failed round's (see failed). Judged once a
   * round, stalled already or not: a round judged hung that failed left the node stalled, and the
   * next round that hung was never judged (close() waited for it for ever). A round judged hung
   * that moves on to another step and waits there is said again, naming that step (see moved).
   */
  private checkHung(): void {
    // A round waiting for nothing (between two steps) is moving.
    if (this.busySince === null || this.waitingFor === null) return;
    if (this.hang.judged) return this.moved(this.waitingFor);
    const since = this.now() - this.busySince;
    if (since <= hungMs(this.o.checkpointMs)) return;
    const seated = this.seat.held;
    const { what, why } = this.waitingFor;
    this.stalled = new AuditLogError(
      `the audit log takes no entries on this node: a round has not moved for ${since} ms, ${what} not having returned (${why})${seated ? "; it gave up the integrator's seat for another node to sign" : ""}; it resumes once a round succeeds`,
    );
    if (seated) {
      this.standDownUntil = this.now() + FAILED_ROUNDS_BEFORE_RELEASE * this.o.checkpointMs;
      this.seat.release().catch(this.o.onError);
    }
    this.hungStall = { since, at: this.now(), gaveUp: seated, what };
    this.o.onError(this.stalled);
    this.hang.judge();
  }

  /**
   * The round judged hung waits for `wait`: unless the stall names it already, said again naming
   * it (the step judged has returned, and the round waits at a later one). Before, the stall named
   * the step the round was judged at until the round settled, also while a later one hung.
   */
  private moved(wait: Wait): void {
    const hung = this.hungStall;
    if (hung === null || this.stalled === null || hung.what === wait.what) return;
    const out = hung.since + (this.now() - hung.at);
    this.stalled = new AuditLogError(
      `the audit log takes no entries on this node: a round judged hung after ${hung.since} ms has moved on since but not returned for ${out} ms, ${wait.what} not having returned (${wait.why})${hung.gaveUp ? "; it gave up the integrator's seat for another node to sign" : ""}; it resumes once a round succeeds`,
    );
    this.hungStall = { ...hung, what: wait.what };
    this.o.onError(this.stalled);
  }

  async inclusion(index: bigint, size: bigint): Promise<Buffer[]> {
    await this.reach(size);
    return checkedInclusion(this.tree.read, this.current?.size ?? 0n, index, size);
  }

  async consistency(from: bigint, to: bigint): Promise<Buffer[]> {
    await this.reach(to);
    return checkedConsistency(this.tree.read, this.current?.size ?? 0n, from, to);
  }

  /**
   * Catches up on demand: behind a load balancer a client reads checkpoint N from the node that
   * signed it and its tiles or proofs from another, which adopts N only on its next round (up to
   * checkpoint_ms later) — so a request beyond this node's checkpoint first has it adopt the latest
   * recorded one (the usual checks: signature, its own tree's root). One read at a time, shared by
   * every request waiting, and at most one every REACH_GAP_MS; a second if the first began before
   * the checkpoint asked for could have been recorded. Resolves either way: the caller then answers
   * from what is served.
   */
  async reach(size: bigint): Promise<void> {
    // Not behind a round judged hung: the request is answered from what is served.
    for (let i = 0; i < 2 && size > (this.current?.size ?? 0n) && !this.closed; i++)
      if (!(await this.hang.until(this.readLatest()))) return;
  }

  private readLatest(): Promise<void> {
    this.reading ??= (async () => {
      const wait = this.readAt + REACH_GAP_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      this.readAt = Date.now();
      const step = this.ticking.then(async () => {
        if (this.closed) return;
        this.busySince = this.now();
        try {
          const latest = await this.waitOn(LATEST, this.o.db.latestCheckpoint());
          if (latest !== null) await this.adopt(latest);
        } catch (err) {
          this.failed(err);
          throw err;
        } finally {
          this.settled();
        }
      });
      this.ticking = step.catch(() => undefined);
      await step.catch((err: unknown) => this.o.onError(err));
    })().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  /**
   * Commits what is waiting, publishes a last checkpoint if this node is the integrator, and gives
   * the seat up. Bounded: the ticks go on judging (no new rounds), and a round judged hung is not
   * waited for; the log says so (every entry it took is committed in the database).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.start();
    while (this.appending !== null || this.scheduled)
      await (this.appending ?? new Promise((resolve) => setImmediate(resolve)));
    this.closed = true;
    // A last checkpoint for what this node committed, if it is the integrator; then the seat is free.
    const settled = await this.hang.until(this.publish()).catch((err: unknown) => {
      this.o.onError(err);
      return true;
    });
    clearInterval(this.timer);
    if (settled) this.tree.close();
    else {
      // The mirror's inner-node file stays open: the round, should its wait return, writes on.
      // Judged hung and not settled: a step is out, unless the round is between two (a moment).
      const { what, why } = this.waitingFor ?? { what: "its round", why: "judged hung" };
      this.o.onError(
        new AuditLogError(
          `the audit log closed without a last round: ${what} has not returned (${why}). Every entry this node took is committed in the database; the seat is given up for another node to sign them`,
        ),
      );
    }
    // Bounded too: a session that does not end in a few seconds (a silent link) is dropped, and said.
    await this.seat.close().catch(this.o.onError);
  }

  /**
   * Group commit: one transaction in flight; what arrives meanwhile goes in the next one. The next
   * one starts after this turn of the event loop has run its I/O callbacks (setImmediate), so the
   * entries of every request that turn brings go together: a transaction costs this node far more
   * CPU (the driver, the socket) than an entry in it does.
   */
  private flush(): void {
    if (this.appending !== null || this.waiting.length === 0 || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    if (this.appending !== null || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, BATCH);
    this.appending = this.o.db
      .append(batch.map((w) => w.entry))
      .then(
        (first) => {
          this.lastFailure = null;
          const end = first + BigInt(batch.length);
          if (end > this.committed) this.committed = end;
          if (end > this.tree.size) this.remember({ first, entries: batch.map((w) => w.entry) });
          batch.forEach((w, i) => w.resolve(first + BigInt(i)));
        },
        (err: unknown) => {
          // Nothing was committed (one transaction): refuse these requests, try again with the next.
          const cause = err instanceof Error ? err : new Error(String(err));
          this.lastFailure = cause;
          const refused = new AuditLogError(`the database did not take the entry: ${cause.message}`, {
            cause,
          });
          for (const w of batch) w.reject(refused);
        },
      )
      .finally(() => {
        this.appending = null;
        this.flush();
      });
  }

  private async round(): Promise<void> {
    this.busySince = this.now();
    try {
      await this.probe();
      if (!this.seat.held && this.now() >= this.standDownUntil)
        await this.waitOn(
          onDatabase("an attempt to take the integrator's seat in the database"),
          this.seat.acquire(),
        ).catch(this.o.onError);
      const integrating = this.seat.held;
      try {
        const latest = await this.waitOn(LATEST, this.o.db.latestCheckpoint());
        if (latest !== null) await this.adopt(latest);
        if (this.seat.held) await this.sign();
        this.failedRounds = 0;
        this.stalled = null;
      } catch (err) {
        this.failed(err);
        if (integrating && ++this.failedRounds >= FAILED_ROUNDS_BEFORE_RELEASE) {
          this.failedRounds = 0;
          this.standDownUntil = this.now() + FAILED_ROUNDS_BEFORE_RELEASE * this.o.checkpointMs;
          await this.waitOn(
            onDatabase("the release of the integrator's seat in the database"),
            this.seat.release(),
          ).catch(this.o.onError);
        }
        throw err;
      }
    } finally {
      this.settled();
    }
  }

  /**
   * After a failed append with none since: the append statement with no entries, on the appends'
   * own connections (a write: a database that only reads does not pass), so that the log says it
   * takes entries again once the database does. Never rejects.
   */
  private async probe(): Promise<void> {
    const failed = this.lastFailure;
    if (failed === null || this.appending !== null || this.waiting.length > 0) return;
    try {
      await this.waitOn(onDatabase("a probe append to the database"), this.o.db.append([]));
      if (this.lastFailure === failed) this.lastFailure = null;
    } catch (err) {
      if (this.lastFailure === failed) this.lastFailure = err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Keeps a committed run for the mirror, in index order (one append is in flight at a time). */
  private remember(run: Run): void {
    const last = this.own.at(-1);
    this.own.push(run);
    this.ownSize += bytes(run);
    if (last !== undefined && last.first > run.first) this.own.sort((a, b) => (a.first < b.first ? -1 : 1));
    const limit = this.o.ownBytes ?? OWN_BYTES;
    while (this.ownSize > limit && this.own.length > 0) this.forget();
  }

  /** Drops the oldest run kept. */
  private forget(): void {
    const run = this.own.shift();
    if (run !== undefined) this.ownSize -= bytes(run);
  }

  /**
   * Grows the mirror to `size` entries in order: this node's own from memory, the others' read from
   * the database — every range between two of its own runs in one query (a round trip per round,
   * not one per run of another node's entries), up to READ entries at a time.
   */
  private async catchUp(size: bigint): Promise<void> {
    while (this.tree.size < size) {
      const from = this.tree.size;
      // Runs the mirror has already taken in (read from the database while their commit was being
      // acknowledged) are dropped; one it has partly taken in is cut.
      while (this.own.length > 0 && end(this.own[0]!) <= from) this.forget();
      const pieces: (Run | { from: bigint; to: bigint })[] = [];
      const ranges: { from: bigint; to: bigint }[] = [];
      let at = from;
      let reading = 0n;
      let k = 0;
      while (at < size) {
        const run = this.own[k];
        if (run !== undefined && run.first <= at) {
          const skip = Number(at - run.first);
          const take = Math.min(run.entries.length - skip, Number(size - at));
          pieces.push({ first: at, entries: run.entries.slice(skip, skip + take) });
          at += BigInt(take);
          k++;
          continue;
        }
        if (reading >= BigInt(READ)) break;
        let to = run !== undefined && run.first < size ? run.first : size;
        if (to - at > BigInt(READ) - reading) to = at + BigInt(READ) - reading;
        pieces.push({ from: at, to });
        ranges.push({ from: at, to });
        reading += to - at;
        at = to;
      }
      const read =
        ranges.length === 0
          ? []
          : await this.waitOn(
              onDatabase("a read of entries from the database"),
              this.o.db.readRanges(ranges),
            );
      if (BigInt(read.length) !== reading) {
        throw new AuditLogError(
          `the database holds fewer than ${size} entries (${read.length} of ${reading} read from index ${from}): entries are missing`,
        );
      }
      // Rounds are serialised, so nothing else grows the mirror meanwhile; if it did, plan again.
      if (this.tree.size !== from) continue;
      const all: Uint8Array[] = [];
      let r = 0;
      for (const piece of pieces) {
        if ("entries" in piece) for (const e of piece.entries) all.push(e);
        else for (let i = piece.from; i < piece.to; i++) all.push(read[r++]!);
      }
      // In slices, a turn of the event loop each: a mirror catching up on thousands of entries
      // must not hold up the requests in flight meanwhile.
      for (let i = 0; i < all.length; i += INTEGRATE_SLICE) {
        if (i > 0) await nextTurn();
        await this.waitOn(this.onMirror(TILES), this.tree.append(all.slice(i, i + INTEGRATE_SLICE)));
        // A long catch-up is moving, not hung (see checkHung).
        this.busySince = this.now();
      }
    }
    while (this.own.length > 0 && end(this.own[0]!) <= this.tree.size) this.forget();
  }

  private async adopt(latest: { size: bigint; note: string }): Promise<void> {
    if (this.current !== null && latest.size <= this.current.size) return;
    const { checkpoint } = openCheckpoint(latest.note, this.o.verifier, this.o.origin);
    await this.catchUp(checkpoint.size);
    const root = await this.waitOn(this.onMirror(READ_TILES), treeRoot(this.tree.read, checkpoint.size));
    if (!root.equals(checkpoint.root)) {
      throw new AuditLogError(
        `the checkpoint recorded for size ${checkpoint.size} does not match the entries in the database`,
      );
    }
    // The mirror may be ahead (it signed, then lost the seat): the next checkpoint will reach it.
    if (this.tree.size === checkpoint.size)
      await this.show({ size: checkpoint.size, root: checkpoint.root, text: latest.note });
  }

  private async sign(): Promise<void> {
    await this.catchUp(
      await this.waitOn(onDatabase("a read of the log's size from the database"), this.o.db.size()),
    );
    const last = this.current;
    const size = this.tree.size;
    if (last !== null && last.size === size) return;
    const root = this.tree.root();
    if (last !== null && last.size > 0n) {
      // Never sign a tree that does not extend the last checkpoint, whoever signed that one.
      verifyConsistency(
        last.size,
        size,
        await this.waitOn(this.onMirror(READ_TILES), consistencyProof(this.tree.read, last.size, size)),
        last.root,
        root,
      );
    }
    const text = signCheckpoint({ origin: this.o.origin, size, root, extensions: [] }, this.o.signer);
    await this.waitOn(
      onDatabase("the recording of its checkpoint in the database"),
      this.seat.publish({ size, root, note: text, node: this.o.node }),
    );
    await this.show({ size, root, text });
  }

  /** Serves a checkpoint: the tiles it needs, then the checkpoint itself. */
  private async show(p: Published): Promise<void> {
    if (this.tree.size !== p.size)
      throw new AuditLogError(`the mirror is at ${this.tree.size}, not ${p.size}`);
    await this.waitOn(this.onMirror(TILES), this.tree.writePartials());
    await this.waitOn(
      this.onMirror("a write of its mirror's checkpoint"),
      writeAtomic(join(this.o.dir, "checkpoint"), Buffer.from(p.text)),
    );
    this.current = p;
    // As the log's own tree does: a checkpoint's partials stay until their tile is full.
    await this.waitOn(this.onMirror(TILES), this.tree.prunePartials(p.size)).catch(this.o.onError);
  }
}
