/**
 * The embedded store: one SQLite file, shared by the gateway and the CLI, possibly at the same time.
 * Calls run synchronously (better-sqlite3) behind the async Store interface.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
import { generateApiKey, generateKeyId, isKeyId, type KeyRevocation } from "../keys.js";
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
  type StoredRecord,
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
import {
  FEDERATED_COLUMNS,
  KEY_COLUMNS,
  toFederated,
  toKey,
  toStored,
  type FederatedRow,
  type KeyRow,
  type RecordRow,
} from "../rows.js";
import { migrate } from "./migrations.js";
import { FOLDED_COLUMNS, principalWhere, searchColumns, type PrincipalQuery } from "../principal-search.js";
import { keyWhere, type KeyQuery } from "../key-search.js";
import { WriteGate } from "./gate.js";
import { sqliteScreening } from "./screening.js";
import { sqliteAlerts } from "./alerts.js";
import type { AlertStore } from "../alerts.js";
import { quoted } from "../../policy/text.js";

export const DB_FILE = "clearance.db";

/** How long a write waits for another process (the CLI, a second gateway) to release the lock. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens `<dataDir>/clearance.db`. With create false, only an existing one: StoreError "no-store"
 * otherwise, and neither the directory nor the file is created.
 */
export async function openSqliteStore(
  dataDir: string,
  options: { readonly create?: boolean } = {},
): Promise<SqliteStore> {
  const create = options.create ?? true;
  const file = join(dataDir, DB_FILE);
  if (create) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Create the file ourselves so it is born 0600 (SQLite would make it 0644). SQLite gives the -wal
    // and -shm files the database file's mode. An existing file's mode is left as its owner set it.
    try {
      writeFileSync(file, "", { flag: "wx", mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  } else {
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) throw new StoreError("no-store", `no store at ${dataDir} (it has no ${DB_FILE})`);
    // An empty file is no store either (a gateway stopped between making the file and its first
    // write, a `touch`): SQLite would take it as an empty database, and migrating it makes a store.
    if (size === 0) throw new StoreError("no-store", `no store at ${dataDir} (its ${DB_FILE} is empty)`);
  }
  // `timeout` is SQLite's busy_timeout: wait for a lock instead of failing with SQLITE_BUSY.
  // fileMustExist: SQLite itself would create a missing file (say, removed since the check above).
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !create });
  } catch (err) {
    if (!create && !existsSync(file))
      throw new StoreError("no-store", `no store at ${dataDir} (it has no ${DB_FILE})`);
    throw err;
  }
  try {
    configure(db);
    migrate(db);
    await fillSearchColumns(db);
    return new SqliteStore(db);
  } catch (err) {
    db.close();
    // Not a database at all, or a damaged one: said with the file (a stack trace said neither).
    const code = (err as { code?: unknown }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
      throw new SetupError(
        `${file} is not a usable store (${(err as Error).message}): restore it from a backup, or give the right data directory`,
      );
    throw err;
  }
}

function configure(db: Database.Database): void {
  // WAL: readers (the gateway's polls and snapshots) never block the writer and vice versa. The mode
  // is persistent in the file; it can fail to stick (e.g. some network file systems).
  db.pragma("journal_mode = WAL");
  // FULL: every commit is fsynced before it returns. A revocation must survive an OS crash or power
  // loss (DESIGN.md: revocations are never lost); the writes are rare (admin changes, and usage in
  // batches of one a second), so the fsync costs nothing that matters.
  db.pragma("synchronous = FULL");
  // Per connection. better-sqlite3 builds SQLite with it on, but stock SQLite defaults to off, and
  // without it REFERENCES and ON DELETE CASCADE silently do nothing: say it rather than rely on a build flag.
  db.pragma("foreign_keys = ON");
}

interface OutboxRow {
  id: number;
  time: string;
  actor: string;
  action: OutboxRecord["action"];
  object_kind: OutboxRecord["object"]["kind"];
  object_id: string;
  details: string;
}

// Saturated at 2^53 - 1: SUM() throws "integer overflow" past 2^63 (every total would fail), and a
// sum past 2^53 is not one JavaScript reads exactly. total() is exact below 2^53 (its sum is kept
// as an integer until it overflows) and never throws. A row no Meter could have written (a count
// negative, or not an integer: SQLite keeps any value) counts as used up: summed in, or read as
// none by total(), it would lower the figure and hand a license its quota back.
const ROW_TOKENS = `CASE WHEN typeof(input_tokens) = 'integer' AND typeof(output_tokens) = 'integer'
        AND input_tokens >= 0 AND output_tokens >= 0
  THEN input_tokens + output_tokens ELSE 9007199254740991 END`;
const sumTokens = (expr: string) => `CAST(min(total(${expr}), 9007199254740991) AS INTEGER)`;
const TOKENS = sumTokens(ROW_TOKENS);

// The reads over every row name license_id with a unary +, so that SQLite does not walk the scoped
// reads' index (version 16) to skip the GROUP BY's sort: a lookup into the table for each of 900,000
// rows took up to twice the scan and sort (byLicenseWindows()). sqlite.test.ts pins the plans.
const WIDE_LICENSE = "+license_id";

/** Per license: the total, then one sum per window (its days bound as parameters, in order). */
function windowsQuery(windows: readonly UsageWindow[]): string {
  const sums = windows.map((w) => {
    const days = w.to === undefined ? "day >= ?" : "day >= ? AND day <= ?";
    return `, ${sumTokens(`CASE WHEN ${days} THEN ${ROW_TOKENS} ELSE 0 END`)}`;
  });
  return `SELECT license_id, ${TOKENS}${sums.join("")} FROM usage_daily
          WHERE ${WIDE_LICENSE} <> '' GROUP BY ${WIDE_LICENSE} ORDER BY ${WIDE_LICENSE}`;
}

/** Principals a prefixed page reads in id order before it reads the prefix's ranges instead. */
const SCAN_AHEAD = 1_000;

const parseDocument = (json: string): Principal => JSON.parse(json) as Principal;

/**
 * Gives principals stored before schema version 14 (or by an older node since) their filter
 * columns, computed as a put computes them: a no-op read once they all have them. A thousand rows at
 * a time by id, each chunk's update its own short write transaction: one transaction over 500,000
 * rows held the file's write lock for seconds, and every other process sharing it (a gateway, the
 * CLI) waited or timed out. Another process may put a principal between a chunk's read and its
 * update: the update skips rows filled since, or the old document's columns would overwrite the new
 * one's, never refilled. `afterRead` runs between the two (tests interleave there).
 */
export async function fillSearchColumns(
  db: Database.Database,
  afterRead?: () => Promise<void>,
): Promise<void> {
  const unfilled = db.prepare<[{ last: string | null }], { id: string; document: string }>(
    `SELECT id, document FROM principals WHERE id_folded IS NULL AND (@last IS NULL OR id > @last)
     ORDER BY id LIMIT ${FILL_CHUNK}`,
  );
  const fill = db.prepare(
    `UPDATE principals SET organization_id = ?, id_folded = ?, name_folded = ?
     WHERE id = ? AND id_folded IS NULL`,
  );
  const update = db.transaction((rows: { id: string; document: string }[]) => {
    for (const row of rows) fill.run(...searchColumns(parseDocument(row.document)), row.id);
  });
  for (let last: string | null = null; ;) {
    const rows = unfilled.all({ last });
    if (rows.length === 0) return;
    last = rows[rows.length - 1]!.id;
    await afterRead?.();
    update.immediate(rows);
  }
}
/** Rows a fill transaction: short enough that another process's write waits a moment, not seconds. */
const FILL_CHUNK = 1_000;

const toOutboxRecord = (r: OutboxRow): OutboxRecord => ({
  id: r.id,
  time: r.time,
  actor: r.actor,
  action: r.action,
  object: { kind: r.object_kind, id: r.object_id },
  details: JSON.parse(r.details) as Record<string, unknown>,
});

// Prepared once: preparing is the expensive part of a small query, and version() runs ~10x a second.
function prepareStatements(db: Database.Database) {
  const p = <Result = unknown>(source: string) => db.prepare<unknown[], Result>(source);
  return {
    version: p<number>("SELECT version FROM store_meta WHERE id = 1").pluck(),
    bump: p("UPDATE store_meta SET version = version + 1 WHERE id = 1"),
    principalExists: p<number>("SELECT 1 FROM principals WHERE id = ?").pluck(),
    // Not INSERT OR REPLACE: that deletes the old row first, and the delete would cascade to the keys.
    principalUpsert: p(
      `INSERT INTO principals (id, document, created_at, updated_at, organization_id, id_folded, name_folded)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at,
         organization_id = excluded.organization_id, id_folded = excluded.id_folded,
         name_folded = excluded.name_folded`,
    ),
    principalGet: p<string>("SELECT document FROM principals WHERE id = ?").pluck(),
    principalList: p<string>("SELECT document FROM principals ORDER BY id").pluck(),
    principalDelete: p("DELETE FROM principals WHERE id = ?"),
    keyExists: p<number>("SELECT 1 FROM api_keys WHERE id = ?").pluck(),
    keyInsert: p(
      `INSERT INTO api_keys (id, principal_id, label, hash, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, NULL)`,
    ),
    keyRevoke: p("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    // Insertion order: rowid grows with each insert (created_at ties within a millisecond, ids are random).
    keyList: p<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY rowid`),
    keyListFor: p<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE principal_id = ? ORDER BY rowid`),
    outboxAdd: p(
      `INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    outboxList: p<OutboxRow>(
      `SELECT id, time, actor, action, object_kind, object_id, details FROM audit_outbox WHERE id > ? ORDER BY id LIMIT ?`,
    ),
    outboxRemove: p("DELETE FROM audit_outbox WHERE id <= ?"),
    // AUTOINCREMENT keeps the highest id given here, so it survives the drain's deletes.
    outboxLast: p<number>("SELECT seq FROM sqlite_sequence WHERE name = 'audit_outbox'").pluck(),
    outboxAt: p<OutboxRow>(
      `SELECT id, time, actor, action, object_kind, object_id, details FROM audit_outbox WHERE id = ?`,
    ),
    drainedGet: p<{ change_number: number; entry_digest: string | null }>(
      "SELECT change_number, entry_digest FROM audit_drained WHERE id = 1",
    ),
    drainedSet: p(
      `INSERT INTO audit_drained (id, change_number, entry_digest) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET change_number = excluded.change_number, entry_digest = excluded.entry_digest`,
    ),
    recordGet: p<RecordRow>(
      "SELECT collection, id, revision, document, updated_at FROM records WHERE collection = ? AND id = ?",
    ),
    recordList: p<RecordRow>(
      "SELECT collection, id, revision, document, updated_at FROM records WHERE collection = ? ORDER BY id",
    ),
    recordAll: p<RecordRow>(
      "SELECT collection, id, revision, document, updated_at FROM records ORDER BY collection, id",
    ),
    recordInsert: p(
      "INSERT INTO records (collection, id, revision, document, updated_at) VALUES (?, ?, 1, ?, ?)",
    ),
    recordUpdate: p(
      "UPDATE records SET revision = revision + 1, document = ?, updated_at = ? WHERE collection = ? AND id = ? AND revision = ?",
    ),
    federatedUpsert: p(
      `INSERT INTO federated_principals (id, issuer, subject, document, first_seen, last_seen, issued_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         document = CASE WHEN excluded.issued_at >= issued_at THEN excluded.document ELSE document END,
         last_seen = max(last_seen, excluded.last_seen),
         issued_at = max(issued_at, excluded.issued_at)`,
    ),
    federatedList: p<FederatedRow>(`SELECT ${FEDERATED_COLUMNS} FROM federated_principals ORDER BY id`),
    federatedGet: p<FederatedRow>(`SELECT ${FEDERATED_COLUMNS} FROM federated_principals WHERE id = ?`),
    usageByLicenseDay: p<[string, string, number]>(
      `SELECT license_id, day, ${TOKENS} FROM usage_daily
       WHERE ${WIDE_LICENSE} <> '' AND day >= ? GROUP BY ${WIDE_LICENSE}, day`,
    ).raw(),
    usageAdd: p(
      `INSERT INTO usage_daily (day, principal_id, organization_id, license_id, model,
                                input_tokens, output_tokens, requests)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (day, principal_id, organization_id, license_id, model) DO UPDATE SET
         input_tokens = min(input_tokens + excluded.input_tokens, 9007199254740991),
         output_tokens = min(output_tokens + excluded.output_tokens, 9007199254740991),
         requests = requests + excluded.requests`,
    ),
    // A segment already recorded fails the batch (primary key): its usage is never counted twice.
    usageJournalWritten: p("INSERT INTO usage_journal (segment, written_at) VALUES (?, ?)"),
    usageJournalForget: p("DELETE FROM usage_journal WHERE segment = ?"),
    usageJournaled: p<string>("SELECT segment FROM usage_journal WHERE segment = ?").pluck(),
    usageJournalAll: p<string>("SELECT segment FROM usage_journal").pluck(),
    // All-time totals from the roll-up the triggers keep (version 18), not a sum over every row; ''
    // (no license, no organization) is kept there but never a sum of its own. In key order: by id.
    totals: p<["l" | "p" | "o", string, number]>(
      `SELECT kind, id, CAST(min(tokens, 9007199254740991) AS INTEGER) FROM usage_totals
       WHERE rows > 0 AND (kind = 'p' OR id <> '')`,
    ).raw(),
    // The licenses as one JSON array: one parameter however many licenses an organization holds.
    scopedByLicense: p<[string, number]>(
      `SELECT license_id, ${TOKENS} FROM usage_daily
       WHERE license_id IN (SELECT value FROM json_each(?)) AND license_id <> ''
       GROUP BY license_id ORDER BY license_id`,
    ).raw(),
    scopedByOrganization: p<[string, number]>(
      `SELECT organization_id, ${TOKENS} FROM usage_daily
       WHERE organization_id = ? AND organization_id <> '' GROUP BY organization_id`,
    ).raw(),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

const scopedTotals =
  (scope: UsageScope) =>
  (sql: Statements): ScopedUsageTotals => ({
    byLicense:
      scope.licenses.length === 0
        ? {}
        : Object.fromEntries(sql.scopedByLicense.all(JSON.stringify(scope.licenses))),
    byOrganization:
      scope.organization === null ? {} : Object.fromEntries(sql.scopedByOrganization.all(scope.organization)),
  });

function totals(sql: Statements): UsageTotals {
  // fromEntries defines own properties, so an id like "__proto__" stays an ordinary key.
  const rows = sql.totals.all();
  const of = (kind: string) => Object.fromEntries(rows.filter((r) => r[0] === kind).map((r) => [r[1], r[2]]));
  return { byLicense: of("l"), byPrincipal: of("p"), byOrganization: of("o") };
}

export class SqliteStore implements Store {
  readonly driver = "sqlite" as const;
  readonly file: string;
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly screening;
  readonly alerts: AlertStore;

  readonly #gate = new WriteGate();

  constructor(db: Database.Database) {
    this.#db = db;
    this.#sql = prepareStatements(db);
    this.screening = sqliteScreening(db, this.#gate);
    this.file = db.name;
    // Every call waits while a screening transaction is open on the connection (gate.ts).
    this.alerts = this.#gate.guard(sqliteAlerts(db, () => this.#live()));
    for (const group of [this.principals, this.keys, this.outbox, this.records, this.federated, this.usage])
      this.#gate.guard(group);
  }

  /** The statements, or StoreError "closed". Single statements need no explicit transaction. */
  #live(): Statements {
    if (!this.#db.open) throw new StoreError("closed", "the store is closed");
    return this.#sql;
  }

  /**
   * Runs `fn` in a transaction. Writes take the lock up front (IMMEDIATE): a DEFERRED transaction
   * that reads and then writes fails with SQLITE_BUSY if another process committed in between, and
   * busy_timeout cannot help it. Reads use DEFERRED, which WAL never blocks.
   */
  #tx<T>(kind: "read" | "write", fn: (sql: Statements) => T): T {
    const sql = this.#live();
    const tx = this.#db.transaction(() => fn(sql));
    return kind === "write" ? tx.immediate() : tx.deferred();
  }

  #now(): string {
    return new Date().toISOString();
  }

  /** The change's audit record, in the caller's transaction. */
  #record(
    sql: Statements,
    actor: string | undefined,
    action: string,
    object: OutboxRecord["object"],
    details: Record<string, unknown> = {},
  ): void {
    sql.outboxAdd.run(
      this.#now(),
      actor ?? "system",
      action,
      object.kind,
      object.id,
      JSON.stringify(details),
    );
  }

  readonly principals = {
    put: async (p: Principal, actor?: string): Promise<{ created: boolean }> => {
      const { id, json } = principalDocument(p);
      checkActor(actor);
      return this.#tx("write", (sql) => {
        const created = sql.principalExists.get(id) === undefined;
        const now = this.#now();
        sql.principalUpsert.run(id, json, now, now, ...searchColumns(p));
        sql.bump.run();
        this.#record(
          sql,
          actor,
          "principal.put",
          { kind: "principal", id },
          { created, principal: JSON.parse(json) },
        );
        return { created };
      });
    },
    get: async (id: string): Promise<Principal | undefined> => {
      const json = this.#live().principalGet.get(id);
      return json === undefined ? undefined : parseDocument(json);
    },
    list: async (): Promise<Principal[]> => this.#live().principalList.all().map(parseDocument),
    page: async (query: PrincipalQuery): Promise<Principal[]> => {
      const documents = (sql: string, params: unknown[]) =>
        this.#db
          .prepare<unknown[], string>(sql)
          .pluck()
          .all(...params)
          .map(parseDocument);
      if (query.prefix === undefined) {
        this.#live();
        const { where, params } = principalWhere(query, () => "?");
        return documents(`SELECT document FROM principals ${where} ORDER BY id LIMIT ?`, [
          ...params,
          query.limit,
        ]);
      }
      // A prefix: SQLite has no statistics to tell a broad one from a narrow one, so both ways, each
      // bounded, rather than reading and sorting every match (the whole store for "p") for each page.
      return this.#tx("read", () => {
        // First the next principals in id order (of the organization, if given: its index holds them
        // in id order), a bounded number of them: a broad prefix's page is there, and so is the rest
        // of any list near its end.
        const { prefix, ...order } = query;
        const next = principalWhere({ ...order, limit: query.limit }, () => "?");
        const only = principalWhere({ prefix, limit: query.limit }, () => "?");
        const scanned = Math.max(SCAN_AHEAD, 4 * query.limit);
        const nextIds = `SELECT id, id_folded, name_folded FROM principals ${next.where} ORDER BY id LIMIT ?`;
        const cursor = [...next.params, scanned];
        const ahead = documents(
          `SELECT document FROM principals WHERE id IN (SELECT id FROM (${nextIds}) ${only.where} ORDER BY id LIMIT ?)
           ORDER BY id`,
          [...cursor, ...only.params, query.limit],
        );
        if (ahead.length === query.limit) return ahead;
        const count = this.#db.prepare<unknown[], number>(`SELECT count(*) FROM (${nextIds})`).pluck();
        if (count.get(...cursor)! < scanned) return ahead;
        // A narrower prefix: each folded column's range, from its index (which holds the id: no
        // document is read, and the sort keeps a page of ids), then the documents of the first ids.
        // The cursor and organization are filters (+column), or SQLite may read every later id.
        const parts = FOLDED_COLUMNS.map((column) =>
          principalWhere(
            query,
            () => "?",
            (c) => `+${c}`,
            [column],
          ),
        );
        const ids = parts.map(
          ({ where }) => `SELECT id FROM (SELECT id FROM principals ${where} ORDER BY id LIMIT ?)`,
        );
        return documents(
          `SELECT document FROM principals WHERE id IN (${ids.join(" UNION ALL ")}) ORDER BY id LIMIT ?`,
          [...parts.flatMap(({ params }) => [...params, query.limit]), query.limit],
        );
      });
    },
    remove: async (id: string, actor?: string): Promise<boolean> => {
      checkActor(actor);
      return this.#tx("write", (sql) => {
        // The keys go too (ON DELETE CASCADE): a key must not outlive the principal it speaks for.
        if (sql.principalDelete.run(id).changes === 0) return false;
        sql.bump.run();
        this.#record(sql, actor, "principal.remove", { kind: "principal", id });
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
      return this.#tx("write", (sql) => {
        if (sql.principalExists.get(principalId) === undefined)
          throw new StoreError("unknown-principal", `no principal with id ${quoted(principalId)}`);
        let id = generateKeyId();
        // 60 random bits: a collision is practically impossible, but a retry is cheaper than the doubt.
        while (sql.keyExists.get(id) !== undefined) id = generateKeyId();
        const { key, hash } = generateApiKey(id);
        const record: ApiKeyRecord = {
          id,
          principalId,
          label: checkedLabel,
          createdAt: this.#now(),
          revokedAt: null,
          hash,
        };
        sql.keyInsert.run(id, principalId, record.label, hash, record.createdAt);
        sql.bump.run();
        this.#record(
          sql,
          actor,
          "key.create",
          { kind: "key", id },
          { principal: principalId, label: record.label },
        );
        return { key, record };
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
      return this.#tx("write", (sql): KeyRevocation => {
        if (sql.keyExists.get(id) === undefined) return "unknown";
        // Already revoked: no change, so no version bump, and the first revokedAt stands.
        if (sql.keyRevoke.run(this.#now(), id).changes === 0) return "already-revoked";
        sql.bump.run();
        this.#record(sql, actor, "key.revoke", { kind: "key", id }, { ...details });
        return "revoked";
      });
    },
    list: async (principalId?: string): Promise<ApiKeyRecord[]> => {
      const sql = this.#live();
      return (principalId === undefined ? sql.keyList.all() : sql.keyListFor.all(principalId)).map(toKey);
    },
    page: async (query: KeyQuery): Promise<ApiKeyRecord[]> => {
      this.#live();
      const { where, params } = keyWhere(query, () => "?");
      return this.#db
        .prepare<unknown[], KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ${where} ORDER BY id LIMIT ?`)
        .all(...params, query.limit)
        .map(toKey);
    },
  };

  readonly outbox = {
    list: async (afterId: number, limit: number): Promise<OutboxRecord[]> =>
      this.#live().outboxList.all(afterId, limit).map(toOutboxRecord),
    remove: async (through: DrainedThrough): Promise<void> =>
      this.#tx("write", (sql) => {
        sql.outboxRemove.run(through.change);
        sql.drainedSet.run(through.change, through.digest);
      }),
    lastChange: async (): Promise<number> => this.#live().outboxLast.get() ?? 0,
    // One read transaction: a drain's delete lands before or after it, never between its reads.
    position: async (logged: number): Promise<OutboxPosition> =>
      this.#tx("read", (sql) => {
        const drained = sql.drainedGet.get();
        const record = sql.outboxAt.get(logged);
        return {
          drained:
            drained === undefined ? null : { change: drained.change_number, digest: drained.entry_digest },
          last: sql.outboxLast.get() ?? 0,
          record: record === undefined ? undefined : toOutboxRecord(record),
        };
      }),
  };

  readonly records = {
    get: async <T>(collection: Collection, id: string): Promise<StoredRecord<T> | undefined> => {
      const row = this.#live().recordGet.get(collection, id);
      return row === undefined ? undefined : toStored<T>(row);
    },
    list: async <T>(collection: Collection): Promise<StoredRecord<T>[]> =>
      this.#live()
        .recordList.all(collection)
        .map((r) => toStored<T>(r)),
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
      return this.#tx("write", (sql) => {
        for (const guard of guardList(guards)) {
          const holds =
            "record" in guard
              ? (sql.recordGet.get(guard.record.collection, guard.record.id)?.revision ?? 0) ===
                guard.record.revision
              : (sql.version.get() ?? 0) === guard.version;
          if (!holds) throw guardConflict(guard);
        }
        const now = this.#now();
        // One transaction: a write refused (a conflict) rolls back those before it.
        return writes.map((w) => {
          const json = JSON.stringify(w.document);
          const ok =
            w.expectedRevision === 0
              ? sql.recordGet.get(w.collection, w.id) === undefined &&
                sql.recordInsert.run(w.collection, w.id, json, now).changes === 1
              : sql.recordUpdate.run(json, now, w.collection, w.id, w.expectedRevision).changes === 1;
          if (!ok) throw revisionConflict(w);
          sql.bump.run();
          this.#record(
            sql,
            w.change.actor,
            w.change.action,
            { kind: w.collection, id: w.id },
            {
              ...w.change.details,
            },
          );
          return toStored(sql.recordGet.get(w.collection, w.id) as RecordRow);
        });
      });
    },
  };

  readonly federated = {
    record: async (records: readonly FederatedPrincipalRecord[]): Promise<void> => {
      checkFederated(records);
      if (records.length === 0) return void this.#live();
      this.#tx("write", (sql) => {
        for (const r of records) {
          const { first_seen, last_seen, issued_at, ...rest } = r;
          sql.federatedUpsert.run(
            r.id,
            r.issuer,
            r.subject,
            JSON.stringify(rest),
            first_seen,
            last_seen,
            issued_at,
          );
        }
      });
    },
    list: async (): Promise<FederatedPrincipalRecord[]> => this.#live().federatedList.all().map(toFederated),
    get: async (id: string): Promise<FederatedPrincipalRecord | undefined> => {
      const row = this.#live().federatedGet.get(id);
      return row === undefined ? undefined : toFederated(row);
    },
  };

  readonly usage = {
    add: async (deltas: readonly UsageDelta[], journal?: UsageJournalMark): Promise<void> => {
      const checked = checkUsageDeltas(deltas);
      this.#live();
      const written = journal?.written ?? [];
      const forget = journal?.forget ?? [];
      if (checked.length === 0 && written.length === 0 && forget.length === 0) return;
      this.#tx("write", (sql) => {
        const now = new Date().toISOString();
        for (const segment of written) sql.usageJournalWritten.run(segment, now);
        for (const segment of forget) sql.usageJournalForget.run(segment);
        for (const d of checked) {
          sql.usageAdd.run(
            d.day,
            d.principalId,
            d.organizationId ?? "",
            d.licenseId ?? "",
            d.model,
            d.inputTokens,
            d.outputTokens,
            d.requests,
          );
        }
      });
    },
    journaled: async (segments: readonly string[]): Promise<string[]> =>
      this.#tx("read", (sql) => segments.filter((s) => sql.usageJournaled.get(s) !== undefined)),
    dropJournaled: async (prefix: string, keep: readonly string[]): Promise<number> => {
      const kept = new Set(keep);
      return this.#tx("write", (sql) => {
        const drop = sql.usageJournalAll.all().filter((s) => s.startsWith(prefix) && !kept.has(s));
        for (const segment of drop) sql.usageJournalForget.run(segment);
        return drop.length;
      });
    },
    totals: async (): Promise<UsageTotals> => totals(this.#live()),
    scopedTotals: async (scope: UsageScope): Promise<ScopedUsageTotals> =>
      this.#tx("read", scopedTotals(scope)),
    byLicenseWindows: async (windows: readonly UsageWindow[]): Promise<LicenseWindowTokens[]> => {
      const db = this.#db;
      this.#live();
      // Prepared per call: the shape follows the windows, and the callers are rare (a seeding, a report).
      const rows = db
        .prepare<unknown[], unknown[]>(windowsQuery(windows))
        .raw()
        .all(...windows.flatMap((w) => (w.to === undefined ? [w.from] : [w.from, w.to]))) as [
        string,
        number,
        ...number[],
      ][];
      return rows.map(([licenseId, total, ...sums]) => ({ licenseId, total, windows: sums }));
    },
    byLicenseDay: async (sinceDay: string) =>
      this.#live()
        .usageByLicenseDay.all(sinceDay)
        .map(([licenseId, day, tokens]) => ({ licenseId, day, tokens })),
  };

  async version(): Promise<number> {
    // One single-row read in autocommit mode: no BEGIN/COMMIT round for the ~10 polls a second.
    return this.#gate.pass(() => this.#live().version.get() ?? 0);
  }

  async snapshot(): Promise<StoreSnapshot> {
    // One DEFERRED transaction: in WAL mode every read in it sees the same committed state.
    return this.#gate.pass(() =>
      this.#tx("read", (sql) => ({
        version: sql.version.get() ?? 0,
        principals: sql.principalList.all().map(parseDocument),
        keys: sql.keyList.all().map(toKey),
        records: sql.recordAll.all().map((r) => toStored(r)),
      })),
    );
  }

  async close(): Promise<void> {
    // After an open screening transaction has ended, not under it.
    await this.#gate.pass(() => {
      if (this.#db.open) this.#db.close();
    });
  }
}
