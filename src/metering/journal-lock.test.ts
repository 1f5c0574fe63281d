/**
 * One gateway per usage journal directory: two nodes of one PostgreSQL store on one data directory
 * with the same `audit.node` (here none: both `default`) would each replay the other's segments at a
 * start. The journal directory is in the data directory, whose lock is taken first: the second is
 * refused as `data_dir_in_use`, as a `demo` is, naming the directory and the first, before it opens
 * or makes anything; the first journals on (its metrics say so); once it stops, the next starts.
 * Before, `serve` named `journal_in_use` where the demo named `data_dir_in_use`. The journal's own
 * lock (`<node>.lock`, journal_in_use) is the second guard, checked here on its own.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/admin.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { chat, journaledRequests, openMeteredStore, startMetered } from "../testing/metered-gateway.js";
import { lockJournal } from "../gateway/data-dir-lock.js";
import { journalDir } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-journal-lock-"));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (skipReason === undefined) await dropSchemas();
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("lockJournal", () => {
  it("refuses a second holder of the journal directory, naming it and the first; discard removes what it made", () => {
    const dataDir = join(root, "unit");
    mkdirSync(dataDir, { recursive: true });
    const dir = journalDir(dataDir, "gw-1");
    const first = lockJournal(dataDir, "gw-1");
    expect(() => lockJournal(dataDir, "gw-1")).toThrow(
      new RegExp(
        `^another gateway \\(pid ${process.pid} on ${escape(hostname())}, started [^)]+\\) is journaling its usage in ${escape(dir)}: two nodes on one usage journal would each write the other's usage to the store at a start\\. ` +
          "Stop that one first, or give each node of the store its own data directory$",
      ),
    );
    lockJournal(dataDir, "gw-2").release(); // another node's: its own
    first.release();
    // The next holder made neither the lock file nor the directory: its discard keeps them.
    const next = lockJournal(dataDir, "gw-1");
    next.discard();
    expect(existsSync(`${dir}.lock`)).toBe(true);

    const fresh = join(root, "unit-fresh");
    mkdirSync(fresh);
    lockJournal(fresh, "gw-1").discard();
    expect(readdirSync(fresh)).toEqual([]); // its lock file and usage-journal/ made, then removed
  });
});

if (skipReason !== undefined) console.warn(`usage journal lock on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)(
  "two gateways of one PostgreSQL store on one data directory",
  () => {
    it("the second (the same audit.node) is refused for the data directory, as the demo is, making nothing; the first journals on", async () => {
      const dataDir = join(root, "shared");
      const { url } = await freshSchema();
      const firstStore = await openMeteredStore(dataDir, url);
      const secondStore = await openMeteredStore(dataDir, url);
      const first = await startMetered(dataDir, firstStore);
      try {
        const dir = journalDir(dataDir, "");
        const journalsBefore = readdirSync(dirname(dir)).sort();
        // Before: journal_in_use (the demo said data_dir_in_use); before that, it started, and each
        // would write the other's segments to the store at its next start.
        await expect(startMetered(dataDir, secondStore)).rejects.toMatchObject({
          kind: "conflict",
          code: "data_dir_in_use",
          message: expect.stringMatching(
            new RegExp(
              `^another gateway \\(pid ${process.pid} on ${escape(hostname())}, started [^)]+\\) is running on the data directory ${escape(dataDir)}: each node of a PostgreSQL store needs a data directory of its own`,
            ),
          ) as unknown,
        });
        expect(readdirSync(dirname(dir)).sort()).toEqual(journalsBefore);
        expect(await chat(first.gateway.url, first.key!)).toBe(200);
        // Appended by the journal's timer, after the answer: waited for.
        await eventually(
          async () => journaledRequests(dataDir),
          (n) => n >= 1,
        );
        const { text } = await first.gateway.monitoring.metrics!.expose();
        expect(text).toMatch(/^clearance_usage_journal_pending_rows 1$/m); // not flushed yet
        expect(text).toMatch(/^clearance_usage_journal_append_failures_total 0$/m);
      } finally {
        await first.gateway.close();
      }
      // Let go at its stop: the next node starts.
      const next = await startMetered(dataDir, secondStore);
      await next.gateway.close();
      await firstStore.close();
      await secondStore.close();
    }, 60_000);
  },
);
