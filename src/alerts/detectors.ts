/**
 * Streaming anomaly detectors, fed one sighting per decided request, in order. Time is the
 * sightings' own (never the clock), so a replay of recorded traffic raises what live traffic
 * would. State is in memory, bounded by the principals and keys active within the longest window;
 * with several nodes every node runs the same detectors over the whole fleet's sightings in one
 * order (see feed.ts), and the store keeps one alert per dedupe key. Dedupe keys name a period
 * (the cooldown's, or the embargo window's), never a request: a node that restarts, or joins, and
 * sees the same condition again in that period raises what is already stored.
 */
import type { CompiledScheme } from "../scheme/index.js";
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

/**
 * The partner a sighting names, live (AlertService.observe) and replayed from the audit log
 * (warmup.ts) alike: the grant's partner when a partner's grant allowed the request, else the
 * organization when it is an organization partner.
 * @param grantPartner the partner whose grant allowed the request (null: a license, or none)
 */
export function sightingPartner(
  grantPartner: string | null,
  organization: string | null,
  scheme: CompiledScheme,
): string | null {
  if (grantPartner !== null) return grantPartner;
  return organization !== null && scheme.organizationPartners.has(organization) ? organization : null;
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
/**
 * Whole windows a spike baseline must cover before a spike is judged against it, and windows with
 * the subject's own traffic in it before a spike may be answered by suspension.
 */
export const BASELINE_WINDOWS = 3;
/** Evidence listed per alert, at most. */
const MAX_EVIDENCE = 20;

/**
 * The key in a draft's details saying why the detector's `suspend` response must not be applied
 * (a spike against no history of the subject's own): the alert is a notification only.
 */
export const NOTIFY_ONLY = "notify_only";

/** Whether an alert with these details may be answered by suspension (see NOTIFY_ONLY). */
export function suspendable(details: Readonly<Record<string, unknown>>): boolean {
  return details[NOTIFY_ONLY] === undefined;
}

interface Seen {
  readonly country: string;
  readonly t: number;
  readonly audit: string | null;
}

/**
 * A principal's latest places held for impossible travel, in time order: a sighting that arrives
 * late (a long stream's, stamped at its start; another node's) is judged against its neighbours in
 * time among them, and never moves the principal's last place back.
 */
const PLACES = 4;

/** A journey between two sightings of one principal, `from` no later than `to`, too fast to travel. */
interface Journey {
  readonly from: Seen;
  readonly to: Seen;
  /** The least distance between the countries, less the tolerance. */
  readonly km: number;
  readonly speed: number;
}

/**
 * The credential a principal's alert names, as used in the sighting that raised it: the response
 * revokes it whatever its `createdAt` says (see service.ts). None in a warm-up's sightings (the
 * audit log does not record credentials).
 */
const usedCredential = (s: { readonly credential: string }) =>
  s.credential === "" ? {} : { credential: s.credential };

/**
 * One embargoed attempt held, with what a high alert names of it: the alert names the window's
 * newest attempt (the one completing it in time order), not whichever arrived last.
 */
interface Attempt {
  readonly t: number;
  readonly audit: string | null;
  readonly reason: string;
  readonly country: string | null;
  readonly model: string;
  readonly credential: string;
}

/**
 * The latest `capacity` attempts, in time order (oldest first), in a ring: a principal refused
 * without end costs constant memory and constant work per attempt. One that arrives late (a long
 * stream's, dated at its start; another node's) goes in its place among them.
 */
class Recent {
  private readonly items: (Attempt | undefined)[];
  private start = 0;
  size = 0;
  /** The window period (floor(t / window_ms)) a high alert was last raised in. */
  highIn = -Infinity;
  /** The latest attempt not held (ms): dropped as the oldest, or older than every one held. */
  forgotten = -Infinity;

  constructor(private readonly capacity: number) {
    this.items = new Array(capacity);
  }

  /**
   * Adds an attempt in its place in time order, dropping the oldest when full; its index (0: the
   * oldest), or -1 when it is older than every one held and there is no room (not held).
   */
  add(a: Attempt): number {
    const t = a.t;
    const oldest = this.at(0);
    if (this.size === this.capacity && oldest !== undefined) {
      this.forgotten = Math.max(this.forgotten, Math.min(t, oldest.t));
      if (t < oldest.t) return -1;
      this.start = (this.start + 1) % this.capacity;
    } else this.size++;
    let i = this.size - 1;
    // A late one (rare) moves back past the few newer ones.
    for (let prev = this.at(i - 1); prev !== undefined && prev.t > t; prev = this.at(i - 1)) {
      this.items[this.slot(i--)] = prev;
    }
    this.items[this.slot(i)] = a;
    return i;
  }

  /** The i-th oldest (0: the oldest held). */
  at(i: number): Attempt | undefined {
    return i >= 0 && i < this.size ? this.items[this.slot(i)] : undefined;
  }

  /** The i-th newest (0: the latest). */
  newest(i: number): Attempt | undefined {
    return this.at(this.size - 1 - i);
  }

  private slot(i: number): number {
    return (this.start + i) % this.capacity;
  }
}

/**
 * The windows of one length (numbered from the epoch) the detectors watched whole: those the audit
 * log's replay covered, [log, logEnd), and every one from `live` on (the first after they started
 * watching live traffic). Any other window was not watched whole — before the replay's reach, the
 * one the replay ends in, the ones while the node was down, the one it started in.
 */
interface Watched {
  readonly log: number;
  readonly logEnd: number;
  readonly live: number;
}

/** How many windows in [from, to) were watched whole. */
function wholeIn(v: Watched, from: number, to: number): number {
  const span = (lo: number, hi: number) => Math.max(0, Math.min(to, hi) - Math.max(from, lo));
  return span(v.log, Math.min(v.logEnd, v.live)) + span(v.live, Infinity);
}

/**
 * Counts per fixed window, against an exponentially weighted baseline of earlier windows. Only
 * windows the detectors watched whole count (see Watched): one they watched in part saw only part
 * of what the subject did (a restart, a deploy, a new node, an outage), so it is left out, never
 * taken as a baseline of 0.
 */
class SpikeCounter {
  /** The latest sighting counted (ms): the sweep forgets counters idle past every window. */
  last = 0;
  private window = -1;
  private count = 0;
  private baseline = 0;
  /** Whole windows in the baseline (empty ones too). */
  private observed = 0;
  /** ...of which the subject had traffic in. */
  private active = 0;
  private evidence: string[] = [];

  /**
   * The count in the current window after adding one; true the moment it reaches its threshold
   * with a baseline of BASELINE_WINDOWS whole windows.
   * @param watched the windows of windowMs the detectors watched whole
   */
  add(
    t: number,
    windowMs: number,
    watched: Watched,
    min: number,
    factor: number,
    audit: string | null,
  ): boolean {
    // A sighting is stamped with its request's start but sent at its end (a long stream, another
    // node's clock): one from a window already closed counts to the current one, never restarts it.
    const w = Math.max(Math.floor(t / windowMs), this.window);
    this.last = Math.max(this.last, t);
    if (w !== this.window) {
      // A new subject had nothing in the whole windows watched before it showed up: zeros, known.
      if (this.window < 0) this.zeros(wholeIn(watched, -Infinity, w));
      else {
        if (wholeIn(watched, this.window, this.window + 1) === 1) this.fold(this.count);
        // Windows watched with nothing in them pull the baseline down too; unwatched ones (the node
        // was down, or the replay stopped short) are unknown, not zeros.
        this.zeros(wholeIn(watched, this.window + 1, w));
      }
      this.window = w;
      this.count = 0;
      this.evidence = [];
    }
    this.count++;
    if (audit !== null && this.evidence.length < MAX_EVIDENCE) this.evidence.push(audit);
    return this.observed >= BASELINE_WINDOWS && this.count === this.threshold(min, factor);
  }

  private fold(count: number): void {
    // The first window starts the mean (starting it at 0 would make the next windows look high).
    this.baseline = this.observed === 0 ? count : ALPHA * count + (1 - ALPHA) * this.baseline;
    this.observed++;
    if (count > 0) this.active++;
  }

  private zeros(n: number): void {
    if (n <= 0) return;
    this.baseline *= (1 - ALPHA) ** Math.min(50, n);
    this.observed += n;
  }

  threshold(min: number, factor: number): number {
    return Math.max(min, Math.ceil(factor * this.baseline));
  }

  state() {
    const baseline = Math.round(this.baseline * 100) / 100;
    return {
      count: this.count,
      baseline,
      // A copy: the window's evidence grows on, and a replay's draft waits for the warm-up's end.
      evidence: [...this.evidence],
      // Suspending a subject for its first traffic, or against a baseline of nothing, punishes a
      // newcomer for being new: such a spike is told, not acted on.
      notifyOnly:
        baseline === 0
          ? "not suspended: its baseline is 0"
          : this.active < BASELINE_WINDOWS
            ? `not suspended: fewer than ${BASELINE_WINDOWS} windows of its own traffic to compare with`
            : undefined,
    };
  }
}

/** One sighting of a key from a country or a network. */
interface Use {
  readonly t: number;
  readonly audit: string | null;
}

interface KeyUse {
  /**
   * Each country's (network's) sightings, oldest first, only those some window within two back
   * from the newest can need (see note); each map in the order of its entries' latest sightings.
   */
  readonly countries: Map<string, Use[]>;
  readonly networks: Map<string, Use[]>;
  /** The key's newest sighting (ms): what is held is measured back from it. */
  newest: number;
}

/** One country (network) counted in a window, by the sighting of it there. */
type Counted = readonly [string, Use];

const latestOf = (list: readonly Use[]): number => list.at(-1)?.t ?? -Infinity;

/**
 * Notes `k` as seen at `v.t` (no older than `since`), in its place in time order: a late sighting
 * (a long stream's, stamped at its start; another node's) may complete an hour that ended before
 * the newest. Of three sightings of one value within a window the middle one tells no window
 * anything (one holding it holds one of the others), so it goes: a value holds a few sightings per
 * window however often it is seen. The map stays in the order of each value's latest sighting.
 * @param late `v` is older than the newest sighting `m` may hold (else it goes at the end)
 */
function note(
  m: Map<string, Use[]>,
  k: string,
  v: Use,
  windowMs: number,
  since: number,
  late: boolean,
): void {
  const list = m.get(k) ?? [];
  const latest = v.t >= latestOf(list);
  let i = list.length;
  while (i > 0 && (list[i - 1]?.t ?? -Infinity) > v.t) i--;
  list.splice(i, 0, v);
  while ((list[0]?.t ?? Infinity) < since) list.shift();
  for (let j = 1; j + 1 < list.length;) {
    if ((list[j + 1]?.t ?? Infinity) - (list[j - 1]?.t ?? -Infinity) <= windowMs) list.splice(j, 1);
    else j++;
  }
  if (!latest) {
    m.set(k, list); // its place in the map (its latest) is unchanged
    return;
  }
  m.delete(k);
  if (!late) {
    m.set(k, list);
    return;
  }
  // Rare: the map is rebuilt in order (it holds few entries: see expire).
  const entries = [...m];
  const at = entries.findIndex(([, e]) => latestOf(e) > v.t);
  entries.splice(at < 0 ? entries.length : at, 0, [k, list]);
  m.clear();
  for (const [ek, ev] of entries) m.set(ek, ev);
}

/**
 * Drops from the head what was last seen before `since`, and beyond the latest `keep`: deciding
 * "more than `keep` - 1 within the window" needs no more, so work and memory per key stay bounded
 * however many networks one key is used from. Countries are kept all (there are not many): an alert
 * names every one.
 */
function expire(m: Map<string, Use[]>, since: number, keep: number): void {
  for (const [k, v] of m) {
    if (latestOf(v) >= since && m.size <= keep) return;
    m.delete(k);
  }
}

/** The values last seen within the window back from `t`, the newest (the head is the oldest). */
function inWindowBack(m: Map<string, Use[]>, t: number, windowMs: number): Counted[] {
  const picks: Counted[] = [];
  for (const [k, list] of m) {
    const last = list.at(-1);
    if (last !== undefined && last.t >= t - windowMs) picks.push([k, last]);
  }
  return picks;
}

/** How many values were last seen within the window back from `t`, the newest: the head is skipped. */
function countBack(m: Map<string, Use[]>, t: number, windowMs: number): number {
  let skipped = 0;
  for (const list of m.values()) {
    if (latestOf(list) >= t - windowMs) break;
    skipped++;
  }
  return m.size - skipped;
}

/**
 * The window of `windowMs` holding `v` (of `k`, not yet noted) with the most values in it, and the
 * sighting of each there. A value is in the window [s, s + windowMs] iff its last sighting at or
 * before `v` is at or after s, or its first at or after `v` is at or before s + windowMs: it is out
 * for s in the gap between the two, and the window missing the fewest gaps wins. Sorted, so
 * O(n log n) in the values held (bounded: see expire).
 */
function busiest(m: Map<string, Use[]>, k: string, v: Use, windowMs: number): Counted[] {
  const lo = v.t - windowMs;
  const near: [string, Use | undefined, Use | undefined][] = [];
  for (const [key, list] of m) {
    if (key === k) continue;
    let before: Use | undefined;
    let after: Use | undefined;
    for (const u of list) {
      if (u.t <= v.t) before = u;
      if (u.t >= v.t) {
        after = u;
        break;
      }
    }
    if (before !== undefined && before.t < lo) before = undefined;
    if (after !== undefined && after.t > v.t + windowMs) after = undefined;
    if (before !== undefined || after !== undefined) near.push([key, before, after]);
  }
  // Out for s in (gap start, gap end); starts and ends sorted to count the gaps holding s.
  const gaps = near.map(
    ([, b, a]) => [b?.t ?? -Infinity, a === undefined ? Infinity : a.t - windowMs] as const,
  );
  const open = gaps.filter(([from, to]) => from < to);
  const starts = open.map(([from]) => from).sort((x, y) => x - y);
  const ends = open.map(([, to]) => to).sort((x, y) => x - y);
  const below = (xs: number[], s: number, strict: boolean) => {
    let a = 0;
    let b = xs.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      const x = xs[mid] ?? 0;
      if (strict ? x < s : x <= s) a = mid + 1;
      else b = mid;
    }
    return a;
  };
  let best = lo;
  let fewest = Infinity;
  for (const s of [lo, ...ends.filter((e) => e > lo && e <= v.t)]) {
    const out = below(starts, s, true) - below(ends, s, false);
    if (out < fewest) [best, fewest] = [s, out];
  }
  const picks: Counted[] = [[k, v]];
  for (const [key, b, a] of near) {
    if (b !== undefined && b.t >= best) picks.push([key, b]);
    else if (a !== undefined && a.t <= best + windowMs) picks.push([key, a]);
  }
  return picks.sort(([, x], [, y]) => x.t - y.t);
}

/** How identity names a federated principal's credential: the person, not the provider (`principal:<id>`). */
export const FEDERATED = "principal:";

/** The detectors whose cooldown runs per detector and subject (see emit; the embargo's is its period). */
const COOLED: ReadonlySet<string> = new Set<DetectorName>([
  "impossible-travel",
  "key-sharing",
  "denied-party",
  "denial-spike",
  "volume-spike",
]);

/**
 * The detectors raising once, as a window's count reaches its threshold: one such alert lost (a
 * crash between the decision's entry and the store) is never raised by a later sighting.
 */
export const SPIKES: ReadonlySet<string> = new Set<DetectorName>(["denial-spike", "volume-spike"]);

export class Detectors {
  /** Each principal's latest places, oldest first (see PLACES). */
  private readonly lastSeen = new Map<string, Seen[]>();
  private readonly keyUse = new Map<string, KeyUse>();
  private readonly embargoed = new Map<string, Recent>();
  private readonly denials = new Map<string, SpikeCounter>();
  private readonly volume = new Map<string, SpikeCounter>();
  /** detector + subject → when it last raised (ms). */
  private readonly cooling = new Map<string, number>();
  private fed = 0;
  /** Feeding a warm-up's sighting (see warm): state only, nothing raised. */
  private warming = false;
  /** Feeding a sighting read from the audit log, whose principal is named as the log names it (see alias). */
  private fromLog = false;
  /**
   * What the replay of the audit log has covered so far (ms): every decision from `from` to `to`,
   * the latest sighting replayed. Null until one was.
   */
  private replayed: { from: number; to: number } | null = null;
  /** The replay began at the log's first entry: nothing was decided before what it replays. */
  private replayedAll = false;
  /**
   * Embargo "medium" alerts the replay found due (the first attempt in a window, the whole window
   * replayed), by dedupe key: whether each was stored before the restart is the store's to say (see
   * untold). Empty once the warm-up has taken them.
   */
  private readonly due = new Map<string, Draft>();
  /**
   * The cooldowns of the spike alerts the replay found due (see emit), apart from `cooling`: those
   * are what the store holds, these what the replayed traffic would have raised.
   */
  private readonly dueCooling = new Map<string, number>();

  /**
   * @param isModel whether the scheme names a model: any other name a client sends is the one
   *   subject `other` (as in the metrics), so made-up names neither multiply alerts nor memory.
   * @param started when the detectors began watching (ms; a node's start). By default the first
   *   sighting's time, which is its request's start: a long stream that ends just after a node
   *   starts would date it too early, so a gateway should say.
   * @param alias how the audit log names a principal (its pseudonym, when principals are
   *   pseudonymised there): a principal's state is held under it, so that a warm-up from the log
   *   and the live sightings after it add up. The identity by default.
   */
  constructor(
    private readonly config: DetectorConfig,
    private readonly raise: (draft: Draft) => void,
    private readonly isModel: (id: string) => boolean = () => true,
    private started: number | null = null,
    private readonly alias: (principal: string) => string = (p) => p,
  ) {}

  feed(s: Sighting): void {
    const c = this.config;
    if (!this.warming) this.started ??= s.t;
    if (c.impossible_travel.enabled) this.travel(s);
    // The audit log records no API key nor network (a warm-up's sighting names no credential, but a
    // federated principal's): key sharing is warmed from the shared stream too (see warmSharing).
    if (c.key_sharing.enabled && s.credential !== "") this.sharing(s);
    if (c.embargoed_attempts.enabled && s.reason.startsWith("embargoed-")) this.embargo(s);
    if (c.denied_party.enabled && s.reason === "denied-party") this.deniedParty(s);
    if (c.denial_spike.enabled && s.decision === "deny") this.denialSpike(s);
    if (c.volume_spike.enabled) this.volumeSpike(s);
    if (++this.fed % 10_000 === 0) this.sweep(s.t);
  }

  /**
   * Replays a sighting seen before this start, read back from the audit log (see warmup.ts), whose
   * principal is already named as the log names it (see alias): it builds the state live traffic
   * would have — attempts, journeys, spike windows — and raises nothing. It sets no cooldown
   * either: whether what it would raise was raised, and stored, is the store's to say (an alert is
   * stored after its decision entry is durable, so a crash in between loses it), and the warm-up
   * tells the detectors what is stored after the replay (see cooled).
   * @param since every decision logged since then (ms) is replayed, up to this one, in order: the
   *   spike windows between are judged as watched — and no window after the latest one replayed
   *   (the replay stopped there, or the node was down after it).
   * @param fromStart the replay began at the log's first entry: no attempt came before it (a spike
   *   window before it is unknown all the same: the gateway may not have been running)
   */
  warm(s: Sighting, since: number, fromStart = false): void {
    this.replayed = { from: this.replayed?.from ?? since, to: Math.max(this.replayed?.to ?? s.t, s.t) };
    this.replayedAll ||= fromStart;
    this.warming = true;
    this.fromLog = true;
    try {
      this.feed(s);
    } finally {
      this.warming = false;
      this.fromLog = false;
    }
  }

  /**
   * Replays a sighting the fleet published before this start (the shared stream's backlog: see
   * feed.ts), for key sharing alone — the one detector the audit log cannot warm, as it records
   * neither credentials nor networks; the others have it from the log. Nothing is raised, no
   * cooldown set (the stored alerts set those: see cooled).
   */
  warmSharing(s: Sighting): void {
    if (!this.config.key_sharing.enabled) return;
    this.warming = true;
    try {
      this.sharing(s);
    } finally {
      this.warming = false;
    }
  }

  /**
   * An alert the store holds (raised before this start, by this node or another): the cooldown of
   * its detector and subject runs from `at` (ms) — for an embargoed attempt's high alert, the
   * window period it was raised in — as if these detectors had raised it.
   */
  cooled(detector: string, subject: Draft["subject"], at: number, severity: AlertSeverity): void {
    if (detector === "embargoed-attempt") {
      if (severity !== "high" || subject.kind !== "principal") return;
      const c = this.config.embargoed_attempts;
      const who = this.alias(subject.id);
      let recent = this.embargoed.get(who);
      if (recent === undefined) this.embargoed.set(who, (recent = new Recent(c.repeated + 1)));
      recent.highIn = Math.max(recent.highIn, Math.floor(at / c.window_ms));
      return;
    }
    if (!COOLED.has(detector)) return;
    const key = this.coolingKey(detector, subject, this.alias);
    this.cooling.set(key, Math.max(this.cooling.get(key) ?? -Infinity, at));
  }

  /**
   * The alerts the replay found due, taken once (see due): embargo "medium" alerts and spikes. Each
   * is raised for one sighting only (the first attempt, the count reaching its threshold), so one
   * lost between the decision's entry and the store (a crash) would never be raised by a later
   * sighting: the warm-up raises those the store does not hold.
   */
  untold(): Draft[] {
    const drafts = [...this.due.values()];
    this.due.clear();
    this.dueCooling.clear();
    return drafts;
  }

  /**
   * How far back a warm-up replays (ms): the look-back, and twice an embargo window, so that an
   * attempt within the last window is known to be the first in its own window or not (see untold).
   */
  static replayBack(c: DetectorConfig): number {
    return Math.max(Detectors.lookBack(c), 2 * c.embargoed_attempts.window_ms);
  }

  /** How far back a stored alert can still hold a cooldown (ms): see cooled. */
  static coolingBack(c: DetectorConfig): number {
    return Math.max(c.cooldown_ms, c.embargoed_attempts.window_ms);
  }

  /** The longest any state is kept (ms): what a warm-up replays at most (the sweep's horizon). */
  static lookBack(c: DetectorConfig): number {
    return Math.max(c.cooldown_ms, c.key_sharing.window_ms, c.embargoed_attempts.window_ms, 24 * 3_600_000);
  }

  /** The key a principal's state is held under: the log's name for it, which a warm-up's sighting already is. */
  private held(principal: string): string {
    return this.fromLog ? principal : this.alias(principal);
  }

  /**
   * The key a credential's use is held under: a federated principal's (`principal:<id>`) under the
   * log's name for the principal, so that a warm-up from the log and live sightings add up.
   */
  private heldCredential(credential: string): string {
    return credential.startsWith(FEDERATED)
      ? FEDERATED + this.held(credential.slice(FEDERATED.length))
      : credential;
  }

  /** The windows of `windowMs` the detectors watched whole (see Watched). */
  private watched(windowMs: number): Watched {
    const r = this.replayed;
    return {
      // The replay's first window counts if it reaches back to its start; its last is cut short.
      log: r === null ? 0 : Math.ceil(r.from / windowMs),
      logEnd: r === null ? 0 : Math.floor(r.to / windowMs),
      // Live: from the first window that began after watching did (none yet while warming).
      live: this.started === null ? Infinity : Math.ceil(this.started / windowMs),
    };
  }

  /** A detector's cooldown key; a principal's is held under the log's name for it (see alias). */
  private coolingKey(detector: string, subject: Draft["subject"], name: (p: string) => string): string {
    return `${detector}:${subject.kind}:${subject.kind === "principal" ? name(subject.id) : subject.id}`;
  }

  /**
   * Raises unless the same detector raised for the same subject within the cooldown; the draft is
   * built only then. Its dedupe key names the cooldown period (cooldown_ms from the epoch): two
   * raises of one node are a cooldown apart, so in different periods, while a node restarted (or
   * another node) seeing the same condition in the same period raises the alert already stored.
   * @param at when the condition was met (ms): the sighting that completed it
   */
  private emit(
    detector: DetectorName,
    subject: Draft["subject"],
    at: number,
    build: () => Pick<Draft, "severity" | "summary" | "auditIndexes" | "details">,
  ): void {
    // Warming: nothing raised, so no cooldown either (the stored alerts set those: see cooled). A
    // spike is noted due, under cooldowns of its own, for the warm-up to raise if the store lacks it
    // (see untold); the spike counters judge only whole windows, so only those replayed whole.
    if (this.warming && !SPIKES.has(detector)) return;
    const key = `${detector}:${subject.kind}:${subject.id}`;
    // A principal's cooldown is held under the log's name for it, as the stored alerts set it.
    const cool = this.coolingKey(detector, subject, (p) => this.held(p));
    const cooling = this.warming ? this.dueCooling : this.cooling;
    const last = cooling.get(cool);
    if (last !== undefined && at - last < this.config.cooldown_ms) return;
    cooling.set(cool, at);
    const period = Math.floor(at / this.config.cooldown_ms);
    const draft = Object.assign(build(), { detector, subject, dedupeKey: `${key}:${period}`, at });
    if (this.warming) this.due.set(draft.dedupeKey, draft);
    else this.raise(draft);
  }

  /**
   * Judges the sighting against its neighbours in time among the principal's places held (see
   * PLACES). One that arrives late sits between them, or before them all: taken as the latest, it
   * moved the principal's last place back, and against a later place its negative gap counted as
   * 1 s, raising a journey never made. Any two sightings of one principal are a journey it made
   * (stops between only make it faster), so no neighbour raises a false alert; the nearest ones
   * raise the most. The alert is dated by the journey's end, as a node that saw the two in order
   * dates it (one dedupe key whatever the order).
   */
  private travel(s: Sighting): void {
    if (s.country === null) return;
    const who = this.held(s.principal);
    const seen: Seen = { country: s.country, t: s.t, audit: s.audit };
    const places = this.lastSeen.get(who);
    if (places === undefined) {
      this.lastSeen.set(who, [seen]);
      return;
    }
    // After every place held at or before it.
    let i = places.length;
    while (i > 0 && (places[i - 1]?.t ?? -Infinity) > s.t) i--;
    const before = places[i - 1];
    const after = places[i];
    // Older than every place held, with no room: it would be the first to go.
    if (i > 0 || places.length < PLACES) {
      places.splice(i, 0, seen);
      if (places.length > PLACES) places.shift();
    }
    const earlier = before === undefined ? null : this.journey(before, seen);
    const later = after === undefined ? null : this.journey(seen, after);
    const j = earlier === null || (later !== null && later.speed > earlier.speed) ? later : earlier;
    if (j === null) return;
    const { from, to, km, speed } = j;
    const minutes = Math.round((to.t - from.t) / 60_000);
    this.emit("impossible-travel", { kind: "principal", id: s.principal }, to.t, () => ({
      severity: "high",
      summary: `${s.principal} was seen in ${from.country} and ${minutes} min later in ${to.country}, at least ${Math.round(km)} km apart (${Math.round(speed)} km/h)`,
      auditIndexes: [from.audit, to.audit].filter((a): a is string => a !== null),
      details: {
        from: from.country,
        to: to.country,
        km: Math.round(km),
        minutes,
        speed_kmh: Math.round(speed),
        credential: s.credential,
      },
    }));
  }

  /** The journey from `from` to `to` (no earlier), when too fast to travel; else null. */
  private journey(from: Seen, to: Seen): Journey | null {
    if (from.country === to.country) return null;
    const least = minimumDistanceKm(from.country, to.country);
    if (least === null) return null; // a country the data set does not place
    const km = least - this.config.impossible_travel.tolerance_km;
    if (km <= 0) return null;
    // Two places at once (the same millisecond) count as a second apart.
    const hours = Math.max(to.t - from.t, 1_000) / 3_600_000;
    const speed = km / hours;
    return speed > this.config.impossible_travel.max_speed_kmh ? { from, to, km, speed } : null;
  }

  /**
   * More than max_countries (max_networks) within one window holding the sighting. In order, that is
   * the window back from it; one that arrives late (a long stream's, stamped at its start; another
   * node's) is judged in every window holding it, also one that ended before the key's newest
   * sighting: judged only back from the newest, US 10:00, DE 10:30, DE 11:40 and a late FR 10:20
   * raised nothing. Two windows back from the newest are held, so a late sighting older than one
   * window is judged with what is held (it may miss, never invent), and one older than two is not
   * counted. The alert is dated by the newest sighting in the window found, as an in-order feed
   * dates it; measured back from the late one's own time, countries the newer sightings had already
   * left behind counted again (US 10:00, DE 10:30, a late US 09:00, FR 11:05 raised "3 countries
   * within 1 h", and under `suspend` revoked the key).
   */
  private sharing(s: Sighting): void {
    const c = this.config.key_sharing;
    const key = this.heldCredential(s.credential);
    let use = this.keyUse.get(key);
    if (use === undefined) {
      use = { countries: new Map(), networks: new Map(), newest: s.t };
      this.keyUse.set(key, use);
    }
    const late = s.t < use.newest;
    use.newest = Math.max(use.newest, s.t);
    const since = use.newest - 2 * c.window_ms;
    if (s.t < since) return;
    const seen: Use = { t: s.t, audit: s.audit };
    const judge = (m: Map<string, Use[]>, k: string | null, max: number, keep: number): Counted[] | null => {
      // Without one, a late sighting adds nothing to any window; an in-order one moves the window.
      if (k === null && late) return null;
      if (k === null) {
        expire(m, since, keep);
        return countBack(m, s.t, c.window_ms) > max ? inWindowBack(m, s.t, c.window_ms) : null;
      }
      if (late) {
        const picks = busiest(m, k, seen, c.window_ms);
        note(m, k, seen, c.window_ms, since, true);
        expire(m, since, keep);
        return picks.length > max ? picks : null;
      }
      note(m, k, seen, c.window_ms, since, false);
      expire(m, since, keep);
      return countBack(m, s.t, c.window_ms) > max ? inWindowBack(m, s.t, c.window_ms) : null;
    };
    const countries = judge(use.countries, s.country, c.max_countries, Infinity);
    const networks =
      countries === null ? judge(use.networks, s.network, c.max_networks, c.max_networks + 1) : null;
    if (countries !== null && s.network !== null) {
      note(use.networks, s.network, seen, c.window_ms, since, late);
    }
    expire(use.countries, since, Infinity);
    expire(use.networks, since, c.max_networks + 1);
    const picks = countries ?? networks;
    if (picks === null) return;
    // In order, the sighting itself (the newest); late, the newest in the window found.
    const at = late ? Math.max(...picks.map(([, u]) => u.t)) : s.t;
    this.emit("key-sharing", { kind: "key", id: s.credential }, at, () => {
      const hours = Math.round((c.window_ms / 3_600_000) * 100) / 100;
      const names = picks.map(([k]) => k);
      const what =
        countries !== null
          ? `${names.length} countries (${names.join(", ")})`
          : `at least ${picks.length} networks`; // no more are held than the limit needs
      return {
        severity: "high",
        summary: `credential ${s.credential} of ${s.principal} was used from ${what} within ${hours} h`,
        auditIndexes: picks
          .map(([, u]) => u.audit)
          .filter((a): a is string => a !== null)
          .slice(-MAX_EVIDENCE),
        details: {
          principal: s.principal,
          countries:
            countries !== null ? names : inWindowBack(use.countries, at, c.window_ms).map(([k]) => k),
          networks: networks !== null ? picks.length : countBack(use.networks, at, c.window_ms),
          window_ms: c.window_ms,
        },
      };
    });
  }

  /**
   * An attempt alone within the window on either side: medium. `repeated` or more within one window:
   * high, once per period of window_ms from the epoch while they go on (a steady prober is told
   * about once a window, a slow one no more often). Periods make the dedupe keys the same on every
   * node and after a restart. The attempts are held in time order: one that arrives late (a long
   * stream's, dated at its start; another node's) is counted with those within a window of it
   * only, and the high alert is dated by the window's newest attempt, as an in-order feed dates it.
   * Counted from its own time onwards, newer attempts included, 10:00, 11:30 and a late 09:58
   * raised "refused 3 times within 1 h" over 92 minutes.
   */
  private embargo(s: Sighting): void {
    const c = this.config.embargoed_attempts;
    const who = this.held(s.principal);
    let recent = this.embargoed.get(who);
    if (recent === undefined) this.embargoed.set(who, (recent = new Recent(c.repeated + 1)));
    const attempt: Attempt = {
      t: s.t,
      audit: s.audit,
      reason: s.reason,
      country: s.country,
      model: s.model,
      credential: s.credential,
    };
    const i = recent.add(attempt);
    // Older than every attempt held with no room: not kept (the ring keeps the newest), but judged
    // with those held within a window after it, which it may bring to `repeated`. Whether it was
    // alone in its window is not known: `repeated` + 1 came after it, those before were let go.
    const high = i < 0 ? this.completedBy(recent, attempt) : this.repeatedWithin(recent, i);
    if (i < 0 && high === null) return;
    if (high === null) {
      // Alone: no attempt within the window before it (one let go counts too), nor after it.
      const before = recent.at(i - 1)?.t ?? recent.forgotten;
      const after = recent.at(i + 1)?.t ?? Infinity;
      if (before >= s.t - c.window_ms || after <= s.t + c.window_ms) return;
    }
    const at = high?.at ?? s.t;
    const attempts = high?.attempts ?? 1;
    // A high alert names the window's newest attempt (what dates it), whatever order they arrived in.
    const named = high?.evidence.at(-1) ?? attempt;
    const level = high === null ? "medium" : "high";
    const period = Math.floor(at / c.window_ms);
    // Warming: whether it was raised (and stored) in this period is the store's to say (see cooled).
    if (high !== null && !this.warming) recent.highIn = period;
    const audits = (high?.evidence ?? [{ t: s.t, audit: s.audit }])
      .map((a) => a.audit)
      .filter((a): a is string => a !== null);
    const shown = attempts > c.repeated ? `more than ${c.repeated}` : String(attempts);
    const draft: Draft = {
      detector: "embargoed-attempt",
      severity: level,
      subject: { kind: "principal", id: s.principal },
      summary:
        high !== null
          ? `${s.principal} was refused ${shown} times for an embargo (${named.reason}) within ${Math.round(c.window_ms / 3_600_000)} h`
          : `${s.principal} was refused for an embargo (${named.reason}${named.country === null ? "" : `, from ${named.country}`})`,
      auditIndexes: audits,
      details: {
        reason: named.reason,
        country: named.country,
        attempts,
        model: named.model,
        ...usedCredential(named),
      },
      dedupeKey: `embargoed-attempt:principal:${s.principal}:${period}:${level}`,
      at,
    };
    if (!this.warming) this.raise(draft);
    // Replayed: a first attempt is known to be one only when the replay reached a window back from it
    // (an attempt before the replay's reach would have made it a second). A high alert lost is raised
    // by the next attempt in its period (see cooled).
    else if (high === null && (this.replayedAll || s.t - c.window_ms >= (this.replayed?.from ?? Infinity))) {
      this.due.set(draft.dedupeKey, draft);
    }
  }

  /**
   * The first window holding the attempt just added (the i-th held) and `repeated` or more attempts,
   * in a period with no high alert yet; null when none. Each window considered ends at an attempt
   * held no later than a window after it (in order: at the attempt itself), and is dated by it.
   * The attempts held are the latest `repeated` + 1, which tell a count up to `repeated` exactly
   * (more is "more"), which is all the levels need.
   */
  private repeatedWithin(
    recent: Recent,
    i: number,
  ): { at: number; attempts: number; evidence: Attempt[] } | null {
    const c = this.config.embargoed_attempts;
    const added = recent.at(i)?.t ?? 0;
    let first = i;
    for (let j = i; j < recent.size; j++) {
      const end = recent.at(j)?.t ?? Infinity;
      if (end > added + c.window_ms) break;
      while (first > 0 && (recent.at(first - 1)?.t ?? -Infinity) >= end - c.window_ms) first--;
      while ((recent.at(first)?.t ?? Infinity) < end - c.window_ms) first++;
      const attempts = j - first + 1;
      if (attempts < c.repeated || Math.floor(end / c.window_ms) <= recent.highIn) continue;
      const evidence: Attempt[] = [];
      for (let k = Math.max(first, j - MAX_EVIDENCE + 1); k <= j; k++) {
        const a = recent.at(k);
        if (a !== undefined) evidence.push(a);
      }
      return { at: end, attempts, evidence };
    }
    return null;
  }

  /**
   * The first window from `late` (older than every attempt held, not kept) to an attempt held within
   * a window of it holding `repeated` attempts, it included, in a period with no high alert yet; null
   * when none. Dropped unjudged, 10:00, 10:20 and a late 09:50 raised nothing once the ring was full.
   */
  private completedBy(
    recent: Recent,
    late: Attempt,
  ): { at: number; attempts: number; evidence: Attempt[] } | null {
    const c = this.config.embargoed_attempts;
    for (let j = 0; j < recent.size; j++) {
      const end = recent.at(j);
      if (end === undefined || end.t > late.t + c.window_ms) break;
      const attempts = j + 2;
      if (attempts < c.repeated || Math.floor(end.t / c.window_ms) <= recent.highIn) continue;
      const evidence: Attempt[] = [late];
      for (let k = 0; k <= j; k++) evidence.push(recent.at(k) ?? late);
      return { at: end.t, attempts, evidence: evidence.slice(-MAX_EVIDENCE) };
    }
    return null;
  }

  private deniedParty(s: Sighting): void {
    this.emit("denied-party", { kind: "principal", id: s.principal }, s.t, () => ({
      severity: "critical",
      summary: `${s.principal}, a confirmed denied-party screening match, tried ${s.model}`,
      auditIndexes: s.audit === null ? [] : [s.audit],
      details: { organization: s.organization, country: s.country, model: s.model, ...usedCredential(s) },
    }));
  }

  private denialSpike(s: Sighting): void {
    const c = this.config.denial_spike;
    const subjects: [SubjectKind, string | null][] = [
      ["organization", s.organization],
      // An organization partner is its organization: one denial, one count, one alert.
      ["partner", s.partner === s.organization ? null : s.partner],
      ["model", this.isModel(s.model) ? s.model : "other"],
    ];
    const watched = this.watched(c.window_ms);
    for (const [kind, id] of subjects) {
      if (id === null) continue;
      const key = `${kind}:${id}`;
      let counter = this.denials.get(key);
      if (counter === undefined) this.denials.set(key, (counter = new SpikeCounter()));
      if (!counter.add(s.t, c.window_ms, watched, c.min_denials, c.factor, s.audit)) continue;
      const st = counter.state();
      this.emit("denial-spike", { kind, id }, s.t, () => ({
        severity: "medium",
        summary: `${st.count} denials for ${kind} ${id} within ${Math.round(c.window_ms / 60_000)} min (baseline ${st.baseline} per window)`,
        auditIndexes: st.evidence,
        details: spikeDetails(st, c.window_ms),
      }));
    }
  }

  private volumeSpike(s: Sighting): void {
    const c = this.config.volume_spike;
    const who = this.held(s.principal);
    let counter = this.volume.get(who);
    if (counter === undefined) this.volume.set(who, (counter = new SpikeCounter()));
    if (!counter.add(s.t, c.window_ms, this.watched(c.window_ms), c.min_requests, c.factor, s.audit)) return;
    const st = counter.state();
    this.emit("volume-spike", { kind: "principal", id: s.principal }, s.t, () => ({
      severity: "medium",
      summary: `${s.principal} made ${st.count} requests within ${Math.round(c.window_ms / 60_000)} min (its baseline: ${st.baseline} per window)`,
      auditIndexes: st.evidence,
      details: Object.assign(spikeDetails(st, c.window_ms), usedCredential(s)),
    }));
  }

  /** Entries held per kind of state (tests: memory stays bounded). */
  retained(): Record<"lastSeen" | "keyUse" | "embargoed" | "denials" | "volume" | "cooling", number> {
    let embargoed = 0;
    for (const r of this.embargoed.values()) embargoed += r.size;
    let keyUse = 0;
    for (const u of this.keyUse.values()) {
      for (const list of [...u.countries.values(), ...u.networks.values()]) keyUse += list.length;
    }
    let lastSeen = 0;
    for (const places of this.lastSeen.values()) lastSeen += places.length;
    return {
      lastSeen,
      keyUse,
      embargoed,
      denials: this.denials.size,
      volume: this.volume.size,
      cooling: this.cooling.size,
    };
  }

  /** Forgets subjects idle for longer than every window (memory stays bounded by active ones). */
  private sweep(now: number): void {
    const horizon = now - Detectors.lookBack(this.config);
    for (const [k, v] of this.lastSeen) if ((v.at(-1)?.t ?? 0) < horizon) this.lastSeen.delete(k);
    for (const [k, v] of this.cooling) if (v < horizon) this.cooling.delete(k);
    for (const [k, v] of this.keyUse) if (v.newest < horizon) this.keyUse.delete(k);
    for (const [k, v] of this.embargoed) if ((v.newest(0)?.t ?? 0) < horizon) this.embargoed.delete(k);
    for (const [k, v] of this.denials) if (v.last < horizon) this.denials.delete(k);
    for (const [k, v] of this.volume) if (v.last < horizon) this.volume.delete(k);
  }
}

function spikeDetails(st: ReturnType<SpikeCounter["state"]>, windowMs: number): Record<string, unknown> {
  return {
    count: st.count,
    baseline: st.baseline,
    window_ms: windowMs,
    ...(st.notifyOnly === undefined ? {} : { [NOTIFY_ONLY]: st.notifyOnly }),
  };
}
