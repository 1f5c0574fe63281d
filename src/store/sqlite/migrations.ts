/**
 * The SQLite schema, as an append-only list of migrations. Never edit a released migration: add a
 * new one. Each database records what it has applied in `schema_migrations`, so a binary applies only
 * what is missing, and a binary older than the database refuses it rather than misreading it.
 */
import type Database from "better-sqlite3";
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
import { SQLITE_USAGE_TOTALS } from "../usage-totals.js";
import { USAGE_JOURNAL } from "../usage-journal.js";

export type { Migration } from "../migrations.js";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      -- One row: the change counter the gateway polls (see Store.version).
      CREATE TABLE store_meta (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
      );
      INSERT INTO store_meta (id, version) VALUES (1, 0);

      CREATE TABLE principals (
        id         TEXT PRIMARY KEY,
        document   TEXT NOT NULL,  -- the Principal as JSON, exactly as put
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
        label        TEXT,
        hash         TEXT NOT NULL,  -- hex SHA-256 of the secret; the secret is never stored
        created_at   TEXT NOT NULL,
        revoked_at   TEXT
      );
      CREATE INDEX api_keys_by_principal ON api_keys (principal_id);

      -- Usage rolled up per UTC day, so the table grows with days x keys, not with requests.
      -- '' stands for "none" in organization_id and license_id: NULLs would never collide in the
      -- primary key, and the upsert relies on collisions. No foreign keys: usage outlives principals.
      CREATE TABLE usage_daily (
        day             TEXT NOT NULL,
        principal_id    TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        license_id      TEXT NOT NULL,
        model           TEXT NOT NULL,
        input_tokens    INTEGER NOT NULL,
        output_tokens   INTEGER NOT NULL,
        requests        INTEGER NOT NULL,
        PRIMARY KEY (day, principal_id, organization_id, license_id, model)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    sql: `
      -- Admin changes waiting for the audit log, written in the same transaction as the change.
      CREATE TABLE audit_outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        document   TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (collection, id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    // PostgreSQL's version 4 is the audit log several nodes share. The embedded store has one node,
    // whose log lives in its own files (audit.wal and the tiles), so nothing changes here.
    sql: `SELECT 1;`,
  },
  {
    version: 5,
    sql: `
      -- Principals vouched for by partners' identity providers, created just in time from tokens.
      -- The gateway writes them off the request path; issued_at (the newest token's iat) keeps an
      -- older token from overwriting a newer one's facts.
      CREATE TABLE federated_principals (
        id         TEXT PRIMARY KEY,
        issuer     TEXT NOT NULL,
        subject    TEXT NOT NULL,
        document   TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        issued_at  INTEGER NOT NULL
      );
      CREATE INDEX federated_by_subject ON federated_principals (issuer, subject);
    `,
  },
  {
    version: 6,
    // Denied-party screening: list versions and entries, screening matches, subjects' status.
    sql: SCREENING_TABLES("TEXT", "REAL"),
  },
  {
    version: 7,
    sql: `
      -- Anomaly alerts (src/alerts): the document as JSON beside the columns it is found by. The
      -- dedupe key makes an anomaly seen by several nodes one alert; the delivery columns are the
      -- webhook's outbox.
      CREATE TABLE alerts (
        id               TEXT PRIMARY KEY,
        dedupe_key       TEXT NOT NULL UNIQUE,
        state            TEXT NOT NULL,
        detector         TEXT NOT NULL,
        subject_kind     TEXT NOT NULL,
        subject_id       TEXT NOT NULL,
        delivery_state   TEXT NOT NULL,
        next_delivery_at TEXT,
        document         TEXT NOT NULL
      );
      CREATE INDEX alerts_by_subject ON alerts (subject_kind, subject_id);
      CREATE INDEX alerts_due ON alerts (delivery_state, next_delivery_at);
    `,
  },
  {
    version: 8,
    // The digest of the subject's facts a screening match (and so a clearance) is for.
    sql: SCREENING_SUBJECT_DIGEST,
  },
  {
    version: 9,
    sql: ALERTS_BY_COLUMNS,
  },
  {
    version: 10,
    // A confirmation resolved with its entry's removal: the reviewer's reason in its own column.
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
        change_number INTEGER NOT NULL,
        entry_digest  TEXT
      );
    `,
  },
  {
    version: 12,
    // An import's rescreen: finished (null), or held by the process doing it until this time.
    sql: SCREENING_RESCREEN_DUE,
  },
  {
    version: 13,
    // Webhook delivery one alert of a subject at a time: the others held, and the indexes `due` reads.
    sql: ALERTS_DELIVERY_HEADS,
  },
  {
    version: 14,
    // The principals list filtered in the store: organization, folded id and name (principal-search.ts).
    sql: PRINCIPAL_SEARCH_COLUMNS("TEXT"),
  },
  {
    version: 15,
    // The API keys list paged in the store: by principal, by status, each by id (key-search.ts).
    sql: KEY_PAGE_INDEXES,
  },
  {
    version: 16,
    // An applicant's view of usage summed over its organization's and its licenses' rows only: not
    // written by the upsert's updates (neither column changes), one entry per new row.
    sql: `
      CREATE INDEX usage_daily_by_organization ON usage_daily (organization_id);
      CREATE INDEX usage_daily_by_license ON usage_daily (license_id);
    `,
  },
  {
    version: 17,
    // Alerts listed most severe first (the Overview's open alerts): the severity's rank, computed
    // from the document (SQLite adds only virtual generated columns; the index stores the rank).
    sql: ALERTS_BY_SEVERITY("json_extract(document, '$.severity')", "VIRTUAL"),
  },
  {
    // All-time usage kept as it is written (usage-totals.ts).
    version: 18,
    sql: SQLITE_USAGE_TOTALS,
  },
  {
    // Each severity's alerts in id order, whatever their state (alerts.ts, ALERTS_BY_RANK).
    version: 19,
    sql: ALERTS_BY_RANK,
  },
  {
    // The usage journal's segments written to the store, each in the batch's transaction (usage-journal.ts).
    version: 20,
    sql: USAGE_JOURNAL,
  },
];

/**
 * Applies the pending migrations in one IMMEDIATE transaction: two processes opening a fresh
 * database at once serialize on the write lock (busy_timeout waits), and the second finds nothing to
 * do. A failing migration rolls everything back. Returns the versions applied now.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  const latest = checkOrder(migrations);
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at TEXT NOT NULL
    )`);
    const current =
      db.prepare<[], number | null>("SELECT max(version) FROM schema_migrations").pluck().get() ?? 0;
    refuseNewer(`database ${db.name}`, current, latest);
    const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, new Date().toISOString());
      applied.push(m.version);
    }
    return applied;
  });
  return run.immediate();
}
