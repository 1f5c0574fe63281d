/**
 * The served footprint: what actually happened, from the audit log. For a period, decisions counted
 * by location × relevant nationality × organization × model asked / model served × action × outcome
 * × reason, the totals per location (for the map), and the use of each license and partner grant.
 * A model lookup (GET /v1/models/{id}, `"lookup":true` in its entry) is a decision answered to its
 * caller, not a request served: it is counted apart (`lookups` per row and in all), never in the
 * rows' or locations' `requests` nor in a grant's use.
 * Nationalities come from the store (the log does not hold them): the principal's current facts, as
 * held at the decision's time (a nationality acquired later is not counted, as decide() does not).
 */
import { ClearanceError } from "../errors/index.js";
import type { LogSource } from "../audit/source.js";
import type { CompiledScheme } from "../scheme/compile.js";
import { readEntries, type DecisionEntry } from "../audit/read.js";
import { checkedDecision } from "./log.js";
import { periodBounds, type Period } from "./period.js";
import { NationalityLabels, type PrincipalIndex } from "./principals.js";

export interface ServedRow {
  readonly location: string;
  readonly nationality: string;
  readonly organization: string;
  readonly model: string;
  readonly served_model: string;
  readonly action: string;
  readonly decision: string;
  readonly reason: string;
  /** Requests decided (proxied requests; model lookups are not requests: see `lookups`). */
  readonly requests: number;
  /** Model lookups decided (GET /v1/models/{id}): not requests served, nor use of a grant. */
  readonly lookups: number;
}

/** Requests per location (model lookups are not counted: see the rows' `lookups`). */
export interface LocationTotal {
  readonly location: string;
  readonly requests: number;
  readonly allow: number;
  readonly fallback: number;
  readonly deny: number;
}

export interface GrantUse {
  /** As in the log: "license:<id>", "partner-country:<id>#<n>", "partner-organization:<id>#<n>". */
  readonly grant: string;
  /**
   * Requests served on it in the period (allowed, or served a fallback that rests on it); a model
   * lookup whose answer rested on it is not a use of it and is not counted.
   */
  readonly requests: number;
  /**
   * Tokens metered on it over the UTC days the period touches (`tokens_days`: the store meters per
   * UTC day); licenses only, partner grants are not metered per grant.
   */
  readonly tokens: number | null;
  readonly quota_tokens: number | null;
  readonly quota_period: string | null;
  /** Tokens used in the quota period in force now, and what is left. */
  readonly quota_used: number | null;
  readonly quota_remaining: number | null;
}

export interface ServedFootprint {
  readonly period: Period;
  /** Log entries read, and how many of them are decisions inside the period … */
  readonly entries_read: number;
  readonly decisions: number;
  /** … of which model lookups (GET /v1/models/{id}), counted apart from the requests. */
  readonly lookups: number;
  /**
   * The entries read and not counted, and why: decisions before the period, decisions at or after
   * its end, and entries that are not decisions (administrative changes). With `decisions` they
   * add up to `entries_read`.
   */
  readonly not_counted: {
    readonly before_period: number;
    readonly after_period: number;
    readonly not_decisions: number;
  };
  /** Principals the store does not know (or whose pseudonym it cannot resolve). */
  readonly unknown_principals: number;
  /** Digests of the scheme versions the period's decisions were made under. */
  readonly schemes: readonly string[];
  readonly rows: readonly ServedRow[];
  readonly locations: readonly LocationTotal[];
  readonly grants: readonly GrantUse[];
  /**
   * The UTC days (YYYY-MM-DD, both included) the grants' `tokens` count: every day the period
   * touches, whole — usage is metered per UTC day, so a period that starts or ends inside a day
   * counts tokens from outside it.
   */
  readonly tokens_days: { readonly from: string; readonly to: string };
}

/** Usage the store metered, for the grants' columns. */
export interface UsageFacts {
  /** Tokens per license over the UTC days the period touches … */
  readonly licenseTokens: ReadonlyMap<string, number>;
  /** … which are these (both included). */
  readonly days: { readonly from: string; readonly to: string };
  /** Tokens per license in its quota period in force now. */
  readonly quotaUsed: ReadonlyMap<string, number>;
}

const SEP = "\u0000";

/** Counts decision entries; `add` is the tight loop (one string key, one map update). */
export class ServedCounter {
  private readonly rows = new Map<string, number>();
  /** Model lookups, by the same key as the rows. */
  private readonly lookupRows = new Map<string, number>();
  private readonly grants = new Map<string, number>();
  private readonly schemes = new Set<string>();
  /** The principals' nationalities at each decision's time, as decide() saw them then. */
  private readonly labels: NationalityLabels;
  /** The period's bounds as entry times compare with them. */
  private readonly from: string;
  private readonly to: string;
  entriesRead = 0;
  decisions = 0;
  lookups = 0;
  /** The last decision's time before the period and the first one's after it (for an empty period). */
  lastBefore: string | null = null;
  firstAfter: string | null = null;
  private beforePeriod = 0;
  private afterPeriod = 0;

  constructor(
    private readonly scheme: CompiledScheme,
    principals: PrincipalIndex,
    private readonly period: Period,
    /** The log as errors name it (its entries are read from the first, so an entry's index is entriesRead). */
    private readonly log = "the audit log",
  ) {
    this.labels = new NationalityLabels(scheme, principals);
    ({ from: this.from, to: this.to } = periodBounds(period));
  }

  addText(text: string): void {
    const e = checkedDecision(text, this.entriesRead++, this.log);
    if (e !== null) this.add(e);
  }

  add(e: DecisionEntry): void {
    if (e.time < this.from) {
      this.beforePeriod++;
      if (this.lastBefore === null || e.time > this.lastBefore) this.lastBefore = e.time;
      return;
    }
    if (e.time >= this.to) {
      this.afterPeriod++;
      if (this.firstAfter === null || e.time < this.firstAfter) this.firstAfter = e.time;
      return;
    }
    this.decisions++;
    this.schemes.add(e.scheme);
    const key =
      (e.location ?? "unknown") +
      SEP +
      this.labels.at(e.principal, e.time) +
      SEP +
      (e.organization ?? "none") +
      SEP +
      e.model +
      SEP +
      (e.served_model ?? "none") +
      SEP +
      e.action +
      SEP +
      e.decision +
      SEP +
      e.reason;
    if (e.lookup === true) {
      // Answered to a caller asking, not served: neither a request nor a use of its grant.
      this.lookups++;
      this.lookupRows.set(key, (this.lookupRows.get(key) ?? 0) + 1);
      return;
    }
    this.rows.set(key, (this.rows.get(key) ?? 0) + 1);
    if (e.grant !== null) this.grants.set(e.grant, (this.grants.get(e.grant) ?? 0) + 1);
  }

  result(usage: UsageFacts): ServedFootprint {
    const rows: ServedRow[] = [];
    const locations = new Map<string, { requests: number; allow: number; fallback: number; deny: number }>();
    const keys = new Set(this.rows.keys());
    for (const key of this.lookupRows.keys()) keys.add(key);
    for (const key of keys) {
      const requests = this.rows.get(key) ?? 0;
      const lookups = this.lookupRows.get(key) ?? 0;
      const [location, nationality, organization, model, served_model, action, decision, reason] = key.split(
        SEP,
      ) as [string, string, string, string, string, string, string, string];
      rows.push({
        location,
        nationality,
        organization,
        model,
        served_model,
        action,
        decision,
        reason,
        requests,
        lookups,
      });
      if (requests === 0) continue;
      const t = locations.get(location) ?? { requests: 0, allow: 0, fallback: 0, deny: 0 };
      t.requests += requests;
      t[decision as "allow" | "fallback" | "deny"] += requests;
      locations.set(location, t);
    }
    rows.sort((a, b) => b.requests - a.requests || b.lookups - a.lookups || compareRows(a, b));
    return {
      period: this.period,
      entries_read: this.entriesRead,
      decisions: this.decisions,
      lookups: this.lookups,
      not_counted: {
        before_period: this.beforePeriod,
        after_period: this.afterPeriod,
        not_decisions: this.entriesRead - this.decisions - this.beforePeriod - this.afterPeriod,
      },
      unknown_principals: this.labels.unknown.size,
      schemes: [...this.schemes].sort(),
      rows,
      locations: [...locations]
        .map(([location, t]) => ({ location, ...t }))
        .sort((a, b) => b.requests - a.requests || (a.location < b.location ? -1 : 1)),
      grants: this.grantUse(usage),
      tokens_days: usage.days,
    };
  }

  private grantUse(usage: UsageFacts): GrantUse[] {
    const ids = new Set(this.grants.keys());
    // Licenses of the policy in force appear even when unused: an unused license is a finding too.
    for (const id of this.scheme.licenses.keys()) ids.add(`license:${id}`);
    return [...ids].sort().map((grant) => {
      const requests = this.grants.get(grant) ?? 0;
      if (!grant.startsWith("license:")) {
        return {
          grant,
          requests,
          tokens: null,
          quota_tokens: null,
          quota_period: null,
          quota_used: null,
          quota_remaining: null,
        };
      }
      const id = grant.slice("license:".length);
      const l = this.scheme.licenses.get(id);
      const quota = l?.quotaTokens ?? null;
      const used = usage.quotaUsed.get(id) ?? 0;
      return {
        grant,
        requests,
        tokens: usage.licenseTokens.get(id) ?? 0,
        quota_tokens: quota,
        quota_period: l?.quotaPeriod ?? null,
        quota_used: l === undefined ? null : used,
        quota_remaining: quota === null ? null : Math.max(0, quota - used),
      };
    });
  }
}

function compareRows(a: ServedRow, b: ServedRow): number {
  const ka = `${a.location}|${a.nationality}|${a.organization}|${a.model}|${a.action}|${a.decision}|${a.reason}`;
  const kb = `${b.location}|${b.nationality}|${b.organization}|${b.model}|${b.action}|${b.decision}|${b.reason}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export interface ServedOptions {
  readonly source: LogSource;
  readonly scheme: CompiledScheme;
  readonly principals: PrincipalIndex;
  readonly period: Period;
  readonly usage: UsageFacts;
  readonly onProgress?: (done: number, total: number) => void;
}

/** Reads the whole log; an empty period is an error, never an empty report that looks like a finding. */
export async function servedFootprint(o: ServedOptions): Promise<ServedFootprint> {
  const counter = new ServedCounter(
    o.scheme,
    o.principals,
    o.period,
    `the audit log at ${o.source.location}`,
  );
  const read = o.onProgress === undefined ? {} : { onProgress: o.onProgress };
  for await (const batch of readEntries(o.source, read)) {
    for (const text of batch.entries) counter.addText(text);
  }
  if (counter.decisions === 0) throw emptyPeriod(o, counter);
  return counter.result(o.usage);
}

/**
 * No decision in the period: the problem names the bound to move — `from` when every decision is
 * before the period, `to` when every one is after it — and says where the log's decisions are.
 */
function emptyPeriod(o: ServedOptions, c: ServedCounter): ClearanceError {
  const { lastBefore: before, firstAfter: after } = c;
  const where =
    before === null && after === null
      ? `none of its ${c.entriesRead} entries is a decision`
      : before !== null && after !== null
        ? `${c.entriesRead} entries read; the nearest decisions are at ${before} and ${after}`
        : before !== null
          ? `${c.entriesRead} entries read; its last decision is at ${before}`
          : `${c.entriesRead} entries read; its first decision is at ${after}`;
  const message =
    `the audit log at ${o.source.location} has no decisions from ${o.period.from} to ${o.period.to} ` +
    `(${where})`;
  const path =
    before === null && after === null ? [] : after === null ? ["from"] : before === null ? ["to"] : [];
  return new ClearanceError("invalid", "empty_period", message, {
    problems: [{ code: "empty_period", path, message }],
  });
}
