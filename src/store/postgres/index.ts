/**
 * The shared store: one PostgreSQL schema for every gateway process and the CLI. The semantics are
 * the SQLite driver's (the reference), and the shared suite (../suite.ts) holds both to them. This
 * file opens the pool and decides the transactions; queries.ts holds the SQL.
 *
 * Each change is one transaction (READ COMMITTED) on one pooled connection, and bumps the version
 * and writes its outbox record in that transaction (see `changed` for why in that order). Reads are
 * single autocommit statements, except snapshot(), which needs one consistent view.
 */
import pg from "pg";
import { SetupError } from "../../errors/index.js";
import type { Principal } from "../../policy/types.js";
import {
  checkActor,
  checkFederated,
  checkLabel,
  checkUsageDeltas,
  checkWrites,
  principalDocument,
} from "../input.js";
import { generateApiKey, isKeyId, type KeyRevocation } from "../keys.js";
import {
  StoreError,
  guardConflict,
  guardList,
  revisionConflict,
  type RecordWrite,
  type PutGuards,
  type ApiKeyRecord,
  type Change,
  type Collection,
  type FederatedPrincipalRecord,
  type DrainedThrough,
  type OutboxPosition,
  type OutboxRecord,
  type SharedAuditStore,
  type StoredRecord,
  type PrincipalQuery,
  type KeyQuery,
  type Store,
  type StoreSnapshot,
  type LicenseWindowTokens,
  type UsageDelta,
  type UsageJournalMark,
  type ScopedUsageTotals,
  type UsageScope,
  type UsageTotals,
  type UsageWindow,
} from "../index.js";
import { migrate, quoteIdent } from "./migrations.js";
import * as q from "./queries.js";
import { KEEPALIVE_MS } from "./queries.js";
import { watchChanges, type ChangeWatch } from "./watch.js";
import { sharedAudit } from "./audit.js";
import { postgresScreening } from "./screening.js";
import { postgresAlerts } from "./alerts.js";
import type { AlertStore } from "../alerts.js";
import { quoted } from "../../policy/text.js";

export interface PostgresStoreOptions {
  /**
   * Keep the tables in this schema (created if missing) rather than in the connection's search_path
   * (by default `public`; a URL can choose with `?options=-c%20search_path%3D<schema>`).
   */
  readonly schema?: string;
  /** The most connections this store opens (default 10). */
  readonly max?: number;
  /** See StoreOptions.queryTimeoutMs. */
  readonly queryTimeoutMs?: number;
  /** See StoreOptions.lockTimeoutMs. */
  readonly lockTimeoutMs?: number;
  /** How long an admin call waits for a free connection, or for a new one to connect (default 30000). */
  readonly connectTimeoutMs?: number;
}

/** Connects, migrates (see migrations.ts), and returns the store. Rejects on a schema newer than this build. */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<PostgresStore> {
  const { schema } = options;
  // Awaited before the pool hands the connection out, so no query can run in another schema.
  const onConnect =
    schema === undefined
      ? undefined
      : async (client: pg.ClientBase) =>
          void (await client.query(`SET search_path TO ${quoteIdent(schema)}`));
  const common = {
    connectionString: url,
    types: q.TYPES,
    // A link that stops carrying packets is otherwise noticed by nothing: an idle connection would
    // be handed out dead, and a query on it would wait for ever.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_MS,
  };
  const timeout = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const bounds = adminBounds(lockTimeoutMs, timeout);
  const connectMs = options.connectTimeoutMs ?? ADMIN_CONNECT_MS;
  const pool = new pg.Pool({
    ...common,
    onConnect,
    max: options.max ?? 10,
    fallback_application_name: "clearance",
    // Waiting for a free connection or for a connect: an admin call fails rather than hangs.
    connectionTimeoutMillis: connectMs,
    // A transaction whose node went silent mid-way (a drain holds audit_head's row lock, which every
    // node's appends need) is ended by the server, not left holding its locks until TCP gives up.
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    // Every admin statement bounded (see adminBounds): a locked table or a silent store otherwise
    // held the admin call, and its connection, for ever.
    statement_timeout: bounds.serverMs,
    query_timeout: bounds.clientMs,
  });
  // The request path's own connections (audit appends, the version poll): admin writes cannot take
  // them, and every query on them is bounded — on the client (a silent link: the connection is
  // destroyed and the query refused) and on the server (a statement stuck behind a lock).
  const fast = new pg.Pool({
    ...common,
    onConnect,
    max: 2,
    fallback_application_name: "clearance-requests",
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    statement_timeout: timeout,
  });
  // A server that drops an idle connection (restart, idle timeout) makes the pool emit "error"; with
  // no listener that would kill the process. The pool discards the connection and reconnects on demand.
  pool.on("error", () => undefined);
  fast.on("error", () => undefined);
  // The pool hears a connection's "error" only while it is idle. One the server ends while it is
  // checked out (pg_terminate_backend, a failover, the idle-in-transaction timeout) emits it on its
  // client, unheard, and that ended the process. The query in flight is refused all the same, and
  // the connection is discarded when it is released.
  for (const p of [pool, fast]) p.on("connect", (client) => void client.on("error", () => undefined));
  try {
    // Its own session, without the admin statement bounds: a migration may take long on a big store.
    // Its lock waits are bounded (another process's migration, a table in use elsewhere), and a
    // migrating process gone silent mid-way has its session ended, not left holding the locks.
    const client = new pg.Client({
      ...common,
      connectionTimeoutMillis: connectMs,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    });
    client.on("error", () => undefined);
    await client.connect().catch((err: unknown) => {
      // A deployment's mistake (the server down or elsewhere, a wrong database, user or password).
      throw new SetupError(
        `cannot connect to the PostgreSQL store (${whereTo(url)}): ${(err as Error).message || ((err as { code?: string }).code ?? String(err))}: check the store's connection string and that the server is up`,
      );
    });
    try {
      await onConnect?.(client);
      await migrate(client, undefined, {
        lockTimeoutMs,
        ...(schema === undefined ? {} : { createSchema: schema }),
      });
      await q.fillSearchColumns(client);
    } finally {
      await client.end();
    }
    return new PostgresStore(
      pool,
      fast,
      { url, ...(schema === undefined ? {} : { schema }) },
      lockTimeoutMs,
      DRAIN_TIMEOUT_FACTOR * timeout,
      bounds,
      connectMs,
    );
  } catch (err) {
    await Promise.all([pool.end(), fast.end()]);
    throw err;
  }
}

/**
 * Where a connection string points, for a message: user, host, port and database, never the
 * password (nor any other part: a string that is no postgres:// URL is not shown at all).
 */
export function whereTo(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol === "postgres:" || u.protocol === "postgresql:") {
      // A password holding an unencoded `/`, `?` or `#` ends the URL's authority early: the parser
      // then reads the password as a port and the rest as the path, so nothing of it is shown.
      const at = url.lastIndexOf("@");
      const authority = at < 0 ? "" : url.slice(url.indexOf("//") + 2, at);
      if (/[/?#]/.test(authority) || u.host.includes("@") || u.pathname.includes("@"))
        return "its connection string is not a well-formed postgres:// URL (percent-encode the password)";
      return `${decodeURIComponent(u.username) || "?"}@${u.host || "?"}${decodeURIComponent(u.pathname)}`;
    }
  } catch {
    // Not a URL: said so below.
  }
  return "its connection string is not a postgres:// URL";
}

/** Request-path queries (audit appends, the version poll) fail after this long by default. */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
/** A drain of admin changes (up to 500 entries) may take this many query timeouts per statement. */
const DRAIN_TIMEOUT_FACTOR = 6;
/** How long a change transaction's statement waits for a lock by default before the change fails. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** PostgreSQL's SQLSTATE for a lock_timeout that expired. */
const LOCK_NOT_AVAILABLE = "55P03";
/** PostgreSQL's SQLSTATEs for a transaction ended to break a deadlock, or a serialization failure. */
const DEADLOCK_DETECTED = "40P01";
const SERIALIZATION_FAILURE = "40001";
/** The server ends a session idle this long inside a transaction (its client is gone or frozen). */
const IDLE_IN_TRANSACTION_MS = 30_000;
/** How long an admin call waits for a connection before it fails. */
const ADMIN_CONNECT_MS = 30_000;

/** PostgreSQL's SQLSTATE for a statement cancelled (here: its statement_timeout expired). */
const QUERY_CANCELED = "57014";
/** node-postgres's error for a query_timeout that expired. */
const CLIENT_TIMEOUT = "Query read timeout";
/** pg-pool's errors for its connectionTimeoutMillis: no connection came free, or a new one did not connect. */
const POOL_WAIT_TIMEOUT = "timeout exceeded when trying to connect";
const POOL_CONNECT_TIMEOUT = "Connection terminated due to connection timeout";

/**
 * PostgreSQL's SQLSTATEs for a session the server ended: an administrator's pg_terminate_backend
 * or a shutdown, a crash, a server still starting, the idle-in-transaction timeout.
 */
const SESSION_ENDED = new Set(["57P01", "57P02", "57P03", "25P03"]);
/** node-postgres's errors for a connection lost under its client. */
const CONNECTION_LOST = new Set([
  "Connection terminated unexpectedly",
  "Client has encountered a connection error and is not queryable",
]);

/** Whether `err` says the connection to the store was lost (its session ended, its link reset). */
function connectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && (SESSION_ENDED.has(code) || code.startsWith("08"))) return true;
  if (code === "ECONNRESET" || code === "EPIPE") return true;
  return CONNECTION_LOST.has((err as Error | undefined)?.message ?? "");
}

/** How long an admin statement may take: on the server, then on the client. */
export interface AdminBounds {
  readonly serverMs: number;
  readonly clientMs: number;
}

/**
 * A change's statement may wait lockTimeoutMs for a lock (then fails as "busy") and then run as long
 * as a request-path query may; the server cancels it after that (a clean error: nothing is changed).
 * The client gives up one query timeout later: a store that does not answer at all.
 */
export function adminBounds(lockTimeoutMs: number, queryTimeoutMs: number): AdminBounds {
  const serverMs = Math.max(1, Math.round(lockTimeoutMs + queryTimeoutMs));
  return { serverMs, clientMs: serverMs + Math.max(1, Math.round(queryTimeoutMs)) };
}

export class PostgresStore implements Store {
  readonly driver = "postgres" as const;
  readonly #pool: pg.Pool;
  readonly #fast: pg.Pool;
  readonly #where: { url: string; schema?: string };
  readonly #lockTimeoutMs: number;
  readonly #bounds: AdminBounds;
  readonly #connectMs: number;
  /** The pool, its queries' timeouts reported as StoreError "timeout". */
  readonly #bounded: pg.Pool;
  readonly #watches = new Set<ChangeWatch>();
  #closed = false;

  readonly sharedAudit: SharedAuditStore;
  readonly screening;
  readonly alerts: AlertStore;

  constructor(
    pool: pg.Pool,
    fast: pg.Pool,
    where: { url: string; schema?: string },
    lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
    drainTimeoutMs = DRAIN_TIMEOUT_FACTOR * DEFAULT_QUERY_TIMEOUT_MS,
    bounds = adminBounds(lockTimeoutMs, DEFAULT_QUERY_TIMEOUT_MS),
    connectMs = ADMIN_CONNECT_MS,
  ) {
    this.#pool = pool;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#bounds = bounds;
    this.#connectMs = connectMs;
    const query = (text: string | pg.QueryConfig, values?: unknown[]) =>
      pool.query(text as string, values).catch((err: unknown) => {
        throw this.#unavailable(err, "maybe") ?? err;
      });
    this.#bounded = Object.assign(Object.create(pool) as pg.Pool, { query });
    this.#fast = fast;
    this.#where = where;
    this.sharedAudit = sharedAudit(pool, fast, where, drainTimeoutMs);
    this.screening = postgresScreening(
      () => this.#live(),
      (fn) => this.#tx(fn),
    );
    this.alerts = postgresAlerts(
      () => this.#live(),
      (fn) => this.#tx(fn),
    );
  }

  /** The pool (bounded), or StoreError "closed". Single statements need no explicit transaction. */
  #live(): pg.Pool {
    if (this.#closed) throw new StoreError("closed", "the store is closed");
    return this.#bounded;
  }

  /**
   * An admin statement's timeout as StoreError "timeout", its connection lost as "disconnected", or
   * null. `changed`: whether a change may have been made all the same (an autocommit write or COMMIT
   * whose answer did not come back).
   */
  #unavailable(err: unknown, changed: "no" | "maybe"): StoreError | null {
    // The pool's wait for a connection: as much a bound as a statement's, and nothing was sent yet.
    const message = (err as Error | undefined)?.message;
    if (message === POOL_WAIT_TIMEOUT || message === POOL_CONNECT_TIMEOUT) {
      const what =
        message === POOL_WAIT_TIMEOUT ? "no admin connection came free" : "could not connect to the store";
      return new StoreError("timeout", `${what} in ${this.#connectMs} ms; nothing was changed, try again`);
    }
    const server = (err as { code?: unknown }).code === QUERY_CANCELED;
    const outcome =
      server || changed === "no"
        ? "nothing was changed, try again"
        : "if this was a change it may have been made: look before trying again";
    // Its answer will not come: said as such, not as an internal error.
    if (connectionLost(err))
      return new StoreError("disconnected", `the connection to the store was lost (${message}); ${outcome}`);
    if (!server && message !== CLIENT_TIMEOUT) return null;
    const [ms, what] = server
      ? [this.#bounds.serverMs, "a statement took"]
      : [this.#bounds.clientMs, "the store did not answer in"];
    return new StoreError("timeout", `${what} over ${ms} ms; ${outcome}`);
  }

  /** Runs `fn` in a transaction on one connection: BEGIN, fn, COMMIT; ROLLBACK on any error. */
  async #tx<T>(fn: (db: pg.PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
    this.#live();
    const client = await this.#pool.connect().catch((err: unknown) => {
      throw this.#unavailable(err, "no") ?? err;
    });
    let committing = false;
    try {
      // One round trip: a change queued behind a long transaction fails after a while, and gives its
      // connection back, rather than holding it (and the admin API caller) for as long as that lasts.
      await client.query(
        `${begin}; SET LOCAL lock_timeout = ${Math.max(1, Math.round(this.#lockTimeoutMs))}`,
      );
      const result = await fn(client);
      committing = true;
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (err) {
      if ((err as Error | undefined)?.message === CLIENT_TIMEOUT) {
        // The statement is still in flight: a ROLLBACK would queue behind it. Closing the connection
        // ends the transaction on the server instead.
        client.release(err as Error);
      } else {
        // A connection that cannot even roll back is broken: release(e) closes it instead of pooling it.
        await client.query("ROLLBACK").then(
          () => client.release(),
          (e: Error) => client.release(e),
        );
      }
      const code = (err as { code?: unknown }).code;
      if (code === LOCK_NOT_AVAILABLE)
        throw new StoreError(
          "busy",
          `the store is busy (a change waited over ${this.#lockTimeoutMs} ms for a lock); nothing was changed, try again`,
        );
      // PostgreSQL ended this transaction to let another through: nothing was changed.
      if (code === DEADLOCK_DETECTED || code === SERIALIZATION_FAILURE)
        throw new StoreError(
          "busy",
          "the store is busy (a change ran into another at the same moment); nothing was changed, try again",
        );
      throw this.#unavailable(err, committing ? "maybe" : "no") ?? err;
    }
  }

  /** The change's version bump and audit record, in the caller's transaction. */
  #changed(
    db: pg.PoolClient,
    actor: string | undefined,
    action: string,
    object: OutboxRecord["object"],
    details: Record<string, unknown> = {},
  ): Promise<void> {
    return q.changed(db, now(), { actor: actor ?? "system", action, object, details });
  }

  readonly principals = {
    put: async (p: Principal, actor?: string): Promise<{ created: boolean }> => {
      const { id, json } = principalDocument(p);
      checkActor(actor);
      return this.#tx(async (db) => {
        const created = await q.putPrincipal(db, p, json, now());
        const details = { created, principal: JSON.parse(json) as unknown };
        await this.#changed(db, actor, "principal.put", { kind: "principal", id }, details);
        return { created };
      });
    },
    get: async (id: string): Promise<Principal | undefined> => {
      const pool = this.#live();
      return q.storable(id) ? q.getPrincipal(pool, id) : undefined;
    },
    list: async (): Promise<Principal[]> => q.listPrincipals(this.#live()),
    page: async (query: PrincipalQuery): Promise<Principal[]> => q.pagePrincipals(this.#live(), query),
    remove: async (id: string, actor?: string): Promise<boolean> => {
      checkActor(actor);
      this.#live();
      if (!q.storable(id)) return false;
      return this.#tx(async (db) => {
        // The keys go too (ON DELETE CASCADE): a key must not outlive the principal it speaks for.
        if ((await db.query("DELETE FROM principals WHERE id = $1", [id])).rowCount === 0) return false;
        await this.#changed(db, actor, "principal.remove", { kind: "principal", id });
        return true;
      });
    },
  };

  readonly keys = {
    create: async (
      principalId: string,
      label?: string | null,
      actor?: string,
    ): Promise<{ key: string; record: ApiKeyRecord }> => {
      const checkedLabel = checkLabel(label);
      checkActor(actor);
      this.#live();
      if (!q.storable(principalId))
        throw new StoreError("unknown-principal", `no principal with id ${quoted(principalId)}`);
      return this.#tx(async (db) => {
        for (;;) {
          const { id, key, hash } = generateApiKey();
          const record = { id, principalId, label: checkedLabel, createdAt: now(), revokedAt: null, hash };
          // The foreign key checks that the principal exists, and locks it against a concurrent remove.
          const inserted = await q.insertKey(db, record).catch((err: unknown) => {
            if ((err as { code?: unknown }).code !== q.FOREIGN_KEY_VIOLATION) throw err;
            throw new StoreError("unknown-principal", `no principal with id ${quoted(principalId)}`);
          });
          // 60 random bits: a collision is practically impossible, but a retry is cheaper than the doubt.
          if (!inserted) continue;
          const details = { principal: principalId, label: checkedLabel };
          await this.#changed(db, actor, "key.create", { kind: "key", id }, details);
          return { key, record };
        }
      });
    },
    revoke: async (
      id: string,
      actor?: string,
      details?: Readonly<Record<string, unknown>>,
    ): Promise<KeyRevocation> => {
      checkActor(actor);
      this.#live();
      // Ids are generated in one format: anything else is unknown without asking the database.
      if (!isKeyId(id)) return "unknown";
      return this.#tx(async (db) => {
        const outcome = await q.revokeKey(db, id, now());
        // Already revoked: no change, so no version bump, and the first revokedAt stands.
        if (outcome === "revoked")
          await this.#changed(db, actor, "key.revoke", { kind: "key", id }, { ...details });
        return outcome;
      });
    },
    list: async (principalId?: string): Promise<ApiKeyRecord[]> => {
      const pool = this.#live();
      return principalId === undefined || q.storable(principalId) ? q.listKeys(pool, principalId) : [];
    },
    page: async (query: KeyQuery): Promise<ApiKeyRecord[]> => q.pageKeys(this.#live(), query),
  };

  readonly outbox = {
    list: async (afterId: number, limit: number): Promise<OutboxRecord[]> =>
      q.listOutbox(this.#live(), afterId, limit),
    remove: async (through: DrainedThrough): Promise<void> =>
      this.#tx(async (db) => {
        await db.query("DELETE FROM audit_outbox WHERE id <= $1", [through.change]);
        await q.setDrained(db, through);
      }),
    lastChange: async (): Promise<number> => q.lastOutboxId(this.#live()),
    position: async (logged: number): Promise<OutboxPosition> => q.outboxPosition(this.#live(), logged),
  };

  readonly records = {
    get: async <T>(collection: Collection, id: string): Promise<StoredRecord<T> | undefined> => {
      const pool = this.#live();
      return q.storable(id) ? q.getRecord<T>(pool, collection, id) : undefined;
    },
    list: async <T>(collection: Collection): Promise<StoredRecord<T>[]> =>
      q.listRecords<T>(this.#live(), collection),
    put: async <T>(
      collection: Collection,
      id: string,
      document: T,
      expectedRevision: number,
      change: Change,
      guards?: PutGuards,
    ): Promise<StoredRecord<T>> =>
      (
        await this.records.putAll([{ collection, id, document, expectedRevision, change }], guards)
      )[0] as StoredRecord<T>,
    putAll: async (writes: readonly RecordWrite[], guards?: PutGuards): Promise<StoredRecord[]> => {
      checkWrites(writes);
      return this.#tx(async (db) => {
        // Each guarded record is read FOR SHARE: a writer changing it waits for this to commit, and
        // this waits for one that has changed it (then sees its revision). Guarded and written
        // records are locked in one pass in (collection, id) order, a guard before a write of the
        // same record, so two batches, or a batch and a guarded write, sharing records cannot
        // deadlock (guards first, then writes, could: an activation inserting a license and then
        // changing the active-scheme record, against an application of that license guarded on the
        // active scheme). The version is read after these writes have locked their records, under
        // the lock of every change's version bump (taken before that bump would): no change commits
        // between this check and COMMIT. Their audit records follow in the order given.
        const list = guardList(guards);
        const key = (collection: string, id: string) => `${collection}\u0000${id}`;
        const steps = [
          ...list.flatMap((guard) =>
            "record" in guard
              ? [{ key: key(guard.record.collection, guard.record.id), guard, write: -1 }]
              : [],
          ),
          ...writes.map((w, i) => ({ key: key(w.collection, w.id), guard: null, write: i })),
        ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.write - b.write));
        const stored: (StoredRecord | undefined)[] = new Array(writes.length);
        const at = now();
        let refused: RecordWrite | undefined;
        for (const step of steps) {
          if (step.guard !== null && "record" in step.guard) {
            const { record } = step.guard;
            // No stored id holds a NUL (PostgreSQL's text cannot): such a record does not exist.
            const { rows } = !q.storable(record.id)
              ? { rows: [] }
              : await db.query<{ revision: number }>(
                  "SELECT revision FROM records WHERE collection = $1 AND id = $2 FOR SHARE",
                  [record.collection, record.id],
                );
            if ((rows[0]?.revision ?? 0) !== record.revision) throw guardConflict(step.guard);
            continue;
          }
          const w = writes[step.write] as RecordWrite;
          stored[step.write] = await q.casRecord(
            db,
            { collection: w.collection, id: w.id, document: w.document, updatedAt: at },
            w.expectedRevision,
          );
          // A refused write ends the batch: nothing after it is tried, the transaction rolls back.
          if (stored[step.write] === undefined) {
            refused = w;
            break;
          }
        }
        for (const guard of list) {
          if (!("version" in guard)) continue;
          const { rows } = await db.query<{ version: number }>(
            "SELECT version FROM store_meta WHERE id = 1 FOR NO KEY UPDATE",
          );
          if (Number(rows[0]?.version ?? 0) !== guard.version) throw guardConflict(guard);
        }
        if (refused !== undefined) throw revisionConflict(refused);
        // One bump, notice and outbox insert for the batch (three round trips, not three a write:
        // an activation bringing 2,000 licenses held the store's lock for seconds), the version
        // moved on by one a write and the audit records in the order given, as one by one.
        await q.changedAll(
          db,
          now(),
          writes.map((w) => ({
            actor: w.change.actor,
            action: w.change.action,
            object: { kind: w.collection, id: w.id },
            details: { ...w.change.details },
          })),
        );
        return stored as StoredRecord[];
      });
    },
  };

  readonly federated = {
    record: async (records: readonly FederatedPrincipalRecord[]): Promise<void> => {
      checkFederated(records);
      const pool = this.#live();
      if (records.length > 0) await q.recordFederated(pool, records);
    },
    list: async (): Promise<FederatedPrincipalRecord[]> => q.listFederated(this.#live()),
    get: async (id: string): Promise<FederatedPrincipalRecord | undefined> => {
      const pool = this.#live();
      return q.storable(id) ? q.getFederated(pool, id) : undefined;
    },
  };

  readonly usage = {
    add: async (deltas: readonly UsageDelta[], journal?: UsageJournalMark): Promise<void> => {
      const checked = checkUsageDeltas(deltas);
      const written = journal?.written ?? [];
      const forget = journal?.forget ?? [];
      if (written.length === 0 && forget.length === 0) {
        const pool = this.#live();
        if (checked.length > 0) await q.addUsage(pool, checked);
        return;
      }
      // The journal's segments recorded with their usage, in one transaction (a segment already
      // recorded fails it: the primary key).
      await this.#tx(async (client) => {
        if (checked.length > 0) await q.addUsage(client, checked);
        await q.markJournal(client, written, forget);
      });
    },
    journaled: async (segments: readonly string[]): Promise<string[]> =>
      segments.length === 0 ? [] : q.journaled(this.#live(), segments),
    dropJournaled: async (prefix: string, keep: readonly string[]): Promise<number> =>
      q.dropJournaled(this.#live(), prefix, keep),
    totals: async (): Promise<UsageTotals> => q.usageTotals(this.#live()),
    scopedTotals: async (scope: UsageScope): Promise<ScopedUsageTotals> =>
      q.usageScopedTotals(this.#live(), scope),
    byLicenseWindows: async (windows: readonly UsageWindow[]): Promise<LicenseWindowTokens[]> =>
      q.usageByLicenseWindows(this.#live(), windows),
    byLicenseDay: async (sinceDay: string) => q.usageByLicenseDay(this.#live(), sinceDay),
  };

  async version(): Promise<number> {
    // One single-row read in autocommit mode: no BEGIN/COMMIT round trips for the ~10 polls a second.
    this.#live();
    return q.version(this.#fast);
  }

  async snapshot(): Promise<StoreSnapshot> {
    // REPEATABLE READ: all the reads see one snapshot. Under READ COMMITTED a change committing
    // between two reads could pair the old key list with the new version, and the gateway, holding
    // that version, would not reload to pick the change up.
    return this.#tx(
      async (db) => ({
        version: await q.version(db),
        principals: await q.listPrincipals(db),
        keys: await q.listKeys(db),
        records: await q.listRecords(db),
      }),
      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    );
  }

  async watch(onChange: () => void, onError: (err: unknown) => void): Promise<ChangeWatch> {
    this.#live();
    const w = await watchChanges({ ...this.#where, onChange, onError });
    this.#watches.add(w);
    return {
      close: async () => {
        this.#watches.delete(w);
        await w.close();
      },
    };
  }

  /** Idempotent; waits for queries in flight, then closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((w) => w.close()));
    await Promise.all([this.#pool.end(), this.#fast.end()]);
  }
}

function now(): string {
  return new Date().toISOString();
}
