/**
 * Counters in Redis, shared by every gateway node: each check-and-take is one Lua script, so two
 * nodes can never both take the last request of a minute. A dead Redis is noticed at once: no
 * offline queue (a command fails while disconnected instead of waiting), short command timeouts,
 * and reconnection in the background. After every (re)connection the counters are first raised to
 * the store's usage (a Redis that restarted empty must not forget a quota's use), and only then used;
 * and Redis's eviction policy is read, warning when it may evict a counter (see evictionRisk()).
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { periodEnd, periodKey, type QuotaPeriod } from "../metering/periods.js";
import { addTokens, tokenCount } from "../metering/tokens.js";
import {
  CountersUnavailableError,
  type Admission,
  type AdmitRequest,
  type Counters,
  type LicenseCounter,
  type LicenseUsage,
  type MeteredTokens,
  type RateOutcome,
  type SeedRow,
  type StoredSeed,
} from "./index.js";
import { ADD, ADMIT, RELEASE, RELEASE_ADMIT, SEED } from "./redis-scripts.js";
import { overLimit, PERIOD_GRACE_MS, WINDOW_MS, windowStart } from "./windows.js";

type Arg = string | number;
interface Scripts {
  clearanceAdmit(keys: number, ...args: Arg[]): Promise<number[]>;
  clearanceRelease(keys: number, ...args: Arg[]): Promise<number>;
  clearanceReleaseAdmit(keys: number, ...args: Arg[]): Promise<number>;
  clearanceAdd(keys: number, ...args: Arg[]): Promise<number>;
  clearanceSeed(keys: number, ...args: Arg[]): Promise<number>;
}

export interface RedisCountersOptions {
  readonly url: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly load?: () => Promise<StoredSeed>;
  readonly onError: (err: unknown) => void;
  /** Warnings about the server's settings (its eviction policy): one line each, when they change. */
  readonly log?: (line: string) => void;
}

/** Windows outlive their minute a little: nodes' clocks differ. */
const WINDOW_TTL_MS = 2 * WINDOW_MS;
const PERIODS: readonly QuotaPeriod[] = ["month", "quarter", "total"];
/** Unanswered adds kept to settle by sequence number (see `uncertain`). */
const MAX_UNCERTAIN = 10_000;
/** Licenses seeded per script call. */
const SEED_BATCH = 200;
/** Admit tickets run 1..MAX_TICKET (32 bits; 0 is a free slot), each in slot ticket % ADMIT_SLOTS. */
const MAX_TICKET = 0xffff_ffff;
/** Slots in a node's admits key (4 bytes each): a release finds its admit unless as many came since. */
const ADMIT_SLOTS = 65_536;
/** Releases kept to send again (see `releases`). */
const MAX_RELEASES = 10_000;

export class RedisCounters implements Counters {
  readonly driver = "redis" as const;
  private readonly client: Redis & Scripts;
  private readonly where: string;
  /** Connected, and raised to the store's usage since connecting: only then are counters read. */
  private seeded = false;
  private failure: string | null = null;
  private probe: NodeJS.Timeout | undefined;
  /** License tokens Redis did not take (it could not be reached): added once it answers again. */
  private readonly unsent = new Map<string, { tokens: number; expiresAt: number }>();
  /**
   * Adds sent whose answer never came (a timeout, a dropped connection): Redis may have run them.
   * Each is settled, before anything is sent again, against the highest sequence number Redis
   * applied for this node (`appliedKey`): at or below it, it was counted; above, it joins `unsent`.
   */
  private uncertain: { seq: number; entries: [key: string, tokens: number, expiresAt: number][] }[] = [];
  /** The last sequence number given to an add (sent, or sent again). */
  private seq = 0;
  private readonly appliedKey: string;
  /** The last admit ticket given. */
  private lastTicket = 0;
  /** This node's admits that counted a request, by ticket (see RELEASE_ADMIT). */
  private readonly admitsKey: string;
  /**
   * Releases whose answer never came, or that could not be sent: sent again (each takes back at
   * most once) once Redis answers, while their window lasts. Else a denied request stays counted.
   */
  private readonly releases: { window: string; ticket: number; expiresAt: number }[] = [];
  private sending: Promise<void> | undefined;
  private firstSeeding: (() => void) | undefined;
  private closed = false;
  private risk: string | null = null;
  /** The policy the gateway's log was last told of (null: unreadable), told again only when it changes. */
  private told: string | null | undefined;

  private constructor(private readonly options: RedisCountersOptions) {
    const client = new Redis(options.url, {
      enableOfflineQueue: false,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1_000, options.timeoutMs),
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    });
    client.defineCommand("clearanceAdmit", { lua: ADMIT });
    client.defineCommand("clearanceRelease", { lua: RELEASE });
    client.defineCommand("clearanceReleaseAdmit", { lua: RELEASE_ADMIT });
    client.defineCommand("clearanceAdd", { lua: ADD });
    client.defineCommand("clearanceSeed", { lua: SEED });
    this.client = client as Redis & Scripts;
    const node = randomUUID();
    this.appliedKey = `${options.prefix}node:${node}:applied`;
    this.admitsKey = `${options.prefix}node:${node}:admits`;
    // Never the URL: it may carry a password.
    this.where = `${client.options.host ?? "localhost"}:${client.options.port ?? 6379}`;
    client.on("ready", () => void this.connected());
    client.on("close", () => {
      this.seeded = false;
    });
    client.on("error", (err: Error) => {
      this.failed(err);
      this.firstSeeding?.();
    });
  }

  /** Connects and seeds; gives up waiting after the connect timeout (reconnection goes on). */
  static async open(options: RedisCountersOptions): Promise<RedisCounters> {
    const counters = new RedisCounters(options);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(2_000, 4 * options.timeoutMs));
      counters.firstSeeding = () => {
        clearTimeout(timer);
        counters.firstSeeding = undefined;
        resolve();
      };
    });
    return counters;
  }

  get unavailable(): string | null {
    const status = this.client.status;
    if (status !== "ready") {
      return `Redis at ${this.where} is not connected (${status}${this.failure === null ? "" : `: ${this.failure}`})`;
    }
    if (!this.seeded) return `Redis at ${this.where} is being brought up to the store's usage`;
    if (this.failure !== null) return `Redis at ${this.where} did not answer: ${this.failure}`;
    return null;
  }

  /**
   * What Redis's eviction policy (read at the last connection) risks for the counters, or null:
   * noeviction, or a policy that could not be read (said once in the log).
   */
  get evictionRisk(): string | null {
    return this.risk;
  }

  async admit(request: AdmitRequest): Promise<Admission> {
    const { organization: org, licenses, now } = request;
    const keys = licenses.map((l) => this.licenseKey(l.id, l.period, now));
    if (org !== null) keys.unshift(this.windowKey(org.id, now), this.admitsKey);
    let ticket: number | undefined;
    let out: number[];
    try {
      out = await this.run(() => {
        // Given as it is sent: a release names only an admit that may have run.
        if (org !== null) {
          this.lastTicket = (this.lastTicket % MAX_TICKET) + 1;
          ticket = this.lastTicket;
        }
        return this.client.clearanceAdmit(
          keys.length,
          ...keys,
          org === null ? 0 : 1,
          org?.limits.requestsPerMinute ?? -1,
          org?.limits.tokensPerMinute ?? -1,
          WINDOW_TTL_MS,
          (ticket ?? 0) % ADMIT_SLOTS,
          ticket ?? 0,
        );
      });
    } catch (err) {
      // Unanswered, it may have counted the request: the caller takes it back if it is not served.
      if (ticket === undefined || !(err instanceof CountersUnavailableError)) throw err;
      throw new CountersUnavailableError(err.message, { cause: err.cause, ticket });
    }
    let rate: RateOutcome | null = null;
    if (org !== null) {
      rate = out[0] === 0 ? { ok: true } : overLimit(out[0] === 2 ? "tokens" : "requests", org.limits, now);
    }
    return { rate, usage: usageFrom(licenses, out.slice(1)), ticket };
  }

  async release(organization: string, now: number, ticket?: number): Promise<void> {
    const window = this.windowKey(organization, now);
    if (ticket === undefined) {
      await this.run(() => this.client.clearanceRelease(1, window));
      return;
    }
    try {
      await this.run(() => this.releaseAdmit(window, ticket));
    } catch (err) {
      if (!refused(err)) {
        this.releases.push({ window, ticket, expiresAt: windowStart(now) + WINDOW_TTL_MS });
        // Past the bound the oldest is dropped: a denied request possibly counted, never one lost.
        if (this.releases.length > MAX_RELEASES) this.releases.shift();
      }
      throw err;
    }
  }

  private releaseAdmit(window: string, ticket: number): Promise<number> {
    return this.client.clearanceReleaseAdmit(2, window, this.admitsKey, ticket % ADMIT_SLOTS, ticket);
  }

  async add(t: MeteredTokens): Promise<void> {
    // Whole counts only: INCRBY refuses anything else, and a refused count would be kept to resend.
    const tokens = tokenCount(t.tokens);
    const keys: string[] = [];
    const ttls: number[] = [];
    if (t.license !== null) {
      for (const period of PERIODS) {
        keys.push(this.licenseKey(t.license, period, t.now));
        ttls.push(periodTtl(period, t.now));
      }
    }
    if (t.organization !== null) keys.unshift(this.windowKey(t.organization, t.now));
    if (keys.length === 0) return;
    const seq = ++this.seq;
    let sent = false;
    try {
      await this.run(() => {
        sent = true;
        return this.client.clearanceAdd(
          keys.length + 1,
          this.appliedKey,
          ...keys,
          tokens,
          t.organization === null ? "" : WINDOW_TTL_MS,
          seq,
          ...ttls,
        );
      });
    } catch (err) {
      // The minute's window will not matter for long; a license's use must not be forgotten, unless
      // Redis itself refused it (sending it again would be refused again).
      if (t.license !== null && !refused(err)) {
        const licenseKeys = keys.slice(t.organization === null ? 0 : 1);
        const entries = licenseKeys.map((key, i): [string, number, number] => [
          key,
          tokens,
          ttls[i] === 0 ? Infinity : t.now + (ttls[i] as number),
        ]);
        if (sent) this.doubt(seq, entries);
        else for (const entry of entries) this.keep(...entry);
      }
      throw err;
    }
  }

  /**
   * An add sent whose answer never came. Bounded (a Redis that hangs with its connection open fails
   * every add): past the bound the oldest is counted as not taken, as every one was before sequence
   * numbers — a possible double count, never a lost one.
   */
  private doubt(seq: number, entries: [string, number, number][]): void {
    this.uncertain.push({ seq, entries });
    if (this.uncertain.length > MAX_UNCERTAIN) {
      for (const entry of (this.uncertain.shift() as { entries: [string, number, number][] }).entries) {
        this.keep(...entry);
      }
    }
  }

  /** Tokens for `key` that Redis certainly did not take. */
  private keep(key: string, tokens: number, expiresAt: number): void {
    const u = this.unsent.get(key);
    this.unsent.set(key, { tokens: addTokens(u?.tokens ?? 0, tokens), expiresAt });
  }

  /**
   * Settles the adds whose answer never came: those Redis applied are done, the others are kept to
   * send. Run before anything is sent again, on the connection they were sent on or — after a
   * reconnection — before any add on the new one: a connection runs its commands in order, so every
   * add it sent before the mark's read has run (or never reached Redis) by then.
   */
  private async settle(): Promise<void> {
    if (this.uncertain.length === 0) return;
    // Adds that fail during the read are settled the next time (they may run after it).
    const settling = this.uncertain.splice(0);
    let applied: number;
    try {
      applied = Number((await this.client.get(this.appliedKey)) ?? 0);
    } catch (err) {
      this.uncertain.unshift(...settling);
      throw err;
    }
    for (const { seq, entries } of settling) {
      if (seq > applied) for (const entry of entries) this.keep(...entry);
    }
  }

  async usage(licenses: readonly LicenseCounter[], now: number): Promise<LicenseUsage> {
    return (await this.admit({ organization: null, licenses, now })).usage;
  }

  async seed(rows: readonly SeedRow[], now: number): Promise<void> {
    await this.raise(rows, now);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    if (this.client.status === "ready") await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }

  /**
   * Raises the counters to the store's figures in one script per batch; with `unsent`, the tokens
   * this node could not send are folded in the same step (each counter becomes
   * max(counter + unsent, stored)), and taken out of `unsent` once Redis has them.
   */
  private async raise(rows: readonly SeedRow[], now: number, unsent = false): Promise<void> {
    const entries: { key: string; stored: number; ttl: number }[] = [];
    for (const row of rows) {
      for (const period of PERIODS) {
        entries.push({
          key: this.licenseKey(row.license, period, now),
          stored: tokenCount(row[period]),
          ttl: periodTtl(period, now),
        });
      }
    }
    /** What each key's unsent entry held when taken (entries added meanwhile stay for later). */
    const taken = new Map<string, number>();
    if (unsent) {
      const listed = new Set(entries.map((e) => e.key));
      const at = Date.now();
      for (const [key, u] of this.unsent) {
        // A month or quarter that has ended since is not worth keeping.
        if (u.expiresAt <= at) {
          this.unsent.delete(key);
          continue;
        }
        taken.set(key, u.tokens);
        if (!listed.has(key)) {
          entries.push({ key, stored: 0, ttl: u.expiresAt === Infinity ? 0 : Math.round(u.expiresAt - at) });
        }
      }
    }
    for (let i = 0; i < entries.length; i += 3 * SEED_BATCH) {
      const batch = entries.slice(i, i + 3 * SEED_BATCH);
      const args = batch.flatMap((e) => [e.stored, taken.get(e.key) ?? 0, e.ttl]);
      await this.client.clearanceSeed(batch.length, ...batch.map((e) => e.key), ...args);
      for (const { key } of batch) {
        const sent = taken.get(key);
        const u = this.unsent.get(key);
        if (sent === undefined || u === undefined) continue;
        if (u.tokens > sent) this.unsent.set(key, { tokens: u.tokens - sent, expiresAt: u.expiresAt });
        else this.unsent.delete(key);
      }
    }
  }

  /**
   * Connected (again): raise the counters to the store's usage and add what Redis missed, in one
   * step per counter that cannot count a token twice, then use it.
   */
  private async connected(): Promise<void> {
    try {
      // A resend still running from before the connection dropped settles first (it fails fast).
      await this.sending?.catch(() => undefined);
      // Read before the counters are used, so that the first request already finds it reported.
      await this.checkEviction();
      await this.settle();
      const { rows, at } =
        this.options.load === undefined ? { rows: [], at: Date.now() } : await this.options.load();
      await this.raise(rows, at, true);
      this.seeded = true;
      this.recovered();
    } catch (err) {
      this.failed(err);
      // Still connected: try again shortly (a reconnection tries again by itself).
      setTimeout(() => {
        if (!this.closed && !this.seeded && this.client.status === "ready") void this.connected();
      }, 1_000).unref();
    }
    this.firstSeeding?.();
  }

  /**
   * Reads Redis's maxmemory-policy (CONFIG GET; INFO where CONFIG is refused, as managed Redis often
   * does) and says in the log, once per change, when it may evict counters — a quota or rate limit
   * would start again from zero — or when it could not be read. Warned, not refused: see evictionRisk.
   */
  private async checkEviction(): Promise<void> {
    let policy: string | null = null;
    let refusal = "";
    try {
      const answer = await this.client.config("GET", "maxmemory-policy");
      if (Array.isArray(answer) && typeof answer[1] === "string") policy = answer[1];
    } catch (err) {
      if (!refused(err)) throw err;
      refusal = (err as Error).message;
    }
    if (policy === null) {
      try {
        policy = /^maxmemory_policy:(\S+)/m.exec(await this.client.info("memory"))?.[1] ?? null;
      } catch (err) {
        if (!refused(err)) throw err;
        refusal = refusal === "" ? (err as Error).message : `${refusal}; ${(err as Error).message}`;
      }
    }
    this.risk = policy === null ? null : evictionRisk(policy, this.where);
    if (policy === this.told) return;
    const log = this.options.log ?? (() => {});
    if (this.risk !== null) log(`clearance: warning: ${this.risk}`);
    else if (policy === null) {
      log(
        `clearance: warning: could not check the eviction policy of Redis at ${this.where} (CONFIG GET and INFO refused${refusal === "" ? "" : `: ${refusal}`}): the quota and rate-limit counters need maxmemory-policy noeviction, or an evicted counter resets a quota or rate limit; check the server's setting yourself`,
      );
    } else if (this.told !== undefined) {
      log(`clearance: Redis at ${this.where} now has maxmemory-policy ${policy}: no counter is evicted`);
    }
    this.told = policy;
  }

  private sendUnsent(): Promise<void> {
    this.sending ??= (async () => {
      await this.settle();
      for (const [key, u] of [...this.unsent]) {
        const ttl = u.expiresAt === Infinity ? 0 : Math.round(u.expiresAt - Date.now());
        // Taken out first: tokens that fail to arrive meanwhile are added to a fresh entry.
        this.unsent.delete(key);
        // A month or quarter that has ended since is not worth keeping (ttl 0: kept for good).
        if (ttl <= 0 && u.expiresAt !== Infinity) continue;
        const seq = ++this.seq;
        try {
          await this.client.clearanceAdd(2, this.appliedKey, key, u.tokens, "", seq, ttl);
        } catch (err) {
          if (!refused(err)) {
            // Unanswered: settled like any add (the next settle() reads whether Redis ran it).
            this.doubt(seq, [[key, u.tokens, u.expiresAt]]);
            throw err;
          }
          // Redis refuses it for good (the counter holds no integer): retrying would block every
          // entry after it, and the reconnection's seeding, for as long as the process lives.
          this.options.onError(err);
        }
      }
      for (const r of [...this.releases]) {
        if (r.expiresAt > Date.now()) {
          try {
            await this.releaseAdmit(r.window, r.ticket);
          } catch (err) {
            if (!refused(err)) throw err;
            this.options.onError(err);
          }
        }
        const i = this.releases.indexOf(r);
        if (i >= 0) this.releases.splice(i, 1);
      }
    })().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (!this.seeded || this.client.status !== "ready") {
      throw new CountersUnavailableError(this.unavailable ?? `Redis at ${this.where} is not ready`);
    }
    try {
      const result = await command();
      if (this.failure !== null) this.recovered();
      return result;
    } catch (err) {
      this.failed(err);
      throw new CountersUnavailableError(`Redis at ${this.where} did not answer: ${this.failure}`, {
        cause: err,
      });
    }
  }

  /** Reported once per outage; while connected, a PING a second tells when Redis answers again. */
  private failed(err: unknown): void {
    const first = this.failure === null;
    this.failure = (err as Error).message ?? String(err);
    if (first) this.options.onError(new CountersUnavailableError(this.unavailable ?? this.failure));
    if (this.probe === undefined && !this.closed) {
      this.probe = setInterval(() => {
        if (this.client.status !== "ready" || !this.seeded) return;
        this.client.ping().then(
          () => this.recovered(),
          () => undefined,
        );
      }, 1_000);
      this.probe.unref();
    }
  }

  private recovered(): void {
    clearInterval(this.probe);
    this.probe = undefined;
    this.failure = null;
    if (this.unsent.size > 0 || this.uncertain.length > 0 || this.releases.length > 0) {
      void this.sendUnsent().catch((err: unknown) => this.failed(err));
    }
  }

  private windowKey(organization: string, now: number): string {
    return `${this.options.prefix}rate:${organization}:${windowStart(now)}`;
  }

  private licenseKey(id: string, period: QuotaPeriod, now: number): string {
    return `${this.options.prefix}license:${id}:${periodKey(period, new Date(now))}`;
  }
}

/**
 * Redis answered, refusing the command for good (e.g. "value is not an integer", WRONGTYPE, or a
 * command unknown, renamed or not permitted) — rather than failing to answer, or answering that it
 * cannot take writes for now. `err` may be the client's own error or one wrapped as unavailable.
 */
function refused(err: unknown): boolean {
  const e = err instanceof CountersUnavailableError ? err.cause : err;
  return (e as Error | undefined)?.name === "ReplyError" && !TRANSIENT.test((e as Error).message);
}

/**
 * What a maxmemory-policy risks for the counters, or null when nothing (noeviction). allkeys-*
 * evicts any key; volatile-* those with a time to live: the month and quarter counters and the
 * minute windows (the totals are kept for good). An evicted counter reads zero: the quota or rate
 * limit starts again, until the next reconnection raises the licenses' counters to the store's usage.
 */
function evictionRisk(policy: string, where: string): string | null {
  if (policy === "noeviction") return null;
  const which = policy.startsWith("volatile-")
    ? "the counters that expire (a license's month and quarter tokens, an organization's requests and tokens per minute)"
    : policy.startsWith("allkeys-")
      ? "any quota or rate-limit counter (a license's month, quarter or total tokens, an organization's requests and tokens per minute)"
      : "quota and rate-limit counters";
  return `Redis at ${where} has maxmemory-policy ${policy}: once it reaches maxmemory it may evict ${which}, and an evicted counter starts again from zero, resetting that quota or rate limit (a license's tokens come back only at the next reconnection, from the store); set maxmemory-policy noeviction`;
}

/** Reply errors that pass: a Redis loading, failing over, out of memory or busy with a script. */
const TRANSIENT = /^(LOADING|READONLY|OOM|BUSY|MASTERDOWN|NOREPLICAS|TRYAGAIN|CLUSTERDOWN|MISCONF)\b/;

/** How long a license counter is kept (0: for good). */
function periodTtl(period: QuotaPeriod, now: number): number {
  const end = periodEnd(period, new Date(now));
  return end === Infinity ? 0 : end - now + PERIOD_GRACE_MS;
}

function usageFrom(licenses: readonly LicenseCounter[], counts: readonly number[]): LicenseUsage {
  const usage = Object.create(null) as LicenseUsage;
  licenses.forEach((l, i) => {
    usage[l.id] = { tokens: counts[i] ?? 0 };
  });
  return usage;
}
