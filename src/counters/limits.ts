/**
 * Quotas and rate limits for gateway requests. Per request, one call to the counters reads what
 * the decision needs — the usage of the licenses that could grant it (held by the principal or its
 * organization, with a token quota) — and counts the request against its organization's rate
 * limit. After the response, the metered tokens are added. When the shared counters (Redis) cannot
 * be reached, this node's own view (memory counters, fed with everything it meters, seeded from the
 * store) stands in, and the request says so: with `fail_closed` the gateway then refuses
 * controlled and home-only models; with `fail_open` it serves them on this node's view.
 */
import type { Store } from "../store/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import { storedUsage, type QuotaPeriod, type UsageByPeriod } from "../metering/index.js";
import {
  CountersUnavailableError,
  openCounters,
  type Admission,
  type AdmitRequest,
  type Counters,
  type CountersDriver,
  type LicenseCounter,
  type LicenseUsage,
  type RateOutcome,
  type SeedRow,
} from "./index.js";

export type OnUnavailable = "fail_closed" | "fail_open";

/** What the counters said about one request. */
export interface CountedRequest {
  readonly usage: LicenseUsage;
  /** null when the organization has no rate limit. */
  readonly rate: RateOutcome | null;
  /** Why the shared counters could not be used (this node's view stood in), or null. */
  readonly unavailable: string | null;
  /** Takes the request back out of its organization's window (it was denied). */
  release(): void;
}

const UNCOUNTED: CountedRequest = {
  usage: Object.freeze(Object.create(null) as LicenseUsage),
  rate: null,
  unavailable: null,
  release: () => {},
};

export interface UsageLimitsOptions {
  readonly driver: CountersDriver;
  readonly url?: string;
  readonly prefix?: string;
  readonly timeoutMs?: number;
  readonly onUnavailable: OnUnavailable;
  /** Seeds the counters with the usage recorded so far. */
  readonly store: Store;
  /** Writes the usage metered but not yet in the store (the Meter's flush); called before each seeding. */
  readonly flush?: () => Promise<void>;
  readonly onError: (err: unknown) => void;
  /** Warnings about the shared counters' server (its eviction policy), one line each. */
  readonly log?: (line: string) => void;
}

export async function openUsageLimits(options: UsageLimitsOptions): Promise<UsageLimits> {
  const load = async () => {
    // Usage metered but still pending in the Meter goes to the store first, so that its figures
    // hold every token the counters were told of (a reconnection then misses none).
    await options.flush?.();
    // Periods are those of this time, however long the reads take (they may cross a month's end).
    const at = Date.now();
    return { rows: seedRows(await storedUsage(options.store, new Date(at))), at };
  };
  const shared = await openCounters(
    Object.assign(
      { driver: options.driver, load, onError: options.onError },
      options.url === undefined ? {} : { url: options.url },
      options.prefix === undefined ? {} : { prefix: options.prefix },
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
      options.log === undefined ? {} : { log: options.log },
    ),
  );
  const local = options.driver === "memory" ? null : await openCounters({ driver: "memory", load });
  return new UsageLimits(shared, local, options.onUnavailable, options.onError);
}

export class UsageLimits {
  constructor(
    /** The counters every node shares (or this node's alone, with the memory driver). */
    readonly shared: Counters,
    /** This node's own view, when the shared counters are elsewhere. */
    private readonly local: Counters | null,
    readonly onUnavailable: OnUnavailable,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Why the shared counters cannot be used right now, or null. */
  get unavailable(): string | null {
    return this.shared.unavailable;
  }

  /** What the shared counters' eviction policy risks (a quota or rate limit reset), or null. */
  get evictionRisk(): string | null {
    return this.shared.evictionRisk;
  }

  /**
   * `lookup`: a model lookup or list, which uses no tokens: counted against, and held to, the
   * requests per minute only.
   */
  async admit(
    scheme: CompiledScheme,
    principalId: string,
    organizationId: string | null,
    now: number,
    lookup = false,
  ): Promise<CountedRequest> {
    // organizationRateLimits, not the partner's: a partner left out keeps its limit (effective.ts).
    const rate = organizationId === null ? null : (scheme.organizationRateLimits.get(organizationId) ?? null);
    const limits =
      !lookup || rate === null
        ? rate
        : rate.requestsPerMinute === null
          ? null
          : { requestsPerMinute: rate.requestsPerMinute, tokensPerMinute: null };
    const request: AdmitRequest = {
      organization: rate === null || limits === null ? null : { id: rate.counter, limits },
      licenses: quotaLicenses(scheme, principalId, organizationId),
      now,
    };
    if (request.organization === null && request.licenses.length === 0) return UNCOUNTED;
    let result: Admission;
    let counters: Counters = this.shared;
    let unavailable: string | null = null;
    /** The shared admit's ticket when its answer never came: Redis may have counted the request. */
    let uncertain: number | undefined;
    try {
      result = await this.shared.admit(request);
    } catch (err) {
      if (this.local === null || !(err instanceof CountersUnavailableError)) throw err;
      uncertain = err.ticket;
      counters = this.local;
      result = await this.local.admit(request);
      unavailable = err.message;
    }
    const org = request.organization?.id;
    let released = false;
    const release = () => {
      if (org === undefined || released) return;
      released = true;
      if (result.rate?.ok === true) {
        counters.release(org, now, result.ticket).catch((err: unknown) => this.report(err));
      }
      // This node's view stood in for an admit Redis may have run: taken back there too if it counted.
      if (uncertain !== undefined) {
        this.shared.release(org, now, uncertain).catch((err: unknown) => this.report(err));
      }
    };
    // Over a limit in this node's view: refused (429), so not counted in the shared minute either.
    if (uncertain !== undefined && result.rate?.ok === false) release();
    return { usage: result.usage, rate: result.rate, unavailable, release };
  }

  /** A license's tokens in a period, as every node counts them (this node's view if unreachable). */
  async licenseUsage(license: string, period: QuotaPeriod, now: number): Promise<number> {
    const { result } = await this.either((c) => c.usage([{ id: license, period }], now));
    return result[license]?.tokens ?? 0;
  }

  /** Adds a response's tokens: to the organization's minute (if it has a rate limit) and the license. */
  add(
    scheme: CompiledScheme,
    organizationId: string | null,
    license: string | null,
    tokens: number,
    now: number,
  ): void {
    const rate = organizationId === null ? undefined : scheme.organizationRateLimits.get(organizationId);
    const metered = { organization: rate?.counter ?? null, license, tokens, now };
    for (const c of this.local === null ? [this.shared] : [this.shared, this.local]) {
      c.add(metered).catch((err: unknown) => this.report(err));
    }
  }

  async close(): Promise<void> {
    await this.shared.close();
    await this.local?.close();
  }

  private async either<T>(
    call: (c: Counters) => Promise<T>,
  ): Promise<{ result: T; counters: Counters; unavailable: string | null }> {
    try {
      return { result: await call(this.shared), counters: this.shared, unavailable: null };
    } catch (err) {
      if (this.local === null || !(err instanceof CountersUnavailableError)) throw err;
      return { result: await call(this.local), counters: this.local, unavailable: err.message };
    }
  }

  /** An unreachable Redis has been reported already, once, by its driver. */
  private report(err: unknown): void {
    if (!(err instanceof CountersUnavailableError)) this.onError(err);
  }
}

/** The licenses held by the principal or its organization that carry a token quota. */
function quotaLicenses(
  scheme: CompiledScheme,
  principalId: string,
  organizationId: string | null,
): LicenseCounter[] {
  const out: LicenseCounter[] = [];
  const held = [
    scheme.licensesByPrincipal.get(principalId),
    organizationId === null ? undefined : scheme.licensesByOrganization.get(organizationId),
  ];
  for (const list of held) {
    for (const l of list ?? []) if (l.quotaTokens !== null) out.push({ id: l.id, period: l.quotaPeriod });
  }
  return out;
}

function seedRows(usage: UsageByPeriod): SeedRow[] {
  return [...usage.total.entries()].map(([license, total]) => ({
    license,
    month: usage.month.get(license) ?? 0,
    quarter: usage.quarter.get(license) ?? 0,
    total,
  }));
}
