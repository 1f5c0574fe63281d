/**
 * A background pass screens the principals of the snapshot it was given, which may be older than
 * the store by the time it records: a principal renamed meanwhile (and screened under the new name
 * by whoever renamed it, as the admin API does) keeps the outcome of its new name. Before, the pass
 * recorded the old name's outcome over it until the next snapshot: a listed name's open match
 * resolved (clear while listed), or an old name's match raised on a principal no longer so named.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { openStore, type Store } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { importInput } from "./lists.js";
import { finishRescreens } from "./rescreen.js";
import { ScreeningService } from "./service.js";
import { principalSubject } from "./subjects.js";
import type { ListEntry } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-stale-pass-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ivan: ListEntry = {
  id: "1",
  type: "person",
  names: [{ name: "Ivan Petrov", strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
};

const willa = (name: string): Principal => ({ id: "willa", name, residence: "NL" });

/**
 * The store with the first `matches` read of the background pass (the one it starts recording
 * with) held until `meanwhile` has run: the principal changed, and screened, in the middle of a pass.
 */
function midPass(store: Store, meanwhile: () => Promise<void>): Store {
  const screening = Object.create(store.screening) as Store["screening"];
  let done = false;
  screening.matches = async (filter) => {
    if (!done) {
      done = true;
      await meanwhile();
    }
    return store.screening.matches(filter);
  };
  return Object.assign(Object.create(store) as Store, { screening });
}

const cases = [
  // The fail-open one: renamed to a listed name mid-pass; the pass of the old name resolved the match.
  {
    snapshot: "Anna Jansen",
    renamed: "Ivan Petrov",
    status: [{ kind: "principal", id: "willa", status: "potential" }],
  },
  { snapshot: "Ivan Petrov", renamed: "Anna Jansen", status: [] },
];

async function run(store: Store): Promise<void> {
  for (const c of cases) {
    await store.principals.put(willa(c.snapshot), "cli");
    const errors: unknown[] = [];
    const options = { threshold: 0.86, maxListEntries: 100, onError: (err: unknown) => errors.push(err) };
    // Renamed (another node's admin API) and screened under the new name, as the admin API does.
    const admin = new ScreeningService({ ...options, store, background: false });
    const s = new ScreeningService({
      ...options,
      background: true,
      store: midPass(store, async () => {
        await store.principals.put(willa(c.renamed), "admin");
        await admin.screen([principalSubject(willa(c.renamed))!], "screening");
      }),
    });
    try {
      s.onSnapshot([willa(c.snapshot)], []);
      await s.idle();
      expect(errors).toEqual([]);
      expect(await store.screening.statuses(), `${c.snapshot} renamed ${c.renamed}`).toEqual(c.status);
      const open = await store.screening.matches({ status: "potential" });
      expect(open.map((m) => m.subject_id)).toEqual(c.status.length > 0 ? ["willa"] : []);
      // The snapshot bringing the rename screens what is current; nothing changes.
      s.onSnapshot([willa(c.renamed)], []);
      await s.idle();
      expect(await store.screening.statuses()).toEqual(c.status);
    } finally {
      await s.close();
      await admin.close();
    }
  }
}

async function seed(store: Store): Promise<void> {
  const parsed = {
    list: "sdn",
    format: "ofac-csv" as const,
    published: null,
    digest: "v1",
    files: [],
    entries: [ivan],
  };
  await store.screening.importList(importInput(parsed), "officer");
  await finishRescreens(store, "officer", { force: true });
}

describe("a background pass whose principal changed mid-pass", () => {
  it("keeps the outcome of the new facts (sqlite)", async () => {
    const store = await openStore({ dataDir: join(root, "sqlite") });
    try {
      await seed(store);
      await run(store);
    } finally {
      await store.close();
    }
  });
});

if (skipReason !== undefined) console.warn(`stale background pass on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)(
  "a background pass whose principal changed mid-pass (postgres)",
  () => {
    afterAll(dropSchemas);
    it("keeps the outcome of the new facts", async () => {
      const { url } = await freshSchema();
      const store = await openStore({ driver: "postgres", dataDir: "(unused)", url });
      try {
        await seed(store);
        await run(store);
      } finally {
        await store.close();
      }
    });
  },
);
