/**
 * A scheme version uploaded through another node (or the CLI) into the store this node shares, and
 * activated on this node before it has reloaded: the version is found in the store, not only in this
 * node's snapshot. Before, the activation (and reading the version, and its what-if) answered 404
 * `no scheme version 2` until this node's next poll.
 *
 * The other node is a second store handle on the same SQLite file. This node's poll is stopped
 * meanwhile (its next one not yet come; SQLite has no notification): it reloads only when told,
 * as after its own admin changes.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addVersion } from "../control/seed.js";
import { openStore, type Store } from "../store/index.js";
import { ask, asAdmin, call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const EMBARGO_BRAZIL = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, BR]");

let t: TestGateway;
let other: Store;
beforeAll(async () => {
  t = await startTestGateway();
  other = await openStore({ dataDir: t.dataDir });
});
afterAll(async () => {
  await other?.close();
  await t?.gateway.close();
});

/** Uploads `yaml` through the other node; this node has not reloaded since. */
async function uploadElsewhere(yaml: string): Promise<number> {
  t.gateway.snapshot.stop();
  await t.gateway.snapshot.refresh();
  const { version } = await addVersion(other, yaml, "officer@elsewhere", new Date().toISOString());
  // What the test is about: this node's snapshot lacks the version.
  expect(t.gateway.snapshot.current.control.versions.map((v) => v.id)).not.toContain(String(version));
  return version;
}

describe("a version uploaded through another node, before this node has reloaded", () => {
  it("is read and activated here: the activation answers 200 and is in force", async () => {
    const version = await uploadElsewhere(EMBARGO_BRAZIL);
    const read = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/schemes/${version}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ version, active: false, uploaded_by: "officer@elsewhere" });
    expect(read.body.diff.text).toMatch(/BR|Brazil/);

    const whatIf = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${version}/what-if`, {});
    expect(whatIf.status, JSON.stringify(whatIf.body)).toBe(200);

    const activated = await call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${version}/activate`, {
      reason: "Brazil embargoed",
    });
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);
    expect(activated.body).toMatchObject({ version, active: true });
    expect(activated.body).not.toHaveProperty("not_yet_in_force");
    t.gateway.snapshot.start(50);
    // In force on this node at once: Brazil is embargoed.
    expect(await ask(t, "alice", "BR")).toMatchObject({ status: 403, reason: "embargoed-location" });
    const back = await asAdmin(t, "POST", "/admin/v1/schemes/1/activate", { reason: "rolled back" });
    expect(back).toMatchObject({ version: 1, active: true });
  });

  it("a version the store lacks is still 404", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes/99/activate", { reason: "none" });
    expect(r.status).toBe(404);
    expect(r.body.error.message).toBe("no scheme version 99");
    expect((await call(t, ADMIN_TOKEN, "GET", "/admin/v1/schemes/99")).status).toBe(404);
  });
});
