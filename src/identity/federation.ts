/**
 * The gateway's side of identity federation: the registered issuers (rebuilt from the snapshot when
 * it changes), their key sets (kept across rebuilds, fetched in the background), a bounded cache of
 * verified tokens (least recently used first out), and the just-in-time federated principals,
 * written to the store off the request path. `authenticate` turns a partner token into a principal with its identity basis, or refuses it.
 */
import { createHash } from "node:crypto";
import { FailureRun, failedSince } from "../monitoring/failure-run.js";
import { CONTROL, plainOrQuoted, quoted } from "../policy/text.js";
import type { IdentityBasis, PartnerStatus, Principal } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/index.js";
import { StoreError, type FederatedPrincipalRecord, type Store, type StoredRecord } from "../store/index.js";
import { FEDERATED_ID_PREFIX } from "../store/input.js";
import { outOfReach, refusesInput } from "../store/refusal.js";
import { isUnicode, mapClaims, readableText, readClaim } from "./claims.js";
import { KeySet, keySourceOf } from "./keys.js";
import type { FederationRecords } from "./records.js";
import type { ProviderRecord } from "./schema.js";
import { vouch, type Reach } from "./scope.js";
import { namedAudience, parseToken, tokenError, verifyToken, type Verified } from "./verify.js";

export interface FederationOptions {
  /** The records and the policy in force (the data plane's snapshot), read on every request. */
  readonly source: () => { readonly federation: FederationRecords; readonly scheme: CompiledScheme };
  readonly store: Store;
  readonly maxTokenBytes: number;
  readonly cooldownMs: number;
  readonly fetchTimeoutMs: number;
  /** identity.allow_http_loopback: key sets over plain http to loopback are fetched (demos, tests). */
  readonly allowHttpLoopback: boolean;
  /** Verified tokens kept (0: verify every request). */
  readonly tokenCache: number;
  /** How often key sets are looked after and federated principals written. */
  readonly maintainMs: number;
  readonly log?: (line: string) => void;
  /**
   * A run of flushes the store took nothing of: its first said at once, then at most once a minute
   * with the count (`FailureRun`); its end is logged once. Not once a flush: an outage would say a
   * stack every `maintainMs`.
   */
  readonly onError?: (err: unknown) => void;
  /** Every flush the store refused the batch of (the store's error metric), said or not. */
  readonly onStoreError?: (err: unknown) => void;
  /** The clock (epoch ms) a run of failed flushes is said on (tests); default Date.now. */
  readonly now?: () => number;
  /**
   * A federated principal's record set aside, not written (logged too): the store refused it as
   * invalid input, or refused it on its own while it took others.
   */
  readonly onSetAside?: () => void;
  /**
   * Records waiting to be written, at most (identity.max_pending_principals, default `MAX_PENDING`);
   * beyond, the least recently seen are dropped.
   */
  readonly maxPending?: number;
  /** Waiting records dropped (`maxPending`): how many (the first drop while the store fails is logged too). */
  readonly onDropped?: (records: number) => void;
}

export interface FederatedCaller {
  readonly keyId: string;
  readonly principal: Principal;
  readonly identity: IdentityBasis;
  /** The name the provider gave, which screening matches against the lists. */
  readonly displayName: string | null;
}

/** A partner's person signed in to the console. */
export interface ConsoleSignIn {
  readonly principal: string;
  readonly partner: string;
  readonly provider: string;
  readonly name: string | null;
}

interface Issuer {
  readonly record: StoredRecord<ProviderRecord>;
  readonly keys: KeySet;
  readonly reach: Reach | null;
  readonly status: PartnerStatus | "unknown";
}

/**
 * A verified token. It may be served only while an uncached verification would accept it: within
 * the time bounds of its claims, and while the provider's keys are the ones that verified it.
 */
interface Cached {
  readonly caller: FederatedCaller;
  readonly issuer: Issuer;
  /**
   * The key set's lookup the token was verified against. A fetch installs a new one, so comparing by
   * identity (no hashing, no allocation) tells that the keys changed since: a key the partner removed
   * (a rotation after a compromise) must not keep its tokens alive. The token is then verified afresh
   * against the keys in force (one signature check per cached token per fetch, unchanged keys too).
   */
  readonly lookup: KeySet["lookup"];
  /** max(nbf, iat) − clock skew, as jose checks them (a clock stepped back is not served from here). */
  readonly validFromMs: number;
  /** min(exp, iat + max_token_age_s): neither an expired nor a too-old token is served from here. */
  readonly expiresMs: number;
  /** The federated principal's record, noted again (its last_seen) when a use comes a minute on. */
  readonly record: FederatedPrincipalRecord;
  /** When this token's use was last noted (ms). */
  notedAt: number;
}

/** A token through #verify: its issuer (in the table in force), what verified, and whose it is. */
interface Checked {
  readonly issuer: Issuer;
  readonly reach: Reach;
  readonly verified: Verified;
  readonly subject: string;
  readonly id: string;
  readonly lookup: KeySet["lookup"];
}

/**
 * Which `aud` values a token must name one of (`accept`), and which it must name none of (`refuse`:
 * the other use's): a token is either for the gateway or for the console's sign-in, never both.
 */
interface Audiences {
  readonly accept: string[];
  readonly refuse: readonly string[];
  /** What a refused value is, and why it is refused (the refusal's message). */
  readonly what: string;
  readonly why: string;
}

/** How long a federated principal's last_seen may lag before it is written again. */
const SEEN_EVERY_MS = 60_000;
/**
 * Federated principals' records waiting to be written, at most: they are kept while the store is
 * out of reach, and a long outage (or a provider minting subjects) would otherwise grow them
 * without end. Each is a cache of what a token said: a person seen again is noted again.
 */
export const MAX_PENDING = 10_000;
/** Records tried one at a time, none taken, before a flush takes the store for out of reach. */
const ALONE_TRIES = 3;
/** The most records one statement writes: a batch grown while the store took none is written in parts. */
const STATEMENT_RECORDS = 1_000;
/**
 * A part that runs past the statement's bound is halved while larger than this: a large part may be
 * too much for the bound, a small one means a store out of reach (a lock held, a hung server), whose
 * every try would wait as long — so at most a few halvings a flush.
 */
const HALVED_DOWN_TO = 64;
/** Checks of one token, each ended by a snapshot change, before it is refused (see #verify). */
const VERIFY_TRIES = 3;
/** Kept as written: printable ASCII, short, and not starting with `~`, which only a hashed subject does. */
const SAFE_SUBJECT = /^[\x21-\x7d][\x21-\x7e]{0,127}$/;

/**
 * A federated principal's id: the provider's id and the token's subject (hashed when long or
 * unusual). A subject starting with `~` is hashed too: kept, `~<32 hex>` could be another person's
 * hashed subject, and the two would share a principal (blocks, alerts, metering).
 */
export function federatedPrincipalId(provider: string, subject: string): string {
  const part = SAFE_SUBJECT.test(subject)
    ? subject
    : `~${createHash("sha256").update(subject).digest("hex").slice(0, 32)}`;
  return `${FEDERATED_ID_PREFIX}${provider}:${part}`;
}

/** The store refuses such ids for its own principals (store/input.ts), so this tells them apart. */
export const isFederatedPrincipal = (id: string): boolean => id.startsWith(FEDERATED_ID_PREFIX);

export class Federation {
  #records: FederationRecords | null = null;
  #scheme: CompiledScheme | null = null;
  #issuers = new Map<string, Issuer>();
  #keySets = new Map<string, { fingerprint: string; keys: KeySet }>();
  #cache = new Map<string, Cached>();
  #pending = new Map<string, FederatedPrincipalRecord>();
  #written = new Map<string, { doc: string; at: number }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  /** Records taken out of #pending by the flush in progress, not yet written, put back or set aside. */
  #writing = 0;
  /** Records dropped since the store last took a write (null: none), and when the first was. */
  #dropped: { count: number; since: string } | null = null;
  /** Flushes the store took nothing of, said at most once a minute (and their end once). */
  readonly #failures: FailureRun;

  constructor(private readonly options: FederationOptions) {
    this.#failures = new FailureRun(options.now ?? Date.now);
  }

  /** Starts the background work: key sets fetched and refreshed, principals written. */
  start(): void {
    this.maintain();
    this.#timer = setInterval(() => this.maintain(), this.options.maintainMs);
    this.#timer.unref();
  }

  maintain(): void {
    this.#sync();
    for (const { keys } of this.#keySets.values()) keys.maintain();
    void this.flush();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  /** The key set of a provider (for tests and the admin view). */
  keySet(provider: string): KeySet | undefined {
    this.#sync();
    return this.#keySets.get(provider)?.keys;
  }

  /**
   * The providers a partner's people can sign in to the console with now: registered for it, and
   * their partner active (any other's sign-in is refused, but only after the provider's login).
   */
  signInProviders(): StoredRecord<ProviderRecord>[] {
    this.#sync();
    return [...this.#issuers.values()].flatMap((i) =>
      i.record.document.console !== undefined && i.status === "active" && i.reach !== null ? [i.record] : [],
    );
  }

  /**
   * How many federated principals' records wait to be written (for the metrics): those noted, and
   * those the flush in progress is writing (a person noted again meanwhile counts twice until it ends).
   */
  get pending(): number {
    return this.#pending.size + this.#writing;
  }

  /** What this node last learned of a federated principal from a token (null when none seen). */
  seen(id: string): FederatedPrincipalRecord | null {
    return this.#pending.get(id) ?? null;
  }

  async authenticate(token: string, now = Date.now()): Promise<FederatedCaller> {
    this.#sync();
    const digest = createHash("sha256").update(token).digest("base64url");
    const hit = this.#cache.get(digest);
    if (hit !== undefined) {
      // The partner's status and reach, and the providers, are the snapshot's: a change clears the
      // cache (#sync). The rest is checked here, each as cheap as a comparison.
      if (
        now >= hit.validFromMs &&
        now < hit.expiresMs &&
        hit.lookup === hit.issuer.keys.lookup &&
        hit.issuer.keys.usable()
      ) {
        this.#refuseBlocked(hit.caller.principal.id, this.#records?.blocked);
        // Put last again: the cache drops the least recently used, so a token in steady use stays.
        this.#cache.delete(digest);
        this.#cache.set(digest, hit);
        // A person on one token all day is still seen: last_seen, and a record set aside tried again.
        if (now - hit.notedAt >= SEEN_EVERY_MS) {
          hit.notedAt = now;
          this.#note({ ...hit.record, last_seen: new Date(now).toISOString() });
        }
        return hit.caller;
      }
      // Out of its bounds or verified with other keys: checked afresh, as a token never seen.
      this.#cache.delete(digest);
    }
    const { issuer, reach, verified, subject, id, lookup } = await this.#verify(token, now, (p) => ({
      accept: p.audiences,
      refuse: p.console === undefined ? [] : [p.console.client_id],
      what: "the console's client id",
      why: "a token that signs in to the console never calls a model",
    }));
    const provider = issuer.record.document;
    // The blocks in force now (#verify ends on the snapshot in force), not when the call began.
    this.#refuseBlocked(id, this.#records?.blocked);
    const facts = mapClaims(provider, verified.claims, now);
    const unread = facts.refused[0];
    // Never served on the rest: the unreadable (or future-dated) value may be the one that denies.
    if (unread !== undefined) throw tokenError("token-claims", unread.message);
    const vouched = vouch(reach, facts, {
      principalId: id,
      issuer: provider.issuer,
      provider: provider.id,
      keyId: verified.keyId,
      subject,
    });
    const caller: FederatedCaller = {
      // The credential is the person, not the provider: detectors (key sharing, travel) and alert
      // responses see one credential per federated principal (`principal:<id>`).
      keyId: `principal:${id}`,
      principal: vouched.principal,
      identity: vouched.basis,
      displayName: vouched.displayName,
    };
    const record: FederatedPrincipalRecord = {
      id,
      provider: provider.id,
      partner: provider.partner,
      issuer: provider.issuer,
      subject,
      display_name: vouched.displayName,
      principal: vouched.principal,
      first_seen: new Date(now).toISOString(),
      last_seen: new Date(now).toISOString(),
      // Whole seconds, as the store keeps them (PostgreSQL: BIGINT); a NumericDate may have a
      // fraction (RFC 7519), which would fail the write of the whole batch, at every try.
      issued_at: Math.floor(verified.claims.iat as number),
    };
    const { exp, iat, nbf } = verified.claims as { exp: number; iat: number; nbf?: number };
    const entry: Cached = {
      caller,
      issuer,
      lookup,
      // jose compares whole seconds (floor of now): from ceil(bound) on, as it accepts.
      validFromMs: Math.ceil(Math.max(nbf ?? iat, iat) - provider.clock_skew_s) * 1000,
      expiresMs: Math.min(exp, iat + provider.max_token_age_s) * 1000,
      record,
      notedAt: now,
    };
    // Not kept when it could never be served: already past a bound (accepted within the skew), or
    // keys fetched while it was verified (a new kid's, say): the next use verifies it and keeps it.
    if (now < entry.expiresMs && lookup === issuer.keys.lookup) this.#remember(digest, entry);
    this.#note(record);
    return caller;
  }

  /**
   * A console sign-in: the provider's ID token for the console's client (aud = its `console.client_id`),
   * checked exactly as a gateway token is (same parsing, keys, algorithms, lifetimes, partner status,
   * blocks). The person is its federated principal; what it may read is its partner's.
   */
  async signIn(token: string, now = Date.now()): Promise<ConsoleSignIn> {
    this.#sync();
    const { issuer, verified, id } = await this.#verify(token, now, (p) => {
      if (p.console === undefined) {
        throw tokenError("unknown-issuer", `identity provider ${p.id} is not registered for console sign-in`);
      }
      return {
        accept: [p.console.client_id],
        refuse: p.audiences,
        what: "the gateway's audience",
        why: "a token that calls models never signs in to the console",
      };
    });
    this.#refuseBlocked(id, this.#records?.blocked);
    const provider = issuer.record.document;
    const name =
      provider.claims.display_name === undefined
        ? undefined
        : readClaim(verified.claims, provider.claims.display_name);
    return {
      principal: id,
      partner: provider.partner,
      provider: provider.id,
      // Read as a gateway token's display name is: a control character or a lone surrogate would
      // reach the console and the admin API's answers; unreadable, it is set aside (the id is shown).
      name: readableText(name),
    };
  }

  /** What every partner token goes through: shape, issuer, partner status, signature and claims, subject. */
  async #verify(token: string, now: number, audiences: (p: ProviderRecord) => Audiences): Promise<Checked> {
    // Each snapshot change during a signature check means judging the token again by the one in
    // force (see #verifyOnce). Bounded: records replaced during every try (a storm of changes) would
    // otherwise hold the request without end; it is refused as the provider unavailable instead.
    for (let tries = 1; ; tries++) {
      const checked = await this.#verifyOnce(token, now, audiences);
      if (checked !== null) return checked;
      if (tries >= VERIFY_TRIES) {
        throw tokenError(
          "identity-provider-unavailable",
          `the identity records changed during each of ${VERIFY_TRIES} checks of the token: try again`,
        );
      }
    }
  }

  /** One check of a token (see #verify); null when the snapshot changed meanwhile. */
  async #verifyOnce(
    token: string,
    now: number,
    audiences: (p: ProviderRecord) => Audiences,
  ): Promise<Checked | null> {
    const parsed = parseToken(token, this.options.maxTokenBytes);
    const issuer = this.#issuers.get(parsed.issuer);
    if (issuer === undefined) {
      throw tokenError("unknown-issuer", `no identity provider is registered for the token's issuer`);
    }
    const provider = issuer.record.document;
    if (issuer.status !== "active" || issuer.reach === null) {
      throw tokenError(
        "partner-not-active",
        `partner ${provider.partner} is ${issuer.status}: tokens of its identity provider ${provider.id} are refused`,
      );
    }
    const aud = audiences(provider);
    const checked = { ...provider, audiences: aud.accept };
    // Taken before verifying: if a fetch lands meanwhile, a cache entry is bound to the older keys
    // (and verified again on next use), never to keys that may not hold the one that verified it.
    const lookup = issuer.keys.lookup;
    const table = this.#issuers;
    const verified = await verifyToken(token, parsed, checked, issuer.keys, now);
    this.#sync();
    if (this.#issuers !== table) {
      // The snapshot changed while the signature was checked (a partner suspended, a provider removed
      // or changed, a block): judged again by the one in force, as a token never seen. Otherwise it
      // would be accepted, and cached bound to an issuer the new table no longer has (#sync cleared
      // the cache before this entry was put in it), served until its exp.
      return null;
    }
    // jose checked that aud names one accepted; naming the other use's too would let one token do both.
    const other = namedAudience(verified.claims.aud, aud.refuse);
    if (other !== null) {
      throw tokenError(
        "token-audience",
        `the token's aud also names ${aud.what} ${plainOrQuoted(other.slice(0, 200))} of ${provider.id}: ${aud.why}`,
      );
    }
    const subject = readClaim(verified.claims, provider.claims.subject);
    if (typeof subject !== "string" || subject === "" || subject.length > 256) {
      throw tokenError("token-claims", `the token's subject claim is missing or not a short string`);
    }
    if (!isUnicode(subject)) {
      // It would be the principal's id (hashed, a lone surrogate becomes U+FFFD: two subjects, one
      // id) and the audit entry's subject, which RFC 8785 cannot hold.
      throw tokenError("token-claims", `the token's subject claim is not valid Unicode (a lone surrogate)`);
    }
    if (CONTROL.test(subject)) {
      // As a kid's: it is written in the audit entry, explanations and logs, and stored as the
      // principal's subject, where PostgreSQL refuses a NUL and with it every principal written beside.
      throw tokenError("token-claims", `the token's subject claim contains control characters`);
    }
    return {
      issuer,
      reach: issuer.reach,
      verified,
      subject,
      id: federatedPrincipalId(provider.id, subject),
      lookup,
    };
  }

  #refuseBlocked(id: string, blocked: ReadonlyMap<string, unknown> | undefined): void {
    if (blocked?.has(id)) {
      throw tokenError("principal-blocked", `${id} is blocked by an administrator`);
    }
  }

  /** Keyed by the token's SHA-256: the cache's memory does not grow with the tokens' size. */
  #remember(digest: string, entry: Cached): void {
    const max = this.options.tokenCache;
    if (max <= 0) return;
    // Least recently used first out: a Map iterates in insertion order, and a hit is put last.
    if (this.#cache.size >= max) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(digest, entry);
  }

  /** Rebuilds the issuer table when the snapshot's records or policy changed (no network here). */
  #sync(): void {
    const { federation, scheme } = this.options.source();
    if (federation === this.#records && scheme === this.#scheme) return;
    this.#records = federation;
    this.#scheme = scheme;
    this.#cache.clear();
    const issuers = new Map<string, Issuer>();
    const keySets = new Map<string, { fingerprint: string; keys: KeySet }>();
    for (const record of federation.providers) {
      const p = record.document;
      // Only where the keys come from: a change of the intervals alone keeps the keys held (follow).
      const fingerprint = keySourceOf(p);
      const kept = this.#keySets.get(p.id);
      const keys =
        kept !== undefined && kept.fingerprint === fingerprint
          ? kept.keys
          : new KeySet(p, {
              fetchTimeoutMs: this.options.fetchTimeoutMs,
              cooldownMs: this.options.cooldownMs,
              allowHttpLoopback: this.options.allowHttpLoopback,
              ...(this.options.log === undefined ? {} : { log: this.options.log }),
            });
      keys.follow(p);
      keySets.set(p.id, { fingerprint, keys });
      if (keys !== kept?.keys) keys.maintain();
      issuers.set(p.issuer, { record, keys, ...reachOf(scheme, p.partner) });
    }
    this.#issuers = issuers;
    this.#keySets = keySets;
  }

  #note(r: FederatedPrincipalRecord): void {
    const doc = JSON.stringify([r.principal, r.display_name, r.partner]);
    const last = this.#written.get(r.id);
    const at = Date.parse(r.last_seen);
    if (last !== undefined && last.doc === doc && at - last.at < SEEN_EVERY_MS) return;
    const pending = this.#pending.get(r.id);
    // Put last: when the records waiting are too many, the least recently seen go first (#trim).
    this.#pending.delete(r.id);
    this.#pending.set(r.id, pending === undefined ? r : laterFacts(pending, r));
    this.#trim();
  }

  /**
   * Drops the least recently seen records beyond `maxPending` (a Map iterates in insertion order).
   * Never waits: it runs on the request path. Their people are noted again with their next token
   * (a cached one's a minute on), as nothing says they were written; those not seen again are lost.
   */
  #trim(): void {
    const max = this.options.maxPending ?? MAX_PENDING;
    let dropped = 0;
    for (const id of this.#pending.keys()) {
      if (this.#pending.size <= max) break;
      this.#pending.delete(id);
      dropped += 1;
    }
    if (dropped === 0) return;
    this.options.onDropped?.(dropped);
    if (this.#dropped !== null) {
      this.#dropped.count += dropped;
      return;
    }
    // Once until the store takes a write again: an outage would otherwise log a line per person.
    this.#dropped = { count: dropped, since: new Date().toISOString() };
    this.options.log?.(
      `clearance: federated principals: more than ${max} records wait to be written (the store is out of reach or slow); the least recently seen are dropped, each written again from its person's next token, until the store takes them`,
    );
  }

  /**
   * The store took a write: says that it does again after a run of failed flushes (at most once a
   * minute: FailureRun), and how many records were dropped since it last took one (if any).
   */
  #taken(): void {
    const run = this.#failures.worked();
    const failed = run === null ? "" : ` (${failedSince(run, "flush", "flushes")})`;
    const dropped = this.#dropped;
    if (dropped === null) {
      if (run !== null)
        this.options.log?.(`clearance: federated principals: the store takes records again${failed}`);
      return;
    }
    this.#dropped = null;
    this.options.log?.(
      `clearance: federated principals: the store takes records again${failed}; ${dropped.count} waiting were dropped since ${dropped.since} (written again from their people's next tokens)`,
    );
  }

  /**
   * A flush the store took none of (`err`: the batch's refusal): said when FailureRun says so, the
   * first of a run at once, then at most once a minute with how many failed.
   */
  #failed(err: unknown, kept: number): void {
    const run = this.#failures.failed();
    if (run === null) return;
    const message = err instanceof Error ? err.message : String(err);
    const count = run.failures === 1 ? "" : `; ${failedSince(run, "flush", "flushes")}`;
    this.options.onError?.(
      new Error(
        `federated principals: the store takes none (${message}); ${kept} wait to be written, tried again at each flush${count}`,
        { cause: err },
      ),
    );
  }

  /**
   * Writes the principals seen since the last flush, in one batch. If the store refuses it, one at a
   * time: a record the store refuses as invalid input (refusesInput: its own checks, a value its
   * schema refuses), or on its own while it takes another, is set aside (logged and counted), and the
   * others are written; otherwise (the store out of reach, busy) the rest are kept for the next
   * flush. A batch refused as the store out of reach (`outOfReach`: busy, timed out, disconnected)
   * is kept whole, none tried alone. A record set aside is tried again only with the person's next
   * token a minute on. A run of flushes the store takes none of is said once, then at most once a
   * minute with the count, and its end once (`onError`, the log); each counts (`onStoreError`).
   */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = [...this.#pending.values()];
      this.#pending.clear();
      this.#writing = batch.length;
      try {
        await this.#write(batch);
      } finally {
        this.#writing = 0;
      }
    });
    return this.#flushing;
  }

  /**
   * One flush's batch, taken out of #pending (see flush): written, set aside, or put back. Written in
   * parts of at most STATEMENT_RECORDS; a part that runs past the store's statement bound is halved
   * down to HALVED_DOWN_TO (a batch grown during an outage would otherwise time out whole at every
   * flush, for ever); the store out of reach otherwise, what is left is kept.
   */
  async #write(batch: readonly FederatedPrincipalRecord[]): Promise<void> {
    let size = Math.min(batch.length, STATEMENT_RECORDS);
    for (let at = 0; at < batch.length;) {
      const part = batch.slice(at, at + size);
      const outcome = await this.#writePart(part, size > HALVED_DOWN_TO);
      if (outcome === "smaller") size = Math.ceil(size / 2);
      else if (outcome === "done") at += part.length;
      else {
        // What is left: the rest, and this part unless it kept (or set aside) its own records.
        this.#keep(batch.slice(outcome.partKept ? at + part.length : at));
        this.#failed(outcome.err, this.#pending.size);
        return;
      }
    }
  }

  /**
   * One statement's part: "done" (written, or set aside), "smaller" (it ran past the statement's
   * bound and may be halved), or the store out of reach (`partKept`: whether this part's records are
   * kept, or set aside, already; the caller keeps the rest).
   */
  async #writePart(
    batch: readonly FederatedPrincipalRecord[],
    mayHalve: boolean,
  ): Promise<"done" | "smaller" | { readonly err: unknown; readonly partKept: boolean }> {
    const store = this.options.store.federated;
    let batchError: unknown;
    try {
      await store.record(batch);
      this.#wrote(batch);
      this.#taken();
      return "done";
    } catch (err) {
      batchError = err;
      this.options.onStoreError?.(err);
    }
    if (mayHalve && batchError instanceof StoreError && batchError.code === "timeout") return "smaller";
    // The store out of reach (busy, timed out, disconnected): each record alone would fail alike,
    // and wait as long. All are kept for the next flush.
    if (outOfReach(batchError)) return { err: batchError, partKept: false };
    const refused: { record: FederatedPrincipalRecord; err: unknown }[] = [];
    /** Refused for what they hold: trying them again cannot change it (whether or not others are taken). */
    const invalid: { record: FederatedPrincipalRecord; err: unknown }[] = [];
    /** Not taken because the store was out of reach a moment (busy, a lock wait): kept, never set aside. */
    const unreached: FederatedPrincipalRecord[] = [];
    const untried: FederatedPrincipalRecord[] = [];
    let taken = false;
    for (const record of batch) {
      // None taken after a few: the store is out of reach rather than refusing these records.
      if (!taken && refused.length + unreached.length >= ALONE_TRIES) {
        untried.push(record);
        continue;
      }
      try {
        await store.record([record]);
        this.#wrote([record]);
        if (!taken) this.#taken();
        taken = true;
      } catch (err) {
        // Not counted against ALONE_TRIES: it says nothing of whether the store takes others.
        if (refusesInput(err)) invalid.push({ record, err });
        else if (outOfReach(err)) unreached.push(record);
        else refused.push({ record, err });
      }
    }
    // Kept, each would be refused again at every flush, for ever (and, first in line, hold the
    // others back): set aside, as if written, whatever became of the others.
    for (const { record, err } of invalid) this.#setAside(record, "as invalid input", err);
    if (!taken && refused.length + untried.length + unreached.length > 0) {
      // Kept, those not tried first: records the store does refuse cannot hold the others back.
      this.#keep([...untried, ...unreached, ...refused.map((f) => f.record)]);
      return { err: batchError, partKept: true };
    }
    if (unreached.length > 0) this.#keep(unreached);
    // Taken alone but not together, or each refused for what it holds: what the store said of the
    // batch (not a failing store; the records it refuses are set aside, not tried again).
    this.options.onError?.(batchError);
    // Kept, it would be refused again at every flush: set aside, as if written.
    for (const { record, err } of refused) this.#setAside(record, "on its own while it took others", err);
    return "done";
  }

  /**
   * Puts records a flush did not write back in #pending, before those noted meanwhile, which were
   * seen later (the first to go when too many wait).
   */
  #keep(records: readonly FederatedPrincipalRecord[]): void {
    const kept = new Map<string, FederatedPrincipalRecord>();
    for (const r of records) kept.set(r.id, r);
    for (const [id, noted] of this.#pending) {
      const back = kept.get(id);
      kept.delete(id);
      kept.set(id, back === undefined ? noted : laterFacts(back, noted));
    }
    this.#pending = kept;
    this.#trim();
  }

  /** A record not written, and not kept: counted and said (once: it is not tried again until its person's next token a minute on). */
  #setAside(record: FederatedPrincipalRecord, why: string, err: unknown): void {
    this.#wrote([record]);
    this.options.onSetAside?.();
    this.options.log?.(
      `clearance: federated principal ${quoted(record.id)} set aside: the store refused its record ${why} (${err instanceof Error ? err.message : String(err)}); it is not written, and is tried again with the person's next token a minute on`,
    );
  }

  #wrote(records: readonly FederatedPrincipalRecord[]): void {
    if (this.#written.size > 100_000) this.#written.clear();
    for (const r of records) {
      this.#written.set(r.id, {
        doc: JSON.stringify([r.principal, r.display_name, r.partner]),
        at: Date.parse(r.last_seen),
      });
    }
  }
}

function reachOf(scheme: CompiledScheme, partner: string): Pick<Issuer, "reach" | "status"> {
  const adverse = new Set([...scheme.embargoed, ...scheme.restricted]);
  const home = scheme.home;
  const country = scheme.countryPartners.find((p) => p.id === partner);
  if (country !== undefined) {
    return {
      reach: { kind: "country", partner, countries: country.countries, adverse, home },
      status: country.status,
    };
  }
  const org = scheme.organizationPartners.get(partner);
  if (org !== undefined) {
    return {
      reach: { kind: "organization", partner, countries: new Set([org.country]), adverse, home },
      status: org.status,
    };
  }
  return { reach: null, status: "unknown" };
}

/**
 * One person's record from two notes, `earlier` noted before `later`: the facts of the newer token
 * (by `issued_at`; on a tie the later note's) — an older token still cached, or a record put back
 * after a failed write, must not replace a newer token's facts before they are written — seen as
 * early and as late as either says.
 */
function laterFacts(
  earlier: FederatedPrincipalRecord,
  later: FederatedPrincipalRecord,
): FederatedPrincipalRecord {
  const facts = earlier.issued_at > later.issued_at ? earlier : later;
  return {
    ...facts,
    first_seen: earlier.first_seen < later.first_seen ? earlier.first_seen : later.first_seen,
    last_seen: earlier.last_seen > later.last_seen ? earlier.last_seen : later.last_seen,
  };
}
