/** The alert service on a real store: quota alerts once per period, responses that revoke a key or call identity's hook. */
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile, parseScheme } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import type { Sighting } from "./detectors.js";
import { blockOnAlert } from "../identity/registry.js";
import type { PrincipalBlock } from "../identity/schema.js";
import { GatewayMetrics } from "../monitoring/index.js";
import { eventually } from "../testing/admin.js";
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

/** The store's first key revocation fails (a connection reset), the next ones go through. */
function failFirstRevocation(): void {
  const revoke = store.keys.revoke.bind(store.keys);
  let failures = 1;
  store.keys.revoke = async (...args) => {
    if (failures-- > 0) throw new Error("connection reset while revoking");
    return revoke(...args);
  };
}

/** Opened with its errors collected in `errors` rather than thrown. */
const openCollecting = (config: AlertsConfig, errors: unknown[], metrics?: GatewayMetrics) =>
  AlertService.open({
    config,
    store,
    scheme: () => scheme,
    licenseUsage: async () => 0,
    changed: async () => {},
    ...(metrics === undefined ? {} : { metrics }),
    onError: (err) => errors.push(err),
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

  it("a license whose usage cannot be read is reported, and the others are still checked", async () => {
    // Two licenses with quotas: the first one's counter cannot be read (a Redis key of another
    // type, a store error), the second has used 92% of its quota.
    const text = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const license = text.slice(text.indexOf("\n  - id: BIS-2026-0001"));
    const twoLicenses = parseScheme(text + license.replace("BIS-2026-0001", "BIS-2026-0002"));
    expect([...twoLicenses.licenses.keys()]).toEqual(["BIS-2026-0001", "BIS-2026-0002"]);
    const errors: unknown[] = [];
    const metrics = new GatewayMetrics();
    service = await AlertService.open({
      config: defaults(),
      store,
      scheme: () => twoLicenses,
      licenseUsage: async (license) => {
        if (license === "BIS-2026-0001")
          throw new Error("WRONGTYPE Operation against a key holding the wrong kind of value");
        return 46_000_000;
      },
      changed: async () => {},
      metrics,
      onError: (err) => errors.push(err),
    });
    await service.checkQuotas();
    const alerts = await store.alerts.list({ detector: "quota-nearly-exhausted" });
    expect(alerts.map((a) => a.subject.id)).toEqual(["BIS-2026-0002"]);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      "quota check of license BIS-2026-0001: WRONGTYPE Operation against a key holding the wrong kind of value",
    ]);
    expect((await metrics.expose()).text).toContain('clearance_errors_total{source="alerts"} 1');
  });

  it("a quota check still waiting for the counters is not started again beside it (they piled up)", async () => {
    // Only the service's own timers are faked: the store's I/O runs as usual.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let calls = 0;
    let stuck = true;
    const waiting: (() => void)[] = [];
    const answer = () => {
      stuck = false;
      waiting.splice(0).forEach((done) => done());
    };
    try {
      service = await AlertService.open({
        config: { ...defaults(), quota: { enabled: true, percent: 90, check_ms: 1_000 } },
        store,
        scheme: () => scheme,
        // Counters that do not answer (Redis paused, a store query waiting on a lock), then do.
        licenseUsage: async () => {
          calls++;
          if (stuck) await new Promise<void>((resolve) => waiting.push(resolve));
          return 0;
        },
        changed: async () => {},
        onError: (err) => {
          throw err;
        },
      });
      vi.advanceTimersByTime(60_000);
      // Sixty ticks: one check, waiting on its first license (each tick started one more, for ever).
      expect(calls).toBe(1);
      answer();
      await service.settled();
      // The check has ended: the next tick starts the next one.
      const before = calls;
      vi.advanceTimersByTime(1_000);
      await service.settled();
      expect(calls).toBeGreaterThan(before);
    } finally {
      answer();
      vi.useRealTimers();
    }
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
    failFirstRevocation();
    const metrics = new GatewayMetrics({}, { defaultMetrics: false });
    const errors: unknown[] = [];
    const config = defaults();
    service = await openCollecting(
      { ...config, key_sharing: { ...config.key_sharing, response: "suspend" } },
      errors,
      metrics,
    );
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
        return { outcome: "blocked", text: `federated principal ${id} suspended` };
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
      blockOnAlert(store),
    );
    ["FR", "DE", "BE"].forEach((c, i) => service?.replay(sighting(`principal:${id}`, c, i)));
    await service.settled();
    const [alert] = await store.alerts.list({ detector: "key-sharing" });
    expect(alert?.response?.result).toBe(`federated principal ${id} blocked`);
    const block = await store.records.get<PrincipalBlock>("principal-block", id);
    expect(block?.document).toMatchObject({ blocked: true, by: "detector:key-sharing" });
    expect(block?.document.reason).toContain(alert!.id);
  });

  // An embargoed attempt by zoe at `at`: one alert about the principal.
  const embargoed = (at: number): Sighting => ({
    ...sighting("k", "IR", 0),
    t: at,
    decision: "deny",
    reason: "embargoed-location",
  });
  const withEmbargo = (response: "notify" | "suspend"): AlertsConfig => {
    const c = defaults();
    return { ...c, embargoed_attempts: { ...c.embargoed_attempts, response } };
  };
  /** Now, once the clock has passed `t` (a key issued then is issued after an alert raised at `t`). */
  const after = async (t: number) => {
    while (Date.now() <= t) await new Promise((r) => setTimeout(r, 1));
  };
  const active = async () =>
    (await store.keys.list("zoe")).filter((k) => k.revokedAt === null).map((k) => k.label);

  it("switched to suspend: alerts raised to notify are left alone, and the keys issued since kept", async () => {
    await store.keys.create("zoe", "laptop");
    service = await open(withEmbargo("notify"));
    const at = Date.now();
    service.replay(embargoed(at));
    await service.settled();
    await service.close();
    await after(at);
    await store.keys.create("zoe", "issued-after-the-alert");
    // The operator switches the detector to suspend and restarts; no request comes in.
    service = await open(withEmbargo("suspend"));
    await service.retryResponses(new Date(Date.now() + 3_600_000));
    expect(await active()).toEqual(["laptop", "issued-after-the-alert"]);
    expect((await store.outbox.list(0, 100)).filter((r) => r.action === "key.revoke")).toEqual([]);
    const [alert] = await store.alerts.list({ detector: "embargoed-attempt" });
    expect(alert).toMatchObject({ intended_response: "notify", response: null });
  });

  it("suspend retried later: revokes the keys the principal had when the alert was raised, not newer ones", async () => {
    await store.keys.create("zoe", "laptop");
    failFirstRevocation();
    const errors: unknown[] = [];
    service = await openCollecting(withEmbargo("suspend"), errors);
    const at = Date.now();
    service.replay(embargoed(at));
    await service.settled();
    expect(errors).toHaveLength(1);
    let [alert] = await store.alerts.list({ detector: "embargoed-attempt" });
    expect(alert?.response).toBeNull();
    // A replacement key, issued before the retry round comes.
    await after(at);
    await store.keys.create("zoe", "replacement");
    await service.retryResponses(new Date(Date.now() + 60_000));
    expect(await active()).toEqual(["replacement"]);
    [alert] = await store.alerts.list({ detector: "embargoed-attempt" });
    expect(alert?.intended_response).toBe("suspend");
    expect(alert?.response?.result).toMatch(/^key \w+ revoked; key \w+ issued after the alert: not revoked$/);
    // Answered: no later round acts on it again.
    expect(await store.alerts.pendingResponses(null, 10)).toEqual([]);
  });

  it("suspend retried later: the keys it had are the store's, not the issuing clocks' (clock skew)", async () => {
    // The used key was issued on a node whose clock runs 10 minutes ahead: its createdAt is after the
    // alert's time (was: spared). The replacement, issued after the alert on a node 10 minutes behind,
    // has a createdAt before it (was: revoked).
    const laptop = await store.keys.create("zoe", "laptop");
    const skewed = new Map<string, number>([[laptop.record.id, +600_000]]);
    const list = store.keys.list.bind(store.keys);
    store.keys.list = async (...args) =>
      (await list(...args)).map((k) => {
        const skew = skewed.get(k.id);
        return skew === undefined
          ? k
          : { ...k, createdAt: new Date(Date.parse(k.createdAt) + skew).toISOString() };
      });
    failFirstRevocation();
    const errors: unknown[] = [];
    service = await openCollecting(withEmbargo("suspend"), errors);
    const at = Date.now();
    service.replay({ ...embargoed(at), credential: laptop.record.id });
    await service.settled();
    expect(errors).toHaveLength(1);
    let [alert] = await store.alerts.list({ detector: "embargoed-attempt" });
    // The store's keys as the alert was stored, and the credential seen used.
    expect(alert?.evidence.details).toMatchObject({ keys: [laptop.record.id], credential: laptop.record.id });
    await after(at);
    const replacement = await store.keys.create("zoe", "replacement");
    skewed.set(replacement.record.id, -600_000);
    await service.retryResponses(new Date(Date.now() + 60_000));
    expect(await active()).toEqual(["replacement"]);
    [alert] = await store.alerts.list({ detector: "embargoed-attempt" });
    expect(alert?.response?.result).toBe(
      `key ${laptop.record.id} revoked; key ${replacement.record.id} issued after the alert: not revoked`,
    );
  });

  it("suspend: a spike against no history of the subject's own is raised to notify only, keys kept", async () => {
    await store.keys.create("zoe", "laptop");
    const c = defaults();
    service = await open({
      ...c,
      volume_spike: { ...c.volume_spike, window_ms: 60_000, min_requests: 5, response: "suspend" },
    });
    // Someone else's requests over four whole windows: the detector has watched long enough that
    // zoe, first seen after them, is new (a known baseline of 0), not a node that has just started.
    const start = Date.now() + 60_000;
    for (let i = 0; i < 5; i++)
      service.replay({ ...sighting("k-other", "FR", 0), principal: "ann", t: start + i * 60_000 });
    for (let i = 0; i < 5; i++) service.replay({ ...sighting("k-zoe", "FR", i), t: start + 5 * 60_000 + i });
    await service.settled();
    const [alert] = await store.alerts.list({ detector: "volume-spike" });
    expect(alert?.evidence.details).toHaveProperty("notify_only");
    expect(alert).toMatchObject({ intended_response: "notify", response: null });
    await service.retryResponses(new Date(start + 3_600_000));
    expect(await active()).toEqual(["laptop"]);
  });

  it("counts a failed webhook delivery by the alert's detector and severity", async () => {
    // A port nobody listens on: every delivery is refused.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const metrics = new GatewayMetrics({}, { defaultMetrics: false });
    const config = defaults();
    service = await AlertService.open({
      config: {
        ...config,
        webhook: { ...config.webhook, url: `http://127.0.0.1:${port}/hook`, retry_ms: 600_000 },
      },
      store,
      scheme: () => scheme,
      licenseUsage: async () => 46_000_000,
      changed: async () => {},
      metrics,
      webhookSecret: "whsec-test-0123456789-0123456789-0123",
      onError: () => undefined,
    });
    await service.checkQuotas();
    const series =
      'clearance_alert_webhook_failures_total{detector="quota-nearly-exhausted",severity="medium"} 1';
    expect(
      await eventually(
        async () => (await metrics.expose()).text,
        (text) => text.includes(series),
      ),
    ).toContain(series);
  });

  it("refused at open (a webhook without its secret): starts no warm-up, leaves nothing running (was: a warm-up nobody stops)", async () => {
    const reads: string[] = [];
    const config = defaults();
    const refused = AlertService.open({
      config: { ...config, webhook: { ...config.webhook, url: "http://127.0.0.1:9/hook" } },
      store,
      scheme: () => scheme,
      licenseUsage: async () => 0,
      changed: async () => {},
      audit: {
        source: {
          location: "spy",
          read: async (path) => {
            reads.push(path);
            return null;
          },
        },
      },
      onError: (err) => {
        throw err;
      },
    });
    await expect(refused).rejects.toThrow(/signing secret/);
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toEqual([]);
  });

  it("groups client addresses into networks", () => {
    expect(networkOf("203.0.113.9")).toBe("203.0.113.0/24");
    expect(networkOf("::ffff:198.51.100.7")).toBe("198.51.100.0/24");
    expect(networkOf("2001:db8:aa:bb::1")).toBe("2001:db8:aa::/48");
    expect(networkOf(null)).toBeNull();
  });

  it("groups a peer's address as Node prints it (zeros compressed) into the network its full form is in", () => {
    // The peer stands in for the client when a trusted proxy forwarded none: Node writes it
    // compressed, the locator's client in full. "fd00::1:2" was "fd00::1::/48" and "fd00::3:4"
    // "fd00::3::/48": two networks for one /48, so nine callers of one network sharing a key were
    // a key-sharing alert (and under `suspend`, the key revoked).
    expect(networkOf("fd00::1:2")).toBe("fd00:0:0::/48");
    expect(networkOf("fd00::3:4")).toBe("fd00:0:0::/48");
    expect(networkOf("2001:db8::1")).toBe(networkOf("2001:db8:0:0:0:0:0:2"));
    expect(networkOf("2001:db8::1")).toBe("2001:db8:0::/48");
    expect(networkOf("::ffff:10.1.2.3")).toBe("10.1.2.0/24");
    expect(networkOf("not an address")).toBeNull();
  });
});
