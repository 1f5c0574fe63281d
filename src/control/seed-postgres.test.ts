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

/** A store's property, its methods bound to the store (they use private fields). */
function bound(obj: Store, prop: string | symbol): unknown {
  const value = Reflect.get(obj, prop, obj) as unknown;
  return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
}
