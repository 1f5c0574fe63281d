/**
 * The overview map's figures, read from the audit log itself, newest entries first, back to the
 * start of the period — or, in a large log, only as far as `limit` entries: a busy gateway logs
 * millions of decisions a day, more than a browser should download. The answer then says how far
 * back it reached.
 *
 * A model lookup (GET /v1/models/{id}, `"lookup":true` in its entry) is a decision answered to its
 * caller, not a request served: it is counted apart (`lookups`), never in `requests`, `denials`,
 * `fallbacks` nor what was served — as the footprint report counts them (src/report/served.ts).
 */
import type { AuditEntry, Checkpoint } from "../audit/log.js";

export interface CountryStats {
  /** Requests decided (model lookups are not requests: see `lookups`). */
  requests: number;
  denials: number;
  fallbacks: number;
  /** Model lookups decided from here (GET /v1/models/{id}): not requests served. */
  lookups: number;
  /** `asked → served · basis` → requests (lookups not included) */
  served: Map<string, number>;
}

export interface Aggregate {
  readonly byCountry: Map<string, CountryStats>;
  /** Requests from an unknown location (lookups not included). */
  readonly unknown: number;
  /** Every decision in the period: the requests and the model lookups. */
  readonly decisions: number;
  /** Of the decisions, model lookups (counted apart from the requests). */
  readonly lookups: number;
  /** Set when `limit` entries were read before the period's start: the oldest time reached. */
  readonly partial: { readonly entries: number; readonly since: string } | null;
}

/** Where the entries come from (the published log, over HTTP, in the console). */
export interface EntrySource {
  latest(): Promise<{ checkpoint: Checkpoint } | null>;
  bundles(size: bigint): { index: bigint; width: number }[];
  read(index: bigint, width: number): Promise<Uint8Array[]>;
  parse(bytes: Uint8Array): AuditEntry;
}

/** Entries the overview reads at most (about 40 MB of bundles). */
export const OVERVIEW_LIMIT = 100_000;

export async function aggregate(
  source: EntrySource,
  sinceMs: number | null,
  progress: (done: number, total: number) => void,
  limit = OVERVIEW_LIMIT,
  signal?: AbortSignal,
): Promise<Aggregate> {
  const latest = await source.latest();
  const size = latest?.checkpoint.size ?? 0n;
  const byCountry = new Map<string, CountryStats>();
  let unknown = 0;
  let decisions = 0;
  let lookups = 0;
  let done = 0;
  let partial: Aggregate["partial"] = null;
  let oldest = "";
  scan: for (const b of source.bundles(size)) {
    // Up to `limit` entries is some 40 MB: a scan the page gave up on (left, another period) stops.
    signal?.throwIfAborted();
    const entries = await source.read(b.index, b.width);
    for (let k = entries.length - 1; k >= 0; k--) {
      const e = source.parse(entries[k] as Uint8Array);
      // Entries are appended in time order: the first one before the period ends the scan.
      if (sinceMs !== null && Date.parse(e.time) < sinceMs) break scan;
      if (done + (entries.length - k) > limit) {
        partial = { entries: done + (entries.length - 1 - k), since: oldest };
        break scan;
      }
      oldest = e.time;
      if (e.type !== "decision") continue;
      decisions++;
      const lookup = e.lookup === true;
      if (lookup) lookups++;
      const loc = typeof e.location === "string" ? e.location : null;
      if (loc === null) {
        if (!lookup) unknown++;
        continue;
      }
      let s = byCountry.get(loc);
      if (s === undefined)
        byCountry.set(loc, (s = { requests: 0, denials: 0, fallbacks: 0, lookups: 0, served: new Map() }));
      // Answered to a caller asking which model it would get, not served: not a request.
      if (lookup) {
        s.lookups++;
        continue;
      }
      s.requests++;
      if (e.decision === "deny") s.denials++;
      if (e.decision === "fallback") s.fallbacks++;
      const served = e.decision === "deny" ? "nothing" : String(e.served_model);
      const key = `${String(e.model)} → ${served} · ${String(e.reason)}${e.grant ? ` (${String(e.grant)})` : ""}`;
      s.served.set(key, (s.served.get(key) ?? 0) + 1);
    }
    done += entries.length;
    progress(done, Math.min(Number(size), limit));
  }
  return { byCountry, unknown, decisions, lookups, partial };
}
