/**
 * A list imported over the admin API leaves out the denial orders lapsed as of the admin API's own
 * clock (the one its other time-dependent answers use), not a clock read elsewhere: here a clock the
 * test sets, before and after a DPL order's expiration date.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedFromFile } from "../control/seed.js";
import { buildState, tokenHash, type ControlState } from "../control/state.js";
import { openStore, type Store } from "../store/index.js";
import { EXAMPLE } from "../testing/older-release.js";
import type { AdminDeps } from "./deps.js";
import { createAdminHandler } from "./index.js";

const TOKEN = "screening-clock-admin-token-0123456789";
const FIXTURES = join(import.meta.dirname, "..", "screening", "fixtures");
const SHARED = join(import.meta.dirname, "..", "..", "..", "shared", "data", "screening", "bis-dpl");
const file = (path: string) => ({
  name: path.split("/").pop()!,
  content_base64: readFileSync(path).toString("base64"),
});

let store: Store;
let server: Server;
let url: string;
let clock = "";
beforeAll(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-screening-clock-")) });
  await seedFromFile(store, EXAMPLE, "2019-01-01T00:00:00Z");
  let state: ControlState = buildState((await store.snapshot()).records);
  const deps: AdminDeps = {
    store,
    state: () => state,
    bootstrapTokenHash: tokenHash(TOKEN),
    changed: async () => {
      state = buildState((await store.snapshot()).records);
    },
    now: () => clock,
    route: () => undefined,
    licenseUsage: async () => 0,
  };
  const handler = createAdminHandler(deps);
  server = createServer((req, res) => void handler(req, res, new URL(req.url ?? "/", "http://x").pathname));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((done) => server.close(done));
  await store.close();
});

async function importAt(at: string, files: { name: string; content_base64: string }[], list?: string) {
  clock = at;
  const res = await fetch(`${url}/admin/v1/screening/lists`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ files, ...(list === undefined ? {} : { list }) }),
  });
  const body = (await res.json()) as { version: { counts: Record<string, number> }; unchanged: boolean };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

describe("POST /admin/v1/screening/lists, as of the admin API's clock", () => {
  it("keeps an order before its expiration date, and leaves it out once that has passed", async () => {
    const dpl = [file(join(FIXTURES, "dpl.txt"))];
    // JOHN QUINCY DOE's order runs through 01/14/2026; ORION AVIATION's has no end.
    expect((await importAt("2026-01-10T00:00:00Z", dpl)).version.counts).toEqual({ entries: 2, unknown: 2 });
    const later = await importAt("2026-01-16T00:00:00Z", dpl);
    expect(later.unchanged).toBe(false);
    expect(later.version.counts).toEqual({ entries: 1, unknown: 1, expired: 1 });
  });

  it.skipIf(!existsSync(SHARED))(
    "the real 2019 DPL, imported when it was published, keeps every order",
    async () => {
      const dpl = [file(join(SHARED, "dpl-2019.txt"))];
      const published = await importAt("2019-06-12T00:00:00Z", dpl, "bis-dpl-2019");
      expect(published.version.counts.entries).toBe(546);
      expect(published.version.counts.expired).toBeUndefined();
      // Half a year on, 21 orders had lapsed (see the loader's test on the same file).
      expect((await importAt("2019-12-01T00:00:00Z", dpl, "bis-dpl-2019")).version.counts).toMatchObject({
        entries: 546 - 21,
        expired: 21,
      });
    },
  );
});
if (!existsSync(SHARED)) console.warn(`the real BIS DPL: SKIPPED, ${SHARED} is absent`);
