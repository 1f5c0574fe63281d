/** The screening store contract on both drivers (PostgreSQL skips, saying so, without a server). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe } from "vitest";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openStore } from "./index.js";
import { screeningSuite } from "./screening-suite.js";

const root = mkdtempSync(join(tmpdir(), "clearance-screening-store-"));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

screeningSuite("sqlite", () => openStore({ driver: "sqlite", dataDir: join(root, `d${++dirs}`) }));

if (skipReason !== undefined) console.warn(`screening store on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("postgres", () => {
  afterAll(dropSchemas);
  screeningSuite("postgres", async () =>
    openStore({ driver: "postgres", dataDir: root, url: (await freshSchema()).url }),
  );
});
