/**
 * A gateway loads the active lists into its screening index when they change (every node, off the
 * request path): the build and the entries' parsing yield to the event loop as they go, so that
 * requests keep being served meanwhile — not held for the whole build (about a second for the real
 * lists' 17,000 entries, README "Evaluation and speed"; more for lists of up to 100,000 entries).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { afterAll, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { ScreeningEngine } from "./engine.js";
import { importInput } from "./lists.js";
import type { ListEntry } from "./types.js";

const root = mkdtempSync(join(tmpdir(), "clearance-load-yields-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GIVEN = ["Ivan", "Maria", "Ahmad", "Chen", "Olga", "Yusuf", "Elena", "Karim", "Sofia", "Dmitri"];
const person = (i: number): ListEntry => ({
  id: `e${i}`,
  type: "person",
  names: [{ name: `${GIVEN[i % 10]} Familyname${i.toString(36)}`, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});

it("yields to the event loop while it parses and indexes the lists", async () => {
  const store = await openStore({ dataDir: root });
  try {
    const entries = Array.from({ length: 12_000 }, (_, i) => person(i));
    const parsed = { list: "sdn", format: "ofac-csv" as const, published: null, digest: "v1" };
    await store.screening.importList(importInput({ ...parsed, files: ["sdn.csv"], entries }), "ops");
    // Turns of the event loop taken while the engine loads: what a request waiting to be served gets.
    let done = false;
    let turns = 0;
    const loading = ScreeningEngine.load(store).finally(() => (done = true));
    while (!done) {
      await yieldToLoop();
      turns++;
    }
    expect((await loading).index.size.names).toBe(12_000);
    // At least one turn per 2,000 names indexed; before, none from the first store read to the end.
    expect(turns).toBeGreaterThanOrEqual(12_000 / 2000);
  } finally {
    await store.close();
  }
});
