/**
 * A restart warms the detectors from the tail of the audit log: a burst in progress is not
 * forgotten (its alert comes once, after the restart), what was raised before is not raised again,
 * and spikes are judged against the log's baseline at once. Each "life" of a node is an alert
 * service over a real audit log directory: every sighting is appended as the gateway appends its
 * decision (pseudonymised when asked), then fed to the detectors; the next life reads the log back.
 * A real gateway restarted mid-burst closes the file.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decisionEntry, openAudit, pseudonymizer, type Pseudonymizer } from "../audit/index.js";
import { directorySource, type LogSource } from "../audit/source.js";
import { tilePath } from "../audit/tiles.js";
import { configSchema } from "../config/schema.js";
import type { Decision, Principal } from "../policy/index.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { openAlertService, storedAlerts } from "../testing/alerts.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { fengSightings } from "../testing/sightings.js";
import { GatewayMetrics } from "../monitoring/metrics.js";
import { BASELINE_WINDOWS, NOTIFY_ONLY, type Sighting } from "./detectors.js";
import { AlertService, type AlertsConfig } from "./service.js";

const parse = (alerts: unknown = {}): AlertsConfig =>
  configSchema.parse({ scheme: "s.yaml", providers: {}, monitoring: { alerts } }).monitoring.alerts;
const DEFAULTS = parse();
const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

let dataDir: string;
let store: Store;
beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "clearance-warm-"));
  store = await openStore({ dataDir });
});
afterEach(async () => {
  await store.close();
});

const { sighting, embargoed } = fengSightings();
const deniedParty = (t: number) =>
  sighting({ t, principal: "listed", decision: "deny", reason: "denied-party" });

/** The decision entry the gateway would write for the sighting (the log's own encoder). */
function entryOf(s: Sighting, pseudonymize?: Pseudonymizer): Buffer {
  const decision = {
    decision: s.decision,
    reason: s.reason,
    model: s.model,
    served_model: s.decision === "deny" ? null : s.model,
    grant: null,
    scheme: { digest: "sha256:test" },
    // A federated principal's credential is the person: its decisions name the provider that vouched.
    ...(s.credential.startsWith("principal:")
      ? {
          identity: {
            assurance: { level: "verified" },
            issuer: "https://idp.acme.example",
            key_id: "acme-1",
            provider: "acme-idp",
            set_aside: [],
            subject: s.principal,
          },
        }
      : {}),
  } as unknown as Decision;
  const principal = { id: s.principal, organization: s.organization } as unknown as Principal;
  const context = {
    time: new Date(s.t),
    requestId: s.requestId,
    node: "node-a",
    principal,
    location: s.country,
    action: "infer",
  };
  return decisionEntry(decision, context, pseudonymize);
}

interface Life {
  readonly config?: AlertsConfig;
  /** Read the log back at start (what the gateway does); false: a cold start, as before. */
  readonly warm?: boolean;
  readonly pseudonymize?: Pseudonymizer;
  readonly maxEntries?: number;
  /** Where the warm-up reads the log from (default: the log's directory). */
  readonly source?: (dir: string) => LogSource;
  /** Between open and the sightings (the warm-up is under way). */
  readonly opened?: (service: AlertService) => Promise<void>;
  /** The service's errors collected here (and counted in `metrics`), rather than thrown. */
  readonly errors?: unknown[];
  readonly metrics?: GatewayMetrics;
}

/**
 * One life of a node: opens the audit log and the alert service (warmed from the log), then for
 * each sighting appends its decision entry and feeds it to the detectors (bytes are appended as
 * they are: a damaged entry); then stops both.
 */
async function life(sightings: readonly (Sighting | Buffer)[], o: Life = {}): Promise<AlertService> {
  const audit = await openAudit({
    dataDir,
    origin: "test.example/audit",
    checkpointMs: 60_000,
    store,
    onError: (err) => {
      throw err;
    },
  });
  const errors = o.errors;
  const open =
    errors === undefined
      ? openAlertService
      : (options: Parameters<typeof openAlertService>[0]) =>
          AlertService.open({
            ...options,
            licenseUsage: async () => 0,
            changed: async () => {},
            ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
            onError: (err) => errors.push(err),
          });
  const service = await open({
    config: o.config ?? DEFAULTS,
    store,
    scheme: () => scheme,
    ...(o.warm === false
      ? {}
      : {
          audit: {
            source: (o.source ?? directorySource)(audit.dir),
            ...(o.pseudonymize === undefined ? {} : { pseudonymize: o.pseudonymize }),
            ...(o.maxEntries === undefined ? {} : { maxEntries: o.maxEntries }),
          },
        }),
  });
  await o.opened?.(service);
  // Bytes in a row are appended together (one write to disk for many: a long log written quickly).
  let bytes: Promise<bigint>[] = [];
  for (const s of sightings) {
    if (Buffer.isBuffer(s)) {
      bytes.push(audit.log.append(s));
      continue;
    }
    await Promise.all(bytes);
    bytes = [];
    const index = await audit.log.append(entryOf(s, o.pseudonymize));
    service.replay({ ...s, audit: String(index) });
  }
  await Promise.all(bytes);
  await audit.log.publish();
  await service.warmedUp();
  await service.settled();
  await service.close();
  await audit.log.close();
  return service;
}

const stored = () => storedAlerts(store);

/** Times relative to now: the warm-up replays what is within the detectors' look-back of now. */
const now = () => Date.now();

describe("a restart warms the detectors from the audit log", () => {
  it("embargoed attempts 1 and 2, a restart, attempt 3: the high alert comes, once (was: never)", async () => {
    const t = now() - 10 * MIN;
    await life([embargoed(t), embargoed(t + MIN)]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
    const second = await life([embargoed(t + 2 * MIN)]);
    expect(second.warmed).toMatchObject({ replayed: 2, read: 2, from: 0n, to: 2n });
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
    // A third life, attempt 4: nothing more in this period.
    await life([embargoed(t + 3 * MIN)]);
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
    const [high] = await store.alerts
      .list({ detector: "embargoed-attempt" })
      .then((a) => a.filter((x) => x.severity === "high"));
    // Its evidence names the attempts before the restart, read back from the log.
    expect(high?.evidence.audit_indexes).toEqual(["0", "1", "2"]);
  });

  it("a cold start (as before) forgets the burst: no high alert", async () => {
    const t = now() - 10 * MIN;
    await life([embargoed(t), embargoed(t + MIN)], { warm: false });
    await life([embargoed(t + 2 * MIN)], { warm: false });
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it("an attempt after a restart in the next window period is no second 'first attempt' (was: two mediums)", async () => {
    // The first attempt 5 minutes before a period of window_ms (a day from the epoch) ends, the
    // next 5 minutes into the next one (the period ahead, in the last minutes of a day).
    let first = Math.floor(now() / DAY) * DAY - 5 * MIN;
    if (now() - first > DAY - MIN) first += DAY;
    const next = first + 10 * MIN;
    await life([embargoed(first)]);
    await life([embargoed(next)]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it("a denied party within the cooldown after a restart: one alert, the cooldown carried over", async () => {
    // Raised at hh:50; after a restart, again at hh+1:10 — another cooldown period, not another hour.
    const hour = Math.floor(now() / HOUR) * HOUR;
    const t = hour - 2 * HOUR + 50 * MIN;
    await life([deniedParty(t)]);
    await life([deniedParty(t + 20 * MIN)]);
    expect(await stored()).toEqual(["denied-party listed critical"]);
    // Cold, the same two lives raise it twice: the duplicate the warm-up prevents.
    await store.close();
    dataDir = mkdtempSync(join(tmpdir(), "clearance-warm-"));
    store = await openStore({ dataDir });
    await life([deniedParty(t)], { warm: false });
    await life([deniedParty(t + 20 * MIN)], { warm: false });
    expect(await stored()).toEqual(["denied-party listed critical", "denied-party listed critical"]);
  });

  it("an impossible journey spanning the restart is seen", async () => {
    const t = now() - 30 * MIN;
    await life([sighting({ t, country: "US" })]);
    await life([sighting({ t: t + 20 * MIN, country: "AU" })]);
    expect(await stored()).toEqual(["impossible-travel feng high"]);
  });

  it("a volume spike right after a restart is judged against the log's baseline (was: 3 windows' wait)", async () => {
    const config = parse({ volume_spike: { min_requests: 20, factor: 5, window_ms: 5 * MIN } });
    const W = 5 * MIN;
    const w0 = (Math.floor(now() / W) - BASELINE_WINDOWS - 2) * W;
    // 4 requests a window for the windows before, in the log; then a restart and 20 in one window.
    const steady: Sighting[] = [];
    for (let w = 0; w < BASELINE_WINDOWS + 1; w++)
      for (let i = 0; i < 4; i++) steady.push(sighting({ t: w0 + w * W + i * MIN }));
    const burst = Array.from({ length: 20 }, (_, i) => sighting({ t: w0 + (BASELINE_WINDOWS + 1) * W + i }));
    await life(steady, { config });
    await life(burst, { config });
    const spikes = await store.alerts.list({ detector: "volume-spike" });
    expect(spikes.map((a) => a.subject.id)).toEqual(["feng"]);
    expect(spikes[0]?.evidence.details).toMatchObject({ count: 20, baseline: 4 });
    // Against 4 windows of its own traffic: a spike that `suspend` may answer.
    expect("notify_only" in (spikes[0]?.evidence.details ?? {})).toBe(false);
    // Cold, the restarted node has watched no whole window: the burst is not judged.
    await store.close();
    dataDir = mkdtempSync(join(tmpdir(), "clearance-warm-"));
    store = await openStore({ dataDir });
    await life(steady, { config, warm: false });
    await life(burst, { config, warm: false });
    expect(await store.alerts.list({ detector: "volume-spike" })).toEqual([]);
  });

  it("with principals pseudonymised in the log, a principal's state carries over under its pseudonym", async () => {
    const pseudonymize = pseudonymizer("a-pseudonym-key-of-thirty-two-bytes!!");
    const t = now() - 10 * MIN;
    await life([embargoed(t), embargoed(t + MIN)], { pseudonymize });
    await life([embargoed(t + 2 * MIN)], { pseudonymize });
    // The alerts name the principal (the store's record), never the pseudonym.
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
  });

  it("is bounded: the last maxEntries entries, within the longest look-back (two embargo windows)", async () => {
    const t = now() - 3 * DAY;
    // 600 entries three days ago (bundles 0–2), then 300 within the last hour (from index 600).
    const old = Array.from({ length: 600 }, (_, i) => sighting({ t: t + i, principal: `old${i}` }));
    const recent = Array.from({ length: 300 }, (_, i) =>
      sighting({ t: now() - HOUR + i, principal: `p${i}` }),
    );
    await life([...old, ...recent]);
    const all = await life([]);
    // The bundle holding index 600 is read from its start (512); only the recent are replayed.
    expect(all.warmed).toMatchObject({ replayed: 300, read: 388, from: 512n, to: 900n });
    // Everything since the look-back's start was read: the baselines are judged from there.
    expect(all.warmed?.coveredFrom).toBeGreaterThan(old.at(-1)?.t ?? Infinity);
    expect(all.warmed?.coveredFrom).toBeLessThan(recent[0]?.t ?? -Infinity);
    const capped = await life([], { maxEntries: 100 });
    expect(capped.warmed).toMatchObject({ replayed: 100, read: 100, from: 800n, to: 900n });
    expect(capped.warmed?.coveredFrom).toBe(recent[200]?.t);
  });
});

/** The decision entry of `s`, with `changes` made to it (a damaged entry). */
const garbled = (s: Sighting, changes: object) =>
  Buffer.from(JSON.stringify({ ...(JSON.parse(entryOf(s).toString()) as object), ...changes }));

describe("a damaged entry in the log is skipped by the warm-up, and counted", () => {
  it("attempts 1 and 2 around damaged entries, a restart, attempt 3: the high alert comes (was: the replay stopped there)", async () => {
    const t = now() - 10 * MIN;
    const metrics = new GatewayMetrics({}, { defaultMetrics: false });
    const errors: unknown[] = [];
    const damaged = [Buffer.from('{"type":"decision","ti'), garbled(embargoed(t), { reason: undefined })];
    await life([embargoed(t), ...damaged, embargoed(t + MIN)]);
    const second = await life([embargoed(t + 2 * MIN)], { errors, metrics });
    expect(second.warmed).toMatchObject({ replayed: 2, read: 4, skipped: 2 });
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
    // Told once, naming the first; counted once.
    expect(errors.map((e) => (e as Error).message)).toEqual([
      expect.stringMatching(
        new RegExp(
          "^the alerts' warm-up skipped 2 damaged entries \\(not replayed\\); the first: entry 1 of the " +
            `audit log at ${dataDir}/audit is damaged: not JSON \\(`,
        ),
      ),
    ]);
    expect((await metrics.expose()).text).toContain('clearance_errors_total{source="alerts"} 1');
  });

  it("a first entry whose time is garbled: a volume spike is judged against the log's baseline (was: never again)", async () => {
    const config = parse({ volume_spike: { min_requests: 20, factor: 5, window_ms: 5 * MIN } });
    const W = 5 * MIN;
    const w0 = (Math.floor(now() / W) - BASELINE_WINDOWS - 2) * W;
    const steady: Sighting[] = [];
    for (let w = 0; w < BASELINE_WINDOWS + 1; w++)
      for (let i = 0; i < 4; i++) steady.push(sighting({ t: w0 + w * W + i * MIN }));
    const burst = Array.from({ length: 20 }, (_, i) => sighting({ t: w0 + (BASELINE_WINDOWS + 1) * W + i }));
    // Read as the replay's reach, the garbled time made every window's baseline NaN.
    const first = garbled(sighting({ t: w0 - W, principal: "other" }), { time: w0 - W });
    const errors: unknown[] = [];
    await life([first, ...steady], { config });
    const second = await life(burst, { config, errors });
    expect(second.warmed).toMatchObject({ skipped: 1, coveredFrom: w0 });
    expect(errors).toHaveLength(1);
    const spikes = await store.alerts.list({ detector: "volume-spike" });
    expect(spikes.map((a) => a.subject.id)).toEqual(["feng"]);
    expect(spikes[0]?.evidence.details).toMatchObject({ count: 20, baseline: 4 });
  });
});

describe("a gateway restarted mid-burst", () => {
  let t: TestGateway | undefined;
  afterEach(async () => {
    await t?.gateway.close();
    t = undefined;
  });

  const MONITORING = `{ access_log: { enabled: false }, alerts: { impossible_travel: { enabled: false }, key_sharing: { enabled: false }, volume_spike: { enabled: false }, embargoed_attempts: { repeated: 3 } } }`;

  const attempt = async (gw: TestGateway, who = "alice") => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${gw.keys.get(who) as string}`,
        "content-type": "application/json",
        "x-test-country": "IR",
      },
      body: JSON.stringify({ model: "mythos-4", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.arrayBuffer();
    expect(res.headers.get("x-clearance-reason")).toBe("embargoed-location");
  };
  const embargoAlerts = (gw: TestGateway, n: number) =>
    eventually(
      async () =>
        (await gw.gateway.store.alerts.list({ detector: "embargoed-attempt" })).map(
          (a) => `${a.subject.id} ${a.severity}`,
        ),
      (a) => a.length >= n,
    );

  it("raises the burst's high alert once, after the restart; a further attempt raises nothing more", async () => {
    t = await startTestGateway({ monitoring: MONITORING });
    const dir = t.dataDir;
    await attempt(t);
    await attempt(t);
    expect(await embargoAlerts(t, 1)).toEqual(["alice medium"]);
    await t.gateway.close();
    t = await startTestGateway({ monitoring: MONITORING, dataDir: dir });
    // The warm-up runs once the gateway serves; sightings that come meanwhile wait for it.
    await t.gateway.alerts?.warmedUp();
    expect(t.gateway.alerts?.warmed).toMatchObject({ replayed: 2 });
    await attempt(t);
    expect((await embargoAlerts(t, 2)).sort()).toEqual(["alice high", "alice medium"]);
    // Restarted again: the fourth attempt is neither a new "first" nor a second high.
    await t.gateway.close();
    t = await startTestGateway({ monitoring: MONITORING, dataDir: dir });
    await attempt(t); // before the warm-up is done, perhaps: it waits
    await t.gateway.alerts?.warmedUp();
    expect(t.gateway.alerts?.warmed).toMatchObject({ replayed: 3 });
    // Sightings reach the detectors in order, after their responses: once another principal's
    // attempt has raised its alert, alice's fourth has been seen, and what it raised is settled.
    await attempt(t, "chloe");
    expect(await embargoAlerts(t, 3)).toContain("chloe medium");
    await t.gateway.alerts?.settled();
    expect((await embargoAlerts(t, 3)).sort()).toEqual(["alice high", "alice medium", "chloe medium"]);
  });
});

/**
 * A maintainer's read of the warm-up: what the replay "would raise" was taken as raised (its
 * cooldown set), though the alert is stored after the decision's entry is durable, so a crash in
 * between loses it; and windows the log does not cover (the node down, the replay stopped short)
 * entered the spike baselines as watched windows with nothing in them.
 */
describe("a warm-up believes the store, and only the windows it replayed", () => {
  it("a denied-party alert lost between the durable entry and the store: the next attempt raises (was: silent for the cooldown)", async () => {
    const t = now() - 30 * MIN;
    // Life 1: the decision is in the log, its alert never reached the store (as if it crashed).
    await life([deniedParty(t)], { config: parse({ denied_party: { enabled: false } }) });
    expect(await stored()).toEqual([]);
    // Life 2: another attempt 20 minutes later, within the cooldown of the alert never stored.
    await life([deniedParty(t + 20 * MIN)]);
    expect(await stored()).toEqual(["denied-party listed critical"]);
  });

  it("an embargo's high alert lost: the next attempt in its period raises it (was: never in that period)", async () => {
    const t = now() - 30 * MIN;
    await life([embargoed(t), embargoed(t + MIN), embargoed(t + 2 * MIN)], {
      config: parse({ embargoed_attempts: { enabled: false } }),
    });
    expect(await stored()).toEqual([]);
    await life([embargoed(t + 3 * MIN)]);
    // The first attempt's medium alert was lost too: the warm-up raises it.
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
    // Stored now: a further life's attempt raises nothing more.
    await life([embargoed(t + 4 * MIN)]);
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
  });

  it("an embargo's medium alert lost: raised after the restart, once, for its attempt (was: never)", async () => {
    const t = now() - 30 * MIN;
    await life([embargoed(t)], { config: parse({ embargoed_attempts: { enabled: false } }) });
    expect(await stored()).toEqual([]);
    // Life 2: the second attempt is no first attempt; the first one's alert is raised by the warm-up.
    await life([embargoed(t + MIN)]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
    const [medium] = await store.alerts.list();
    expect(medium?.evidence.audit_indexes).toEqual(["0"]);
    expect(medium?.raised_at).toBe(new Date(t).toISOString());
    // Life 3, with nothing new: the medium alert stored is not raised again.
    await life([]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it("an attempt whose window the replay did not reach back over raises no medium alert", async () => {
    // Attempt 1 before midnight (its medium alert stored), attempt 2 after it: the next window period,
    // within the window, so no first attempt. A replay of attempt 2 alone cannot tell that.
    const midnight = Math.floor(now() / DAY) * DAY;
    await life([embargoed(midnight - 2 * HOUR), embargoed(midnight + 1)]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
    await life([], { maxEntries: 1 });
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it("with principals pseudonymised, a medium alert stored is not raised again under the pseudonym", async () => {
    const pseudonymize = pseudonymizer("a-pseudonym-key-of-thirty-two-bytes!!");
    const t = now() - 30 * MIN;
    await life([embargoed(t)], { pseudonymize });
    await life([embargoed(t + MIN)], { pseudonymize });
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it.each([
    ["plain", undefined],
    ["pseudonymised", pseudonymizer("a-pseudonym-key-of-thirty-two-bytes!!")],
  ])(
    "a federated principal used from FR and DE before a restart, from BE after it: key sharing (was: none; %s)",
    async (_, pseudonymize) => {
      const t = now() - 10 * MIN;
      const ana = (at: number, country: string) =>
        sighting({ t: at, country, principal: "fed:acme:ana", credential: "principal:fed:acme:ana" });
      const o = pseudonymize === undefined ? {} : { pseudonymize };
      await life([ana(t, "FR"), ana(t + MIN, "DE")], o);
      expect(await stored()).toEqual([]);
      await life([ana(t + 2 * MIN, "BE")], o);
      expect(await stored()).toEqual(["key-sharing principal:fed:acme:ana high"]);
      // An API key's use is not in the log: its key sharing starts afresh (see sharing-restart.test.ts).
      await life([sighting({ t, country: "FR" }), sighting({ t: t + MIN, country: "DE" })], o);
      await life([sighting({ t: t + 2 * MIN, country: "BE" })], o);
      expect(await stored()).toEqual(["key-sharing principal:fed:acme:ana high"]);
    },
  );

  it("with principals pseudonymised, a stored alert's cooldown holds under the pseudonym", async () => {
    const pseudonymize = pseudonymizer("a-pseudonym-key-of-thirty-two-bytes!!");
    const t = now() - 30 * MIN;
    await life([deniedParty(t)], { pseudonymize });
    await life([deniedParty(t + 20 * MIN)], { pseudonymize });
    expect(await stored()).toEqual(["denied-party listed critical"]);
  });

  const W = 5 * MIN;
  const spikes = parse({ volume_spike: { min_requests: 10, factor: 3, window_ms: W } });
  /** `n` requests in each window from `from` (a window number) to before `to`. */
  const steady = (from: number, to: number, n: number) => {
    const out: Sighting[] = [];
    for (let w = from; w < to; w++) for (let i = 0; i < n; i++) out.push(sighting({ t: w * W + i * 1_000 }));
    return out;
  };

  it("steady traffic, the node down for more than 10 windows, the same traffic: no spike (was: a spike)", async () => {
    const nowW = Math.floor(now() / W);
    // 20 a window for 6 windows, ending about 75 minutes ago; then the node was down.
    await life(steady(nowW - 21, nowW - 15, 20), { config: spikes });
    // Back up: the same 20 in the current window.
    await life(steady(nowW, nowW + 1, 20), { config: spikes });
    expect(await store.alerts.list({ detector: "volume-spike" })).toEqual([]);
  });

  it("after the gap, a burst is still judged against the windows the log covered", async () => {
    const nowW = Math.floor(now() / W);
    await life(steady(nowW - 21, nowW - 15, 4), { config: spikes });
    await life(steady(nowW, nowW + 1, 20), { config: spikes });
    const [spike, ...more] = await store.alerts.list({ detector: "volume-spike" });
    expect(more).toEqual([]);
    // 5 whole windows of 4 (the last, cut short by the outage, left out), none of the outage's.
    expect(spike?.evidence.details).toMatchObject({ count: 12, baseline: 4 });
    expect(NOTIFY_ONLY in (spike?.evidence.details ?? {})).toBe(false);
  });

  it("close() while the replay waits for a bundle: the replayed part is all that is watched, no spike (was: a spike)", async () => {
    const nowW = Math.floor(now() / W);
    // 16 a window: bundle 0 holds windows nowW-40 to nowW-25, the next bundles the rest to now.
    await life(steady(nowW - 40, nowW, 16), { config: spikes });
    // The second bundle is held back until the service is closing.
    const later = tilePath({ level: "entries", index: 1n, width: 256 });
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    let first = 0;
    let firstRead = () => {};
    const firstDone = new Promise<void>((r) => (firstRead = r));
    const gated = (dir: string): LogSource => {
      const plain = directorySource(dir);
      return {
        location: plain.location,
        read: async (path) => {
          if (path === later) await held;
          const data = await plain.read(path);
          // The second read of bundle 0 is the replay's (the first finds where it starts).
          if (path === tilePath({ level: "entries", index: 0n, width: 256 }) && ++first === 2) firstRead();
          return data;
        },
      };
    };
    const service = await life(steady(nowW, nowW + 1, 16), {
      config: spikes,
      source: gated,
      opened: async (s) => {
        await firstDone;
        await new Promise((r) => setImmediate(r)); // bundle 0 replayed: what follows needs no I/O
        const closed = s.close();
        release();
        await closed;
      },
    });
    expect(service.warmed).toMatchObject({ replayed: 256 });
    expect(await store.alerts.list({ detector: "volume-spike" })).toEqual([]);
  });
});

/**
 * A spike is raised once, as its window's count reaches the threshold: one whose decisions were
 * logged but whose alert never reached the store (a crash in between) was never raised, as the
 * replayed window was already past its threshold. The warm-up raises it, as the embargo's medium.
 */
describe("a spike lost between its decisions' entries and the store", () => {
  const W = 5 * MIN;
  const o = { min_requests: 10, factor: 3, window_ms: W };
  const spikes = parse({ volume_spike: o });
  // A node whose spike alert never reached the store: as if it crashed before storing it.
  const lost = parse({ volume_spike: { ...o, enabled: false } });
  /** 4 requests in each of 5 windows, then 12 in the next: the 12th crosses 3 × 4 (windows back from now). */
  const burst = (back: number) => {
    const nowW = Math.floor(now() / W);
    const out: Sighting[] = [];
    for (let w = nowW - back - 5; w < nowW - back; w++)
      for (let i = 0; i < 4; i++) out.push(sighting({ t: w * W + i * 1_000 }));
    for (let i = 0; i < 12; i++) out.push(sighting({ t: (nowW - back) * W + i * 1_000 }));
    return out;
  };
  const volumeSpikes = () => store.alerts.list({ detector: "volume-spike" });

  it("is raised by the warm-up, once, dated by the entry that crossed the threshold (was: never)", async () => {
    const before = burst(3);
    await life(before, { config: lost });
    expect(await volumeSpikes()).toEqual([]);
    await life([], { config: spikes });
    const [spike, ...more] = await volumeSpikes();
    expect(more).toEqual([]);
    expect(spike?.subject).toEqual({ kind: "principal", id: "feng" });
    expect(spike?.raised_at).toBe(new Date(before[31]?.t ?? 0).toISOString());
    expect(spike?.evidence.details).toMatchObject({ count: 12, baseline: 4 });
    // A notification only: the traffic is older than this run, whose response may not be its time's.
    expect(spike?.evidence.details[NOTIFY_ONLY]).toMatch(/^raised late by the warm-up/);
    // The burst's entries up to the one that crossed it: 20 to 31.
    expect(spike?.evidence.audit_indexes).toEqual(Array.from({ length: 12 }, (_, i) => String(20 + i)));
    // Stored now: neither a further start nor more traffic within the cooldown raises it again.
    await life(burst(0).slice(20, 32), { config: spikes });
    expect(await volumeSpikes()).toHaveLength(1);
  });

  it("stored before the restart: not raised again", async () => {
    // The baseline from the log, the burst live (a node judges only whole windows it has seen).
    const before = burst(3);
    await life(before.slice(0, 20), { config: spikes });
    await life(before.slice(20), { config: spikes });
    expect(await volumeSpikes()).toHaveLength(1);
    await life([], { config: spikes });
    expect(await volumeSpikes()).toHaveLength(1);
  });

  it("within the cooldown of a spike alert the store holds: not raised (the live detector held it back)", async () => {
    const before = burst(3);
    const crossed = before[31]?.t ?? 0;
    // Raised 20 minutes before the crossing (by another node, or in a window this replay cannot judge).
    await store.alerts.raise(
      {
        dedupeKey: "volume-spike:principal:feng:earlier",
        detector: "volume-spike",
        severity: "medium",
        subject: { kind: "principal", id: "feng" },
        summary: "feng made 10 requests within 5 min",
        evidence: { audit_indexes: [], details: {} },
        raisedAt: new Date(crossed - 20 * MIN).toISOString(),
        deliver: false,
      },
      "detector:volume-spike",
    );
    await life(before, { config: lost });
    await life([], { config: spikes });
    expect(await volumeSpikes()).toHaveLength(1);
  });

  it("whose baseline windows the replay did not see whole: not raised", async () => {
    await life(burst(3), { config: lost });
    // The last 12 entries alone: the burst's window, against no window watched whole.
    await life([], { config: spikes, maxEntries: 12 });
    expect(await volumeSpikes()).toEqual([]);
  });

  it("a denial spike for an organization is raised too, with principals pseudonymised in the log", async () => {
    const pseudonymize = pseudonymizer("a-pseudonym-key-of-thirty-two-bytes!!");
    const d = { min_denials: 10, factor: 3, window_ms: W };
    const denials = burst(3).map((s) => ({
      ...s,
      organization: "acme",
      decision: "deny" as const,
      reason: "no-grant",
    }));
    await life(denials, {
      config: parse({ volume_spike: o, denial_spike: { ...d, enabled: false } }),
      pseudonymize,
    });
    await life([], { config: parse({ volume_spike: o, denial_spike: d }), pseudonymize });
    const raised = await store.alerts.list({ detector: "denial-spike" });
    expect(raised.map((a) => `${a.subject.kind} ${a.subject.id}`)).toContain("organization acme");
    expect(raised[0]?.evidence.details).toMatchObject({ count: 12, baseline: 4 });
    // Its volume spike, whose subject the replay knows only by the pseudonym, is not raised under it.
    expect(await volumeSpikes()).toEqual([]);
  });
});

/**
 * The audit log is written by every node of a fleet sharing it (on PostgreSQL), each dating its
 * entries by its own clock: an entry from a node whose clock is badly ahead is replayed as of the
 * warm-up's now (the rule the shared sighting stream follows: clock.ts), counted, and told once.
 */
describe("an entry dated far ahead of this node's clock (another node's, on a shared log)", () => {
  const YEAR = 365 * DAY;
  const ahead = (errors: unknown[]) =>
    errors.map((e) => (e as Error).message).filter((m) => m.includes("ahead of this node's clock"));

  it("its embargo alert raised by the warm-up is dated now, not a year ahead; counted and told once", async () => {
    // Written by the node ahead, whose own alert never reached the store: the warm-up raises it.
    await life([entryOf(embargoed(now() + YEAR))]);
    const errors: unknown[] = [];
    const metrics = new GatewayMetrics({}, { defaultMetrics: false });
    const before = now();
    const second = await life([], { errors, metrics });
    const after = now();
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
    const [medium] = await store.alerts.list();
    expect(Date.parse(medium!.raised_at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(medium!.raised_at)).toBeLessThanOrEqual(after);
    expect(second.warmed).toMatchObject({ replayed: 1, redated: 1 });
    expect(ahead(errors)).toEqual([
      expect.stringMatching(
        new RegExp(
          "^the alerts' warm-up: 1 audit entry dated more than 60 s ahead of this node's clock, taken as of now " +
            `\\(the deciding node's clock is wrong\\?\\); the first: entry 0 of the audit log at ${dataDir}/audit ` +
            "\\(request r\\d+\\) dated 20\\d\\d-",
        ),
      ),
    ]);
    expect((await metrics.expose()).text).toContain('clearance_errors_total{source="alerts"} 1');
  });

  it("falling on the sweep's turn, it does not forget what was replayed: the third attempt is high (was: medium)", async () => {
    const t = now() - 10 * MIN;
    // feng's attempts 1 and 2; 9,997 ordinary requests; the node ahead's entry is the 10,000th replayed.
    const bulk = Array.from({ length: 9_997 }, (_, i) =>
      entryOf(sighting({ t: t + MIN, principal: "bulk", requestId: `bulk-${i}` })),
    );
    await life([
      entryOf(embargoed(t)),
      entryOf(embargoed(t + MIN)),
      ...bulk,
      entryOf(sighting({ t: now() + YEAR, principal: "listed", reason: "denied-party", decision: "deny" })),
    ]);
    const errors: unknown[] = [];
    const second = await life([embargoed(now())], { errors });
    expect(await stored()).toEqual(["embargoed-attempt feng high", "embargoed-attempt feng medium"]);
    expect(second.warmed).toMatchObject({ replayed: 10_000, redated: 1 });
    expect(ahead(errors)).toHaveLength(1);
  }, 60_000);

  it("an entry a little ahead (within a minute: clocks in step) is replayed as dated, not counted", async () => {
    const t = now() + 30_000;
    await life([entryOf(embargoed(t))]);
    const errors: unknown[] = [];
    const second = await life([], { errors });
    expect(second.warmed).toMatchObject({ replayed: 1, redated: 0 });
    const [medium] = await store.alerts.list();
    expect(medium?.raised_at).toBe(new Date(t).toISOString());
    expect(ahead(errors)).toEqual([]);
  });
});
