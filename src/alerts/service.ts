/**
 * Alerts for a gateway: every decided request becomes a sighting for the detectors; what they
 * raise is stored (once per dedupe key, audited), counted in the metrics, answered with the
 * detector's configured response, and delivered to the webhook. Quotas are checked on a timer,
 * off the request path. The request path only builds a sighting and hands it on.
 */
import type { ConfigFile } from "../config/index.js";
import { notYetInForce, type Reloads } from "../control/in-force.js";
import { SetupError } from "../errors/index.js";
import type { ObservedRequest } from "../gateway/observer.js";
import { periodKey } from "../metering/index.js";
import type { GatewayMetrics } from "../monitoring/index.js";
import { addressText, parseAddress } from "../location/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import type { AlertRecord } from "../store/alerts.js";
import { isKeyId } from "../store/keys.js";
import type { Store } from "../store/index.js";
import {
  Detectors,
  NOTIFY_ONLY,
  SPIKES,
  sightingPartner,
  suspendable,
  type DetectorName,
  type Draft,
  type Sighting,
} from "./detectors.js";
import { ALERT_DETECTORS, ALERT_SEVERITIES } from "./schema.js";
import { localFeed, redisFeed, type SightingFeed } from "./feed.js";
import { countryParts } from "./geo.js";
import { WARM_ENTRIES, warmUp, type WarmUp } from "./warmup.js";
import { WebhookDeliverer } from "./webhook.js";
import type { LogSource } from "../audit/source.js";

export type AlertsConfig = ConfigFile["monitoring"]["alerts"];

/** Why a spike the warm-up raises is a notification only (NOTIFY_ONLY): see raiseUntold. */
const RAISED_LATE =
  "raised late by the warm-up (lost in a crash): its traffic is older than this run, and the response in force may not be the one of its time";
/**
 * What suspending a federated principal did, and what the alert's response says of it: `blocked`
 * by this call, or `already-blocked` before it (an officer, another node: nothing changed here, so
 * nothing for this node to take in).
 */
export interface PrincipalSuspension {
  readonly outcome: "blocked" | "already-blocked";
  readonly text: string;
}

/** Suspends a federated principal (credential `principal:<id>`); null when the id is not one (nothing done). */
export type SuspendPrincipal = (
  principalId: string,
  reason: { alert: string; detector: string },
) => Promise<PrincipalSuspension | null>;

export interface AlertServiceOptions {
  readonly config: AlertsConfig;
  readonly store: Store;
  readonly scheme: () => CompiledScheme;
  readonly licenseUsage: (license: string, period: "month" | "quarter" | "total") => Promise<number>;
  /** The change is in force on this node and in the audit log (snapshot refresh, outbox drain). */
  readonly changed: () => Promise<void>;
  /** Whether this node has taken in a suspension (absent: never said; see recordResponse). */
  readonly reloads?: Reloads;
  readonly metrics?: GatewayMetrics | null;
  /** Redis URL and key prefix, for `shared: redis`. */
  readonly redis?: { readonly url: string; readonly prefix: string } | null;
  readonly webhookSecret?: string | null;
  readonly suspendPrincipal?: SuspendPrincipal;
  /**
   * Whether this node already refuses a federated principal (its snapshot holds a block); absent:
   * never said, and a block found already in the store is taken as not yet in force here.
   */
  readonly blocksPrincipal?: (id: string) => boolean;
  /**
   * Whether this node still takes an API key (its snapshot holds it unrevoked); absent: never said,
   * and a key found already revoked in the store is taken as not yet in force here (as a block is).
   */
  readonly takesKey?: (id: string) => boolean;
  readonly onError: (err: unknown) => void;
  /**
   * The gateway's audit log, read back at start to warm the detectors (see warmup.ts): its
   * published tiles, and how it names principals (their pseudonyms, when it pseudonymises them).
   * Absent: the detectors start from nothing.
   */
  readonly audit?: {
    readonly source: LogSource;
    readonly pseudonymize?: (principalId: string) => string;
    /** Entries replayed at most (default WARM_ENTRIES). */
    readonly maxEntries?: number;
  } | null;
}

/**
 * Whether a principal's key is one it had when the alert was raised. The keys the store held then
 * (`keys`, listed as the alert was stored) and the credential the alert saw used (`credential`)
 * are: no clock is compared. An alert stored without that list (before it was kept, or the store
 * could not be read then) falls back to the key's `createdAt` — the clock of the node that issued
 * it — against the alert's time (the clock of the node that saw the request), which clock skew can
 * misjudge within the skew; the credential seen used is revoked whatever its clock says.
 */
function heldKeys(a: AlertRecord): (k: { id: string; createdAt: string }) => boolean {
  const { keys, credential } = a.evidence.details;
  const used = typeof credential === "string" ? credential : null;
  if (Array.isArray(keys)) {
    const listed = new Set(keys.filter((k): k is string => typeof k === "string"));
    return (k) => k.id === used || listed.has(k.id);
  }
  const raised = Date.parse(a.raised_at);
  return (k) => k.id === used || Date.parse(k.createdAt) <= raised;
}

/** Each detector's configured response ("notify" where it has none). */
function responseOf(c: AlertsConfig, d: DetectorName): "notify" | "suspend" {
  switch (d) {
    case "impossible-travel":
      return c.impossible_travel.response;
    case "key-sharing":
      return c.key_sharing.response;
    case "embargoed-attempt":
      return c.embargoed_attempts.response;
    case "denied-party":
      return c.denied_party.response;
    case "volume-spike":
      return c.volume_spike.response;
    default:
      return "notify";
  }
}

/**
 * The client's network: /24 of an IPv4 address, /48 of an IPv6 one. Read from the address itself,
 * not its text: the peer (which stands in when a trusted proxy forwarded no client) is written as
 * Node prints it, zeros compressed ("fd00::1:2"), where the locator's client has every group.
 */
export function networkOf(address: string | null | undefined): string | null {
  if (address === undefined || address === null) return null;
  const parsed = parseAddress(address);
  const text = parsed === null ? null : addressText(parsed);
  if (text === null) return null;
  const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(text);
  if (v4 !== null) return `${v4[1]}.0/24`;
  return `${text.split(":").slice(0, 3).join(":")}::/48`;
}

const DETECTORS: readonly DetectorName[] = ALERT_DETECTORS;
const SEVERITIES: readonly string[] = ALERT_SEVERITIES;

/** A metric label from a stored value: one of the known ones, else "other" (label sets stay bounded). */
const label = (known: readonly string[], value: string) => (known.includes(value) ? value : "other");

/** How often alerts whose suspension failed are tried again. */
const RESPONSE_RETRY_MS = 30_000;
/** An alert this fresh may still be being answered by the node that raised it. */
const RESPONSE_GRACE_MS = 10_000;
/** Alerts still due a suspension, read this many at a time. */
const RESPONSE_PAGE = 100;
/** Stored alerts read at a time for their cooldowns, at the end of a warm-up. */
const COOLED_PAGE = 500;
/** Sightings held while the warm-up reads the log, at most (more are dropped, and counted). */
const WARM_BUFFER = 100_000;

/** What the stored alerts tell the warm-up of the alerts it found due (see raiseUntold). */
interface Told {
  /** The audit entries the embargoed-attempt alerts name. */
  readonly entries: Set<string>;
  /** When each spike detector and subject (spikeOf) was raised (ms). */
  readonly spikes: Map<string, number[]>;
}

/** A spike alert's detector and subject, as a key. */
const spikeOf = (a: { readonly detector: string; readonly subject: Draft["subject"] }) =>
  `${a.detector}:${a.subject.kind}:${a.subject.id}`;

/** A suspension this node took: `mark` when its response is its own and revoked or blocked something. */
interface Answered {
  readonly alert: AlertRecord;
  readonly actor: string;
  readonly mark?: number;
}

export class AlertService {
  private readonly detectors: Detectors;
  private feed: SightingFeed | null = null;
  private webhook: WebhookDeliverer | null = null;
  private quotaTimer: NodeJS.Timeout | undefined;
  private responseTimer: NodeJS.Timeout | undefined;
  /** Alerts this node is answering now (a retry round skips them). */
  private readonly answering = new Set<string>();
  /** The timers' rounds under way (see once). */
  private readonly rounds = new Set<"quota" | "responses">();
  /** Raises in flight, so that close() waits for them. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Sightings that came while the warm-up read the log, fed after it (null once it is done). */
  private held: Sighting[] | null = [];
  private dropped = 0;
  /** The warm-up from the audit log, under way after open() has returned. */
  private warming: Promise<void> = Promise.resolve();
  private closing = false;
  /** What the warm-up did (null: none yet, none asked for, or it failed). */
  warmed: (WarmUp & { readonly ms: number; readonly dropped: number }) | null = null;

  private constructor(private readonly o: AlertServiceOptions) {
    const pseudonymize = o.audit?.pseudonymize;
    this.detectors = new Detectors(
      o.config,
      (d) => this.track(this.raise(d)),
      (id) => o.scheme().models.has(id),
      // Watching from now: the first sighting may be a long stream's, dated before the start.
      Date.now(),
      ...(pseudonymize === undefined ? [] : [pseudonymize]),
    );
  }

  static async open(o: AlertServiceOptions): Promise<AlertService> {
    const s = new AlertService(o);
    // Load the country data set now (about a second), not on the first request that needs it.
    countryParts();
    const deliver = (sighting: Sighting) => s.deliver(sighting);
    const hook = o.config.webhook;
    // Every check before anything is started: a service refused here has nothing to stop.
    if (hook.url !== undefined && (o.webhookSecret === undefined || o.webhookSecret === null)) {
      throw new SetupError(
        `monitoring.alerts.webhook.url is set, but the signing secret ${hook.secret_env} is not in the environment`,
      );
    }
    if (o.config.shared === "redis") {
      if (o.redis === undefined || o.redis === null) {
        throw new SetupError(
          "monitoring.alerts.shared: redis needs the counters in Redis (counters.driver: redis), whose server it shares",
        );
      }
      s.feed = await redisFeed({ ...o.redis, deliver, onError: (e) => s.failed(e) });
    } else s.feed = localFeed(deliver);
    try {
      s.start();
    } catch (err) {
      // Nobody closes a service open() did not return: stop what was started (the feed, its timers).
      await s.close().catch(() => undefined);
      throw err;
    }
    // Last, once nothing can refuse the start (a warm-up runs on until close), after the shared feed
    // has taken its place in the stream (nothing is missed between the two), and without holding
    // the start up: what comes meanwhile waits (see deliver).
    const audit = o.audit ?? null;
    if (audit === null && o.config.shared !== "redis") s.held = null;
    else s.warming = s.warmUp(audit);
    return s;
  }

  /** The webhook deliverer and the timers (open()'s checks passed). */
  private start(): void {
    const o = this.o;
    const hook = o.config.webhook;
    if (hook.url !== undefined && o.webhookSecret !== undefined && o.webhookSecret !== null) {
      this.webhook = new WebhookDeliverer({
        url: hook.url,
        secret: o.webhookSecret,
        timeoutMs: hook.timeout_ms,
        retryMs: hook.retry_ms,
        maxRetryMs: hook.max_retry_ms,
        allowLinkLocal: hook.allow_link_local,
        store: o.store.alerts,
        onFailure: (err, alert) => {
          // A delivery's failure by the alert's detector and severity; a round's (the store) as alerts'.
          if (alert === undefined) o.metrics?.error("alerts");
          else
            o.metrics?.webhookFailures
              .labels(label(DETECTORS, alert.detector), label(SEVERITIES, alert.severity))
              .inc();
          o.onError(err);
        },
      });
      this.webhook.start();
    }
    if (DETECTORS.some((d) => responseOf(o.config, d) === "suspend")) {
      this.responseTimer = setInterval(
        () => this.once("responses", () => this.retryResponses()),
        RESPONSE_RETRY_MS,
      );
      this.responseTimer.unref();
    }
    if (o.config.quota.enabled) {
      this.quotaTimer = setInterval(
        () => this.once("quota", () => this.checkQuotas()),
        o.config.quota.check_ms,
      );
      this.quotaTimer.unref();
    }
  }

  /** The request observer's sink: one sighting per decided gateway request. */
  observe(r: ObservedRequest): void {
    const d = r.decision;
    if (d === null || r.principal === null || r.credential === null) return;
    const org = r.principal.organization;
    const organization = typeof org === "string" ? org : (org?.id ?? null);
    const grantPartner = d.grant === null || d.grant.kind === "license" ? null : d.grant.partner;
    const partner = sightingPartner(grantPartner, organization, this.o.scheme());
    this.feed?.publish({
      t: r.startedAt,
      requestId: r.requestId,
      audit: r.auditIndex === null ? null : String(r.auditIndex),
      principal: r.principal.id,
      credential: r.credential,
      organization,
      partner,
      model: d.model,
      decision: d.decision,
      reason: d.reason,
      country: r.location,
      network: networkOf(r.client ?? r.peer),
    });
  }

  /** Feeds a sighting to the detectors (replays, tests), after the warm-up as live ones are. */
  replay(s: Sighting): void {
    this.deliver(s);
  }

  /** Resolves once the warm-up from the audit log is done (or has failed: see `warmed`). */
  warmedUp(): Promise<void> {
    return this.warming;
  }

  private deliver(sighting: Sighting): void {
    if (this.held === null) this.detectors.feed(sighting);
    else if (this.held.length < WARM_BUFFER) this.held.push(sighting);
    else this.dropped++;
  }

  /**
   * Replays the audit log's tail into the detectors (warmup.ts) and, with a shared stream, its
   * backlog into key sharing (which the log cannot warm); sets the cooldowns from the alerts the
   * store holds, raises the embargo alerts the replay found lost (raiseUntold), then feeds the
   * sightings held meanwhile — less those the log already showed (a shared feed's copy of them). A
   * log that cannot be read back leaves the detectors as they start without one, from where the
   * replay got to (see Detectors.warm). The held sightings are fed even when the service is
   * closing: an alert they raise is raised.
   */
  private async warmUp(audit: AlertServiceOptions["audit"]): Promise<void> {
    const started = performance.now();
    const now = Date.now();
    let skip: ReadonlySet<string> = new Set();
    if (audit !== null && audit !== undefined) {
      try {
        const w = await warmUp({
          source: audit.source,
          detectors: this.detectors,
          lookBackMs: Detectors.replayBack(this.o.config),
          maxEntries: audit.maxEntries ?? WARM_ENTRIES,
          scheme: this.o.scheme(),
          now,
          stopped: () => this.closing,
          onSkipped: (err) => this.failed(err),
          onAhead: (err) => this.failed(err),
        });
        skip = w.lastRequestIds;
        this.warmed = { ...w, ms: Math.round(performance.now() - started), dropped: this.dropped };
      } catch (err) {
        this.failed(err);
      }
    }
    try {
      // Key sharing, which the log cannot warm: from the shared stream, where the fleet has one.
      for await (const page of this.feed?.backlog(now - this.o.config.key_sharing.window_ms) ?? []) {
        if (this.closing) break;
        for (const sighting of page) this.detectors.warmSharing(sighting);
      }
    } catch (err) {
      this.failed(err);
    }
    try {
      const due = this.detectors.untold();
      let oldest = now;
      // A spike's: back a cooldown before it, where a stored alert would have held it (see told).
      for (const d of due)
        oldest = Math.min(oldest, SPIKES.has(d.detector) ? d.at - this.o.config.cooldown_ms : d.at);
      const told = await this.cooledFromStore(now, oldest);
      this.raiseUntold(due, told, audit?.pseudonymize !== undefined);
    } catch (err) {
      // No cooldowns: an alert may be raised again, under the dedupe key already stored (one alert).
      this.failed(err);
    }
    const held = this.held ?? [];
    this.held = null;
    for (const sighting of held) if (!skip.has(sighting.requestId)) this.detectors.feed(sighting);
  }

  /**
   * The cooldowns of the alerts stored within the longest cooldown before `now` (ms), newest first:
   * what was raised before this start, by this node or another, and stored — not what the replay
   * says would have been (the node may have stopped between a decision's entry and its alert).
   * @param oldest read back to this time (ms) at least: the oldest alert the replay found due
   * @returns what the alerts read tell (see raiseUntold): the audit entries the embargoed-attempt
   *   alerts name, and when each spike alert's detector and subject was raised
   */
  private async cooledFromStore(now: number, oldest: number): Promise<Told> {
    const since = Math.min(now - Detectors.coolingBack(this.o.config), oldest);
    const told: Told = { entries: new Set(), spikes: new Map() };
    let after: string | undefined;
    for (;;) {
      const page = await this.o.store.alerts.list(
        {},
        { newest: true, limit: COOLED_PAGE, ...(after === undefined ? {} : { after }) },
      );
      for (const a of page) {
        const at = Date.parse(a.raised_at);
        // Ids are ordered by the time raised: the rest are older still.
        if (at < since) return told;
        this.detectors.cooled(a.detector, a.subject, at, a.severity);
        if (a.detector === "embargoed-attempt") for (const i of a.evidence.audit_indexes) told.entries.add(i);
        if (SPIKES.has(a.detector)) {
          const key = spikeOf(a);
          const times = told.spikes.get(key);
          if (times === undefined) told.spikes.set(key, [at]);
          else times.push(at);
        }
      }
      if (page.length < COOLED_PAGE) return told;
      after = page.at(-1)?.id;
    }
  }

  /**
   * Raises the alerts the replay found due and the store does not hold: lost in a crash between the
   * decision's entry and the store, they would never be raised by a later sighting (the first
   * attempt alone raises an embargo's medium alert, the count reaching its threshold a spike). An
   * embargo's is recognised by its attempt's audit entry; a spike is told by any alert of its
   * detector and subject stored within a cooldown of it (before it, the live detectors held it back;
   * after it, the stretch was told), and one raised holds the cooldown from its own time. The dedupe
   * key (the same one the live alert had) keeps one alert should neither tell. Not for a principal
   * with principals pseudonymised in the log: the replay knows it only by its pseudonym, which an
   * alert must not name in its place.
   * @param told what the stored alerts tell, back to the oldest due (see cooledFromStore)
   */
  private raiseUntold(due: readonly Draft[], told: Told, pseudonymised: boolean): void {
    for (const d of due) {
      if (pseudonymised && d.subject.kind === "principal") continue;
      if (SPIKES.has(d.detector)) {
        const stored = told.spikes.get(spikeOf(d)) ?? [];
        if (stored.some((at) => Math.abs(d.at - at) < this.o.config.cooldown_ms)) continue;
        this.detectors.cooled(d.detector, d.subject, d.at, d.severity);
        // A notification only: its traffic is older than this run, and the response in force may not
        // be the one of its time (alerts switched on, a lower factor): no suspension for it.
        this.track(this.raise({ ...d, details: { ...d.details, [NOTIFY_ONLY]: RAISED_LATE } }));
        continue;
      } else if (d.auditIndexes.some((i) => told.entries.has(i))) continue;
      this.track(this.raise(d));
    }
  }

  /** Resolves when every alert raised so far is stored and answered. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Checks every license with a quota against the configured percentage. A license whose usage
   * cannot be read, or whose alert cannot be stored, is reported (naming it) and counted, and the
   * check goes on to the others: one license's failure must not silence every license after it.
   */
  async checkQuotas(now = new Date()): Promise<void> {
    for (const l of this.o.scheme().licenses.values()) {
      if (l.quotaTokens === null || l.quotaTokens <= 0) continue;
      try {
        await this.checkQuota(l.id, l.quotaTokens, l.quotaPeriod, now);
      } catch (err) {
        this.failed(
          new Error(`quota check of license ${l.id}: ${(err as Error).message ?? String(err)}`, {
            cause: err,
          }),
        );
      }
    }
  }

  private async checkQuota(
    license: string,
    quotaTokens: number,
    quotaPeriod: "month" | "quarter" | "total",
    now: Date,
  ): Promise<void> {
    const percent = this.o.config.quota.percent;
    const used = await this.o.licenseUsage(license, quotaPeriod);
    const share = (used / quotaTokens) * 100;
    if (share < percent) return;
    const period = periodKey(quotaPeriod, now);
    await this.raise({
      detector: "quota-nearly-exhausted",
      severity: share >= 100 ? "high" : "medium",
      subject: { kind: "license", id: license },
      summary: `license ${license} has used ${Math.floor(share)}% of its ${quotaTokens} tokens (${period})`,
      auditIndexes: [],
      details: { used_tokens: used, quota_tokens: quotaTokens, period, percent: Math.floor(share) },
      // One alert per level reached in the period: nearly used (medium), then used up (high).
      dedupeKey: `quota-nearly-exhausted:license:${license}:${period}:${share >= 100 ? 100 : percent}`,
      at: now.getTime(),
    });
  }

  /**
   * Suspends what a stored alert still waits for: its first try failed (a store error while
   * revoking), or the node that raised it stopped first. Only alerts raised under `response:
   * suspend` and not yet answered are read (an indexed marker): alerts raised to notify — before
   * the detector was switched to suspend, or stored before the intent was recorded — are never
   * acted on after the fact. Any node may answer; revoking is idempotent.
   */
  async retryResponses(now = new Date()): Promise<void> {
    const before = now.getTime() - RESPONSE_GRACE_MS;
    const suspending = new Set<string>(DETECTORS.filter((d) => responseOf(this.o.config, d) === "suspend"));
    if (suspending.size === 0) return;
    const answered: Answered[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await this.o.store.alerts.pendingResponses(after, RESPONSE_PAGE);
      for (const a of page) {
        // Switched back to notify since: the operator no longer wants it suspended.
        if (!suspending.has(a.detector) || Date.parse(a.raised_at) > before) continue;
        const done = await this.respond(a, `detector:${a.detector}`);
        if (done !== null) answered.push(done);
      }
      if (page.length < RESPONSE_PAGE) break;
      after = page.at(-1)?.id ?? null;
    }
    if (answered.length > 0) await this.reloadAfter(answered);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.warming;
    clearInterval(this.responseTimer);
    clearInterval(this.quotaTimer);
    await this.feed?.close();
    await this.settled();
    await this.webhook?.close();
  }

  /**
   * A timer's round, unless its last one is still going: counters or a store slower than the timer
   * (Redis paused, a query waiting on a lock, a short `check_ms`) started one more round at every
   * tick, each waiting as long, without bound.
   */
  private once(round: "quota" | "responses", run: () => Promise<void>): void {
    if (this.rounds.has(round)) return;
    this.rounds.add(round);
    this.track(run().finally(() => this.rounds.delete(round)));
  }

  private track(p: Promise<unknown>): void {
    const done = p.catch((err: unknown) => this.failed(err)).finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  private failed(err: unknown): void {
    this.o.metrics?.error("alerts");
    this.o.onError(err);
  }

  private async raise(d: Draft): Promise<void> {
    const actor = `detector:${d.detector}`;
    // Recorded with the alert: a retry round acts only on alerts raised to be suspended. A spike
    // against no history of the subject's own is a notification only (NOTIFY_ONLY).
    const response = suspendable(d.details) ? responseOf(this.o.config, d.detector) : "notify";
    const keys =
      response === "suspend" && d.subject.kind === "principal" ? await this.keysOf(d.subject.id) : null;
    const { alert, created } = await this.o.store.alerts.raise(
      {
        dedupeKey: d.dedupeKey,
        detector: d.detector,
        severity: d.severity,
        subject: d.subject,
        summary: d.summary,
        evidence: {
          audit_indexes: d.auditIndexes,
          details: keys === null ? d.details : { ...d.details, keys },
        },
        raisedAt: new Date(d.at).toISOString(),
        deliver: this.webhook !== null,
        response,
      },
      actor,
    );
    if (!created) return; // another node (or an earlier check) raised it
    this.o.metrics?.alertsRaised.labels(d.detector, d.severity).inc();
    const answered = alert.intended_response === "suspend" ? await this.respond(alert, actor) : null;
    // One reload takes in the alert and its suspension, and drains both into the audit log.
    await this.reloadAfter(answered === null ? [] : [answered]);
    this.webhook?.kick();
  }

  /**
   * Reloads after alerts were raised or answered; then a suspension this node has not taken in (its
   * reload failed) says so in its response (`not_yet_in_force`, as an admin change's answer does):
   * it stands, and takes effect here at the next successful reload, elsewhere at the next poll. The
   * response itself was recorded before the reload, which may be slow or hang: recorded only after
   * it, other nodes' retries suspended again meanwhile and theirs ("no active API key") stood.
   */
  private async reloadAfter(answered: readonly Answered[]): Promise<void> {
    // A failed drain of the audit log must not keep a suspension from being told not in force.
    await this.o.changed().catch((err: unknown) => this.failed(err));
    const reloads = this.o.reloads;
    if (reloads === undefined) return;
    for (const { alert, actor, mark } of answered) {
      if (mark === undefined) continue;
      const pending = notYetInForce(
        `alert ${alert.id}'s suspension`,
        reloads.holds(mark, "records"),
        undefined,
        "records",
        reloads.failure(),
        reloads.node,
      );
      if (pending !== null) await this.o.store.alerts.responseNotInForce(alert.id, pending, actor);
    }
  }

  /**
   * The principal's active API keys as the store holds them now, for an alert about to be stored:
   * what "the keys it had when the alert was raised" means, told by the store's own order rather
   * than by comparing clocks. Null when they cannot be read (the alert is raised all the same, and
   * its keys are judged by their `createdAt`).
   */
  private async keysOf(principal: string): Promise<string[] | null> {
    try {
      return (await this.o.store.keys.list(principal)).filter((k) => k.revokedAt === null).map((k) => k.id);
    } catch (err) {
      this.failed(err);
      return null;
    }
  }

  /** Suspends, counting a failure (left for the next retry round, null then). */
  private async respond(a: AlertRecord, actor: string): Promise<Answered | null> {
    if (this.answering.has(a.id)) return null;
    this.answering.add(a.id);
    try {
      return await this.suspend(a, actor);
    } catch (err) {
      this.o.metrics?.alertResponseFailures.labels(a.detector).inc();
      this.o.onError(err);
      return null;
    } finally {
      this.answering.delete(a.id);
    }
  }

  /**
   * Suspends what the alert is about: a key is revoked; a principal loses every API key it had when
   * the alert was raised (a key issued since, e.g. to replace one, is not what the alert saw), and a
   * federated principal is suspended through identity's hook. Each is an admin act by the detector,
   * with the alert as its reason, so the audit log shows why access stopped.
   */
  private async suspend(a: AlertRecord, actor: string): Promise<Answered> {
    const reason = { alert: a.id, detector: a.detector, reason: a.summary };
    const done: string[] = [];
    // Whether a key was revoked or a principal blocked: only then is there anything to put in force.
    let suspended = false;
    const credential = async (id: string) => {
      if (id.startsWith("principal:")) {
        suspended = (await this.suspendFederated(id.slice("principal:".length), a, done)) || suspended;
        return;
      }
      if (!isKeyId(id)) {
        done.push(`credential ${id} is not an API key: not suspended`);
        return;
      }
      // Revoked before (by another node, the CLI, an officer): not this suspension's to claim.
      const outcome = await this.o.store.keys.revoke(id, actor, reason);
      // Revoked through another node and not yet loaded here: this node still takes it, so the
      // suspension is not in force here until it reloads (as an admin revoke of it would say). Not
      // known here (no takesKey): taken as not yet in force, the cautious side.
      suspended ||=
        outcome === "revoked" || (outcome === "already-revoked" && this.o.takesKey?.(id) !== false);
      done.push(`key ${id} ${outcome === "already-revoked" ? "already revoked" : outcome}`);
    };
    if (a.subject.kind === "key") await credential(a.subject.id);
    else if (a.subject.kind === "principal") {
      const had = heldKeys(a);
      for (const k of await this.o.store.keys.list(a.subject.id)) {
        if (k.revokedAt !== null) continue;
        if (had(k)) await credential(k.id);
        else done.push(`key ${k.id} issued after the alert: not revoked`);
      }
      if (this.o.suspendPrincipal !== undefined)
        suspended = (await this.suspendFederated(a.subject.id, a, done)) || suspended;
      if (done.length === 0) done.push(`${a.subject.id} has no active API key`);
    } else done.push(`a ${a.subject.kind} is not suspended automatically: notified only`);
    // Taken once the suspension is stored: a reload begun from then on takes it in (see reloadAfter).
    const mark = suspended ? this.o.reloads?.mark() : undefined;
    // Recorded at once, as other nodes' retries look for alerts without a response.
    const recorded = await this.o.store.alerts.respond(
      a.id,
      { action: "suspend", result: done.join("; ") },
      actor,
    );
    // Another node's response stands: this node says nothing more of it.
    return { alert: a, actor, ...(recorded && mark !== undefined ? { mark } : {}) };
  }

  /**
   * True when there is a block for this node to put in force: this call's, or one found already in
   * the store (another node's suspension, an officer's block through another node) that this node
   * has not loaded yet and still lets the principal through. One it already holds changed nothing.
   */
  private async suspendFederated(principal: string, a: AlertRecord, done: string[]): Promise<boolean> {
    if (this.o.suspendPrincipal === undefined) {
      done.push(`federated principal ${principal}: no suspension hook configured, notified only`);
      return false;
    }
    // null: not the hook's kind of principal (one with API keys only), nothing to say.
    const result = await this.o.suspendPrincipal(principal, { alert: a.id, detector: a.detector });
    if (result !== null) done.push(result.text);
    if (result?.outcome === "already-blocked") return this.o.blocksPrincipal?.(principal) !== true;
    return result?.outcome === "blocked";
  }
}
