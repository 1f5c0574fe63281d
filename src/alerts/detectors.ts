/**
 * Streaming anomaly detectors, fed one sighting per decided request, in order. Time is the
 * sightings' own (never the clock), so a replay of recorded traffic raises what live traffic
 * would. State is in memory, bounded by the principals and keys active within the longest window;
 * with several nodes every node runs the same detectors over the whole fleet's sightings in one
 * order (see feed.ts), and the store keeps one alert per dedupe key.
 */
import type { AlertSeverity, SubjectKind } from "../store/alerts.js";
import { minimumDistanceKm } from "./geo.js";

/** One decided request, as the detectors see it (JSON-safe: sightings travel through Redis). */
export interface Sighting {
  /** ms since the epoch. */
  readonly t: number;
  readonly requestId: string;
  /** The decision's audit entry index (decimal), when it was recorded. */
  readonly audit: string | null;
  readonly principal: string;
  /** The API key id, or what identity names the credential (`principal:<id>` for federated tokens). */
  readonly credential: string;
  readonly organization: string | null;
  /** The organization partner the organization is, if it is one. */
  readonly partner: string | null;
  readonly model: string;
  readonly decision: "allow" | "deny" | "fallback";
  readonly reason: string;
  readonly country: string | null;
  /** The client's network (/24 for IPv4, /48 for IPv6), or null. */
  readonly network: string | null;
}

export interface Draft {
  readonly detector: DetectorName;
  readonly severity: AlertSeverity;
  readonly subject: { readonly kind: SubjectKind; readonly id: string };
  readonly summary: string;
  readonly auditIndexes: readonly string[];
  readonly details: Readonly<Record<string, unknown>>;
  readonly dedupeKey: string;
  /** ms since the epoch: the sighting that raised it. */
  readonly at: number;
}

export type DetectorName =
  | "impossible-travel"
  | "key-sharing"
  | "embargoed-attempt"
  | "denied-party"
  | "denial-spike"
  | "volume-spike"
  | "quota-nearly-exhausted";

export interface DetectorConfig {
  readonly cooldown_ms: number;
  readonly impossible_travel: { enabled: boolean; max_speed_kmh: number; tolerance_km: number };
  readonly key_sharing: { enabled: boolean; window_ms: number; max_countries: number; max_networks: number };
  readonly embargoed_attempts: { enabled: boolean; window_ms: number; repeated: number };
  readonly denied_party: { enabled: boolean };
  readonly denial_spike: { enabled: boolean; window_ms: number; min_denials: number; factor: number };
  readonly volume_spike: { enabled: boolean; window_ms: number; min_requests: number; factor: number };
}

/** Weight of the latest window in a baseline (exponentially weighted mean of window counts). */
const ALPHA = 0.3;
/** Evidence listed per alert, at most. */
const MAX_EVIDENCE = 20;

interface Seen {
  readonly country: string;
  readonly t: number;
  readonly audit: string | null;
}

/**
 * The latest `capacity` attempts (oldest first), in a ring: a principal refused without end costs
 * constant memory and constant work per attempt.
 */
class Recent {
  private readonly items: ({ t: number; audit: string | null } | undefined)[];
  private start = 0;
  size = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array(capacity);
  }

  push(t: number, audit: string | null): void {
    if (this.size === this.capacity) this.start = (this.start + 1) % this.capacity;
    else this.size++;
    this.items[(this.start + this.size - 1) % this.capacity] = { t, audit };
  }

  /** The i-th newest (0: the latest). */
  newest(i: number): { t: number; audit: string | null } | undefined {
    return i < this.size ? this.items[(this.start + this.size - 1 - i) % this.capacity] : undefined;
  }
}

/** Counts per fixed window, against an exponentially weighted baseline of earlier windows. */
class SpikeCounter {
  /** The latest sighting counted (ms): the sweep forgets counters idle past every window. */
  last = 0;
  private window = -1;
  private count = 0;
  private baseline = 0;
  private evidence: string[] = [];

  /** The count in the current window after adding one; true the moment it reaches its threshold. */
  add(t: number, windowMs: number, min: number, factor: number, audit: string | null): boolean {
    // A sighting is stamped with its request's start but sent at its end (a long stream, another
    // node's clock): one from a window already closed counts to the current one, never restarts it.
    const w = Math.max(Math.floor(t / windowMs), this.window);
    this.last = Math.max(this.last, t);
    if (w !== this.window) {
      if (this.window >= 0) {
        this.baseline = ALPHA * this.count + (1 - ALPHA) * this.baseline;
        // Windows with nothing in them pull the baseline down too.
        this.baseline *= (1 - ALPHA) ** Math.max(0, Math.min(50, w - this.window - 1));
      }
      this.window = w;
      this.count = 0;
      this.evidence = [];
    }
    this.count++;
    if (audit !== null && this.evidence.length < MAX_EVIDENCE) this.evidence.push(audit);
    return this.count === this.threshold(min, factor);
  }

  threshold(min: number, factor: number): number {
    return Math.max(min, Math.ceil(factor * this.baseline));
  }

  state() {
    return { count: this.count, baseline: Math.round(this.baseline * 100) / 100, evidence: this.evidence };
  }
}

export class Detectors {
  private readonly lastSeen = new Map<string, Seen>();
  private readonly keyUse = new Map<
    string,
    { countries: Map<string, Seen>; networks: Map<string, { t: number; audit: string | null }> }
  >();
  private readonly embargoed = new Map<string, Recent>();
  private readonly denials = new Map<string, SpikeCounter>();
  private readonly volume = new Map<string, SpikeCounter>();
  /** detector + subject → when it last raised (ms). */
  private readonly cooling = new Map<string, number>();
  private fed = 0;

  /**
   * @param isModel whether the scheme names a model: any other name a client sends is the one
   *   subject `other` (as in the metrics), so made-up names neither multiply alerts nor memory.
   */
  constructor(
    private readonly config: DetectorConfig,
    private readonly raise: (draft: Draft) => void,
    private readonly isModel: (id: string) => boolean = () => true,
  ) {}

  feed(s: Sighting): void {
    const c = this.config;
    if (c.impossible_travel.enabled) this.travel(s);
    if (c.key_sharing.enabled) this.sharing(s);
    if (c.embargoed_attempts.enabled && s.reason.startsWith("embargoed-")) this.embargo(s);
    if (c.denied_party.enabled && s.reason === "denied-party") this.deniedParty(s);
    if (c.denial_spike.enabled && s.decision === "deny") this.denialSpike(s);
    if (c.volume_spike.enabled) this.volumeSpike(s);
    if (++this.fed % 10_000 === 0) this.sweep(s.t);
  }

  /** Raises unless the same detector raised for the same subject within the cooldown. */
  private emit(d: Omit<Draft, "dedupeKey" | "at">, s: Sighting, cool = true): void {
    const key = `${d.detector}:${d.subject.kind}:${d.subject.id}`;
    if (cool) {
      const last = this.cooling.get(key);
      if (last !== undefined && s.t - last < this.config.cooldown_ms) return;
      this.cooling.set(key, s.t);
    }
    this.raise(Object.assign({}, d, { dedupeKey: `${key}:${s.requestId}`, at: s.t }));
  }

  private travel(s: Sighting): void {
    if (s.country === null) return;
    const previous = this.lastSeen.get(s.principal);
    this.lastSeen.set(s.principal, { country: s.country, t: s.t, audit: s.audit });
    if (previous === undefined || previous.country === s.country) return;
    const least = minimumDistanceKm(previous.country, s.country);
    if (least === null) return; // a country the data set does not place
    const km = least - this.config.impossible_travel.tolerance_km;
    if (km <= 0) return;
    const hours = Math.max(s.t - previous.t, 1_000) / 3_600_000;
    const speed = km / hours;
    if (speed <= this.config.impossible_travel.max_speed_kmh) return;
    const minutes = Math.round((s.t - previous.t) / 60_000);
    this.emit(
      {
        detector: "impossible-travel",
        severity: "high",
        subject: { kind: "principal", id: s.principal },
        summary: `${s.principal} was seen in ${previous.country} and ${minutes} min later in ${s.country}, at least ${Math.round(km)} km apart (${Math.round(speed)} km/h)`,
        auditIndexes: [previous.audit, s.audit].filter((a): a is string => a !== null),
        details: {
          from: previous.country,
          to: s.country,
          km: Math.round(km),
          minutes,
          speed_kmh: Math.round(speed),
          credential: s.credential,
        },
      },
      s,
    );
  }

  private sharing(s: Sighting): void {
    const c = this.config.key_sharing;
    let use = this.keyUse.get(s.credential);
    if (use === undefined) {
      use = { countries: new Map(), networks: new Map() };
      this.keyUse.set(s.credential, use);
    }
    const since = s.t - c.window_ms;
    if (s.country !== null) use.countries.set(s.country, { country: s.country, t: s.t, audit: s.audit });
    if (s.network !== null) use.networks.set(s.network, { t: s.t, audit: s.audit });
    for (const [k, v] of use.countries) if (v.t < since) use.countries.delete(k);
    for (const [k, v] of use.networks) if (v.t < since) use.networks.delete(k);
    const countries = use.countries.size > c.max_countries;
    const networks = use.networks.size > c.max_networks;
    if (!countries && !networks) return;
    const hours = Math.round((c.window_ms / 3_600_000) * 100) / 100;
    const what = countries
      ? `${use.countries.size} countries (${[...use.countries.keys()].join(", ")})`
      : `${use.networks.size} networks`;
    const evidence = countries ? [...use.countries.values()] : [...use.networks.values()];
    this.emit(
      {
        detector: "key-sharing",
        severity: "high",
        subject: { kind: "key", id: s.credential },
        summary: `credential ${s.credential} of ${s.principal} was used from ${what} within ${hours} h`,
        auditIndexes: evidence
          .map((e) => e.audit)
          .filter((a): a is string => a !== null)
          .slice(-MAX_EVIDENCE),
        details: {
          principal: s.principal,
          countries: [...use.countries.keys()],
          networks: use.networks.size,
          window_ms: c.window_ms,
        },
      },
      s,
    );
  }

  private embargo(s: Sighting): void {
    const c = this.config.embargoed_attempts;
    const since = s.t - c.window_ms;
    // Only the first and the `repeated`-th attempt within the window raise, so the latest
    // `repeated` + 1 attempts tell the count exactly up to `repeated` (more is "more").
    let recent = this.embargoed.get(s.principal);
    if (recent === undefined) this.embargoed.set(s.principal, (recent = new Recent(c.repeated + 1)));
    recent.push(s.t, s.audit);
    let attempts = 0;
    while (attempts < recent.size && (recent.newest(attempts)?.t ?? 0) >= since) attempts++;
    if (attempts !== 1 && attempts !== c.repeated) return;
    const repeated = attempts === c.repeated;
    const audits: string[] = [];
    for (let i = Math.min(attempts, MAX_EVIDENCE) - 1; i >= 0; i--) {
      const audit = recent.newest(i)?.audit ?? null;
      if (audit !== null) audits.push(audit);
    }
    this.emit(
      {
        detector: "embargoed-attempt",
        severity: repeated ? "high" : "medium",
        subject: { kind: "principal", id: s.principal },
        summary: repeated
          ? `${s.principal} was refused ${attempts} times for an embargo (${s.reason}) within ${Math.round(c.window_ms / 3_600_000)} h`
          : `${s.principal} was refused for an embargo (${s.reason}${s.country === null ? "" : `, from ${s.country}`})`,
        auditIndexes: audits,
        details: { reason: s.reason, country: s.country, attempts, model: s.model },
      },
      s,
      false,
    );
  }

  private deniedParty(s: Sighting): void {
    this.emit(
      {
        detector: "denied-party",
        severity: "critical",
        subject: { kind: "principal", id: s.principal },
        summary: `${s.principal}, a confirmed denied-party screening match, tried ${s.model}`,
        auditIndexes: s.audit === null ? [] : [s.audit],
        details: { organization: s.organization, country: s.country, model: s.model },
      },
      s,
    );
  }

  private denialSpike(s: Sighting): void {
    const c = this.config.denial_spike;
    const subjects: [SubjectKind, string | null][] = [
      ["organization", s.organization],
      ["partner", s.partner],
      ["model", this.isModel(s.model) ? s.model : "other"],
    ];
    for (const [kind, id] of subjects) {
      if (id === null) continue;
      const key = `${kind}:${id}`;
      let counter = this.denials.get(key);
      if (counter === undefined) this.denials.set(key, (counter = new SpikeCounter()));
      if (!counter.add(s.t, c.window_ms, c.min_denials, c.factor, s.audit)) continue;
      const st = counter.state();
      this.emit(
        {
          detector: "denial-spike",
          severity: "medium",
          subject: { kind, id },
          summary: `${st.count} denials for ${kind} ${id} within ${Math.round(c.window_ms / 60_000)} min (baseline ${st.baseline} per window)`,
          auditIndexes: st.evidence,
          details: { count: st.count, baseline: st.baseline, window_ms: c.window_ms },
        },
        s,
      );
    }
  }

  private volumeSpike(s: Sighting): void {
    const c = this.config.volume_spike;
    let counter = this.volume.get(s.principal);
    if (counter === undefined) this.volume.set(s.principal, (counter = new SpikeCounter()));
    if (!counter.add(s.t, c.window_ms, c.min_requests, c.factor, s.audit)) return;
    const st = counter.state();
    this.emit(
      {
        detector: "volume-spike",
        severity: "medium",
        subject: { kind: "principal", id: s.principal },
        summary: `${s.principal} made ${st.count} requests within ${Math.round(c.window_ms / 60_000)} min (its baseline: ${st.baseline} per window)`,
        auditIndexes: st.evidence,
        details: { count: st.count, baseline: st.baseline, window_ms: c.window_ms },
      },
      s,
    );
  }

  /** Entries held per kind of state (tests: memory stays bounded). */
  retained(): Record<"lastSeen" | "keyUse" | "embargoed" | "denials" | "volume" | "cooling", number> {
    let embargoed = 0;
    for (const r of this.embargoed.values()) embargoed += r.size;
    let keyUse = 0;
    for (const u of this.keyUse.values()) keyUse += u.countries.size + u.networks.size;
    return {
      lastSeen: this.lastSeen.size,
      keyUse,
      embargoed,
      denials: this.denials.size,
      volume: this.volume.size,
      cooling: this.cooling.size,
    };
  }

  /** Forgets subjects idle for longer than every window (memory stays bounded by active ones). */
  private sweep(now: number): void {
    const c = this.config;
    const horizon =
      now - Math.max(c.cooldown_ms, c.key_sharing.window_ms, c.embargoed_attempts.window_ms, 24 * 3_600_000);
    for (const [k, v] of this.lastSeen) if (v.t < horizon) this.lastSeen.delete(k);
    for (const [k, v] of this.cooling) if (v < horizon) this.cooling.delete(k);
    for (const [k, v] of this.keyUse) {
      const newest = Math.max(
        0,
        ...[...v.countries.values()].map((e) => e.t),
        ...[...v.networks.values()].map((e) => e.t),
      );
      if (newest < horizon) this.keyUse.delete(k);
    }
    for (const [k, v] of this.embargoed) if ((v.newest(0)?.t ?? 0) < horizon) this.embargoed.delete(k);
    for (const [k, v] of this.denials) if (v.last < horizon) this.denials.delete(k);
    for (const [k, v] of this.volume) if (v.last < horizon) this.volume.delete(k);
  }
}
