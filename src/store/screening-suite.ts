/**
 * The screening tables' contract, run by every driver (see screening.test.ts). Test-only.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError, type Store } from "./index.js";
import type { EntryRow, FoundMatch, ImportInput } from "./screening.js";

const entry = (id: string, digest = `d-${id}`): EntryRow => ({
  id,
  digest,
  document: JSON.stringify({ id, digest }),
});
const input = (entries: EntryRow[], digest = entries.map((e) => e.digest).join()): ImportInput => ({
  list: "test-list",
  format: "ofac-csv",
  published: "2026-01-01",
  digest,
  files: ["sdn.csv"],
  counts: { entries: entries.length },
  entries,
});
const found = (entryId: string, entryDigest = `d-${entryId}`): FoundMatch => ({
  list: "test-list",
  entryId,
  entryDigest,
  score: 0.93,
  explanation: { name: "x" },
});
const alice = { kind: "principal" as const, id: "alice" };

export function screeningSuite(name: string, open: () => Promise<Store>): void {
  describe(`screening store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("imports versions with their diff; an identical file is not imported twice", async () => {
      const v1 = await store.screening.importList(input([entry("a"), entry("b"), entry("c")]), "tester");
      expect(v1.unchanged).toBe(false);
      expect(v1.version).toMatchObject({
        version: 1,
        active: true,
        diff: { added: ["a", "b", "c"], removed: [], changed: [] },
      });
      const again = await store.screening.importList(input([entry("a"), entry("b"), entry("c")]), "tester");
      expect(again).toMatchObject({ unchanged: true, version: { version: 1 } });
      const v2 = await store.screening.importList(
        input([entry("a"), entry("b", "d-b2"), entry("d")]),
        "tester",
      );
      expect(v2.version).toMatchObject({
        version: 2,
        diff: { added: ["d"], removed: ["c"], changed: ["b"] },
      });
      const versions = await store.screening.versions("test-list");
      expect(versions.map((v) => [v.version, v.active])).toEqual([
        [2, true],
        [1, false],
      ]);
      expect((await store.screening.entries("test-list", 1)).map((e) => e.id)).toEqual(["a", "b", "c"]);
      expect((await store.screening.entries("test-list", 2)).map((e) => e.digest)).toEqual([
        "d-a",
        "d-b2",
        "d-d",
      ]);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action === "screening.import");
      expect(audit.map((r) => r.object.id)).toEqual(["test-list@1", "test-list@2"]);
      expect(audit[1]!.details).toMatchObject({ added: 1, removed: 1, changed: 1 });
    });

    it("an import that fails leaves the previous version active and nothing of it stored", async () => {
      await store.screening.importList(input([entry("a")]), "tester");
      const bad = input([entry("x"), entry("x")]); // a duplicate id violates the primary key
      await expect(store.screening.importList(bad, "tester")).rejects.toThrow();
      const versions = await store.screening.versions("test-list");
      expect(versions.map((v) => [v.version, v.active])).toEqual([[1, true]]);
      expect(await store.screening.entries("test-list", 2)).toEqual([]);
    });

    it("potential matches set the status; review confirms or clears, with reviewer and reason", async () => {
      const v0 = await store.version();
      await store.screening.record(
        [{ subject: alice, found: [found("a"), found("b")], scope: "all" }],
        "screener",
      );
      expect(await store.version()).toBeGreaterThan(v0);
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "potential" },
      ]);
      const queue = await store.screening.matches({ status: "potential" });
      expect(queue.map((m) => m.entry_id)).toEqual(["a", "b"]);
      const [a, b] = queue;
      await store.screening.review(a!.id, "cleared", "rita", "different birth date");
      expect((await store.screening.statuses())[0]?.status).toBe("potential");
      const confirmed = await store.screening.review(b!.id, "confirmed", "rita", "same passport");
      expect(confirmed).toMatchObject({ status: "confirmed", reviewer: "rita", reason: "same passport" });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "confirmed" },
      ]);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action.startsWith("screening."));
      expect(audit.map((r) => r.action)).toEqual([
        "screening.match",
        "screening.match",
        "screening.status",
        "screening.clear",
        "screening.confirm",
        "screening.status",
      ]);
      expect(audit[3]).toMatchObject({
        actor: "rita",
        details: { reason: "different birth date", to: "cleared" },
      });
      await expect(store.screening.review("nope", "cleared", "rita", "x")).rejects.toSatisfy(
        (e) => e instanceof StoreError && e.code === "unknown-match",
      );
    });

    it("a clearance holds until the entry changes; a rescreen resolves what no longer matches", async () => {
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const [m] = await store.screening.matches();
      await store.screening.review(m!.id, "cleared", "rita", "not her");
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      expect((await store.screening.matches())[0]?.status).toBe("cleared");
      expect(await store.screening.statuses()).toEqual([]);
      await store.screening.record(
        [{ subject: alice, found: [found("a", "d-a2")], scope: "all" }],
        "screener",
      );
      expect((await store.screening.matches())[0]).toMatchObject({
        status: "potential",
        entry_digest: "d-a2",
      });
      // An incremental screening of other entries leaves this match alone; a full one resolves it.
      await store.screening.record(
        [{ subject: alice, found: [], scope: { list: "test-list", entryIds: new Set(["z"]) } }],
        "screener",
      );
      expect((await store.screening.matches())[0]?.status).toBe("potential");
      await store.screening.record([{ subject: alice, found: [], scope: "all" }], "screener");
      expect((await store.screening.matches())[0]?.status).toBe("resolved");
      expect(await store.screening.statuses()).toEqual([]);
    });

    it("matches whose entry was removed are resolved", async () => {
      await store.screening.record(
        [{ subject: { kind: "organization", id: "acme" }, found: [found("a")], scope: "all" }],
        "screener",
      );
      const [m] = await store.screening.matches();
      await store.screening.review(m!.id, "confirmed", "rita", "same company");
      expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
      expect((await store.screening.matches())[0]).toMatchObject({ status: "resolved" });
      expect(await store.screening.statuses()).toEqual([]);
      await expect(store.screening.review(m!.id, "confirmed", "rita", "x")).rejects.toSatisfy(
        (e) => e instanceof StoreError && e.code === "conflict",
      );
    });
  });
}
