/**
 * A batch of writes (an activation's `records.putAll`) against a single write guarded on a record
 * the batch changes (an application of a license the version brings, guarded on the active scheme),
 * at the same moment, on two connections: one wins, the other is refused as a conflict — never a
 * deadlock PostgreSQL breaks with a raw error (which the admin API answered 500, logged as a fault).
 */
import { afterAll, describe, expect, it } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../../testing/postgres.js";
import { openStore, StoreError } from "../index.js";

describe.skipIf(skipReason !== undefined)(
  `postgres putAll's locks${skipReason === undefined ? "" : `: SKIPPED, ${skipReason}`}`,
  () => {
    afterAll(() => dropSchemas());

    it("a batch and a guarded write sharing records never deadlock: one wins, the other is a conflict", async () => {
      const { url } = await freshSchema();
      const a = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      const b = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      try {
        const change = { actor: "test", action: "test" };
        const pairs = 60;
        for (let i = 0; i < pairs; i++) await a.records.put("setting", `g${i}`, { n: 0 }, 0, change);
        const outcomes = await Promise.all(
          Array.from({ length: pairs }, (_, i) =>
            Promise.allSettled([
              a.records.putAll([
                { collection: "setting", id: `g${i}`, document: { n: 1 }, expectedRevision: 1, change },
                {
                  collection: "license",
                  id: `x${i}`,
                  document: { by: "activation" },
                  expectedRevision: 0,
                  change,
                },
              ]),
              b.records.put("license", `x${i}`, { by: "application" }, 0, change, {
                record: { collection: "setting", id: `g${i}`, revision: 1 },
              }),
            ]),
          ),
        );
        const refusals = outcomes.flatMap((pair) =>
          pair.flatMap((o) => (o.status === "rejected" ? [o.reason as Error] : [])),
        );
        // Before: some pairs ended in "deadlock detected" (40P01), a raw error.
        for (const err of refusals) {
          expect(err).toBeInstanceOf(StoreError);
          expect((err as StoreError).code).toBe("conflict");
        }
        for (const pair of outcomes) expect(pair.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      } finally {
        await a.close();
        await b.close();
      }
    }, 120_000);
  },
);
