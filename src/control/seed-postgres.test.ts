/**
 * Several nodes starting together on one PostgreSQL store with the same scheme file (deploy/compose.yaml
 * starts two): every node starts, and the file is stored, activated and seeded once. The interleaving
 * is forced: no node writes until every node has read what it decides from.
 */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { seedFromFile } from "./seed.js";
import { buildState } from "./state.js";

const A = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
if (skipReason !== undefined) console.warn(`src/control/seed-postgres: SKIPPED, ${skipReason}`);

/** Each store's first write waits until every store has come to its first write. */
function together(stores: readonly Store[]): Store[] {
  let waiting = 0;
  let release: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (release = resolve));
  return stores.map((s) => {
    let first = true;
    const records = {
      ...s.records,
      put: async (...args: Parameters<Store["records"]["put"]>) => {
        if (first) {
          first = false;
          if (++waiting === stores.length) release();
          await all;
        }
        return s.records.put(...args);
      },
    };
    return new Proxy(s, {
      get: (obj, prop) => (prop === "records" ? records : bound(obj, prop)),
    });
  });
}

describe.skipIf(skipReason !== undefined)("nodes starting together on a fresh PostgreSQL store", () => {
  afterAll(dropSchemas);

  it("all start, and the file is stored, activated and seeded once", async () => {
    const { url } = await freshSchema();
    const stores = await Promise.all(
      [1, 2, 3].map(() => openStore({ driver: "postgres", dataDir: "", url })),
    );
    try {
      const now = new Date().toISOString();
      const started = await Promise.allSettled(together(stores).map((s) => seedFromFile(s, A, now)));
      expect(started.map((r) => (r.status === "rejected" ? String(r.reason) : "started"))).toEqual([
        "started",
        "started",
        "started",
      ]);
      const state = buildState((await stores[0]!.snapshot()).records);
      expect(state.versions.length).toBe(1);
      expect(state.active.document.version).toBe(1);
      expect(state.partners.map((p) => p.id).sort()).toEqual(["eu-members", "g7-fvey", "uk-aisi"]);
      expect(state.licenses.map((l) => l.id)).toEqual(["BIS-2026-0001"]);
      const actions = (await stores[0]!.outbox.list(0, 1000)).map((r) => `${r.action} ${r.object.id}`);
      expect(actions.sort()).toEqual(
        [
          "scheme.upload 1",
          "scheme.activate active-scheme",
          "partner.seed g7-fvey",
          "partner.seed eu-members",
          "partner.seed uk-aisi",
          "license.seed BIS-2026-0001",
        ].sort(),
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe.skipIf(skipReason !== undefined)(
  "a node that decided from a pointer another node then moved",
  () => {
    afterAll(dropSchemas);

    // Stop 42's CI once recorded `scheme.activate` twice: a node read "nothing active", another node
    // then stored and activated the file, and the first, its version found already stored, activated
    // it again over the other's activation (the pointer re-read there, not the one decided from).
    it("decides again, and the file is activated once", async () => {
      const { url } = await freshSchema();
      const late = await openStore({ driver: "postgres", dataDir: "", url });
      const early = await openStore({ driver: "postgres", dataDir: "", url });
      try {
        const now = new Date().toISOString();
        let earlyDone: () => void = () => undefined;
        const seeded = new Promise<void>((resolve) => (earlyDone = resolve));
        // The late node's first read of the active pointer is made now, and answered once the early
        // node has seeded: what it decides from is stale by then.
        let held = false;
        const records = {
          ...late.records,
          get: async (...args: Parameters<Store["records"]["get"]>) => {
            const read = await late.records.get(...args);
            if (!held && args[0] === "setting" && args[1] === "active-scheme") {
              held = true;
              await seeded;
            }
            return read;
          },
        };
        const stale = new Proxy(late, {
          get: (obj, prop) => (prop === "records" ? records : bound(obj, prop)),
        });
        const lateSeed = seedFromFile(stale, A, now);
        await seedFromFile(early, A, now);
        earlyDone();
        await lateSeed;
        expect(held).toBe(true);
        const actions = (await early.outbox.list(0, 1000)).map((r) => r.action);
        expect(actions.filter((a) => a === "scheme.activate")).toHaveLength(1);
        expect(actions.filter((a) => a === "scheme.upload")).toHaveLength(1);
      } finally {
        await Promise.all([late.close(), early.close()]);
      }
    });
  },
);

/** A store's property, its methods bound to the store (they use private fields). */
function bound(obj: Store, prop: string | symbol): unknown {
  const value = Reflect.get(obj, prop, obj) as unknown;
  return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
}
