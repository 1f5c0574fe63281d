/** The alert service on a real store: quota alerts once per period, responses that revoke a key or call identity's hook. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import type { Sighting } from "./detectors.js";
import { blockOnAlert } from "../identity/registry.js";
import type { PrincipalBlock } from "../identity/schema.js";
import { GatewayMetrics } from "../monitoring/index.js";
import { AlertService, networkOf, type AlertsConfig, type SuspendPrincipal } from "./service.js";

const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const defaults = (): AlertsConfig =>
  configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
let store: Store;
let service: AlertService | undefined;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-alerts-")) });
  await store.principals.put({ id: "zoe", citizenships: [{ country: "FR" }] });
});
afterEach(async () => {
  await service?.close();
  await store.close();
});

const open = (config: AlertsConfig, used = 0, hook?: SuspendPrincipal) =>
  AlertService.open({
    config,
    store,
    scheme: () => scheme,
    licenseUsage: async () => used,
    changed: async () => {},
    ...(hook === undefined ? {} : { suspendPrincipal: hook }),
    onError: (err) => {
      throw err;
    },
  });

const sighting = (credential: string, country: string, i: number): Sighting => ({
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
});

describe("alert service", () => {
  it("raises a quota alert once per license, period and threshold", async () => {
    service = await open(defaults(), 46_000_000);
    await service.checkQuotas();
    await service.checkQuotas();
    const alerts = await store.alerts.list({ detector: "quota-nearly-exhausted" });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      subject: { kind: "license", id: "BIS-2026-0001" },
      severity: "medium",
      evidence: { details: { percent: 92, quota_tokens: 50_000_000 } },
    });
  });

  it("raises the quota alert again, high, once the quota is used up", async () => {
    let used = 46_000_000; // of 50,000,000: 92%
    service = await AlertService.open({
      config: defaults(),
      store,
      scheme: () => scheme,
      licenseUsage: async () => used,
      changed: async () => {},
      onError: (err) => {
        throw err;
      },
    });
    await service.checkQuotas();
    used = 60_000_000; // 120%
    await service.checkQuotas();
    await service.checkQuotas();
    const alerts = await store.alerts.list({ detector: "quota-nearly-exhausted" });
    expect(alerts.map((a) => `${a.severity} ${a.evidence.details["percent"]}`).sort()).toEqual([
      "high 120",
      "medium 92",
    ]);
  });

  it("suspend: revokes the shared key, as the detector, with the alert as reason", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    const config = defaults();
    service = await open({ ...config, key_sharing: { ...config.key_sharing, response: "suspend" } });
    ["FR", "DE", "BE"].forEach((c, i) => service?.replay(sighting(record.id, c, i)));
    await service.settled();
    const [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response).toMatchObject({ action: "suspend", result: `key ${record.id} revoked` });
    expect((await store.keys.list("zoe"))[0]?.revokedAt).not.toBeNull();
    const revoke = (await store.outbox.list(0, 100)).find((r) => r.action === "key.revoke");
    expect(revoke).toMatchObject({ actor: "detector:key-sharing", details: { alert: alert?.id } });
  });

  it("suspend: a revocation that fails is counted and retried until it is done", async () => {
    const { record } = await store.keys.create("zoe", "laptop");
    const revoke = store.keys.revoke.bind(store.keys);
    let failures = 1;
    store.keys.revoke = async (...args) => {
      if (failures-- > 0) throw new Error("connection reset while revoking");
      return revoke(...args);
    };
    const metrics = new GatewayMetrics({}, { defaultMetrics: false });
    const errors: unknown[] = [];
    const config = defaults();
    service = await AlertService.open({
      config: { ...config, key_sharing: { ...config.key_sharing, response: "suspend" } },
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => {},
      metrics,
      onError: (err) => errors.push(err),
    });
    ["FR", "DE", "BE"].forEach((c, i) => service?.replay(sighting(record.id, c, i)));
    await service.settled();
    expect(errors).toHaveLength(1);
    expect((await metrics.expose()).text).toContain(
      'clearance_alert_response_failures_total{detector="key-sharing"} 1',
    );
    let [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response).toBeNull();
    expect((await store.keys.list("zoe"))[0]?.revokedAt).toBeNull();
    // The next round (on a timer) answers what is still unanswered, once.
    await service.retryResponses(new Date(Date.parse(alert?.raised_at as string) + 60_000));
    await service.retryResponses(new Date(Date.parse(alert?.raised_at as string) + 120_000));
    [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response).toMatchObject({ action: "suspend", result: `key ${record.id} revoked` });
    expect((await store.keys.list("zoe"))[0]?.revokedAt).not.toBeNull();
    expect((await store.outbox.list(0, 100)).filter((r) => r.action === "key.revoke")).toHaveLength(1);
  });

  it("suspend: a federated principal's token goes to identity's hook", async () => {
    const called: string[] = [];
    const config = defaults();
    service = await open(
      { ...config, key_sharing: { ...config.key_sharing, response: "suspend" } },
      0,
      async (id) => {
        called.push(id);
        return `federated principal ${id} suspended`;
      },
    );
    ["FR", "DE", "BE"].forEach((c, i) => service?.replay(sighting("principal:zoe", c, i)));
    await service.settled();
    expect(called).toEqual(["zoe"]);
    const [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response?.result).toBe("federated principal zoe suspended");
  });

  it("suspend: the gateway's default response blocks a federated principal, as the detector", async () => {
    const config = defaults();
    const id = "fed:uk-gov:jane";
    service = await open(
      { ...config, key_sharing: { ...config.key_sharing, response: "suspend" } },
      0,
      blockOnAlert(store, async () => {}),
    );
    ["FR", "DE", "BE"].forEach((c, i) => service?.replay(sighting(`principal:${id}`, c, i)));
    await service.settled();
    const [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response?.result).toBe(`federated principal ${id} blocked`);
    const block = await store.records.get<PrincipalBlock>("principal-block", id);
    expect(block?.document).toMatchObject({ blocked: true, by: "detector:key-sharing" });
    expect(block?.document.reason).toContain(alert!.id);
  });

  it("groups client addresses into networks", () => {
    expect(networkOf("203.0.113.9")).toBe("203.0.113.0/24");
    expect(networkOf("::ffff:198.51.100.7")).toBe("198.51.100.0/24");
    expect(networkOf("2001:db8:aa:bb::1")).toBe("2001:db8:aa::/48");
    expect(networkOf(null)).toBeNull();
  });
});
