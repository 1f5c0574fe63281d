/**
 * A usage row holding a NUL, metered into real stores of both drivers: PostgreSQL's text cannot hold
 * one, and its batch failed there at every flush, kept with the good rows beside it and retried for
 * ever. The Meter's check (the store's own) sets it aside now, on both drivers alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../store/index.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { Meter, UsageSetAsideError } from "./index.js";

const DAY = Date.parse("2026-12-05T00:00:00Z");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (skipReason === undefined) await dropSchemas();
});

const drivers: [string, () => Promise<Store>][] = [
  [
    "sqlite",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "clearance-nul-usage-"));
      dirs.push(dir);
      return openStore({ driver: "sqlite", dataDir: dir });
    },
  ],
];
if (skipReason === undefined)
  drivers.push([
    "postgres",
    async () => openStore({ driver: "postgres", dataDir: "(unused)", url: (await freshSchema()).url }),
  ]);
else console.warn(`src/metering/nul-usage.test.ts: postgres SKIPPED, ${skipReason}`);

describe.each(drivers)("a usage row holding a NUL (%s)", (_, open) => {
  it("is set aside, and the rest of its batch is written", async () => {
    const store = await open();
    try {
      const errors: unknown[] = [];
      const meter = new Meter(store, (err) => errors.push(err));
      const row = { principalId: "anna", organizationId: "acme", licenseId: "lic-1", model: "m5" };
      meter.record({ ...row, inputTokens: 1, outputTokens: 2 }, DAY);
      meter.record({ ...row, model: "m5\u0000", inputTokens: 30, outputTokens: 40 }, DAY);
      await meter.flush();
      expect(await store.usage.totals()).toEqual({
        byLicense: { "lic-1": 3 },
        byPrincipal: { anna: 3 },
        byOrganization: { acme: 3 },
      });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(UsageSetAsideError);
      expect((errors[0] as UsageSetAsideError).row).toMatchObject({ model: "m5\u0000", inputTokens: 30 });
      // Nothing kept to fail the next flush.
      await meter.flush();
      expect(errors).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
