/**
 * A node whose snapshot is behind the store's active version (another node activated meanwhile):
 * a version's what-if, an activation's required impact and a version's diff are measured against
 * the version an activation would replace — the store's active one — not this node's old one.
 * Before, a node on v1 while the store had v2 (France embargoed) measured lifting the embargo (v3,
 * v1's rules) as "0 gain access", accepted that digest, and wrote it into the activation's reason
 * and impact record; the diff of v3 read "identical" to the version in force.
 *
 * The other node is a second store handle on the same SQLite file. This node's poll is stopped
 * (SQLite has no notification): it reloads only when told, or when it finds itself behind.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { activateVersion, addVersion } from "../control/seed.js";
import { openStore, type Store } from "../store/index.js";
import { auditEntries, call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const EMBARGO_FRANCE = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, FR]");
/** Version 1's rules under another name: activating it over the embargo lifts it. */
const LIFTED = EXAMPLE.replace(/^name: .*$/m, "name: lifted");

let t: TestGateway;
let other: Store;
/** This node's snapshot reads fail (a store connection reset midway); the rest of the store answers. */
let snapshotDown = false;
let embargo: number;
let lifted: number;
beforeAll(async () => {
  t = await startTestGateway({
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "snapshot" && snapshotDown)
            return () => Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      }),
  });
  other = await openStore({ dataDir: t.dataDir });
  const now = new Date().toISOString();
  embargo = (await addVersion(other, EMBARGO_FRANCE, "officer@elsewhere", now)).version;
  lifted = (await addVersion(other, LIFTED, "officer@elsewhere", now)).version;
});
afterAll(async () => {
  await other?.close();
  await t?.gateway.close();
});

/** This node on version 1; the other node then activates the embargo, which this node has not loaded. */
beforeEach(async () => {
  t.gateway.snapshot.stop();
  const now = new Date().toISOString();
  await activateVersion(other, 1, "admin@elsewhere", now, { reason: "back to 1" });
  await t.gateway.snapshot.refresh();
  await activateVersion(other, embargo, "admin@elsewhere", now, { reason: "embargo France" });
  // What the tests are about: this node is behind the store.
  expect(t.gateway.snapshot.current.control.active.document.version).toBe(1);
});

describe("a node behind the store's active version", () => {
  it("measures a what-if against the store's active version, and activates with that impact", async () => {
    const whatIf = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${lifted}/what-if`, {});
    expect(whatIf.status, JSON.stringify(whatIf.body)).toBe(200);
    const summary = whatIf.body.population.summary;
    // Lifting the embargo on France: those in France gain access (against version 1: nobody did).
    expect(summary.gained).toBeGreaterThan(0);
    expect(summary.by_location).toContainEqual(expect.objectContaining({ key: "FR", lost: 0 }));

    const activated = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${lifted}/activate`, {
      reason: "lift the embargo",
      what_if: whatIf.body.digest,
    });
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);
    expect(activated.body.impact).toMatchObject({ digest: whatIf.body.digest, gained: summary.gained });
    const entry = (await auditEntries(t)).findLast((e) => e.action === "scheme.activate");
    expect(entry?.details).toMatchObject({
      version: lifted,
      previous: embargo,
      what_if: { digest: whatIf.body.digest, gained: summary.gained },
    });
    expect(entry?.details.reason).toMatch(new RegExp(`: ${summary.gained} gain access,`));
  });

  it("reads a version's diff against the store's active version", async () => {
    const read = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/schemes/${lifted}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.diff.identical).toBe(false);
    expect(read.body.diff.text).toMatch(/FR|France/);
    const active = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/schemes/${embargo}`);
    expect(active.body).toMatchObject({ active: true, diff: { identical: true } });
  });

  it("lists the store's active version as active, not this node's, even when this node cannot reload", async () => {
    // Before: the list marked version 1 (this node's) active while GET /schemes/{v} said the embargo.
    const marked = async () => {
      const list = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/schemes?limit=100");
      expect(list.status, JSON.stringify(list.body)).toBe(200);
      return (list.body.data as { version: number; active: boolean }[])
        .filter((v) => v.active)
        .map((v) => v.version);
    };
    expect(await marked()).toEqual([embargo]);
    snapshotDown = true;
    try {
      expect(await marked()).toEqual([embargo]);
      // A version read while this node cannot reload says so too.
      const one = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/schemes/1");
      expect(one.status, JSON.stringify(one.body)).toBe(200);
      expect(one.body.active).toBe(false);
      const active = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/schemes/${embargo}`);
      expect(active.body).toMatchObject({ active: true, diff: { identical: true } });
    } finally {
      snapshotDown = false;
    }
  });

  it("an upload's diff is against the store's active version, even when this node cannot reload", async () => {
    snapshotDown = true;
    try {
      const up = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml: LIFTED });
      expect(up.status, JSON.stringify(up.body)).toBe(201);
      expect(up.body).toMatchObject({ version: lifted, created: false });
      expect(up.body.diff.text).toMatch(/FR|France/);
    } finally {
      snapshotDown = false;
    }
  });

  it("refuses a what-if and an activation's impact while it cannot reload (409 snapshot_behind)", async () => {
    snapshotDown = true;
    try {
      const whatIf = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${lifted}/what-if`, {});
      expect(whatIf.status).toBe(409);
      expect(whatIf.body.error.code).toBe("snapshot_behind");
      expect(whatIf.body.error.message).toMatch(
        new RegExp(`scheme version 1, but the store's active version is ${embargo} .*try again`),
      );
      const activated = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${lifted}/activate`, {
        reason: "lift the embargo",
        what_if: `sha256:${"0".repeat(64)}`,
      });
      expect(activated.status).toBe(409);
      expect(activated.body.error.code).toBe("snapshot_behind");
    } finally {
      snapshotDown = false;
    }
    // Nothing was activated.
    const pointer = await other.records.get<{ version: number }>("setting", "active-scheme");
    expect(pointer?.document.version).toBe(embargo);
  });

  it("rolls back without a what-if, and reads a version, while it cannot reload", async () => {
    // Before: both 409 snapshot_behind, though nothing is measured there; a node that cannot serve
    // the version in force (whose reload fails until another is activated) could not be mended.
    snapshotDown = true;
    try {
      const read = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/schemes/${lifted}`);
      expect(read.status, JSON.stringify(read.body)).toBe(200);
      expect(read.body.diff.text).toMatch(/FR|France/);
      const rolledBack = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes/1/activate", {
        reason: "roll back the embargo",
      });
      expect(rolledBack.status, JSON.stringify(rolledBack.body)).toBe(200);
      expect(rolledBack.body.not_yet_in_force).toMatchObject({ code: "reload_failed" });
    } finally {
      snapshotDown = false;
    }
    const pointer = await other.records.get<{ version: number }>("setting", "active-scheme");
    expect(pointer?.document.version).toBe(1);
  });

  it("an activation whose impact was measured against a version no longer active is refused", async () => {
    // Another node activated between the impact's measure (against version 1) and the write.
    const write = activateVersion(other, lifted, "admin", new Date().toISOString(), {
      reason: "lift the embargo",
      impact: { digest: `sha256:${"0".repeat(64)}` },
      replacing: 1,
    });
    await expect(write).rejects.toMatchObject({ code: "what_if_changed" });
    const pointer = await other.records.get<{ version: number }>("setting", "active-scheme");
    expect(pointer?.document.version).toBe(embargo);
  });
});
