/**
 * The store's principals.put refuses text the admin API and the CLI refuse before it (a control
 * character but TAB, LF and CR; a bidirectional control), with their codes and the field's path,
 * on both drivers: it is the last line for every other writer. A principal stored before, holding
 * such text, is still read, listed and paged as it is: only new writes are refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import type { Principal } from "../policy/types.js";
import { putPrincipalAsBefore, putPrincipalAsBeforePostgres } from "../testing/older-principals.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { openStore, type Store } from "./index.js";

const root = mkdtempSync(join(tmpdir(), "clearance-principal-text-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** What an older release stored: a name and an organization's name holding a C1 control and bidi controls. */
const OLD: Principal = {
  id: "p-old",
  name: "Ann\u202ea \u009b2J",
  organization: { id: "org-old", name: "Acme\u2066" },
};

interface Driver {
  readonly store: Store;
  /** Writes the principal's row as a release that took any text but NUL did. */
  readonly storeAsBefore: (p: Principal) => unknown;
  readonly close: () => Promise<void>;
}

function contract(name: string, open: () => Promise<Driver>): void {
  describe(`principals.put refuses hidden text: ${name}`, () => {
    it("refuses a control character or a bidirectional control in any text, naming the field, with nothing written", async () => {
      const d = await open();
      try {
        const cases: [Principal, string, string][] = [
          [{ id: "p-1", name: "A\u009b2J" }, "control_character", "name"],
          [{ id: "p-1", name: "A\u007f" }, "control_character", "name"],
          // A NUL: PostgreSQL's search column cannot hold one (an internal error there, stored by SQLite).
          [{ id: "p-1", name: "A\u0000" }, "control_character", "name"],
          [{ id: "p-1", name: "\u202eA" }, "bidi_control", "name"],
          [{ id: "p-1", organization: { id: "o", name: "x\u2067" } }, "bidi_control", "organization.name"],
          [{ id: "p-1\u202e" }, "bidi_control", "id"],
        ];
        const before = await d.store.version();
        for (const [p, code, path] of cases) {
          const err = await d.store.principals.put(p).catch((e: unknown) => e);
          expect(err, JSON.stringify(p)).toBeInstanceOf(InvalidInputError);
          expect((err as InvalidInputError).problems).toEqual([
            expect.objectContaining({ code, path: path.split(".") }),
          ]);
        }
        expect(await d.store.principals.list()).toEqual([]);
        expect(await d.store.version()).toBe(before);
        // Tab, line feed and carriage return pass, as in the admin API; right-to-left letters too.
        await d.store.principals.put({ id: "p-2", name: "Ann\tא" });
        expect(await d.store.principals.get("p-2")).toEqual({ id: "p-2", name: "Ann\tא" });
      } finally {
        await d.close();
      }
    });

    it("reads, lists and pages a principal stored before with such text; writing it anew is refused", async () => {
      const d = await open();
      try {
        await d.storeAsBefore(OLD);
        expect(await d.store.principals.get(OLD.id)).toEqual(OLD);
        expect(await d.store.principals.list()).toEqual([OLD]);
        expect(await d.store.principals.page({ limit: 10, prefix: "ann" })).toEqual([OLD]);
        expect(await d.store.principals.page({ limit: 10, organization: "org-old" })).toEqual([OLD]);
        const v = await d.store.version();
        const err = await d.store.principals.put({ ...OLD }).catch((e: unknown) => e);
        expect((err as InvalidInputError).problems).toEqual([
          expect.objectContaining({ code: "control_character", path: ["name"] }),
        ]);
        expect(await d.store.version()).toBe(v);
        // Renamed without them, it is taken.
        await d.store.principals.put({ id: OLD.id, name: "Anna", organization: "org-old" });
        expect(await d.store.principals.get(OLD.id)).toEqual({
          id: OLD.id,
          name: "Anna",
          organization: "org-old",
        });
      } finally {
        await d.close();
      }
    });
  });
}

let dirs = 0;
contract("sqlite", async () => {
  const dataDir = join(root, `d${++dirs}`);
  const store = await openStore({ driver: "sqlite", dataDir });
  return {
    store,
    storeAsBefore: (p) => putPrincipalAsBefore(dataDir, p),
    close: () => store.close(),
  };
});

if (skipReason !== undefined) console.warn(`principal text on postgres: SKIPPED, ${skipReason}`);
describe.skipIf(skipReason !== undefined)("postgres", () => {
  afterAll(dropSchemas);
  contract("postgres", async () => {
    const { url } = await freshSchema();
    const store = await openStore({ driver: "postgres", dataDir: root, url });
    return {
      store,
      storeAsBefore: (p) => putPrincipalAsBeforePostgres(url, p),
      close: () => store.close(),
    };
  });
});
