/**
 * A start drops the `usage_journal` records nobody can ask about any more (from a maintainer's read
 * of items 686 and 697): markers a crash left between their batch and the next were kept for ever.
 * Only this journal's own markers go: another node's (another journal directory's id) and records
 * with no owner stay, as that node may be running. On a real gateway, over SQLite and PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openMeteredStore, startMetered } from "../testing/metered-gateway.js";
import { journalDir } from "./index.js";

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
    const dir = journalDir(dataDir, "");
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    const id = randomUUID();
    writeFileSync(`${dir}.id`, `${id}\n`);
    const mine = `marker:${id}:${randomUUID()}`;
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
