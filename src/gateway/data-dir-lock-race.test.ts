/**
 * The data directory lock's holder row when another start slips in between the holder's commit of
 * its row and its taking of the lock for good (then losing that race and going): the holder writes
 * its row again, so that gateways refused later name it, not the start that went. Before, they
 * named that start for as long as the holder ran. The moment is made to happen by running the
 * other start's writes, on a real connection to the lock file, right after the holder's commit.
 */
import { mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it, vi } from "vitest";
import Database from "better-sqlite3";
import { LOCK_FILE, lockDataDir } from "./data-dir-lock.js";

/** Runs once, right after the next COMMIT on any connection to a SQLite file. */
const afterCommit = vi.hoisted(() => ({ run: undefined as (() => void) | undefined }));

vi.mock("better-sqlite3", async (importOriginal) => {
  const { default: Real } = await importOriginal<{ default: typeof Database }>();
  class Hooked extends Real {
    override exec(sql: string): this {
      super.exec(sql);
      const run = afterCommit.run;
      if (sql === "COMMIT" && run !== undefined) {
        afterCommit.run = undefined;
        run();
      }
      return this;
    }
  }
  return { default: Hooked };
});

it("a start that committed its row in the holder's moment and lost is not named by later refusals", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "clearance-lock-race-"));
  afterCommit.run = () => {
    const other = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    other.exec("BEGIN IMMEDIATE");
    other.exec("DELETE FROM holder");
    other
      .prepare("INSERT INTO holder (pid, host, started, token) VALUES (?, ?, ?, ?)")
      .run(424242, "elsewhere", "2026-01-01T00:00:00.000Z", "the other start's");
    other.exec("COMMIT");
    other.close(); // it lost the next begin to the holder, and went
  };
  const holder = lockDataDir(dataDir);
  expect(afterCommit.run).toBeUndefined(); // the other start did slip in
  expect(() => lockDataDir(dataDir)).toThrow(
    new RegExp(
      `^another gateway \\(pid ${process.pid} on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, started `,
    ),
  );
  holder.release();
});
