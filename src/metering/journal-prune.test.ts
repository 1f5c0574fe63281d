/**
 * A start drops the `usage_journal` records nobody can ask about any more (from a maintainer's read
 * of items 686 and 697): markers a crash left between their batch and the next were kept for ever.
 * Only this journal's own markers go: another node's (another journal directory's id) and records
 * with no owner stay, as that node may be running. On a real gateway, over SQLite and PostgreSQL.
 * A journal's id is its directory's (from maintainer's read 1): a data directory copied with its id
 * file takes a new one, so that a node on the copy never drops the first node's live markers.
 */
import { randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openMeteredStore, startMetered } from "../testing/metered-gateway.js";
import { journalDir, Meter, pruneJournal, UsageJournal } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-journal-prune-"));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (skipReason === undefined) await dropSchemas();
});

if (skipReason !== undefined) console.warn(`usage journal pruning on postgres: SKIPPED, ${skipReason}`);
const drivers = skipReason === undefined ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(drivers)("a gateway's start (%s)", (driver) => {
  it("drops the markers its journal's last run left, and nobody else's records", async () => {
    const dataDir = join(root, driver);
    const url = driver === "postgres" ? (await freshSchema()).url : undefined;
    const store = await openMeteredStore(dataDir, url);
    // As a crash leaves them: this journal's id made by its last run, a marker of it in the store.
    const mine = new UsageJournal(journalDir(dataDir, ""), () => undefined).marker();
    const others = [`marker:${randomUUID()}:${randomUUID()}`, randomUUID()]; // another node's; no owner
    await store.usage.add([], { written: [mine, ...others] });
    const lines: string[] = [];
    const { gateway } = await startMetered(dataDir, store, (l) => lines.push(l));
    try {
      // Before: the marker stayed for ever.
      expect(await store.usage.journaled([mine, ...others])).toEqual(others);
      expect(lines).toContain(
        "clearance: 1 usage journal record that no journal file or running batch could ask about was dropped from the store",
      );
    } finally {
      await gateway.close();
      await store.close();
    }
  }, 60_000);
});

describe("a journal's id (which names its markers)", () => {
  it("is the directory's it was made for: a copy of the data directory, another host's file or an earlier release's takes a new one, said once", () => {
    const dataDir = join(root, "ids");
    const dir = journalDir(dataDir, "");
    const notices: string[] = [];
    const open = (at: string) => new UsageJournal(at, () => undefined, { notice: (l) => notices.push(l) });
    const first = open(dir).markerPrefix;
    expect(first).toMatch(/^marker:[0-9a-f-]{36}:$/);
    expect(open(dir).markerPrefix).toBe(first); // the next start of that directory
    expect(notices).toEqual([]);

    // A copy of the data directory (a volume snapshot, an image): its id file with it.
    const copy = join(root, "ids-copy");
    cpSync(dataDir, copy, { recursive: true });
    const copied = open(journalDir(copy, "")).markerPrefix;
    // Before: the copy's markers were the first's (one id), and its start dropped them.
    expect(copied).not.toBe(first);
    expect(copied).toMatch(/^marker:[0-9a-f-]{36}:$/);
    expect(open(journalDir(copy, "")).markerPrefix).toBe(copied); // said once, then its own
    expect(notices).toEqual([
      `usage journal ${journalDir(copy, "")}: a new id for its markers (it was made for another directory (another device or inode): a copied or restored data directory); markers a crash left under the old id stay in the store, as another node's would`,
    ]);

    // The same numbers on another host (a machine image started elsewhere).
    const { dev, ino } = statSync(dir, { bigint: true });
    const elsewhere = {
      id: randomUUID(),
      device: String(dev),
      inode: String(ino),
      host: `not-${hostname()}`,
    };
    writeFileSync(`${dir}.id`, JSON.stringify(elsewhere));
    expect(open(dir).markerPrefix).not.toBe(`marker:${elsewhere.id}:`);
    expect(notices[1]).toBe(
      `usage journal ${dir}: a new id for its markers (it was made on the host not-${hostname()}, this is ${hostname()}: a copied or restored data directory); markers a crash left under the old id stay in the store, as another node's would`,
    );

    // An earlier release's file, the id alone: it cannot say which directory it was made for.
    const old = randomUUID();
    writeFileSync(`${dir}.id`, `${old}\n`);
    const renewed = open(dir).markerPrefix;
    expect(renewed).not.toBe(`marker:${old}:`);
    expect(notices[2]).toContain("(an earlier release made it, naming no directory: ");
    expect(JSON.parse(readFileSync(`${dir}.id`, "utf8"))).toEqual({
      id: renewed!.split(":")[1],
      device: String(dev),
      inode: String(ino),
      host: hostname(),
    });
    expect(notices).toHaveLength(3);
  });
});

describe.skipIf(skipReason !== undefined)(
  "two PostgreSQL nodes, the second's data directory a copy of the first's",
  () => {
    it("the second's start leaves the first's live marker: its kept batch is counted once", async () => {
      const { url } = await freshSchema();
      const real = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      const state = { afterCommit: false };
      const usage = Object.create(real.usage) as Store["usage"];
      usage.add = async (rows, journaled) => {
        await real.usage.add(rows, journaled);
        if (state.afterCommit) throw new Error("connection lost after the commit");
      };
      const store = Object.assign(Object.create(real) as Store, { usage });
      try {
        // Node A, audit.node left out (usage-journal/default); B's data directory made from a copy of A's.
        const dirA = join(root, "copied-a");
        const journalA = new UsageJournal(journalDir(dirA, ""), () => undefined);
        const dirB = join(root, "copied-b");
        cpSync(dirA, dirB, { recursive: true });
        // A's journal cannot append (its directory gone): its batch is recorded under a marker.
        rmSync(journalA.dir, { recursive: true });
        writeFileSync(journalA.dir, "");
        const meterA = new Meter(store, () => undefined, journalA);
        meterA.record(
          {
            principalId: "erik",
            organizationId: "acme",
            licenseId: "lic-1",
            model: "m",
            inputTokens: 100,
            outputTokens: 0,
          },
          Date.now(),
        );
        state.afterCommit = true;
        await meterA.flush(); // taken, but said refused: kept, asked about at the next flush
        state.afterCommit = false;

        // Node B starts on its copy: it prunes its own journal's markers.
        const journalB = new UsageJournal(journalDir(dirB, ""), () => undefined);
        await pruneJournal(store, journalB, { everyNode: false }, () => undefined);

        await meterA.flush(); // asks whether its kept batch was taken: it was
        // Before: 200 (B's start dropped A's marker, so A wrote its batch again).
        expect((await real.usage.totals()).byLicense["lic-1"]).toBe(100);
      } finally {
        await real.close();
      }
    }, 60_000);
  },
);
