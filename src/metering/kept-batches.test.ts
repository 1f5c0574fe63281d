/**
 * A batch whose write failed is kept, its outcome unknown (the store may have committed it before
 * the error) until the store says whether it recorded the batch's journal segments. Batches cut while
 * the store cannot say (it is down) are not merged into the kept one (from a maintainer's read):
 * the answer for the kept batch would be taken for them too, and a batch never sent dropped with it.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { flakyUsageStore } from "../testing/flaky-usage.js";
import { journalDir, Meter, replayJournal, UsageJournal } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-kept-batches-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);

const erik = (inputTokens: number) => ({
  principalId: "erik",
  organizationId: "acme",
  licenseId: "lic-1",
  model: "m",
  inputTokens,
  outputTokens: 0,
});

const total = async (store: Store) => (await store.usage.totals()).byLicense["lic-1"] ?? 0;

describe("a batch the store may have taken, checked while the store is down", () => {
  it("is not merged with the next batch: that one is written once the store is back, not dropped with it", async () => {
    const dataDir = freshDir();
    const { real, state, store } = await flakyUsageStore(dataDir);
    try {
      const errors: string[] = [];
      const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
      const meter = new Meter(store, (e) => errors.push(String(e)), journal);

      meter.record(erik(100), Date.now());
      state.mode = "fails-after-commit";
      await meter.flush(); // committed with its segment recorded; the client sees an error
      meter.record(erik(7), Date.now());
      state.mode = "down";
      await meter.flush(); // cannot ask whether the first batch was taken
      state.mode = "takes";
      await meter.flush(); // it was; the second batch was never sent
      expect(await total(real)).toBe(107); // was 100: the 7 dropped with the first batch
      await meter.close();
      expect(readdirSync(journal.dir)).toEqual([]);
      expect(
        await replayJournal(
          real,
          journal.dir,
          () => undefined,
          () => undefined,
        ),
      ).toBe(0);
      expect(await total(real)).toBe(107);
      expect(errors).toEqual(["Error: connection lost after the commit", "Error: store down"]);
      const db = new Database(join(dataDir, DB_FILE), { readonly: true });
      try {
        expect(db.prepare("SELECT segment FROM usage_journal").pluck().all()).toEqual([]);
      } finally {
        db.close();
      }
    } finally {
      await real.close();
    }
  });

  it("kept at a stop with the store still down, both are written at the next start, each once", async () => {
    const dataDir = freshDir();
    const { real, state, store } = await flakyUsageStore(dataDir);
    try {
      const notices: string[] = [];
      const journal = new UsageJournal(journalDir(dataDir, ""), () => undefined);
      const meter = new Meter(
        store,
        () => undefined,
        journal,
        (l) => notices.push(l),
      );
      meter.record(erik(100), Date.now());
      state.mode = "fails-after-commit";
      await meter.flush();
      meter.record({ ...erik(7), model: "other" }, Date.now());
      state.mode = "down";
      await meter.flush();
      await meter.close();
      // Both segments kept (the first may be in the store: the next start asks it).
      expect(readdirSync(journal.dir)).toHaveLength(2);
      expect(notices).toEqual([
        `usage the store did not take before the stop (2 rows) is kept in ${journal.dir}, and written to the store at the next start`,
      ]);
      expect(
        await replayJournal(
          real,
          journal.dir,
          () => undefined,
          () => undefined,
        ),
      ).toBe(1);
      expect(await total(real)).toBe(107);
    } finally {
      await real.close();
    }
  });
});

describe("a batch whose commit was still in flight when the store was asked", () => {
  // PostgreSQL: a COMMIT past the client's query time-out, or waiting on a synchronous standby.
  // The store says the batch is not written; the next batch is resent with it and refused (the first
  // commit landing meanwhile: a duplicate segment); the check after finds the first batch's segment
  // (from a maintainer's read). Taken as an answer for the whole resend, it dropped the second batch.
  it("is answered for alone: the batch resent with it is written, not dropped", async () => {
    const dataDir = freshDir();
    const real = await openStore({ dataDir });
    try {
      let inFlight: (() => Promise<void>) | null = null;
      let late = false;
      const usage = Object.create(real.usage) as Store["usage"];
      usage.add = async (rows, journal) => {
        if (inFlight !== null) {
          const land = inFlight;
          inFlight = null;
          await land(); // the earlier COMMIT lands now
        }
        if (late) {
          inFlight = () => real.usage.add(rows, journal);
          throw new Error("the store did not answer in 5000 ms; if this was a change it may have been made");
        }
        await real.usage.add(rows, journal);
      };
      usage.journaled = (segments) => real.usage.journaled(segments);
      const store = Object.assign(Object.create(real) as Store, { usage });
      const errors: string[] = [];
      const journal = new UsageJournal(journalDir(dataDir, ""), (e) => errors.push(String(e)));
      const meter = new Meter(store, (e) => errors.push(String(e)), journal);

      meter.record(erik(100), Date.now());
      late = true;
      await meter.flush(); // sent; the client stops waiting, the server commits later
      late = false;
      meter.record(erik(7), Date.now());
      await meter.flush(); // not yet visible: resent with the next, refused once the first lands
      await meter.flush(); // the first batch's segment found: only it is taken
      await meter.close();
      await replayJournal(
        real,
        journal.dir,
        () => undefined,
        () => undefined,
      );
      expect(await total(real)).toBe(107); // was 100
      expect(readdirSync(journal.dir)).toEqual([]);
      expect(errors).toHaveLength(2); // the time-out, and the resend refused
    } finally {
      await real.close();
    }
  });
});
