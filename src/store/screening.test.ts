/** The screening store contract on both drivers (PostgreSQL skips, saying so, without a server). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe } from "vitest";
import { adminPool, dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openStore } from "./index.js";
import { screeningSuite } from "./screening-suite.js";

const root = mkdtempSync(join(tmpdir(), "clearance-screening-store-"));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

screeningSuite("sqlite", () => openStore({ driver: "sqlite", dataDir: join(root, `d${++dirs}`) }));

if (skipReason !== undefined) console.warn(`screening store on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("postgres", () => {
  afterAll(dropSchemas);
  let schema = "";
  screeningSuite(
    "postgres",
    async () => {
      const fresh = await freshSchema();
      schema = fresh.schema;
      return openStore({ driver: "postgres", dataDir: root, url: fresh.url });
    },
    async (statement, params) => {
      let n = 0;
      const x = await adminPool().connect();
      await x.query("BEGIN");
      await x.query(`SET LOCAL search_path TO ${schema}`);
      await x.query(
        statement.replace(/\?/g, () => `$${++n}`),
        params as unknown[],
      );
      return async () => {
        await x.query("COMMIT");
        x.release();
      };
    },
  );
});
