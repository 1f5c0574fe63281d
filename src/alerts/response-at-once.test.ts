/**
 * An automatic suspension's response is recorded right after the suspension, not after this node's
 * reload: other nodes' retries look for alerts without a response, and a reload may be slow (a big
 * snapshot, a starved audit disk) or hang. Before, a node whose reload outlasted the 10 s grace had
 * another node suspend again, that node's "zoe has no active API key" stood and its own "key …
 * revoked" was refused as already answered; a reload that hung left the response null for good on
 * a single node. Once the reload has settled, a suspension this node did not take in says so in a
 * separate update (`not_yet_in_force`, audited as `alert.not_in_force`) — only when something was
 * revoked or blocked: a principal with no key left, or a notification, has nothing to put in force.
 *
 * Two services over one SQLite store stand for two nodes.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import type { Reloads } from "../control/in-force.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import type { Sighting } from "./detectors.js";
import { AlertService, type AlertsConfig } from "./service.js";

const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const defaults = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const config: AlertsConfig = {
  ...defaults,
  embargoed_attempts: { ...defaults.embargoed_attempts, response: "suspend" },
};

let store: Store;
const services: AlertService[] = [];
/** Reloads held until released (each test releases them before the services close). */
let releases: (() => void)[] = [];
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-alerts-")) });
  await store.principals.put({ id: "zoe", citizenships: [{ country: "FR" }] });
});
afterEach(async () => {
  for (const release of releases) release();
  releases = [];
  for (const s of services.splice(0)) await s.close();
  await store.close();
});

/** A node over the store: `changed` its reload, `reloads` what it says of it. */
async function node(changed: () => Promise<void>, reloads?: Reloads): Promise<AlertService> {
  const s = await AlertService.open({
    config,
    store,
    scheme: () => scheme,
    licenseUsage: async () => 0,
    changed,
    ...(reloads === undefined ? {} : { reloads }),
    onError: (err) => {
      throw err;
    },
  });
  services.push(s);
  return s;
}

/** A reload that waits until the test releases it; `begun`: how many were asked for. */
function heldReload() {
  const state = { begun: 0, through: 0 };
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  releases.push(release);
  const changed = async () => {
    const n = ++state.begun;
    await held;
    state.through = n;
  };
  const reloads: Reloads = {
    mark: () => state.begun + 1,
    holds: (mark) => state.through >= mark,
    failure: () => null,
    node: "gw-1",
  };
  return { state, changed, reloads, release };
}

/** A node whose reloads fail (the store's version check refused): nothing is ever taken in. */
const failing: Reloads = {
  mark: () => 1,
  holds: () => false,
  failure: () => ({ code: "ECONNREFUSED", message: "connect ECONNREFUSED" }),
  node: "gw-2",
};

const attempt = (credential: string, at: number): Sighting => ({
  t: at,
  requestId: "r1",
  audit: "1",
  principal: "zoe",
  credential,
  organization: null,
  partner: null,
  model: "mythos-4",
  decision: "deny",
  reason: "embargoed-location",
  country: "IR",
  network: "10.0.0.0/24",
});

const theAlert = async () => (await store.alerts.list({ detector: "embargoed-attempt" }))[0];
const actions = async (action: string) =>
  (await store.outbox.list(0, 1000)).filter((r) => r.action === action);

describe("an automatic suspension's response", () => {
  it("is recorded before this node's slow reload: another node's retry meanwhile does not answer it again", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    const slow = heldReload();
    const a = await node(slow.changed, slow.reloads);
    const b = await node(async () => {});
    const at = Date.now();
    a.replay(attempt(record.id, at));
    // A has suspended and begun its reload, which has not come back.
    await eventually(
      async () => slow.state.begun,
      (n) => n > 0,
    );
    expect((await theAlert())?.response).toMatchObject({
      action: "suspend",
      result: `key ${record.id} revoked`,
    });
    // B's retry round, past the grace: nothing is due.
    await b.retryResponses(new Date(at + 11_000));
    slow.release();
    await a.settled();
    const alert = await theAlert();
    expect(alert?.response?.result).toBe(`key ${record.id} revoked`);
    // Taken in by A's reload: nothing more said.
    expect(alert?.response).not.toHaveProperty("not_yet_in_force");
    expect(await actions("alert.respond")).toHaveLength(1);
    expect(await actions("key.revoke")).toHaveLength(1);
    // One reload for the alert and its suspension (before, one more ran for the response).
    expect(slow.state.begun).toBe(1);
  });

  it("is recorded while this node's reload hangs", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    const hung = heldReload();
    const a = await node(hung.changed, hung.reloads);
    a.replay(attempt(record.id, Date.now()));
    await eventually(
      async () => hung.state.begun,
      (n) => n > 0,
    );
    expect((await theAlert())?.response).toMatchObject({ result: `key ${record.id} revoked` });
  });

  it("says once the reload failed that a revocation is not yet in force on this node, in a separate update", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    const a = await node(async () => {}, failing);
    a.replay(attempt(record.id, Date.now()));
    await a.settled();
    const alert = await theAlert();
    expect(alert?.response).toMatchObject({
      result: `key ${record.id} revoked`,
      not_yet_in_force: { code: "reload_failed", node: "gw-2" },
    });
    expect(alert?.response?.not_yet_in_force?.message).toMatch(
      new RegExp(
        `^alert ${alert?.id}'s suspension was changed in the store, but is not yet in force on node gw-2: ` +
          "it could not reload from the store \\(ECONNREFUSED: connect ECONNREFUSED\\)",
      ),
    );
    const [respond] = await actions("alert.respond");
    expect(respond?.details).not.toHaveProperty("not_yet_in_force");
    const told = await actions("alert.not_in_force");
    expect(told).toHaveLength(1);
    expect(told[0]?.details).toMatchObject({ not_yet_in_force: { code: "reload_failed" } });
  });

  // Before: with no word from this node on whether it takes the key (no takesKey), a key found
  // already revoked counted as in force here, while a principal found already blocked with no
  // blocksPrincipal counted as not yet in force: now both take the cautious side.
  it("says a key found already revoked is not yet in force here when this node does not say whether it takes it", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    await store.keys.revoke(record.id, "cli:bob");
    // A key-sharing alert (its subject the key): the credential seen from three countries.
    const a = await AlertService.open({
      config: { ...config, key_sharing: { ...config.key_sharing, response: "suspend" } },
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => {},
      reloads: failing,
      onError: (err) => {
        throw err;
      },
    });
    services.push(a);
    ["FR", "DE", "BE"].forEach((country, i) =>
      a.replay({
        ...attempt(record.id, Date.now() + i * 60_000),
        decision: "allow",
        reason: "open-model",
        country,
      }),
    );
    await a.settled();
    const [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.subject).toEqual({ kind: "key", id: record.id });
    expect(alert?.response).toMatchObject({
      result: `key ${record.id} already revoked`,
      not_yet_in_force: { code: "reload_failed", node: "gw-2" },
    });
    expect(await actions("alert.not_in_force")).toHaveLength(1);
  });

  it("says nothing is not in force when nothing was suspended (no active key)", async () => {
    const a = await node(async () => {}, failing);
    a.replay(attempt("k-none", Date.now()));
    await a.settled();
    const alert = await theAlert();
    expect(alert?.response).toMatchObject({ result: "zoe has no active API key" });
    expect(alert?.response).not.toHaveProperty("not_yet_in_force");
    expect(await actions("alert.not_in_force")).toHaveLength(0);
  });
});
