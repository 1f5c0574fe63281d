/**
 * An alert's automatic suspension on a real store, as the gateway wires it (identity's block hook,
 * one reload after): what it says when another node, the CLI or an officer got there first, and how
 * often it reloads.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlertService, type AlertsConfig } from "../alerts/service.js";
import type { Sighting } from "../alerts/detectors.js";
import { configSchema } from "../config/schema.js";
import type { Reloads } from "../control/in-force.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { blockOnAlert, BLOCKS, setBlock } from "./registry.js";
import type { PrincipalBlock } from "./schema.js";

const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const config = (): AlertsConfig => {
  const alerts = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
  return { ...alerts, key_sharing: { ...alerts.key_sharing, response: "suspend" } };
};
/** A node whose every reload fails: a suspension it took is never held here. */
const failing: Reloads = {
  mark: () => 1,
  holds: () => false,
  failure: () => ({ code: "ECONNREFUSED", message: "connect ECONNREFUSED" }),
  node: "node-a",
};

let store: Store;
let service: AlertService | undefined;
/** Reloads this node was asked for (the gateway's `changed`). */
let reloads = 0;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-suspension-")) });
  await store.principals.put({ id: "zoe", citizenships: [{ country: "FR" }] });
  reloads = 0;
});
afterEach(async () => {
  await service?.close();
  service = undefined;
  await store.close();
});

const open = (withReloads?: Reloads) =>
  AlertService.open({
    config: config(),
    store,
    scheme: () => scheme,
    licenseUsage: async () => 0,
    changed: async () => void reloads++,
    ...(withReloads === undefined ? {} : { reloads: withReloads }),
    suspendPrincipal: blockOnAlert(store),
    onError: (err) => {
      throw err;
    },
  });

/** The credential seen from three countries within minutes: a key-sharing alert. */
async function shared(s: AlertService, credential: string): Promise<void> {
  ["FR", "DE", "BE"].forEach((country, i) =>
    s.replay({
      t: Date.parse("2030-01-01T10:00:00Z") + i * 60_000,
      requestId: `r${i}`,
      audit: String(i),
      principal: "zoe",
      credential,
      organization: null,
      partner: null,
      model: "mythos-4",
      decision: "allow",
      reason: "open-model",
      country,
      network: "10.0.0.0/24",
    } satisfies Sighting),
  );
  await s.settled();
}

const response = async () => (await store.alerts.list({ detector: "key-sharing" }))[0]?.response;

describe("an alert's suspension", () => {
  it("of a key another node revoked first says 'already revoked', and nothing is pending here", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    await store.keys.revoke(record.id, "cli:bob");
    service = await open(failing);
    await shared(service, record.id);
    // Not "revoked": the suspension did not revoke it; nor "not yet in force": it changed nothing.
    const said = await response();
    expect(said).toMatchObject({ action: "suspend", result: `key ${record.id} already revoked` });
    expect(said).not.toHaveProperty("not_yet_in_force");
    const revocations = (await store.outbox.list(0, 100)).filter((r) => r.action === "key.revoke");
    expect(revocations.map((r) => r.actor)).toEqual(["cli:bob"]);
  });

  it("of a key it revokes itself says 'revoked'", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    service = await open();
    await shared(service, record.id);
    expect(await response()).toMatchObject({ action: "suspend", result: `key ${record.id} revoked` });
  });

  it("of a federated principal an officer blocked first keeps the officer's block, and says so", async () => {
    const id = "fed:uk-gov:jane";
    await setBlock(store, id, true, "left the agency", "officer", "2030-01-01T09:00:00.000Z");
    // Every reload fails here: a response that changed nothing has nothing to be in force.
    service = await open(failing);
    await shared(service, `principal:${id}`);
    const said = await response();
    expect(said?.result).toBe(`federated principal ${id} already blocked`);
    expect(said).not.toHaveProperty("not_yet_in_force");
    const block = await store.records.get<PrincipalBlock>(BLOCKS, id);
    expect(block?.document).toEqual({
      blocked: true,
      reason: "left the agency",
      at: "2030-01-01T09:00:00.000Z",
      by: "officer",
    });
    expect(block?.revision).toBe(1);
  });

  it("of a federated principal an officer blocks while it is being blocked says 'already blocked', and keeps the officer's block", async () => {
    const id = "fed:uk-gov:jane";
    // The officer's block lands between the hook's read and its write: the write is a conflict.
    let officerPending = true;
    const interleaved: Store = {
      ...store,
      records: {
        ...store.records,
        get: async <T>(collection: Parameters<Store["records"]["get"]>[0], key: string) => {
          const read = await store.records.get<T>(collection, key);
          if (collection === BLOCKS && officerPending) {
            officerPending = false;
            await setBlock(store, id, true, "left the agency", "officer", "2030-01-01T09:00:00.000Z");
          }
          return read;
        },
      },
    };
    service = await AlertService.open({
      config: config(),
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => void reloads++,
      reloads: failing,
      suspendPrincipal: blockOnAlert(interleaved),
      onError: (err) => {
        throw err;
      },
    });
    await shared(service, `principal:${id}`);
    expect(officerPending).toBe(false);
    const said = await response();
    expect(said).toMatchObject({ action: "suspend", result: `federated principal ${id} already blocked` });
    expect(said).not.toHaveProperty("not_yet_in_force");
    const block = await store.records.get<PrincipalBlock>(BLOCKS, id);
    expect(block?.document).toMatchObject({ reason: "left the agency", by: "officer" });
    expect(block?.revision).toBe(1);
  });

  it("of a federated principal blocks it with one reload (the alert's and the block's together)", async () => {
    const id = "fed:uk-gov:ada";
    service = await open();
    await shared(service, `principal:${id}`);
    expect((await response())?.result).toBe(`federated principal ${id} blocked`);
    expect((await store.records.get<PrincipalBlock>(BLOCKS, id))?.document).toMatchObject({
      blocked: true,
      by: "detector:key-sharing",
    });
    expect(reloads).toBe(1);
  });
});
