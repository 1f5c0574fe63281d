/**
 * Two loads of the screening lists at once (a background pass and an admin screening, say): the
 * engine kept is the one over the newer lists, whichever load finishes last. Before, each load built
 * its own index and the one finishing last was installed, even when it had read the older lists, so
 * a new listing went unmatched until the lists next changed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { importInput } from "./lists.js";
import { ScreeningService } from "./service.js";
import type { ListEntry } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-load-order-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const person = (id: string, name: string): ListEntry => ({
  id,
  type: "person",
  names: [{ name, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});

const sdn = (digest: string, entries: ListEntry[]) =>
  importInput({ list: "sdn", format: "ofac-csv", published: null, digest, files: ["sdn.csv"], entries });

/** The store with its first read of a list's entries held until `release` is called. */
function holdingFirstRead(store: Store): { store: Store; release: () => void; reached: Promise<void> } {
  let release!: () => void;
  let reachedResolve!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (reachedResolve = r));
  let first = true;
  const screening = Object.create(store.screening) as Store["screening"];
  screening.entries = async (list, version) => {
    if (first) {
      first = false;
      reachedResolve();
      await held;
    }
    return store.screening.entries(list, version);
  };
  return { store: Object.assign(Object.create(store) as Store, { screening }), release, reached };
}

describe("screening lists loaded twice at once", () => {
  it("keeps the engine over the newer lists when the older load finishes last", async () => {
    const real = await openStore({ dataDir: join(root, "order") });
    const { store, release, reached } = holdingFirstRead(real);
    const service = new ScreeningService({
      store,
      threshold: 0.86,
      maxListEntries: 100,
      background: false,
      onError: (err) => {
        throw err;
      },
    });
    try {
      await real.screening.importList(sdn("v1", [person("1", "Ivan Petrov")]), "officer");
      const older = service.load(); // reads version 1, then waits on its entries
      await reached;
      await real.screening.importList(
        sdn("v2", [person("1", "Ivan Petrov"), person("2", "Wilhelmina Grootveld")]),
        "officer",
      );
      await service.load(); // the newer lists, while the first load still waits
      release();
      await older;
      const engine = service.engine;
      expect(engine?.key).toBe("sdn@2");
      expect(engine?.find({ type: "person", name: "Wilhelmina Grootveld" }).length).toBeGreaterThan(0);
      // And a load after both still has it (nothing newer to read).
      expect((await service.load()).key).toBe("sdn@2");
    } finally {
      await service.close();
      await real.close();
    }
  });
});
