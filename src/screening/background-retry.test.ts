/**
 * The gateway's background screening failing (a store blip, a lock or query timeout): the new or
 * changed subjects it was screening are not dropped until the store next changes (served on their
 * record's status meanwhile, clear unless it says otherwise) but screened again, with a bounded
 * backoff, until it succeeds; while they wait, the service says how many and since when (/readyz
 * and the metrics read it: gateway/screening-backlog.test.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { importInput } from "./lists.js";
import { finishRescreens } from "./rescreen.js";
import { ScreeningService } from "./service.js";
import type { ListEntry } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-background-retry-"));
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

const willa: Principal = { id: "willa", name: "Wilhelmina Grootveld", residence: "NL" };

/** A listed name, imported and rescreened, then Willa written past the admin API (CLI, another node). */
async function seed(store: Store): Promise<void> {
  const parsed = {
    list: "sdn",
    format: "ofac-csv" as const,
    published: null,
    digest: "v1",
    files: ["sdn.csv"],
    entries: [person("1", "Ivan Petrov"), person("2", "Wilhelmina Grootveld")],
  };
  await store.screening.importList(importInput(parsed), "officer");
  await finishRescreens(store, "officer", { force: true });
  await store.principals.put(willa, "cli");
}

const service = (store: Store, errors: unknown[]) =>
  new ScreeningService({
    store,
    threshold: 0.86,
    maxListEntries: 100,
    background: true,
    onError: (err) => errors.push(err),
    retryMs: { first: 5, max: 50 },
  });

/** Until the background pass has succeeded: polled, the test's own timeout catching one that never does. */
async function screened(s: ScreeningService): Promise<void> {
  await s.idle();
  await eventually(
    async () => s.backlog,
    (backlog) => backlog === null,
  );
  await s.idle();
}

/** The store with `method` of its screening failing the first `times` calls. */
function failing(store: Store, method: "record" | "versions", times = 1): Store {
  const screening = Object.create(store.screening) as Store["screening"];
  let left = times;
  const real = store.screening[method].bind(store.screening) as (...a: unknown[]) => Promise<unknown>;
  (screening as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (left > 0) {
      left--;
      throw new Error("connection terminated unexpectedly");
    }
    return real(...args);
  };
  return Object.assign(Object.create(store) as Store, { screening });
}

describe("background screening that fails once (sqlite)", () => {
  for (const method of ["record", "versions"] as const)
    it(`is retried until the subject is screened (${method} failing)`, async () => {
      const store = await openStore({ dataDir: join(root, method) });
      const errors: unknown[] = [];
      const s = service(failing(store, method), errors);
      try {
        await seed(store);
        s.onSnapshot([willa], []);
        await s.idle();
        // The pass failed: Willa is not screened yet, and the service says she waits.
        expect(errors).toHaveLength(1);
        expect(s.backlog).toMatchObject({ subjects: 1 });
        // Retried without any change in the store: her match is recorded.
        await screened(s);
        expect(await store.screening.statuses()).toEqual([
          { kind: "principal", id: "willa", status: "potential" },
        ]);
        expect(s.backlog).toBeNull();
      } finally {
        await s.close();
        await store.close();
      }
    });

  it("records nothing for a principal deleted while the pass waited for its retry", async () => {
    const store = await openStore({ dataDir: join(root, "deleted") });
    const errors: unknown[] = [];
    const s = service(failing(store, "record"), errors);
    try {
      await seed(store);
      s.onSnapshot([willa], []);
      await s.idle();
      expect(s.backlog).toMatchObject({ subjects: 1 });
      // Deleted before the retry (no snapshot without her has reached the service yet).
      expect(await store.principals.remove("willa", "officer")).toBe(true);
      await screened(s);
      expect(errors).toHaveLength(1);
      expect(await store.screening.matches()).toEqual([]);
      expect(await store.screening.statuses()).toEqual([]);
      // Put back under the same name: screened again, as anyone new.
      await store.principals.put(willa, "cli");
      s.onSnapshot([willa], []);
      await screened(s);
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "willa", status: "potential" },
      ]);
    } finally {
      await s.close();
      await store.close();
    }
  });

  it("screens the facts last seen, not those of the pass that failed", async () => {
    const store = await openStore({ dataDir: join(root, "changed") });
    const errors: unknown[] = [];
    const s = service(failing(store, "record"), errors);
    try {
      await seed(store);
      s.onSnapshot([willa], []);
      await s.idle();
      expect(s.backlog).toMatchObject({ subjects: 1 });
      // Renamed before the retry: her new name is what is screened and recorded.
      await store.principals.put({ ...willa, name: "Ivan Petrov" }, "cli");
      s.onSnapshot([{ ...willa, name: "Ivan Petrov" }], []);
      await screened(s);
      expect(errors).toHaveLength(1);
      const matches = await store.screening.matches({ status: "potential" });
      expect(matches.map((m) => [m.subject_id, m.entry_id])).toEqual([["willa", "1"]]);
    } finally {
      await s.close();
      await store.close();
    }
  });
});

if (skipReason !== undefined) console.warn(`background screening retry on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("background screening that times out (postgres)", () => {
  afterAll(dropSchemas);

  it("is retried once the lock it waited for is free", async () => {
    const { schema, url } = await freshSchema();
    const store = await openStore({
      driver: "postgres",
      dataDir: "(unused)",
      url,
      lockTimeoutMs: 100,
      queryTimeoutMs: 1000,
    });
    const errors: unknown[] = [];
    const s = service(store, errors);
    const holder = await adminPool().connect();
    try {
      await seed(store);
      // Another session holds the matches table (a migration, a long report): the pass times out.
      // (A table lock, not a subject's advisory lock: interrupted.test.ts watches for those.)
      await holder.query("BEGIN");
      await holder.query(`LOCK TABLE ${schema}.screening_matches IN ACCESS EXCLUSIVE MODE`);
      s.onSnapshot([willa], []);
      await s.idle();
      expect(errors.length).toBeGreaterThan(0);
      expect(s.backlog).toMatchObject({ subjects: 1 });
      await holder.query("ROLLBACK");
      await screened(s);
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "willa", status: "potential" },
      ]);
    } finally {
      holder.release();
      await s.close();
      await store.close();
    }
  });
});
