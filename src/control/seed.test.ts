/**
 * The operator's scheme file at start-up: activated whenever it differs from the file seeded last
 * (even when that content was uploaded before and is not active), and checked against the store
 * before anything is written — a file the store's partners and licenses do not fit refuses to
 * start, naming them, and changes nothing, so putting the previous file back starts as before.
 */
import Database from "better-sqlite3";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SetupError } from "../errors/index.js";
import { openStore, type Store } from "../store/index.js";
import { DB_FILE } from "../store/sqlite/index.js";
import { activateVersion, addVersion, seedFromFile } from "./seed.js";
import { buildState } from "./state.js";

const A = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const B = A.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, RU]");
// Without the model eu-mythos-5 and the partner eu-members that names it.
const cut = A.replace(/ {2}eu-mythos-5:\n( {4}.*\n)+/, "").replace(
  / {4}- id: eu-members\n( {6}.*\n| {8}.*\n)+?(?= {2}organizations:)/,
  "",
);

let store: Store;
let dataDir: string;
beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "clearance-seed-"));
  store = await openStore({ dataDir });
});
afterEach(() => store.close());

const now = () => new Date().toISOString();
const active = async () => buildState((await store.snapshot()).records).active.document;

describe("the scheme file at start-up", () => {
  it("is activated when it changes to content uploaded before but not active", async () => {
    await seedFromFile(store, A, now());
    const { version: b } = await addVersion(store, B, "officer", now());
    expect((await active()).version).toBe(1);
    await seedFromFile(store, B, now());
    expect((await active()).version).toBe(b);
    expect(buildState((await store.snapshot()).records).scheme.embargoed.has("RU")).toBe(true);
  });

  it("unchanged, leaves an activation made through the admin API in force", async () => {
    await seedFromFile(store, A, now());
    const { version: b } = await addVersion(store, B, "officer", now());
    await activateVersion(store, b, "admin", now(), { reason: "embargo RU" });
    await seedFromFile(store, A, now());
    expect((await active()).version).toBe(b);
  });

  it("that the store does not fit refuses to start, naming what, writes nothing; the old file starts", async () => {
    expect(cut).not.toContain("eu-mythos-5");
    await seedFromFile(store, A, now());
    const before = await store.version();
    const refused = await seedFromFile(store, cut, now()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SetupError);
    expect((refused as Error).message).toMatch(/partner eu-members .*eu-mythos-5/);
    expect(await store.version()).toBe(before);
    expect((await store.records.list("scheme")).length).toBe(1);
    await seedFromFile(store, A, now());
    expect((await active()).version).toBe(1);
    expect(buildState((await store.snapshot()).records).leftOut).toEqual([]);
  });
});

describe("a start by an older release cut short", () => {
  it("after the activation, has the rest of the file seeded by the next start", async () => {
    // The first start, by an older release that wrote each record on its own, died after activating
    // the file and seeding one partner (a crash, the store lost). This release writes them together.
    const dying = new Proxy(store, {
      get(obj, prop) {
        if (prop !== "records") return bound(obj, prop);
        return {
          ...obj.records,
          putAll: async (writes: Parameters<Store["records"]["putAll"]>[0]) => {
            for (const w of writes.slice(0, 2))
              await obj.records.put(w.collection, w.id, w.document, w.expectedRevision, w.change);
            throw new Error("the process died here");
          },
        };
      },
    });
    await expect(seedFromFile(dying, A, now())).rejects.toThrow(/died/);
    expect((await store.records.list("partner")).length).toBe(1);
    await seedFromFile(store, A, now());
    const state = buildState((await store.snapshot()).records);
    expect(state.partners.map((p) => p.id).sort()).toEqual(["eu-members", "g7-fvey", "uk-aisi"]);
    expect(state.licenses.map((l) => l.id)).toEqual(["BIS-2026-0001"]);
    expect(state.versions.length).toBe(1);
    // Once everything is there, a start writes nothing.
    const before = await store.version();
    await seedFromFile(store, A, now());
    expect(await store.version()).toBe(before);
  });
});

/** A store's property, its methods bound to the store (they use private fields). */
function bound(obj: Store, prop: string | symbol): unknown {
  const value = Reflect.get(obj, prop, obj) as unknown;
  return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
}

describe("an activation", () => {
  // A version bringing a new organization partner and a pending application.
  const C = A.replace(
    "  organizations:\n",
    "  organizations:\n    - { id: crash-partner, name: Crash Partner, country: GB, status: active, assurance: verified, locations: [GB], grants: [{ models: [mythos-5], actions: [infer] }] }\n",
  ).replace(
    "licenses:\n",
    "licenses:\n  - { id: C-PENDING, licensee: { organization: uk-aisi }, models: [mythos-5], actions: [infer], destinations: [GB], purposes: [research], nationalities: [GB], valid_from: 2026-07-01, valid_until: 2027-07-01, status: pending }\n",
  );

  it("is one transaction: a write failing midway leaves the version before, nothing of the new one", async () => {
    expect(C).toContain("crash-partner");
    expect(C).toContain("C-PENDING");
    await seedFromFile(store, A, now());
    const { version } = await addVersion(store, C, "officer", now());
    const before = await store.version();
    const outbox = (await store.outbox.list(0, 1000)).length;
    // The database refuses the new partner's row, as a disk failing under the write would: after the
    // active pointer was written, when each record was its own transaction.
    const db = new Database(join(dataDir, DB_FILE));
    db.exec(
      "CREATE TRIGGER fail_partner BEFORE INSERT ON records WHEN NEW.id = 'crash-partner' " +
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    await expect(activateVersion(store, version, "admin", now())).rejects.toThrow(/disk I\/O error/);
    // Nothing of it: version 1 stays active (before, version 2 was active without crash-partner,
    // and the pending application missing too; no later activation of it brought them).
    expect((await active()).version).toBe(1);
    expect(await store.records.get("license", "C-PENDING")).toBeUndefined();
    expect(await store.version()).toBe(before);
    expect((await store.outbox.list(0, 1000)).length).toBe(outbox);

    // Once the database takes it, the activation brings everything together.
    db.exec("DROP TRIGGER fail_partner");
    db.close();
    await activateVersion(store, version, "admin", now());
    expect((await active()).version).toBe(version);
    expect((await store.records.get("partner", "crash-partner"))?.document).toMatchObject({
      partner: { id: "crash-partner", status: "active" },
    });
    expect((await store.records.get("license", "C-PENDING"))?.document).toMatchObject({
      status: "pending",
      applicant: "admin",
    });
    const actions = (await store.outbox.list(0, 1000)).slice(outbox).map((r) => [r.action, r.object.id]);
    expect(actions).toEqual([
      ["scheme.activate", "active-scheme"],
      ["partner.seed", "crash-partner"],
      ["license.apply", "C-PENDING"],
    ]);
  });
});
