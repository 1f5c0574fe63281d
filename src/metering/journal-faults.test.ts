/**
 * The usage journal when its disk fails (from a maintainer's read): a segment whose file cannot be
 * removed keeps its record, so the next start does not write it again; a timer's append that fails
 * puts its usage back for the next; a stop that can keep neither says the usage is lost instead of
 * kept, even when the store took every batch but the stop's last cut could not be appended, and a
 * stop keeping some counts only those as kept; rows the journal could not append in a batch the
 * store took are not said lost; a stop that keeps usage fsyncs the directory too; a disk failing for minutes is said once a
 * minute, not every append, and leaves no empty segments, and one failing on and off is said once a
 * minute too (its recovery as well); renames to `.written` are fsynced before their records are
 * dropped; a batch no segment holds is recorded under a marker, so an error after its commit does not
 * write it twice, and a start ignores the marker; the metrics count failed appends and rows
 * the store has not taken; and two nodes' names never make one journal directory. From maintainer's
 * read 1: every run of failures is said (one soon after a recovery too), a stop whose flush throws
 * still stops the journal's appends, and a journal directory that is a symbolic link is followed when
 * a start drops the records no file names.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs, { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { GatewayMetrics } from "../monitoring/index.js";
import { journalDir, Meter, pruneJournal, replayJournal, UsageJournal } from "./index.js";
import { flakyUsageStore } from "../testing/flaky-usage.js";
import { FAILING_REPORT_MS } from "./journal.js";

const root = mkdtempSync(join(tmpdir(), "clearance-journal-faults-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);

/** A file system call that fails while `failing` holds (the module's own bindings, as journal.ts imports them). */
const real = {
  unlinkSync: fs.unlinkSync,
  renameSync: fs.renameSync,
  openSync: fs.openSync,
  writeSync: fs.writeSync,
  fsyncSync: fs.fsyncSync,
  closeSync: fs.closeSync,
};
const failing = { remove: false, create: false, write: false, close: false, dirsync: false };
/** The paths of descriptors opened, and those fsynced, in order. */
const opened = new Map<number, string>();
const synced: string[] = [];
function fault(code: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}`), { code });
}
(fs as { unlinkSync: typeof fs.unlinkSync }).unlinkSync = (path) => {
  if (failing.remove) throw fault("EROFS", `read-only file system, unlink '${String(path)}'`);
  real.unlinkSync(path);
};
(fs as { renameSync: typeof fs.renameSync }).renameSync = (from, to) => {
  if (failing.remove) throw fault("EROFS", `read-only file system, rename '${String(from)}'`);
  real.renameSync(from, to);
};
(fs as { openSync: unknown }).openSync = (path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
  if (failing.create && flags === "ax") throw fault("EMFILE", `too many open files, open '${String(path)}'`);
  const fd = real.openSync(path, flags ?? "r", mode);
  opened.set(fd, String(path));
  return fd;
};
(fs as { writeSync: unknown }).writeSync = (fd: number, buffer: Buffer, offset?: number) => {
  if (failing.write) throw fault("ENOSPC", "no space left on device, write");
  return real.writeSync(fd, buffer, offset);
};
(fs as { closeSync: unknown }).closeSync = (fd: number) => {
  real.closeSync(fd);
  if (failing.close) throw fault("EIO", "i/o error, close");
};
(fs as { fsyncSync: unknown }).fsyncSync = (fd: number) => {
  if (failing.dirsync && fs.statSync(opened.get(fd)!).isDirectory()) throw fault("EIO", "i/o error, fsync");
  real.fsyncSync(fd);
  synced.push(opened.get(fd) ?? `fd ${fd}`);
};
syncBuiltinESMExports();
afterEach(() => {
  failing.remove = false;
  failing.create = false;
  failing.write = false;
  failing.close = false;
  failing.dirsync = false;
  synced.length = 0;
});

const erik = (inputTokens: number) => ({
  principalId: "erik",
  organizationId: "acme",
  licenseId: "lic-1",
  model: "m",
  inputTokens,
  outputTokens: 0,
});
const total = async (store: Store) => (await store.usage.totals()).byLicense["lic-1"] ?? 0;

describe("the usage journal when its disk fails", () => {
  it("a segment whose file cannot be removed keeps its record: the next start does not write it again", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const errors: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    meter.record(erik(100), Date.now());
    failing.remove = true; // the batch commits with its segment recorded; the file stays
    await meter.flush();
    failing.remove = false;
    meter.record(erik(1), Date.now());
    await meter.flush(); // before: this batch dropped the first one's record
    await meter.close();
    expect(errors.join("\n")).toMatch(/EROFS/);
    expect(readdirSync(journal.dir)).toHaveLength(1);
    expect(await total(store)).toBe(101);
    await replayJournal(
      store,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(await total(store)).toBe(101); // was 201: the segment written twice
    await store.close();
  });

  it("a timer's append that fails puts its usage back: the next append journals it, and a crash keeps it", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const errors: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    meter.record(erik(50), Date.now());
    failing.create = true; // the process at its file limit
    journal.append();
    failing.create = false;
    journal.append();
    meter.crash();
    expect(errors.join("\n")).toMatch(/EMFILE/);
    await replayJournal(
      store,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(await total(store)).toBe(50); // was 0: the failed append's usage was dropped from the journal
    await store.close();
  });

  it("a stop whose store refuses usage the journal could not append says it is lost, not kept", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = () => Promise.reject(new Error("store down"));
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const errors: string[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
    const meter = new Meter(
      store,
      (e) => errors.push((e as Error).message),
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(50), Date.now());
    failing.create = true; // every append fails, the flushes' too
    await meter.close();
    expect(errors).toContain(
      "usage lost at this stop: 1 row of usage the journal could not append (its error was said) and the store did not take",
    );
    expect(notices).toEqual([]);
    await opened.close();
  });

  it("a stop whose last cut cannot be journaled says those rows lost, though the store took every batch", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    let adds = 0;
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = async (rows, journal) => {
      adds += 1;
      // Requests ending while the stop's batches are written; the process at its file limit after.
      if (adds === 1) meter.record(erik(10), Date.now());
      if (adds === 2) {
        meter.record(erik(7), Date.now());
        failing.create = true;
      }
      return opened.usage.add(rows, journal);
    };
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const errors: string[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push((e as Error).message));
    // Declared after the store's wrapper, which calls it only once the stop writes.
    const meter: Meter = new Meter(
      store,
      (e) => errors.push((e as Error).message),
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(100), Date.now());
    await meter.close();
    failing.create = false;
    expect(await total(opened)).toBe(110);
    // Before: only the journal's EMFILE was said, nothing of the 7 tokens lost.
    expect(errors).toEqual([
      expect.stringMatching(/^usage journal .*: EMFILE: too many open files/),
      "usage lost at this stop: 1 row of usage the journal could not append (its error was said) and the store did not take",
    ]);
    expect(notices).toEqual([]);
    expect(readdirSync(journal.dir)).toEqual([]);
    await opened.close();
  });

  it("a stop keeping some usage and losing the rest says each: the notice counts only the rows kept", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = () => Promise.reject(new Error("store down"));
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const errors: string[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(
      store,
      (e) => errors.push((e as Error).message),
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(100), Date.now());
    journal.append(); // in a segment
    meter.record({ ...erik(50), principalId: "bob" }, Date.now());
    failing.write = true; // the disk full: the stop's cut cannot append bob's row
    await meter.close();
    failing.write = false;
    expect(errors).toEqual([
      "store down",
      "usage lost at this stop: 1 row of usage the journal could not append (its error was said) and the store did not take",
    ]);
    // Before: "(2 rows) is kept", the lost row counted as kept.
    expect(notices).toEqual([
      `usage the store did not take before the stop (1 row; 1 row more the journal could not append, lost) is kept in ${journal.dir}, and written to the store at the next start`,
    ]);
    expect(
      await replayJournal(
        opened,
        journal.dir,
        () => undefined,
        () => undefined,
      ),
    ).toBe(1);
    expect(await total(opened)).toBe(100);
    await opened.close();
  });

  it("rows the journal could not append, in a batch the store took, are not said lost by a later stop the store refuses", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    let down = false;
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = (rows, journal) =>
      down ? Promise.reject(new Error("store down")) : opened.usage.add(rows, journal);
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const errors: string[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(
      store,
      (e) => errors.push((e as Error).message),
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(50), Date.now());
    failing.create = true;
    await meter.flush(); // the cut cannot append; the store takes the batch
    failing.create = false;
    meter.record(erik(5), Date.now());
    down = true;
    await meter.close();
    expect(errors).toEqual(["store down"]);
    expect(notices).toEqual([
      `usage the store did not take before the stop (1 row) is kept in ${journal.dir}, and written to the store at the next start`,
    ]);
    await replayJournal(
      opened,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(await total(opened)).toBe(55);
    await opened.close();
  });

  it("rows the journal could not append, in a batch the store took despite an error, are not said lost by a later stop the store refuses", async () => {
    const dataDir = freshDir();
    const { real: opened, state, store } = await flakyUsageStore(dataDir);
    const errors: string[] = [];
    const notices: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(
      store,
      (e) => errors.push((e as Error).message),
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(100), Date.now());
    journal.append(); // in a segment, which the batch records
    meter.record({ ...erik(50), principalId: "bob" }, Date.now());
    failing.write = true; // the cut cannot append bob's row
    state.mode = "fails-after-commit";
    await meter.flush(); // committed, the client sees an error: kept
    failing.write = false;
    state.mode = "takes";
    await meter.flush(); // nothing new; the kept batch found taken
    meter.record(erik(5), Date.now());
    state.mode = "down";
    await meter.close();
    // Before: "usage lost at this stop: 1 row", bob's row, which the store holds.
    expect(errors).toEqual(["connection lost after the commit", "store down"]);
    expect(notices).toEqual([
      `usage the store did not take before the stop (1 row) is kept in ${journal.dir}, and written to the store at the next start`,
    ]);
    await replayJournal(
      opened,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(await total(opened)).toBe(155);
    await opened.close();
  });

  it("a stop asks the store about a batch only a marker covers whose write reported an error: taken, not said lost; the store out of reach, said it cannot tell", async () => {
    const dataDir = freshDir();
    const { real: opened, state, store } = await flakyUsageStore(dataDir);
    const stop = async (mode: "fails-after-commit" | "down") => {
      const errors: string[] = [];
      const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
      const meter = new Meter(store, (e) => errors.push((e as Error).message), journal);
      meter.record(erik(100), Date.now());
      failing.write = true; // the stop's flush cannot append: the batch recorded under a marker
      state.mode = mode;
      await meter.close();
      failing.write = false;
      state.mode = "takes";
      return errors;
    };
    // Before: "usage lost at this stop: 1 row …", though the store holds it.
    expect(await stop("fails-after-commit")).toEqual(["connection lost after the commit"]);
    expect(await total(opened)).toBe(100);
    // Before: "usage lost at this stop: 1 row …", which nobody could know.
    expect(await stop("down")).toEqual([
      "store down",
      "usage perhaps lost at this stop: 1 row of usage the journal could not append (its error was said), in a batch whose write reported an error; whether the store took it cannot be told, the store could not be asked (store down)",
    ]);
    await opened.close();
  });

  it("a stop that keeps usage the store refused fsyncs its segments, then their directory", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = () => Promise.reject(new Error("store down"));
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const notices: string[] = [];
    const meter = new Meter(
      store,
      () => undefined,
      journal,
      (l) => notices.push(l),
    );
    meter.record(erik(50), Date.now());
    journal.append();
    await meter.close();
    expect(notices).toHaveLength(1); // kept
    const [segment] = readdirSync(journal.dir);
    // Before: the directory was not fsynced, so a power cut could lose the segment's name.
    expect(synced).toEqual([join(journal.dir, segment!), journal.dir]);
    await opened.close();
  });

  it("a disk refusing appends for minutes is said once, then once a minute, then once when appends work again; it leaves no empty segment per attempt", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const errors: string[] = [];
    const notices: string[] = [];
    let now = Date.parse("2026-03-01T10:00:00Z");
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push((e as Error).message), {
      notice: (l) => notices.push(l),
      now: () => now,
    });
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    meter.record(erik(50), Date.now());
    failing.write = true; // the disk full: each timer's append opens a segment and cannot write it
    for (let i = 0; i < 50; i++, now += 100) journal.append();
    // Before: 50 errors, and 50 empty segments left.
    expect(errors).toEqual([`usage journal ${journal.dir}: ENOSPC: no space left on device, write`]);
    expect(readdirSync(journal.dir)).toEqual([]);
    now += FAILING_REPORT_MS;
    journal.append();
    journal.append();
    expect(errors.slice(1)).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write (51 appends failed since 2026-03-01T10:00:00.000Z, each put back for the next)`,
    ]);
    expect(journal.appendFailures).toBe(52);
    expect(journal.pendingRows).toBe(0);
    failing.write = false;
    journal.append();
    journal.append(); // nothing more to say
    expect(notices).toEqual([
      `usage journal ${journal.dir}: appending again (52 appends failed since 2026-03-01T10:00:00.000Z)`,
    ]);
    expect(errors).toHaveLength(2);
    expect(journal.pendingRows).toBe(1);
    expect(readdirSync(journal.dir)).toHaveLength(1);
    meter.crash();
    await replayJournal(
      store,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(await total(store)).toBe(50); // the usage put back each time, journaled once
    await store.close();
  });

  it("a disk failing every other append is said once a minute, and its recovery too, not at each failure", () => {
    const dataDir = freshDir();
    const errors: string[] = [];
    const notices: string[] = [];
    let now = Date.parse("2026-03-01T10:00:00Z");
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push((e as Error).message), {
      notice: (l) => notices.push(l),
      now: () => now,
    });
    const row = { ...erik(1), requests: 1, at: new Date(now).toISOString() };
    // 10 seconds of appends, a request before each; every other one fails, and so does closing its segment.
    const flap = (from: number, to: number) => {
      for (let i = from; i < to; i++, now += 100) {
        journal.note("k", { ...row });
        failing.write = failing.close = i % 2 === 0;
        journal.append();
      }
    };
    flap(0, 100);
    // Before: 50 errors and 50 "appending again" (and each closing error said apart, unlimited). The
    // run after the recovery said is said once too (its first failure), then counted.
    expect(errors).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write; closing its segment: EIO: i/o error, close`,
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write; closing its segment: EIO: i/o error, close`,
    ]);
    expect(notices).toEqual([
      `usage journal ${journal.dir}: appending again (1 append failed since 2026-03-01T10:00:00.000Z)`,
    ]);
    expect(journal.appendFailures).toBe(50);
    now += FAILING_REPORT_MS;
    flap(0, 2);
    expect(errors.slice(2)).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write (50 appends failed since 2026-03-01T10:00:00.200Z, each put back for the next); closing its segment: EIO: i/o error, close`,
    ]);
    expect(notices.slice(1)).toEqual([
      `usage journal ${journal.dir}: appending again (50 appends failed since 2026-03-01T10:00:00.200Z)`,
    ]);
    journal.close();
  });

  it("a failure soon after a recovery that was said is said too, though its own recovery comes too soon to be said", () => {
    const errors: string[] = [];
    const notices: string[] = [];
    let now = Date.parse("2026-03-01T10:00:00Z");
    const journal = new UsageJournal(journalDir(freshDir(), ""), (e) => errors.push((e as Error).message), {
      notice: (l) => notices.push(l),
      now: () => now,
    });
    const append = (fails: boolean) => {
      journal.note("k", { ...erik(1), requests: 1, at: new Date(now).toISOString() });
      failing.write = fails;
      journal.append();
      now += 1_000;
    };
    append(true); // said
    append(false); // its recovery said
    append(true); // a second run, within the minute
    append(false); // its recovery too soon to be said; nothing fails after it
    // Before: only the first: the second run reached neither the log's errors nor the error metric.
    expect(errors).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write`,
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write`,
    ]);
    expect(notices).toEqual([
      `usage journal ${journal.dir}: appending again (1 append failed since 2026-03-01T10:00:00.000Z)`,
    ]);
    journal.close();
  });

  it("a stop whose flush throws still stops the journal: nothing is appended after it", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = () => Promise.reject(new Error("store down"));
    const store = Object.assign(Object.create(opened) as Store, { usage });
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
      // Saying the store's refusal fails too (a log whose destination is gone): the flush throws.
      const meter = new Meter(
        store,
        (err) => {
          throw new Error(`not said: ${(err as Error).message}`);
        },
        journal,
      );
      meter.start(3_600_000, 100);
      meter.record(erik(5), Date.now());
      await expect(meter.close()).rejects.toThrow("not said: store down");
      const left = readdirSync(journal.dir);
      meter.record(erik(1), Date.now()); // a request ending during the stop
      vi.advanceTimersByTime(100);
      // Before: the journal's timer appended a new segment after the stop (its lock let go by the
      // gateway), one a next start in the process could replay while it is appended to.
      expect(readdirSync(journal.dir)).toEqual(left);
    } finally {
      vi.useRealTimers();
      await opened.close();
    }
  });

  it("a flush's cut that fails is said as left to its batch, not put back for the next", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const errors: string[] = [];
    let now = Date.parse("2026-03-01T10:00:00Z");
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push((e as Error).message), {
      now: () => now,
    });
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    failing.write = true;
    for (let i = 0; i < 3; i++, now += FAILING_REPORT_MS / 2) {
      meter.record(erik(10), Date.now());
      await meter.flush(); // each cut's append fails: its row goes with that batch only
    }
    // Before: "… each put back for the next", though no flush's cut puts anything back.
    expect(errors).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write`,
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write (3 appends failed since 2026-03-01T10:00:00.000Z, each at a flush, its usage only in that flush's batch, not journaled)`,
    ]);
    meter.record(erik(1), Date.now());
    journal.append(); // the timer's: put back
    meter.record(erik(1), Date.now());
    now += FAILING_REPORT_MS;
    await meter.flush();
    expect(errors.slice(2)).toEqual([
      `usage journal ${journal.dir}: ENOSPC: no space left on device, write (5 appends failed since 2026-03-01T10:00:00.000Z: 1 put back for the next, 4 at a flush, their usage only in that flush's batch, not journaled)`,
    ]);
    expect(await total(store)).toBe(32); // each batch taken, as it says
    failing.write = false;
    await meter.close();
    await store.close();
  });

  it("a directory sync failing at each flush is said once a minute, and its recovery once", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const errors: string[] = [];
    const notices: string[] = [];
    let now = Date.parse("2026-03-01T10:00:00Z");
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push((e as Error).message), {
      notice: (l) => notices.push(l),
      now: () => now,
    });
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    const flushes = async (count: number) => {
      for (let i = 0; i < count; i++, now += 100) {
        meter.record(erik(1), Date.now());
        journal.append();
        await meter.flush(); // from the second on, drops the records of written segments: syncs first
      }
    };
    failing.dirsync = true;
    await flushes(50);
    // Before: 49 errors, one a flush.
    expect(errors).toEqual([
      `usage journal ${journal.dir}: its directory cannot be synced (EIO: i/o error, fsync): the store keeps the records of written segments until a sync works`,
    ]);
    now += FAILING_REPORT_MS;
    await flushes(2);
    expect(errors.slice(1)).toEqual([
      `usage journal ${journal.dir}: its directory cannot be synced (EIO: i/o error, fsync; 50 syncs failed since 2026-03-01T10:00:00.100Z): the store keeps the records of written segments until a sync works`,
    ]);
    failing.dirsync = false;
    await flushes(3);
    expect(notices).toEqual([
      `usage journal ${journal.dir}: syncing its directory again (51 syncs failed since 2026-03-01T10:00:00.100Z)`,
    ]);
    expect(errors).toHaveLength(2);
    await meter.close();
    expect(readdirSync(journal.dir)).toEqual([]); // the records kept meanwhile dropped, and their files
    expect(await total(store)).toBe(55);
    await store.close();
  });

  it("a batch dropping written segments' records fsyncs the journal's directory first, once; so does a start's replay", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    usage.add = (rows, journal) => {
      if ((journal?.forget?.length ?? 0) > 0) synced.push(`add forgetting ${journal!.forget!.join(",")}`);
      return opened.usage.add(rows, journal);
    };
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(store, () => undefined, journal);
    meter.record(erik(5), Date.now());
    journal.append();
    const [first] = readdirSync(journal.dir);
    const segment = first!.replace(".jsonl", "");
    await meter.flush(); // recorded, its file renamed `.written`
    expect(synced).toEqual([]);
    meter.record(erik(7), Date.now());
    journal.append();
    await meter.flush(); // drops the first segment's record
    // Before: no fsync, so a power cut could lose the rename while the record's removal stays: replayed, counted twice.
    expect(synced).toEqual([journal.dir, `add forgetting ${segment}`]);
    meter.record(erik(1), Date.now());
    journal.append();
    meter.crash(); // a `.jsonl` and a `.written` left
    synced.length = 0;
    await replayJournal(
      store,
      journal.dir,
      () => undefined,
      () => undefined,
    );
    expect(synced).toEqual([journal.dir, expect.stringMatching(/^add forgetting /)]);
    expect(await total(opened)).toBe(13);
    await opened.close();
  });

  it("a batch no segment holds (its append failed), whose write reports an error after its commit, is written once", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    const markers: string[] = [];
    let failAfterCommit = true;
    usage.add = async (rows, journal) => {
      await opened.usage.add(rows, journal);
      markers.push(...(journal?.written ?? []));
      if (failAfterCommit) {
        failAfterCommit = false;
        throw new Error("connection lost after the commit");
      }
    };
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const errors: string[] = [];
    const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
    const meter = new Meter(store, (e) => errors.push(String(e)), journal);
    meter.record(erik(100), Date.now());
    failing.write = true; // the flush's cut cannot append: no segment holds the batch
    await meter.flush();
    failing.write = false;
    expect(readdirSync(journal.dir)).toEqual([]);
    expect(markers).toHaveLength(1); // recorded under a marker instead
    await meter.flush(); // the store is asked about the marker: taken, not written again
    // Before: written again, 200.
    expect(await total(opened)).toBe(100);
    const [marker] = markers;
    expect(await opened.usage.journaled([marker!])).toEqual([marker]); // dropped with the next batch
    meter.record(erik(1), Date.now());
    await meter.flush();
    expect(await opened.usage.journaled([marker!])).toEqual([]);
    expect(await total(opened)).toBe(101);
    expect(errors).toEqual([
      `Error: usage journal ${journal.dir}: ENOSPC: no space left on device, write`,
      "Error: connection lost after the commit",
    ]);
    await meter.close();
    await opened.close();
  });

  it("a marker left in the store by a crash is no segment to a start: nothing replayed, nothing said", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    const written: string[] = [];
    usage.add = async (rows, journal) => {
      written.push(...(journal?.written ?? []));
      return opened.usage.add(rows, journal);
    };
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(store, () => undefined, journal);
    meter.record(erik(9), Date.now());
    failing.write = true;
    await meter.flush(); // taken under a marker
    failing.write = false;
    meter.crash();
    expect(written).toHaveLength(1);
    expect(await opened.usage.journaled(written)).toEqual(written);
    const said: unknown[] = [];
    const replayed = await replayJournal(
      store,
      journal.dir,
      (l) => said.push(l),
      (e) => said.push(e),
    );
    expect({ replayed, said, total: await total(opened) }).toEqual({ replayed: 0, said: [], total: 9 });
    await opened.close();
  });

  it("a start drops the markers its journal's crash left, no other node's; over the embedded store, every record no file names", async () => {
    const dataDir = freshDir();
    const opened = await openStore({ dataDir });
    const usage = Object.create(opened.usage) as Store["usage"];
    const recorded: string[] = [];
    usage.add = async (rows, journal) => {
      recorded.push(...(journal?.written ?? []));
      return opened.usage.add(rows, journal);
    };
    const store = Object.assign(Object.create(opened) as Store, { usage });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(store, () => undefined, journal);
    meter.record(erik(9), Date.now());
    failing.write = true;
    await meter.flush(); // taken under a marker
    failing.write = false;
    meter.crash(); // before the next batch could drop it
    const [mine] = recorded;
    expect(mine!.startsWith(journal.markerPrefix!)).toBe(true);
    // Another node's marker; a record from before item 686 (its file long gone); and two whose files
    // are still there, in another node's directory: a `.jsonl` (a start there asks about it) and a `.written`.
    const other = new UsageJournal(journalDir(dataDir, "gw-2"), () => undefined);
    const [theirs, old, pending, written] = [other.marker(), randomUUID(), randomUUID(), randomUUID()];
    writeFileSync(join(other.dir, `${pending}.jsonl`), "");
    writeFileSync(join(other.dir, `${written}.written`), "");
    await opened.usage.add([], { written: [theirs, old, pending, written] });
    const errors: unknown[] = [];
    // The next start: the same directory, the same id.
    const restarted = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    expect(restarted.markerPrefix).toBe(journal.markerPrefix);
    await replayJournal(
      opened,
      restarted.dir,
      () => undefined,
      (e) => errors.push(e),
    );
    // Before: nothing dropped them, ever.
    expect(await pruneJournal(opened, restarted, { everyNode: false }, (e) => errors.push(e))).toBe(1);
    const all = [mine!, theirs, old, pending, written];
    expect(await opened.usage.journaled(all)).toEqual([theirs, old, pending, written]);
    expect(await pruneJournal(opened, restarted, { everyNode: true }, (e) => errors.push(e))).toBe(2);
    expect(await opened.usage.journaled(all)).toEqual([pending, written]);
    expect(errors).toEqual([]);
    other.close();
    await opened.close();
  });

  it("over the embedded store, a journal directory that is a symbolic link is followed: the records its files need are kept", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    // Another node's journal directory, on another volume, linked in.
    const elsewhere = `${dataDir}-elsewhere`;
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, journalDir(dataDir, "gw-2"));
    const [pending, written, orphan] = [randomUUID(), randomUUID(), randomUUID()];
    writeFileSync(join(elsewhere, `${pending}.jsonl`), "");
    writeFileSync(join(elsewhere, `${written}.written`), "");
    await store.usage.add([], { written: [pending, written, orphan] });
    const errors: unknown[] = [];
    // Before: 3, the link skipped: the `.jsonl` would be replayed at that node's start, counted twice.
    expect(await pruneJournal(store, journal, { everyNode: true }, (e) => errors.push(e))).toBe(1);
    expect(await store.usage.journaled([pending, written, orphan])).toEqual([pending, written]);
    // A link that cannot be followed (its volume not there): every record kept.
    rmSync(elsewhere, { recursive: true });
    expect(await pruneJournal(store, journal, { everyNode: true }, (e) => errors.push(e))).toBe(0);
    expect(await store.usage.journaled([pending, written])).toEqual([pending, written]);
    expect(errors).toEqual([]);
    await store.close();
  });

  it("the journal's metrics: appends failed, and rows the store has not taken (promtool accepts them)", async () => {
    const dataDir = freshDir();
    const store = await openStore({ dataDir });
    const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
    const meter = new Meter(store, () => undefined, journal);
    const metrics = new GatewayMetrics({ usageJournal: () => journal });
    const read = async () => {
      const { text } = await metrics.expose();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      return {
        text,
        failures: value("clearance_usage_journal_append_failures_total"),
        pending: value("clearance_usage_journal_pending_rows"),
      };
    };
    expect(await read()).toMatchObject({ failures: 0, pending: 0 });
    meter.record(erik(5), Date.now());
    failing.write = true;
    journal.append();
    journal.append();
    failing.write = false;
    meter.record({ ...erik(1), model: "other" }, Date.now());
    journal.append(); // the two rows in one line
    expect(await read()).toMatchObject({ failures: 2, pending: 2 });
    await meter.flush(); // the store takes them
    const after = await read();
    expect(after).toMatchObject({ failures: 2, pending: 0 });
    const promtool = spawnSync("promtool", ["check", "metrics"], { input: after.text, encoding: "utf8" });
    if (promtool.error === undefined) expect(promtool.stdout + promtool.stderr).toBe("");
    await meter.close();
    await store.close();
  });

  it("two nodes' names never make one directory", () => {
    const names = ["gw 1", "gw\u0201", "ü1", "\u0fc1", "a.b", "a%2Eb", ""];
    const dirs = names.map((name) => journalDir("/data", name));
    expect(new Set(dirs).size).toBe(names.length);
    expect(journalDir("/data", "gw 1")).toBe(join("/data", "usage-journal", "node-gw%00201"));
  });
});
