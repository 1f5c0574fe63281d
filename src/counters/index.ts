/**
 * The counters behind quotas and rate limits: an organization's requests and tokens in the current
 * minute, and a license's tokens in the current month, the current quarter and in total. Kept in
 * memory on one node (the default, no server needed), or in Redis so that every gateway node counts
 * against the same numbers, each check-and-take one atomic script. Both drivers pass one contract
 * suite (suite.ts). The store keeps the usage for reports; these counters are what decisions read.
 */
import type { QuotaPeriod } from "../metering/periods.js";
import { MemoryCounters } from "./memory.js";

export { overLimit, WINDOW_MS, windowStart } from "./windows.js";

export type CountersDriver = "memory" | "redis";

/** An organization's rate limit (null: no limit of that kind). */
export interface RateLimit {
  readonly requestsPerMinute: number | null;
  readonly tokensPerMinute: number | null;
}

/** A license whose usage is read, in the period its quota runs over. */
export interface LicenseCounter {
  readonly id: string;
  readonly period: QuotaPeriod;
}

/** Tokens used per license id, in its quota period: shaped as decide()'s `usage`. */
export type LicenseUsage = Record<string, { tokens: number }>;

export interface AdmitRequest {
  /** The organization whose rate limit applies to this request, if any. */
  readonly organization: { readonly id: string; readonly limits: RateLimit } | null;
  /** The licenses whose usage the decision needs. */
  readonly licenses: readonly LicenseCounter[];
  /** Milliseconds since the epoch (the caller's clock: one-minute windows and periods follow it). */
  readonly now: number;
}

export type RateOutcome =
  { readonly ok: true } | { readonly ok: false; readonly retryAfter: number; readonly limit: string };

export interface Admission {
  /** null when no rate limit applied; `ok` when this request was counted in the minute's window. */
  readonly rate: RateOutcome | null;
  readonly usage: LicenseUsage;
  /** Redis: names this admit's count, for release(). */
  readonly ticket?: number;
}

/** Tokens metered for one response. */
export interface MeteredTokens {
  /** The organization whose per-minute token window they count in, if it has a rate limit. */
  readonly organization: string | null;
  /** The license the request was served under, if any. */
  readonly license: string | null;
  readonly tokens: number;
  readonly now: number;
}

/** A license's tokens as the store has them, in the periods containing the seeding time. */
export interface SeedRow {
  readonly license: string;
  readonly month: number;
  readonly quarter: number;
  readonly total: number;
}

/** The store's usage, as load() read it: the rows, and the time they were computed for. */
export interface StoredSeed {
  readonly rows: readonly SeedRow[];
  /** Epoch ms: the rows are written under this time's periods (not the later time the read ended). */
  readonly at: number;
}

export interface Counters {
  readonly driver: CountersDriver;
  /**
   * In one atomic step: counts the request in the organization's window unless the organization is
   * over a limit (then nothing is counted), and reads the licenses' usage.
   */
  admit(request: AdmitRequest): Promise<Admission>;
  /**
   * Takes back a request counted by admit() at `now` (it was denied, and denials do not count). With
   * the admit's ticket (Redis): only if that admit counted it, and once however often it is sent.
   */
  release(organization: string, now: number, ticket?: number): Promise<void>;
  /** Adds tokens to the organization's window and to the license's month, quarter and total. */
  add(tokens: MeteredTokens): Promise<void>;
  /** Reads the licenses' usage, counting nothing. */
  usage(licenses: readonly LicenseCounter[], now: number): Promise<LicenseUsage>;
  /**
   * Raises the licenses' counters to the store's figures where they are lower or missing (a Redis
   * that lost its data); never lowers one (the store lags: usage reaches it in batches).
   */
  seed(rows: readonly SeedRow[], now: number): Promise<void>;
  /** Why the counters cannot be used right now, or null when they can. */
  readonly unavailable: string | null;
  /**
   * What the server's eviction policy risks for the counters (Redis: any maxmemory-policy but
   * noeviction may evict one, resetting a quota or rate limit), or null.
   */
  readonly evictionRisk: string | null;
  close(): Promise<void>;
}

/** The counters' server cannot be reached (or did not answer in time). */
export class CountersUnavailableError extends Error {
  /** An admit sent whose answer never came: Redis may have counted the request (see release()). */
  readonly ticket: number | undefined;
  constructor(message: string, options?: { cause?: unknown; ticket?: number }) {
    super(message, options);
    this.name = "CountersUnavailableError";
    this.ticket = options?.ticket;
  }
}

export interface CountersOptions {
  readonly driver: CountersDriver;
  /** Redis: the connection URL (redis:// or rediss://). */
  readonly url?: string;
  /** Redis: every key starts with this. */
  readonly prefix?: string;
  /** Redis: how long a command may take before the counters count as unreachable. */
  readonly timeoutMs?: number;
  /** The store's usage: seeds the counters when opened and, for Redis, after every reconnection. */
  readonly load?: () => Promise<StoredSeed>;
  readonly onError?: (err: unknown) => void;
  /** Redis: warnings about the server's settings (its eviction policy), one line each. */
  readonly log?: (line: string) => void;
}

/** Opens the counters; Redis is waited for up to its timeout, and is used once it answers. */
export async function openCounters(options: CountersOptions): Promise<Counters> {
  if (options.driver === "memory") {
    const counters = new MemoryCounters();
    if (options.load !== undefined) {
      const { rows, at } = await options.load();
      await counters.seed(rows, at);
    }
    return counters;
  }
  if (options.url === undefined) throw new Error("the redis counters need a url");
  // Loaded on demand: a deployment without Redis never loads its client.
  const { RedisCounters } = await import("./redis.js");
  return RedisCounters.open(
    Object.assign(
      {
        url: options.url,
        prefix: options.prefix ?? "clearance:",
        timeoutMs: options.timeoutMs ?? 500,
        onError: options.onError ?? (() => {}),
      },
      options.load === undefined ? {} : { load: options.load },
      options.log === undefined ? {} : { log: options.log },
    ),
  );
}
