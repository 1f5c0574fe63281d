/**
 * An alert's automatic suspension on a real store, as the gateway wires it (identity's block hook,
 * one reload after): what it says when another node, the CLI or an officer got there first, and how
 * often it reloads.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlertService, type AlertsConfig } from "../alerts/service.js";
import type { Sighting } from "../alerts/detectors.js";
import { configSchema } from "../config/schema.js";
import { seedFromFile } from "../control/seed.js";
import type { Reloads } from "../control/in-force.js";
import { SnapshotHolder } from "../gateway/snapshot.js";
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

/** `holds`: the federated principals this node's snapshot already blocks. */
const open = (withReloads?: Reloads, holds: readonly string[] = [], takes: readonly string[] = []) =>
  AlertService.open({
    config: config(),
    store,
    scheme: () => scheme,
    licenseUsage: async () => 0,
    changed: async () => void reloads++,
    ...(withReloads === undefined ? {} : { reloads: withReloads }),
    suspendPrincipal: blockOnAlert(store),
    blocksPrincipal: (id) => holds.includes(id),
    takesKey: (id) => takes.includes(id),
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

/** This node's snapshot of the store (a scheme seeded to load): what it lets through and refuses. */
async function loaded(): Promise<SnapshotHolder> {
  await seedFromFile(
    store,
    readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
    new Date().toISOString(),
  );
  return SnapshotHolder.open(store, (err) => {
    throw err;
  });
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

  it("of a key another node revoked, not yet loaded here, says not yet in force while reloads fail", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    await store.keys.revoke(record.id, "cli:bob");
    // This node's snapshot still takes the key: the revocation is the store's, not yet this node's.
    service = await open(failing, [], [record.id]);
    await shared(service, record.id);
    const said = await response();
    expect(said).toMatchObject({ action: "suspend", result: `key ${record.id} already revoked` });
    expect(said).toHaveProperty("not_yet_in_force.code", "reload_failed");
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
    // Every reload fails here, but this node loaded the block before: nothing changed, nothing pending.
    service = await open(failing, [id]);
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
      // The officer's block is taken in here (by the officer's own reload on this node).
      blocksPrincipal: (p) => p === id,
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

  it("of a federated principal another node blocked, not yet loaded here, says not yet in force while reloads fail", async () => {
    const id = "fed:uk-gov:jane";
    const snapshot = await loaded();
    // Another node's suspension, written to the shared store after this node loaded it.
    await setBlock(store, id, true, "alert on node b", "detector:key-sharing", "2030-01-01T09:00:00.000Z");
    service = await AlertService.open({
      config: config(),
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => void reloads++,
      reloads: failing,
      suspendPrincipal: blockOnAlert(store),
      blocksPrincipal: (p) => snapshot.current.federation.blocked.has(p),
      onError: (err) => {
        throw err;
      },
    });
    await shared(service, `principal:${id}`);
    const said = await response();
    expect(said?.result).toBe(`federated principal ${id} already blocked`);
    // This node still lets jane through: the answer must not read as a suspension in force.
    expect(snapshot.current.federation.blocked.has(id)).toBe(false);
    expect(said?.not_yet_in_force).toMatchObject({ code: "reload_failed", node: "node-a" });
  });

  it("of a federated principal another node blocked, not yet loaded here, reloads and refuses it here", async () => {
    const id = "fed:uk-gov:jane";
    const snapshot = await loaded();
    await setBlock(store, id, true, "alert on node b", "detector:key-sharing", "2030-01-01T09:00:00.000Z");
    service = await AlertService.open({
      config: config(),
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => {
        reloads++;
        await snapshot.refresh();
      },
      reloads: {
        mark: () => snapshot.mark(),
        holds: (mark, scope) => snapshot.holds(mark, scope),
        failure: () => snapshot.lastFailure,
        node: "node-a",
      },
      suspendPrincipal: blockOnAlert(store),
      blocksPrincipal: (p) => snapshot.current.federation.blocked.has(p),
      onError: (err) => {
        throw err;
      },
    });
    await shared(service, `principal:${id}`);
    expect(reloads).toBe(1);
    expect(snapshot.current.federation.blocked.has(id)).toBe(true);
    const said = await response();
    expect(said?.result).toBe(`federated principal ${id} already blocked`);
    expect(said).not.toHaveProperty("not_yet_in_force");
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
