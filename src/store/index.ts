/**
 * The store: principals, API keys and usage counters, behind one async interface that every driver
 * implements (SQLite now, PostgreSQL later). Callers import only from here; driver modules are
 * loaded on demand so that a deployment never loads a database client it does not use.
 *
 * The gateway never queries the store on the hot path. It polls `version()` and, when the number
 * moves, reloads everything with `snapshot()` into memory.
 */
import { ClearanceError, type ErrorKind } from "../errors/index.js";
import type { Principal } from "../policy/types.js";
import type { ScreeningStore } from "./screening.js";
import type { PrincipalQuery } from "./principal-search.js";

export type { PrincipalQuery } from "./principal-search.js";
import type { KeyQuery } from "./key-search.js";

export type { KeyQuery } from "./key-search.js";
import type { KeyRevocation } from "./keys.js";

export type { KeyRevocation } from "./keys.js";

export type { ScreeningStore, ListVersionRow, MatchRow, MatchStatus, SubjectKind } from "./screening.js";
import type { AlertStore } from "./alerts.js";

export type { AlertRecord, AlertState, AlertStore, NewAlert, AlertFilter } from "./alerts.js";

export type StoreDriver = "sqlite" | "postgres";

/** An API key as stored. The secret itself is never stored: only its hash (see keys.ts). */
export interface ApiKeyRecord {
  /** The public key id (the `<id>` in `clr_<id>_<secret>`); safe to show and log. */
  readonly id: string;
  readonly principalId: string;
  readonly label: string | null;
  /** ISO 8601 UTC. */
  readonly createdAt: string;
  /** ISO 8601 UTC; null while the key is live. */
  readonly revokedAt: string | null;
  /** Hex SHA-256 of the secret part; check a presented secret with `verifySecret`. */
  readonly hash: string;
}

/** An admin change as recorded with it. `actor`: who did it ("system" when the caller did not say). */
export interface OutboxRecord {
  readonly id: number;
  readonly time: string;
  readonly actor: string;
  /** e.g. "principal.put", "key.revoke", "license.approve", "scheme.activate". */
  readonly action: string;
  readonly object: { readonly kind: string; readonly id: string };
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * The last admin change drained into the audit log, and the digest of its entry (audit/outbox.ts);
 * null where it is not known (a position recorded before the log's entry could be read back).
 */
export interface DrainedThrough {
  readonly change: number;
  readonly digest: string | null;
}

/** What the store holds against the audit log's last change (Store.outbox.position). */
export interface OutboxPosition {
  /** Where the drain has caught up with the log; null in a store no drain has recorded it in yet. */
  readonly drained: DrainedThrough | null;
  /** The highest change number the store has given (as lastChange). */
  readonly last: number;
  /** The outbox record numbered as the log's last change, while it waits there. */
  readonly record: OutboxRecord | undefined;
}

/** Usage to add, as metered by the gateway. Tokens and requests are non-negative integers. */
export interface UsageDelta {
  readonly principalId: string;
  readonly organizationId: string | null;
  readonly licenseId: string | null;
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly requests: number;
  /** ISO 8601 date-time the usage happened; the driver buckets usage by UTC day. */
  readonly at: string;
}

/**
 * What a usage batch covers of the gateway's usage journal (src/metering/journal.ts), written in the
 * batch's own transaction: the segments whose usage the batch holds (recorded as written; one already
 * recorded refuses the batch rather than counting it twice), and segments whose files are gone, whose
 * records are no longer needed.
 */
export interface UsageJournalMark {
  readonly written: readonly string[];
  readonly forget?: readonly string[];
}

/** UTC days (YYYY-MM-DD), both included; without `to`, every day from `from` on. */
export interface UsageWindow {
  readonly from: string;
  readonly to?: string;
}

/** One license's tokens: in total, and in each window asked for (in the order asked). */
export interface LicenseWindowTokens {
  readonly licenseId: string;
  readonly total: number;
  readonly windows: number[];
}

/** All-time token totals (input + output). Usage without a license or organization is not keyed there. */
export interface UsageTotals {
  readonly byLicense: Record<string, number>;
  readonly byPrincipal: Record<string, number>;
  readonly byOrganization: Record<string, number>;
}

/** What a caller scoped to its own organization may see of usage: that organization, those licenses. */
export interface UsageScope {
  /** null: none (a caller without an organization sees no organization's sum). */
  readonly organization: string | null;
  readonly licenses: readonly string[];
}

/** The organization's sum and the licenses' sums, as `totals()` has them: absent where there is no usage. */
export type ScopedUsageTotals = Pick<UsageTotals, "byLicense" | "byOrganization">;

/** The control plane's documents, one collection each. */
export type Collection =
  "identity" | "partner" | "license" | "scheme" | "setting" | "identity-provider" | "principal-block";

/**
 * A principal a partner's identity provider vouched for, created just in time from its tokens and
 * refreshed from every newer one. Keyed by (issuer, subject) through its id.
 */
export interface FederatedPrincipalRecord {
  readonly id: string;
  readonly provider: string;
  readonly partner: string;
  readonly issuer: string;
  readonly subject: string;
  readonly display_name: string | null;
  /** The facts the provider was believed for (within its partner's reach). */
  readonly principal: Principal;
  readonly first_seen: string;
  readonly last_seen: string;
  /** The newest token's iat (seconds since the epoch): an older token never overwrites a newer one. */
  readonly issued_at: number;
}

export interface StoredRecord<T = unknown> {
  readonly collection: Collection;
  readonly id: string;
  /** 1 for a new record, +1 per update: compare-and-swap for concurrent writers (two approvers). */
  readonly revision: number;
  readonly document: T;
  readonly updatedAt: string;
}

/**
 * A compare-and-swap on something other than the record written: another record's revision (0: it
 * must not exist), e.g. the active scheme version a license was checked against; or the store's
 * change counter (`version()`), e.g. for an activation checked against every license and partner.
 */
export type PutGuard =
  | { readonly record: { readonly collection: Collection; readonly id: string; readonly revision: number } }
  | { readonly version: number };

/**
 * A write's guards: one, or several that must all hold (e.g. the active scheme version and each
 * approver's identity an approval was decided with).
 */
export type PutGuards = PutGuard | readonly PutGuard[];

/**
 * The guards as a list, record guards first in (collection, id) order: every writer takes its
 * guarded records' locks (PostgreSQL) in one order, whatever order its caller named them in.
 */
export function guardList(guards: PutGuards | undefined): PutGuard[] {
  const list = guards === undefined ? [] : "length" in guards ? [...guards] : [guards];
  const key = (g: PutGuard) => ("record" in g ? `0${g.record.collection}\u0000${g.record.id}` : "1");
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The conflict a guard that no longer holds is refused with. */
export function guardConflict(guard: PutGuard): StoreError {
  return new StoreError(
    "conflict",
    "record" in guard
      ? `${guard.record.collection} ${guard.record.id} changed meanwhile (expected revision ${guard.record.revision}); reload and retry`
      : `the store changed meanwhile (expected version ${guard.version}); reload and retry`,
  );
}

/** What a change to a record is, for the audit log: who did what, and why. */
export interface Change {
  readonly actor: string;
  readonly action: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One write of `records.putAll`: as `records.put`'s arguments. */
export interface RecordWrite {
  readonly collection: Collection;
  readonly id: string;
  readonly document: unknown;
  /** 0: the record must not exist yet. */
  readonly expectedRevision: number;
  readonly change: Change;
}

/** The conflict a write whose record is not at the revision expected is refused with. */
export function revisionConflict(w: Pick<RecordWrite, "collection" | "id" | "expectedRevision">): StoreError {
  return new StoreError(
    "conflict",
    `${w.collection} ${w.id} changed meanwhile (expected revision ${w.expectedRevision}); reload and retry`,
  );
}

/**
 * What the gateway loads at start and at every reload. No usage sums: nothing served reads them
 * (quotas are the counters'), and summing every usage row per principal, organization and license
 * held each reload for seconds at 900,000 rows on SQLite.
 */
export interface StoreSnapshot {
  readonly version: number;
  /** Ordered by id. */
  readonly principals: Principal[];
  /** Revoked keys included (so that a caller can say "revoked" rather than "unknown"). */
  readonly keys: ApiKeyRecord[];
  /** Every control-plane record, by collection. */
  readonly records: readonly StoredRecord[];
}

export interface Store {
  readonly driver: StoreDriver;
  readonly principals: {
    /**
     * Validates (InvalidInputError with field paths), then inserts or replaces. The document is kept
     * exactly as given: no defaults are filled in, `get` returns what was put.
     */
    put(p: Principal, actor?: string): Promise<{ created: boolean }>;
    get(id: string): Promise<Principal | undefined>;
    /** Ordered by id. */
    list(): Promise<Principal[]>;
    /**
     * One page of the list, filtered in the store (by organization, by the start of the id or name):
     * what the admin API lists, reading only the principals it answers with.
     */
    page(query: PrincipalQuery): Promise<Principal[]>;
    /** Also deletes the principal's API keys. False when unknown. */
    remove(id: string, actor?: string): Promise<boolean>;
  };
  readonly keys: {
    /**
     * Issues a key. `key` is the full secret, returned this once and never again.
     * Throws StoreError "unknown-principal" when the principal does not exist.
     */
    create(
      principalId: string,
      label?: string | null,
      actor?: string,
    ): Promise<{ key: string; record: ApiKeyRecord }>;
    /**
     * Idempotent: revoking a revoked key keeps its first revokedAt and changes nothing. Says which
     * this call did, so that a caller (a suspension) does not claim another's revocation as its own.
     * `details` go into the change's audit record (e.g. the alert a detector revoked it for).
     */
    revoke(id: string, actor?: string, details?: Readonly<Record<string, unknown>>): Promise<KeyRevocation>;
    /** Ordered by creation time. */
    list(principalId?: string): Promise<ApiKeyRecord[]>;
    /**
     * One page of keys by id, filtered in the store (by principal, by status): what the admin API
     * lists, reading only the keys it answers with.
     */
    page(query: KeyQuery): Promise<ApiKeyRecord[]>;
  };
  /**
   * Admin changes waiting for the audit log (a transactional outbox): every change to principals or
   * keys writes its record here in the same transaction, so no change can be committed without one,
   * whichever process made it. The audit log drains them in id order.
   */
  readonly outbox: {
    list(afterId: number, limit: number): Promise<OutboxRecord[]>;
    /**
     * Deletes the records up to and including `through.change`, once they are durable in the audit
     * log, and records `through` as where the store has caught up with the log: one transaction.
     */
    remove(through: DrainedThrough): Promise<void>;
    /**
     * The highest change number the store has given (0: none yet), drained or not: a store restored
     * from a backup gives an older one than its audit log holds (see control/restored.ts).
     */
    lastChange(): Promise<number>;
    /**
     * Where the store stands against the log's last change `logged`, in one read (cheap enough for
     * every poll): see control/restored.ts.
     */
    position(logged: number): Promise<OutboxPosition>;
  };
  readonly records: {
    get<T>(collection: Collection, id: string): Promise<StoredRecord<T> | undefined>;
    /** Ordered by id. */
    list<T>(collection: Collection): Promise<StoredRecord<T>[]>;
    /**
     * Writes a record if its stored revision is `expectedRevision` (0: it must not exist yet), else
     * StoreError "conflict". The change's audit record is written in the same transaction. With
     * guards, the write is also refused ("conflict", nothing written) unless every guard still holds
     * when it commits: nothing the caller checked the write against has changed meanwhile.
     */
    put<T>(
      collection: Collection,
      id: string,
      document: T,
      expectedRevision: number,
      change: Change,
      guards?: PutGuards,
    ): Promise<StoredRecord<T>>;
    /**
     * Several writes, each as `put` makes it (its revision checked, its own audit record, in the
     * order given), in one transaction with the guards checked once: all are made, or none (a
     * conflict on any refuses them all). What an activation brings is written so: no reader, no
     * crash, sees the version active without its partners and licenses.
     */
    putAll(writes: readonly RecordWrite[], guards?: PutGuards): Promise<StoredRecord[]>;
  };
  readonly usage: {
    /**
     * All deltas are validated first, then written in one transaction, with `journal`'s segments
     * recorded as written (and its `forget` ones dropped) in that same transaction. Does not bump `version`.
     */
    add(deltas: readonly UsageDelta[], journal?: UsageJournalMark): Promise<void>;
    /** Which of the usage journal's `segments` an `add` recorded as written (those not forgotten since). */
    journaled(segments: readonly string[]): Promise<string[]>;
    /**
     * Drops the usage journal's records whose ids start with `prefix` ("": every one), but for those
     * in `keep`, in one transaction; how many. For a start only (pruneJournal, src/metering/journal.ts,
     * which answers for nobody asking about them any more).
     */
    dropJournaled(prefix: string, keep: readonly string[]): Promise<number>;
    totals(): Promise<UsageTotals>;
    /**
     * `totals()` for one scope: only that organization's rows and those licenses' rows are read and
     * summed (through indexes), in one snapshot; no per-principal sums. What an applicant's view of
     * usage needs, at a cost that follows its own usage, not everyone's.
     */
    scopedTotals(scope: UsageScope): Promise<ScopedUsageTotals>;
    /**
     * Tokens per license, in total and in each window of days, summed in the store in one read and
     * saturated at 2^53 - 1 as `totals()` is; one entry per license with usage, ordered by id. What
     * quotas (a month, a quarter) and the footprint (its period) need: no per-principal sums, no
     * per-day rows (at 10,000 licenses x 90 days, those were 900,000 rows carried into JavaScript).
     */
    byLicenseWindows(windows: readonly UsageWindow[]): Promise<LicenseWindowTokens[]>;
    /** Tokens per license and UTC day (YYYY-MM-DD) from `sinceDay` on. */
    byLicenseDay(sinceDay: string): Promise<{ licenseId: string; day: string; tokens: number }[]>;
  };
  /**
   * Federated principals, written by the gateway off the request path. No version bump: nothing the
   * data plane decides from changes (blocking one is a "principal-block" record, which does).
   */
  readonly federated: {
    /** Inserts or refreshes each (by id); a record from an older token keeps the stored facts. */
    record(records: readonly FederatedPrincipalRecord[]): Promise<void>;
    /** Ordered by id. */
    list(): Promise<FederatedPrincipalRecord[]>;
    get(id: string): Promise<FederatedPrincipalRecord | undefined>;
  };
  /**
   * Monotonic change counter, bumped in the same transaction as every change to principals or keys
   * (by any process sharing the database). A single-row read: cheap enough to poll every ~100 ms.
   */
  version(): Promise<number>;
  /**
   * Calls `onChange` soon after any process commits a change (PostgreSQL: LISTEN/NOTIFY). A hint,
   * not a guarantee: notifications can be missed, so callers keep polling `version()` as well.
   * Absent where no other process can change the store unnoticed between polls (SQLite).
   */
  watch?(onChange: () => void, onError: (err: unknown) => void): Promise<{ close(): Promise<void> }>;
  /** Denied-party screening: list versions, screening matches and the review queue (see screening.ts). */
  readonly screening: ScreeningStore;
  /** Anomaly alerts, their handling and their webhook delivery (src/alerts). */
  readonly alerts: AlertStore;
  /** Present where several nodes share one audit log (PostgreSQL). */
  readonly sharedAudit?: SharedAuditStore;
  /** Everything the gateway's in-memory snapshot needs, read in one transaction. */
  snapshot(): Promise<StoreSnapshot>;
  /** Idempotent. Any other call after close rejects with StoreError "closed". */
  close(): Promise<void>;
}

/**
 * The audit log's tables where several nodes write one log (PostgreSQL). Entries are sequenced by
 * the database; one node at a time, the integrator, signs checkpoints (see audit/shared.ts).
 */
export interface SharedAuditStore {
  /** Records the log's origin and verifier key on first use; rejects a node with different ones. */
  claim(origin: string, verifierKey: string): Promise<void>;
  /** Appends in one transaction; resolves, once committed, with the first entry's index. */
  append(entries: readonly Uint8Array[]): Promise<bigint>;
  /** Moves up to `limit` admin changes from the outbox into the log in one transaction; how many. */
  drainOutbox(toEntry: (r: OutboxRecord) => Uint8Array, limit: number): Promise<number>;
  /** Committed entries from index `from` on, in order, at most `limit`. */
  read(from: bigint, limit: number): Promise<Buffer[]>;
  /**
   * The committed entries with indices in the given ranges (each from ≤ index < to; ascending, not
   * overlapping), in index order, in one round trip.
   */
  readRanges(ranges: readonly { from: bigint; to: bigint }[]): Promise<Buffer[]>;
  size(): Promise<bigint>;
  /** The latest checkpoint recorded by an integrator (a signed note), or null. */
  latestCheckpoint(): Promise<{ size: bigint; note: string } | null>;
  /**
   * This node's chance to be the integrator (a session of its own). `leaseMs`: while it holds the
   * seat, the session says something at least every third of it; a holder whose session has been
   * idle longer (a frozen process, a backend orphaned by a cut link) has its session ended by the
   * next node to try, which takes the seat.
   */
  seat(options?: { leaseMs?: number }): IntegratorSeat;
}

export interface IntegratorSeat {
  /** True while this node holds the integrator lock. */
  readonly held: boolean;
  /** Takes the lock if free (or already held); reconnects a lost session. */
  acquire(): Promise<boolean>;
  /** Records a signed checkpoint through the lock's session: fails once the lock is lost. */
  publish(cp: { size: bigint; root: Buffer; note: string; node: string }): Promise<void>;
  /** Gives the lock up, keeping the session (to take it again later). */
  release(): Promise<void>;
  /**
   * Gives the lock up (ends the session, and one being opened). Bounded: a session that does not end
   * within seconds (a silent link) is dropped, and the promise rejects saying so.
   */
  close(): Promise<void>;
}

export interface StoreOptions {
  readonly driver?: StoreDriver;
  /** SQLite: the database is `<dataDir>/clearance.db`; dataDir is created with mode 0700 if missing. */
  readonly dataDir: string;
  /**
   * SQLite: false opens only an existing `<dataDir>/clearance.db` and creates nothing — StoreError
   * "no-store" when there is none (a command on a deployment given the wrong directory). Default
   * true: the gateway creates its store. PostgreSQL: not used (the tables are migrated in).
   */
  readonly create?: boolean;
  /**
   * PostgreSQL: the connection string (default: the DATABASE_URL environment variable). The tables go
   * in the connection's search_path schema, e.g. `?options=-c%20search_path%3Dclearance`.
   */
  readonly url?: string;
  /**
   * PostgreSQL: how long a request-path query (an audit append, the version poll) may take before its
   * connection is dropped and the query refused (default 5000).
   */
  readonly queryTimeoutMs?: number;
  /**
   * PostgreSQL: how long a change waits for a lock (another node's long change, say) before it fails
   * as StoreError "busy" (default 30000). Any admin statement is cancelled by the server after
   * lockTimeoutMs + queryTimeoutMs, and given up by the client one queryTimeoutMs later: StoreError
   * "timeout". Also bounds each lock wait of the migrations run at open (another process's migration,
   * a table in use elsewhere): the open fails as StoreError "busy", naming what waited.
   */
  readonly lockTimeoutMs?: number;
}

export type StoreErrorCode =
  | "unknown-principal"
  | "unknown-match"
  | "schema-too-new"
  | "closed"
  | "conflict"
  | "no-store"
  /** A change waited too long for a lock (PostgreSQL): nothing changed; try again. */
  | "busy"
  /**
   * An admin statement ran, the store was silent, or no connection was had, past its bound
   * (PostgreSQL); see the message.
   */
  | "timeout"
  /** The connection to the store was lost under a call (PostgreSQL); see the message. */
  | "disconnected";

const KIND_OF: Readonly<Record<StoreErrorCode, ErrorKind>> = {
  "unknown-principal": "not-found",
  "unknown-match": "not-found",
  "schema-too-new": "internal",
  closed: "unavailable",
  conflict: "conflict",
  "no-store": "not-found",
  busy: "unavailable",
  timeout: "unavailable",
  disconnected: "unavailable",
};

/** A failure callers may tell apart; its kind says how the edge answers it (a conflict is 409). */
export class StoreError extends ClearanceError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(KIND_OF[code], code, message);
    this.name = "StoreError";
  }
}

/**
 * Opens (creating, unless told not to, and migrating if needed) the store. Rejects on a database
 * newer than this build.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const driver = options.driver ?? "sqlite";
  switch (driver) {
    case "sqlite": {
      const { openSqliteStore } = await import("./sqlite/index.js");
      return openSqliteStore(options.dataDir, { create: options.create ?? true });
    }
    case "postgres": {
      const url = options.url ?? process.env.DATABASE_URL;
      if (url === undefined || url === "")
        throw new Error("the postgres store needs a connection string: set url, or DATABASE_URL");
      const { openPostgresStore } = await import("./postgres/index.js");
      return openPostgresStore(url, {
        ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
        ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
      });
    }
    default:
      throw new Error(`unknown store driver: ${String(driver satisfies never)}`);
  }
}
