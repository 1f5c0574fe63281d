/**
 * Warming the detectors at start from the tail of the audit log: the decisions of the detectors'
 * longest look-back and two embargo windows (Detectors.replayBack; at most `maxEntries` of them)
 * are replayed as sightings, so that a restart neither forgets a burst in progress (embargoed
 * attempts, spike windows and their baselines, journeys) nor raises again what was raised before it
 * (the cooldowns are set from the alerts the store holds, after the replay: see AlertService).
 * Nothing is raised for the replayed sightings themselves (Detectors.warm); an embargo's
 * first-attempt alert, or a spike, the store lacks is raised after (Detectors.untold). The entries are read as
 * reports read them: the published entry bundles up to the published checkpoint
 * (src/audit/read.ts).
 *
 * What the log does not record cannot be rebuilt: API keys and client networks (key sharing is
 * warmed from the shared sighting stream where there is one; a federated principal's credential is
 * the person, whom the log names, so its countries are replayed), and the sightings' partner is
 * worked out from the entry's grant and the scheme in force now.
 *
 * A damaged entry (not JSON, or a decision garbling what a sighting is made of: see checkedDecision)
 * is skipped, and the skipped entries are told once, after the replay (onSkipped): the warm-up is
 * best effort, and the log cannot be mended, so stopping there would leave every later entry
 * unwatched at every start until the entry leaves the look-back. Skipped, one sighting is missing.
 *
 * An entry is dated by the clock of the node that decided its request, which need not be this one
 * (a log on PostgreSQL the fleet shares): one dated more than a minute ahead of this node's clock is
 * taken as of the warm-up's now, counted and told once after the replay (onAhead), by the rule the
 * shared sighting stream follows (clock.ts). Replayed as dated, an entry a year ahead set its
 * principal's last place, attempts and spike window a year ahead, dated the embargo alert the
 * warm-up raises for it a year ahead, and, falling on the 10,000th, ran the sweep a year ahead,
 * which forgot everything replayed before it.
 */
import type { LogSource } from "../audit/source.js";
import { TILE_WIDTH } from "../audit/tiles.js";
import {
  checkedDecision,
  isEntryTime,
  LogUnreadableError,
  publishedSize,
  readEntries,
  type DecisionEntry,
} from "../audit/read.js";
import type { CompiledScheme } from "../scheme/index.js";
import { AheadTimes, boundedTime } from "./clock.js";
import { FEDERATED, sightingPartner, type Detectors, type Sighting } from "./detectors.js";

/**
 * Entries replayed at most by default: about 1.7 s per 100,000 on a busy 2-core machine (see the
 * README), after the gateway has started to serve (its sightings wait meanwhile).
 */
export const WARM_ENTRIES = 200_000;

export interface WarmUpOptions {
  readonly source: LogSource;
  readonly detectors: Detectors;
  /** How far back to replay (ms; Detectors.replayBack): entries older than `now` less this are not. */
  readonly lookBackMs: number;
  readonly maxEntries: number;
  readonly scheme: CompiledScheme;
  readonly now: number;
  /** Asked before each bundle: true stops the replay there (the service is closing). */
  readonly stopped?: () => boolean;
  /** Told once, after the replay, of the damaged entries it skipped: how many, the first named. */
  readonly onSkipped?: (err: LogUnreadableError) => void;
  /** Told once, after the replay, of the entries dated far ahead and taken as of `now`: how many, the first named. */
  readonly onAhead?: (err: Error) => void;
}

export interface WarmUp {
  /** Decision entries replayed. */
  readonly replayed: number;
  /** Entries read (admin entries and those before the look-back included). */
  readonly read: number;
  /** Damaged entries read and skipped (see the file's comment). */
  readonly skipped: number;
  /** Decision entries dated more than a minute ahead of `now`, replayed as of `now` (see the file's comment). */
  readonly redated: number;
  /** The first entry index read, and the end (the published size at start). */
  readonly from: bigint;
  readonly to: bigint;
  /**
   * Every decision from `coveredFrom` to `coveredTo` (ms; the latest replayed) was replayed: the
   * spike windows between are judged as watched, none after `coveredTo` (see Detectors.warm).
   */
  readonly coveredFrom: number | null;
  readonly coveredTo: number | null;
  /** Request ids of the last entries replayed: a shared feed's copy of them is not counted twice. */
  readonly lastRequestIds: ReadonlySet<string>;
}

/** Request ids kept to recognise a shared feed's copy of what was replayed. */
const LAST_IDS = 4_096;
const WIDTH = BigInt(TILE_WIDTH);

/** A decision entry as the sighting the gateway made of it (principal as the log names it). */
function sightingOf(
  e: DecisionEntry & { readonly identity?: unknown },
  index: bigint,
  t: number,
  scheme: CompiledScheme,
): Sighting {
  return {
    t,
    requestId: e.request_id,
    audit: String(index),
    principal: e.principal,
    // An API key is not in the log; a federated principal's credential is the principal itself.
    credential: e.identity === undefined ? "" : FEDERATED + e.principal,
    organization: e.organization,
    partner: sightingPartner(grantPartnerOf(e.grant), e.organization, scheme),
    model: e.model,
    decision: e.decision,
    reason: e.reason,
    country: e.location,
    network: null, // not in the log
  };
}

/** An entry's time (ms); NaN for a damaged entry (not JSON, or its time not as the gateway writes it). */
function timeOf(text: string): number {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return Number.NaN;
  }
  const time = (value as { time?: unknown } | null)?.time;
  return isEntryTime(time) ? Date.parse(time) : Number.NaN;
}

/** The time of the entry at `index` (ms), read from the log; NaN for a damaged one (read as recent). */
async function firstTimeOf(source: LogSource, index: bigint): Promise<number> {
  for await (const batch of readEntries(source, { from: index, to: index + 1n })) {
    const text = batch.entries[0];
    if (text !== undefined) return timeOf(text);
  }
  return Number.NaN;
}

/**
 * Where the replay starts: the last `maxEntries` entries, less the bundles whose entries are all
 * older than the look-back (found by bisection over the bundles' first entries: entries are
 * appended about in time order). Reads O(log bundles) bundles.
 */
async function startOf(source: LogSource, size: bigint, maxEntries: number, since: number): Promise<bigint> {
  const floor = size > BigInt(maxEntries) ? size - BigInt(maxEntries) : 0n;
  if (!((await firstTimeOf(source, floor)) < since)) return floor;
  // The last bundle at or after `floor` whose first entry is older than `since`.
  let lo = floor / WIDTH; // its first entry (or `floor`) is older
  let hi = (size - 1n) / WIDTH + 1n; // past the end
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if ((await firstTimeOf(source, mid * WIDTH)) < since) lo = mid;
    else hi = mid;
  }
  const start = lo * WIDTH;
  return start > floor ? start : floor;
}

/** Replays the log's tail into the detectors (see the file's comment). */
export async function warmUp(o: WarmUpOptions): Promise<WarmUp> {
  const size = await publishedSize(o.source);
  const since = o.now - o.lookBackMs;
  const lastRequestIds = new Set<string>();
  if (size === 0n || o.maxEntries <= 0) {
    return {
      replayed: 0,
      read: 0,
      skipped: 0,
      redated: 0,
      from: size,
      to: size,
      coveredFrom: null,
      coveredTo: null,
      lastRequestIds,
    };
  }
  const from = await startOf(o.source, size, o.maxEntries, since);
  let replayed = 0;
  let read = 0;
  let skipped = 0;
  let firstSkipped: LogUnreadableError | null = null;
  const ahead = new AheadTimes();
  let coveredFrom: number | null = null;
  let coveredTo: number | null = null;
  const log = `the audit log at ${o.source.location}`;
  try {
    for await (const batch of readEntries(o.source, { from, to: size })) {
      if (o.stopped?.() === true) break;
      let index = batch.first;
      for (const text of batch.entries) {
        const at = index++;
        read++;
        let e: DecisionEntry | null;
        try {
          e = checkedDecision(text, at, log);
        } catch (err) {
          if (!(err instanceof LogUnreadableError)) throw err;
          skipped++;
          firstSkipped ??= err;
          continue;
        }
        // Dated far ahead of this node's clock (its node's clock is wrong): as of now (see clock.ts).
        const t =
          e === null
            ? boundedTime(timeOf(text), o.now)
            : ahead.bound(Date.parse(e.time), o.now, () => `entry ${at} of ${log} (request ${e.request_id})`);
        // The first entry read with a time tells how far back the replay reaches: the look-back's
        // start when an older entry was passed over (everything since is here), else that entry's
        // own time. A damaged time is no bound: taken as one, it switched the spike detectors off.
        if (coveredFrom === null) {
          if (Number.isNaN(t)) continue;
          coveredFrom = t < since ? since : t;
        }
        if (e === null || !(t >= since)) continue;
        // Coverage grows with each sighting replayed, never ahead of it: a replay that stops (the
        // service closing) or fails (an unreadable bundle) leaves what follows unwatched, not empty.
        o.detectors.warm(sightingOf(e, at, t, o.scheme), coveredFrom, from === 0n);
        coveredTo = coveredTo === null ? t : Math.max(coveredTo, t);
        replayed++;
        lastRequestIds.add(e.request_id);
        if (lastRequestIds.size > LAST_IDS) {
          for (const id of lastRequestIds) {
            lastRequestIds.delete(id);
            break;
          }
        }
      }
    }
  } finally {
    // Told also when a later bundle could not be read (that failure is the caller's to tell).
    if (firstSkipped !== null) {
      o.onSkipped?.(
        new LogUnreadableError(
          `the alerts' warm-up skipped ${skipped} damaged ${skipped === 1 ? "entry" : "entries"} ` +
            `(not replayed); ${skipped === 1 ? "it" : "the first"}: ${firstSkipped.message}`,
        ),
      );
    }
    const aheadErr = ahead.report("the alerts' warm-up", ["audit entry", "audit entries"]);
    if (aheadErr !== null) o.onAhead?.(aheadErr);
  }
  return {
    replayed,
    read,
    skipped,
    redated: ahead.count,
    from,
    to: size,
    coveredFrom,
    coveredTo,
    lastRequestIds,
  };
}

/**
 * The partner of a grant as the audit log names it ("partner-country:<id>#<n>",
 * "partner-organization:<id>#<n>"; see grantId); null for a license ("license:<id>") or none.
 */
function grantPartnerOf(grant: string | null): string | null {
  if (grant === null || grant.startsWith("license:")) return null;
  const colon = grant.indexOf(":");
  const hash = grant.lastIndexOf("#");
  return colon >= 0 && hash > colon ? grant.slice(colon + 1, hash) : null;
}
