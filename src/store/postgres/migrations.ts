/**
 * The PostgreSQL schema, as an append-only list of migrations with the same versions and meaning as
 * SQLite's (../sqlite/migrations.ts): version N here creates what version N creates there, in this
 * dialect. Never edit a released migration: add a new one, to both lists.
 *
 * Dialect choices, all so that the driver gives back exactly what the SQLite driver does:
 * - Ids are `TEXT COLLATE "C"`: byte order, as SQLite's BINARY collation, so "ordered by id" is the
 *   same list whatever the database's locale.
 * - Times and documents are TEXT: ISO strings and JSON come back byte for byte as written (timestamptz
 *   would reformat the time, JSONB would reorder the document's keys).
 * - Counters are BIGINT (the driver parses int8 into numbers); identity columns stand in for SQLite's
 *   rowid and AUTOINCREMENT.
 */
import type { ClientBase } from "pg";
import { StoreError } from "../index.js";
import { checkOrder, refuseNewer, type Migration } from "../migrations.js";
import {
  SCREENING_RESCREEN_DUE,
  SCREENING_RESOLVED_CONFIRMATION,
  SCREENING_SUBJECT_DIGEST,
  SCREENING_TABLES,
} from "../screening-schema.js";
import { ALERTS_BY_COLUMNS, ALERTS_BY_RANK, ALERTS_BY_SEVERITY, ALERTS_DELIVERY_HEADS } from "../alerts.js";
import { PRINCIPAL_SEARCH_COLUMNS } from "../principal-search.js";
import { KEY_PAGE_INDEXES } from "../key-search.js";
import { POSTGRES_USAGE_TOTALS } from "../usage-totals.js";
import { USAGE_JOURNAL } from "../usage-journal.js";

export type { Migration } from "../migrations.js";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      -- One row: the change counter the gateway polls (see Store.version).
      CREATE TABLE store_meta (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL
      );
      INSERT INTO store_meta (id, version) VALUES (1, 0);

      CREATE TABLE principals (
        id         TEXT COLLATE "C" PRIMARY KEY,
        document   TEXT NOT NULL,  -- the Principal as JSON, exactly as put
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE api_keys (
        id           TEXT COLLATE "C" PRIMARY KEY,
        -- Insertion order for listing (SQLite lists by rowid): created_at ties within a millisecond.
        seq          BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        principal_id TEXT COLLATE "C" NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
        label        TEXT,
        hash         TEXT NOT NULL,  -- hex SHA-256 of the secret; the secret is never stored
        created_at   TEXT NOT NULL,
        revoked_at   TEXT
      );
      CREATE INDEX api_keys_by_principal ON api_keys (principal_id, seq);

      -- Usage rolled up per UTC day. '' stands for "none" in organization_id and license_id, as in
      -- SQLite: NULLs never collide in the primary key, and the upsert relies on collisions.
      CREATE TABLE usage_daily (
        day             TEXT COLLATE "C" NOT NULL,
        principal_id    TEXT COLLATE "C" NOT NULL,
        organization_id TEXT COLLATE "C" NOT NULL,
        license_id      TEXT COLLATE "C" NOT NULL,
        model           TEXT COLLATE "C" NOT NULL,
        input_tokens    BIGINT NOT NULL,
        output_tokens   BIGINT NOT NULL,
        requests        BIGINT NOT NULL,
        PRIMARY KEY (day, principal_id, organization_id, license_id, model)
      );
    `,
  },
  {
    version: 2,
    sql: `
      -- Admin changes waiting for the audit log, written in the same transaction as the change.
      CREATE TABLE audit_outbox (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time        TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        object_kind TEXT NOT NULL,
        object_id   TEXT NOT NULL,
        details     TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    sql: `
      -- The control plane's documents (identities, partners, licenses, scheme versions, settings).
      CREATE TABLE records (
        collection TEXT COLLATE "C" NOT NULL,
        id         TEXT COLLATE "C" NOT NULL,
        revision   INTEGER NOT NULL,
        document   TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (collection, id)
      );
    `,
  },
  {
    version: 4,
    sql: `
      -- The audit log every node writes (see ./audit.ts). One row: how many entries the log holds
      -- (the next entry's index) and whose log it is. The row lock orders appends: each takes its
      -- indices and commits before the next can, so committed indices never have gaps.
      CREATE TABLE audit_head (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        size         BIGINT NOT NULL,
        origin       TEXT,
        verifier_key TEXT
      );
      INSERT INTO audit_head (id, size) VALUES (1, 0);
      CREATE TABLE audit_entries (
        idx   BIGINT PRIMARY KEY,
        entry BYTEA NOT NULL
      );
      -- Signed by the one integrator. One checkpoint per size, ever: a second tree of the same
      -- size (a split brain) cannot be recorded.
      CREATE TABLE audit_checkpoints (
        size      BIGINT PRIMARY KEY,
        root      BYTEA NOT NULL,
        note      TEXT NOT NULL,
        node      TEXT NOT NULL,
        signed_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    sql: `
      -- Principals vouched for by partners' identity providers, created just in time from tokens.
      -- The gateway writes them off the request path; issued_at (the newest token's iat) keeps an
      -- older token from overwriting a newer one's facts.
      CREATE TABLE federated_principals (
        id         TEXT COLLATE "C" PRIMARY KEY,
        issuer     TEXT NOT NULL,
        subject    TEXT NOT NULL,
        document   TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        issued_at  BIGINT NOT NULL
      );
      CREATE INDEX federated_by_subject ON federated_principals (issuer, subject);
    `,
  },
  {
    version: 6,
    // Denied-party screening: list versions and entries, screening matches, subjects' status.
    sql: SCREENING_TABLES('TEXT COLLATE "C"', "DOUBLE PRECISION"),
  },
  {
    version: 7,
    sql: `
      -- Anomaly alerts (src/alerts), as in SQLite's version 7.
      CREATE TABLE alerts (
        id               TEXT COLLATE "C" PRIMARY KEY,
        dedupe_key       TEXT COLLATE "C" NOT NULL UNIQUE,
        state            TEXT NOT NULL,
        detector         TEXT NOT NULL,
        subject_kind     TEXT NOT NULL,
        subject_id       TEXT COLLATE "C" NOT NULL,
        delivery_state   TEXT NOT NULL,
        next_delivery_at TEXT COLLATE "C",
        document         TEXT NOT NULL
      );
      CREATE INDEX alerts_by_subject ON alerts (subject_kind, subject_id);
      CREATE INDEX alerts_due ON alerts (delivery_state, next_delivery_at);
    `,
  },
  {
    version: 8,
    // As in SQLite's version 8: the digest of the subject's facts a match (and clearance) is for.
    sql: SCREENING_SUBJECT_DIGEST,
  },
  {
    version: 9,
    // As in SQLite's version 9: alerts listed by indexed columns, and their pending responses.
    sql: ALERTS_BY_COLUMNS,
  },
  {
    version: 10,
    // As in SQLite's version 10: a confirmation resolved with its entry's removal, in its own column.
    sql: SCREENING_RESOLVED_CONFIRMATION,
  },
  {
    version: 11,
    sql: `
      -- Where the store has caught up with its audit log: the last change drained into it and its
      -- entry's digest, written with the drain's delete. A store restored from an older backup holds
      -- an older one than the log's (control/restored.ts). No row: not drained since this version.
      CREATE TABLE audit_drained (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        change_number BIGINT NOT NULL,
        entry_digest  TEXT
      );
    `,
  },
  {
    version: 12,
    // As in SQLite's version 12: an import's rescreen, finished (null) or held until this time.
    sql: SCREENING_RESCREEN_DUE,
  },
  {
    version: 13,
    // As in SQLite's version 13: a subject's alerts other than the one being delivered held.
    sql: ALERTS_DELIVERY_HEADS,
  },
  {
    version: 14,
    // As in SQLite's version 14: the principals list's filter columns, ids' "C" order for the ranges.
    sql: PRINCIPAL_SEARCH_COLUMNS('TEXT COLLATE "C"'),
  },
  {
    version: 15,
    // As in SQLite's version 15: the API keys list's indexes (the id columns already "C").
    sql: KEY_PAGE_INDEXES,
  },
  {
    version: 16,
    // As in SQLite's version 16: usage read by organization and by license (admin/routes/usage.ts).
    sql: `
      CREATE INDEX usage_daily_by_organization ON usage_daily (organization_id);
      CREATE INDEX usage_daily_by_license ON usage_daily (license_id);
    `,
  },
  {
    version: 17,
    // As in SQLite's version 17: the severity's rank, stored (computed for every existing row now).
    sql: ALERTS_BY_SEVERITY("(document::jsonb ->> 'severity')", "STORED"),
  },
  {
    // As in SQLite's version 18: all-time usage kept by triggers, without lock-order deadlocks.
    version: 18,
    sql: POSTGRES_USAGE_TOTALS,
  },
  {
    // As in SQLite's version 19: each severity's alerts in id order, whatever their state.
    version: 19,
    sql: ALERTS_BY_RANK,
  },
  {
    // As in SQLite's version 20: the usage journal's segments written to the store.
    version: 20,
    sql: USAGE_JOURNAL,
  },
];

/**
 * The advisory lock every migration run holds: "clrm" in ASCII. Database-wide, so runs for different
 * schemas serialize too; that costs milliseconds, once per process start.
 */
export const MIGRATION_LOCK = 0x636c726d;

export interface MigrateOptions {
  /** Create this schema first if it does not exist (under the lock: concurrent creates would race). */
  readonly createSchema?: string;
  /**
   * How long any one lock wait of the migrations may take (a table another session uses): past it
   * the run fails as StoreError "busy", naming what waited, and nothing is migrated. Unset: waits for
   * ever. The migration lock itself is waited for without a limit: its holder is another node
   * migrating (it finishes; then there is nothing left to do here), or a frozen one, whose session the
   * server ends once idle in its transaction (idle_in_transaction_session_timeout).
   */
  readonly lockTimeoutMs?: number;
}

/** PostgreSQL's SQLSTATE for a lock_timeout that expired. */
const LOCK_NOT_AVAILABLE = "55P03";

/**
 * Applies the pending migrations in one transaction on `client`, in the schema its search_path
 * selects. The transaction holds pg_advisory_xact_lock(MIGRATION_LOCK): gateway processes starting
 * together queue on it, and all but the first find nothing to do. DDL is transactional in PostgreSQL,
 * so a failing migration rolls the whole run back (one waiting past `lockTimeoutMs` too). Returns the
 * versions applied now.
 */
export async function migrate(
  client: ClientBase,
  migrations: readonly Migration[] = MIGRATIONS,
  options: MigrateOptions = {},
): Promise<number[]> {
  const latest = checkOrder(migrations);
  const { lockTimeoutMs } = options;
  // What the run is waiting on, for the error when a lock wait times out.
  let step = "reading the schema version";
  await client.query("BEGIN");
  try {
    // A migration's DDL queued behind another session's lock also queues every later query on that
    // table behind itself: bounded, a start fails and says so rather than hanging and stalling others.
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    if (lockTimeoutMs !== undefined)
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    if (options.createSchema !== undefined)
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.createSchema)}`);
    const schema = (await client.query<{ s: string | null }>("SELECT current_schema() AS s")).rows[0]?.s;
    // Without this, CREATE TABLE fails with the less helpful "no schema has been selected to create in".
    if (schema === null || schema === undefined)
      throw new Error("no schema to create the store in: the search_path names no existing schema");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at TEXT NOT NULL
    )`);
    const { rows } = await client.query<{ v: number | null }>(
      "SELECT max(version) AS v FROM schema_migrations",
    );
    const current = rows[0]?.v ?? 0;
    refuseNewer(`schema ${schema}`, current, latest);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      step = `migration ${m.version}`;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [
        m.version,
        new Date().toISOString(),
      ]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
    return applied;
  } catch (err) {
    // The first error is the one to report; a failed ROLLBACK means the connection is gone anyway.
    await client.query("ROLLBACK").catch(() => undefined);
    if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
    const ms = Math.max(1, Math.round(lockTimeoutMs ?? 0));
    throw new StoreError(
      "busy",
      `${step} waited over ${ms} ms for a lock held by another session (see pg_locks); nothing ` +
        `was migrated, start again once that session has ended`,
    );
  }
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
