/**
 * One gateway per usage journal directory: two nodes of one PostgreSQL store on one data directory
 * with the same `audit.node` (here none: both `default`) would each replay the other's segments at a
 * start. The second is refused as `journal_in_use`, naming the directory and the first, before it
 * opens anything; the first journals on (its metrics say so); once it stops, the next starts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { chat, journaledRequests, openMeteredStore, startMetered } from "../testing/metered-gateway.js";
import { journalDir } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-journal-lock-"));
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  if (skipReason === undefined) await dropSchemas();
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

if (skipReason !== undefined) console.warn(`usage journal lock on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)(
  "two gateways of one PostgreSQL store on one data directory",
  () => {
    it("the second on the same journal directory is refused, naming it and the first; the first journals on", async () => {
      const dataDir = join(root, "shared");
      const { url } = await freshSchema();
      const firstStore = await openMeteredStore(dataDir, url);
      const secondStore = await openMeteredStore(dataDir, url);
      const first = await startMetered(dataDir, firstStore);
      try {
        const dir = journalDir(dataDir, "");
        // Before: it started, and each would write the other's segments to the store at its next start.
        await expect(startMetered(dataDir, secondStore)).rejects.toMatchObject({
          kind: "conflict",
          code: "journal_in_use",
          message: expect.stringMatching(
            new RegExp(
              `^another gateway \\(pid ${process.pid} on ${escape(hostname())}, started [^)]+\\) is journaling its usage in ${escape(dir)}: .* Stop that one first`,
            ),
          ) as unknown,
        });
        expect(await chat(first.gateway.url, first.key!)).toBe(200);
        while (journaledRequests(dataDir) < 1) await new Promise((r) => setTimeout(r, 10));
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
