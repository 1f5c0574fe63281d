/**
 * The usage journal when its disk fails (from a maintainer's read): a segment whose file cannot be
 * removed keeps its record, so the next start does not write it again; a timer's append that fails
 * puts its usage back for the next; a stop that can keep neither says the usage is lost instead of
 * kept; and two nodes' names never make one journal directory.
 */
import fs, { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { journalDir, Meter, replayJournal, UsageJournal } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-journal-faults-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);

/** A file system call that fails while `failing` holds (the module's own bindings, as journal.ts imports them). */
const real = { unlinkSync: fs.unlinkSync, openSync: fs.openSync };
const failing = { unlink: false, create: false };
function fault(code: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${what}`), { code });
}
(fs as { unlinkSync: typeof fs.unlinkSync }).unlinkSync = (path) => {
  if (failing.unlink) throw fault("EROFS", `read-only file system, unlink '${String(path)}'`);
  real.unlinkSync(path);
};
(fs as { openSync: unknown }).openSync = (path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
  if (failing.create && flags === "ax") throw fault("EMFILE", `too many open files, open '${String(path)}'`);
  return real.openSync(path, flags ?? "r", mode);
};
syncBuiltinESMExports();
afterEach(() => {
  failing.unlink = false;
  failing.create = false;
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
    failing.unlink = true; // the batch commits with its segment recorded; the file stays
    await meter.flush();
    failing.unlink = false;
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

  it("two nodes' names never make one directory", () => {
    const names = ["gw 1", "gw\u0201", "ü1", "\u0fc1", "a.b", "a%2Eb", ""];
    const dirs = names.map((name) => journalDir("/data", name));
    expect(new Set(dirs).size).toBe(names.length);
    expect(journalDir("/data", "gw 1")).toBe(join("/data", "usage-journal", "node-gw%00201"));
  });
});
