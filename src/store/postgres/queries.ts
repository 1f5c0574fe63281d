/**
 * The PostgreSQL driver's SQL, one function per statement (or per small group read together), each
 * taking the pool (autocommit) or a transaction's client. index.ts decides which transaction each
 * runs in; this file decides how each talks to the tables.
 */
import pg from "pg";
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
import type { Principal } from "../../policy/types.js";
import { principalWhere, searchColumns, type PrincipalQuery } from "../principal-search.js";
import { keyWhere, type KeyQuery } from "../key-search.js";
import type { CheckedDelta } from "../input.js";
import type {
  ApiKeyRecord,
  Collection,
  FederatedPrincipalRecord,
  DrainedThrough,
  KeyRevocation,
  OutboxPosition,
  OutboxRecord,
  LicenseWindowTokens,
  StoredRecord,
  ScopedUsageTotals,
  UsageScope,
  UsageTotals,
  UsageWindow,
} from "../index.js";

/**
 * Idle time before TCP keepalive probes start, on every connection this store opens: without them a
 * link that stops carrying packets is noticed by nothing, and a query on it waits for ever.
 */
export const KEEPALIVE_MS = 10_000;

export type Db = pg.Pool | pg.PoolClient;

/** BIGINT (int8) comes back from pg as a string; the Store speaks numbers. */
function parseInt8(text: string): number {
  const n = Number(text);
  // Fail the query rather than hand back a counter silently rounded past 2^53.
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} exceeds Number.MAX_SAFE_INTEGER`);
  return n;
}

/** For the pool. Not pg.types.setTypeParser: that is process-wide, and would change other pg users' results. */
export const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export const FOREIGN_KEY_VIOLATION = "23503";

/**
 * Whether PostgreSQL's text can hold `text`: not with a U+0000, so no stored id has one. A lookup by
 * such an id finds nothing, as on SQLite, rather than failing the query (an internal error).
 */
export const storable = (text: string): boolean => !text.includes("\u0000");
const RECORD_COLUMNS = "collection, id, revision, document, updated_at";
// Saturated at 2^53 - 1: a larger int8 is refused by parseInt8, and one past 2^63 by the cast. Each
// row's input + output is added as numeric: in bigint it could leave the range. A row no Meter could
// have written (a negative count) counts as used up: summed in, it would lower the figure and hand a
// license its quota back.
const ROW_TOKENS = `CASE WHEN input_tokens >= 0 AND output_tokens >= 0
  THEN input_tokens::numeric + output_tokens ELSE 9007199254740991 END`;
const sumTokens = (expr: string) => `LEAST(SUM(${expr}), 9007199254740991)::bigint`;
const TOKENS = sumTokens(ROW_TOKENS);

const toPrincipal = (r: { document: string }): Principal => JSON.parse(r.document) as Principal;

/** The channel every change is announced on; the payload names the schema it happened in. */
export const CHANGES_CHANNEL = "clearance_changes";

// Named: prepared once per connection, since the gateway polls it ~10 times a second.
const VERSION = { name: "clearance-store-version", text: "SELECT version FROM store_meta WHERE id = 1" };

export async function version(db: Db): Promise<number> {
  return (await db.query<{ version: number }>(VERSION)).rows[0]?.version ?? 0;
}

type OutboxEntry = Omit<OutboxRecord, "id" | "time">;

/**
 * Bumps the version, then writes the change's audit record. The bump's row lock is held to COMMIT,
 * so changes serialize on it and the outbox ids that follow are drawn in commit order: otherwise a
 * drainer that has read id 6 could later see id 5 commit, and skip it. Every writer of the outbox
 * takes that lock first: this, or `audited` for what is not part of the snapshot.
 */
export async function changed(db: pg.PoolClient, time: string, entry: OutboxEntry) {
  await db.query("UPDATE store_meta SET version = version + 1 WHERE id = 1");
  // Delivered at COMMIT (and not at all on ROLLBACK) to every node listening on this schema.
  await db.query("SELECT pg_notify($1, current_schema())", [CHANGES_CHANNEL]);
  await insertOutbox(db, time, entry);
}

/**
 * `changed` for several changes in one transaction: the version moved on by their number, one
 * notice, and their outbox records in one statement, in the order given (a multi-row INSERT draws
 * its serial ids in row order).
 */
export async function changedAll(db: pg.PoolClient, time: string, entries: readonly OutboxEntry[]) {
  if (entries.length === 0) return;
  await db.query("UPDATE store_meta SET version = version + $1 WHERE id = 1", [entries.length]);
  await db.query("SELECT pg_notify($1, current_schema())", [CHANGES_CHANNEL]);
  for (let from = 0; from < entries.length; from += OUTBOX_ROWS_A_STATEMENT) {
    const part = entries.slice(from, from + OUTBOX_ROWS_A_STATEMENT);
    const values = part.map(
      (_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`,
    );
    await db.query(
      `INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES ${values.join(", ")}`,
      part.flatMap((e) => [time, e.actor, e.action, e.object.kind, e.object.id, JSON.stringify(e.details)]),
    );
  }
}
/** Bind parameters are at most 65,535 a statement: 6 a row. */
const OUTBOX_ROWS_A_STATEMENT = 1_000;

/**
 * Writes the audit record of a change outside the snapshot (an alert's): no version bump (no node
 * need reload), but the same row lock as `changed`, held to COMMIT, so that its outbox id too is
 * drawn in commit order. FOR NO KEY UPDATE is the lock the bump's UPDATE takes.
 */
export async function audited(db: pg.PoolClient, time: string, entry: OutboxEntry) {
  await db.query("SELECT 1 FROM store_meta WHERE id = 1 FOR NO KEY UPDATE");
  await insertOutbox(db, time, entry);
}

async function insertOutbox(db: pg.PoolClient, time: string, entry: OutboxEntry) {
  await db.query(
    "INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES ($1, $2, $3, $4, $5, $6)",
    [time, entry.actor, entry.action, entry.object.kind, entry.object.id, JSON.stringify(entry.details)],
  );
}

/**
 * Inserts or replaces; true when it inserted. Not one upsert: `created` must be right when writers
 * race. An update finding nothing means a concurrent remove got in between: insert again.
 */
export async function putPrincipal(db: pg.PoolClient, p: Principal, json: string, now: string) {
  const values = [p.id, json, now, ...searchColumns(p)];
  for (;;) {
    const insert = `INSERT INTO principals (id, document, created_at, updated_at, organization_id, id_folded, name_folded)
                    VALUES ($1, $2, $3, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`;
    if ((await db.query(insert, values)).rowCount === 1) return true;
    const update = `UPDATE principals SET document = $2, updated_at = $3, organization_id = $4, id_folded = $5,
                    name_folded = $6 WHERE id = $1`;
    if ((await db.query(update, values)).rowCount === 1) return false;
  }
}

/**
 * Gives principals stored before schema version 14 (or by an older node since) their filter
 * columns, computed as a put computes them: a no-op read once they all have them. A thousand rows at
 * a time, by id (a large store's first start after the upgrade holds one chunk in memory, not every
 * document). Another node may put a principal between a chunk's read and its update (nodes starting
 * together): the update skips rows filled since, or the old document's columns would stay beside
 * the new one, never refilled. `afterRead` runs between the two (tests interleave there).
 */
export async function fillSearchColumns(db: pg.ClientBase, afterRead?: () => Promise<void>): Promise<void> {
  for (let last: string | null = null; ;) {
    const { rows }: pg.QueryResult<{ id: string; document: string }> = await db.query(
      `SELECT id, document FROM principals WHERE id_folded IS NULL AND ($1::text IS NULL OR id > $1)
       ORDER BY id LIMIT ${FILL_CHUNK}`,
      [last],
    );
    if (rows.length === 0) return;
    last = rows[rows.length - 1]!.id;
    await afterRead?.();
    const columns: (string | null)[][] = [[], [], [], []];
    for (const row of rows) {
      const p = toPrincipal(row);
      [p.id, ...searchColumns(p)].forEach((v, c) => columns[c]!.push(v));
    }
    await db.query(
      `UPDATE principals SET organization_id = f.o, id_folded = f.i, name_folded = f.n
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS f (id, o, i, n)
       WHERE principals.id = f.id AND principals.id_folded IS NULL`,
      columns,
    );
  }
}
/** Rows a statement in the fill: one round trip a thousand principals, not one a principal. */
const FILL_CHUNK = 1_000;

/** One page of principals (see Store.principals.page). */
export async function pagePrincipals(db: Db, query: PrincipalQuery): Promise<Principal[]> {
  // No stored text has a NUL (storable): such a filter matches nothing, and ids after such a cursor
  // are those after its part before the NUL (nothing stored lies between the two).
  if (![query.organization, query.prefix].every((t) => t === undefined || storable(t))) return [];
  const after = query.after?.split("\u0000")[0];
  const { where, params } = principalWhere(
    { ...query, ...(after === undefined ? {} : { after }) },
    (n) => `$${n}`,
  );
  const sql = `SELECT document FROM principals ${where} ORDER BY id LIMIT $${params.length + 1}`;
  return (await db.query<{ document: string }>(sql, [...params, query.limit])).rows.map(toPrincipal);
}

export async function getPrincipal(db: Db, id: string): Promise<Principal | undefined> {
  const { rows } = await db.query<{ document: string }>("SELECT document FROM principals WHERE id = $1", [
    id,
  ]);
  return rows[0] === undefined ? undefined : toPrincipal(rows[0]);
}

export async function listPrincipals(db: Db): Promise<Principal[]> {
  return (await db.query<{ document: string }>("SELECT document FROM principals ORDER BY id")).rows.map(
    toPrincipal,
  );
}

/** False when the id is taken. Rejects with FOREIGN_KEY_VIOLATION for an unknown principal. */
export async function insertKey(db: pg.PoolClient, k: ApiKeyRecord): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO api_keys (id, principal_id, label, hash, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [k.id, k.principalId, k.label, k.hash, k.createdAt],
  );
  return rowCount === 1;
}

/** Revoked now, or already (its first revokedAt stands), or unknown. */
export async function revokeKey(db: pg.PoolClient, id: string, now: string): Promise<KeyRevocation> {
  const sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
  if ((await db.query(sql, [now, id])).rowCount === 1) return "revoked";
  return (await db.query("SELECT 1 FROM api_keys WHERE id = $1", [id])).rowCount === 1
    ? "already-revoked"
    : "unknown";
}

/** In insertion order (seq: created_at ties within a millisecond, ids are random). */
export async function listKeys(db: Db, principalId?: string): Promise<ApiKeyRecord[]> {
  const { rows } =
    principalId === undefined
      ? await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY seq`)
      : await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE principal_id = $1 ORDER BY seq`, [
          principalId,
        ]);
  return rows.map(toKey);
}

/** One page of keys (see Store.keys.page). */
export async function pageKeys(db: Db, query: KeyQuery): Promise<ApiKeyRecord[]> {
  // As pagePrincipals: no stored id holds a NUL, so such a principal has no keys, and the ids after
  // such a cursor are those after its part before the NUL.
  if (query.principal !== undefined && !storable(query.principal)) return [];
  const after = query.after?.split("\u0000")[0];
  const { where, params } = keyWhere({ ...query, ...(after === undefined ? {} : { after }) }, (n) => `$${n}`);
  const sql = `SELECT ${KEY_COLUMNS} FROM api_keys ${where} ORDER BY id LIMIT $${params.length + 1}`;
  return (await db.query<KeyRow>(sql, [...params, query.limit])).rows.map(toKey);
}

type OutboxRow = Omit<OutboxRecord, "object" | "details"> & {
  object_kind: string;
  object_id: string;
  details: string;
};

const toOutboxRecord = (r: OutboxRow): OutboxRecord => ({
  id: r.id,
  time: r.time,
  actor: r.actor,
  action: r.action,
  object: { kind: r.object_kind, id: r.object_id },
  details: JSON.parse(r.details) as Record<string, unknown>,
});

export async function listOutbox(db: Db, afterId: number, limit: number): Promise<OutboxRecord[]> {
  const { rows } = await db.query<OutboxRow>(
    `SELECT id, time, actor, action, object_kind, object_id, details FROM audit_outbox
     WHERE id > $1 ORDER BY id LIMIT $2`,
    [afterId, limit],
  );
  return rows.map(toOutboxRecord);
}

export async function setDrained(db: Db, through: DrainedThrough): Promise<void> {
  await db.query(
    `INSERT INTO audit_drained (id, change_number, entry_digest) VALUES (1, $1, $2)
     ON CONFLICT (id) DO UPDATE SET change_number = excluded.change_number, entry_digest = excluded.entry_digest`,
    [through.change, through.digest],
  );
}

/** One statement (one snapshot): a drain's delete lands before or after it, never between its reads. */
export async function outboxPosition(db: Db, logged: number): Promise<OutboxPosition> {
  type Row = Partial<OutboxRow> & { drained: number | null; digest: string | null; last: number | null };
  const { rows } = await db.query<Row>(
    `SELECT d.change_number AS drained, d.entry_digest AS digest,
       pg_sequence_last_value(pg_get_serial_sequence('audit_outbox', 'id')) AS last,
       o.id, o.time, o.actor, o.action, o.object_kind, o.object_id, o.details
     FROM (SELECT 1) AS one
     LEFT JOIN audit_drained d ON d.id = 1
     LEFT JOIN audit_outbox o ON o.id = $1`,
    [logged],
  );
  const r = rows[0] as Row;
  return {
    drained: r.drained === null ? null : { change: r.drained, digest: r.digest },
    last: r.last ?? 0,
    record: r.id === null || r.id === undefined ? undefined : toOutboxRecord(r as OutboxRow),
  };
}

/** The identity's last value survives the drain's deletes (null until the first change). */
export async function lastOutboxId(db: Db): Promise<number> {
  const { rows } = await db.query<{ last: number | null }>(
    "SELECT pg_sequence_last_value(pg_get_serial_sequence('audit_outbox', 'id')) AS last",
  );
  return rows[0]?.last ?? 0;
}

export async function getRecord<T>(db: Db, collection: Collection, id: string) {
  const sql = `SELECT ${RECORD_COLUMNS} FROM records WHERE collection = $1 AND id = $2`;
  const row = (await db.query<RecordRow>(sql, [collection, id])).rows[0];
  return row === undefined ? undefined : toStored<T>(row);
}

/** One collection ordered by id, or (no collection) all of them ordered by collection and id. */
export async function listRecords<T>(db: Db, collection?: Collection): Promise<StoredRecord<T>[]> {
  const { rows } =
    collection === undefined
      ? await db.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records ORDER BY collection, id`)
      : await db.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM records WHERE collection = $1 ORDER BY id`, [
          collection,
        ]);
  return rows.map((r) => toStored<T>(r));
}

/**
 * Compare-and-swap in one statement; undefined when the stored revision is not `expected`. A racing
 * writer waits on the row (or, inserting, on the key) until the winner commits; its WHERE then sees
 * the new revision (or its insert the new row) and matches nothing.
 */
export async function casRecord<T>(
  db: pg.PoolClient,
  r: Omit<StoredRecord<T>, "revision">,
  expected: number,
): Promise<StoredRecord<T> | undefined> {
  // No stored revision can equal these (the column is INTEGER): a conflict, as SQLite says, rather
  // than PostgreSQL's "invalid input syntax for type integer".
  if (!Number.isInteger(expected) || expected < 0 || expected > 2 ** 31 - 1) return undefined;
  const params = [r.collection, r.id, JSON.stringify(r.document), r.updatedAt];
  const { rows } =
    expected === 0
      ? await db.query<RecordRow>(
          `INSERT INTO records (collection, id, revision, document, updated_at) VALUES ($1, $2, 1, $3, $4)
           ON CONFLICT (collection, id) DO NOTHING RETURNING ${RECORD_COLUMNS}`,
          params,
        )
      : await db.query<RecordRow>(
          `UPDATE records SET revision = revision + 1, document = $3, updated_at = $4
           WHERE collection = $1 AND id = $2 AND revision = $5 RETURNING ${RECORD_COLUMNS}`,
          [...params, expected],
        );
  return rows[0] === undefined ? undefined : toStored<T>(rows[0]);
}

/**
 * Adds a batch in one statement: atomic without BEGIN/COMMIT, one round trip. Deltas are summed per
 * row first (one INSERT may not update a row twice), then sorted, so that two gateways flushing at
 * once lock rows in the same order and cannot deadlock. '' is "none", as in SQLite.
 */
export async function addUsage(db: Db, deltas: readonly CheckedDelta[]): Promise<void> {
  const rows = new Map<string, [string, string, string, string, string, number, number, number]>();
  for (const d of deltas) {
    const key = [d.day, d.principalId, d.organizationId ?? "", d.licenseId ?? "", d.model] as const;
    const id = JSON.stringify(key);
    const row = rows.get(id) ?? [...key, 0, 0, 0];
    // Saturating, as the upsert below: a sum past 2^63 would fail the batch, and the Meter retry it for ever.
    row[5] = Math.min(row[5] + d.inputTokens, Number.MAX_SAFE_INTEGER);
    row[6] = Math.min(row[6] + d.outputTokens, Number.MAX_SAFE_INTEGER);
    row[7] += d.requests;
    rows.set(id, row);
  }
  const sorted = [...rows.keys()].sort().map((id) => rows.get(id)!);
  await db.query(
    `INSERT INTO usage_daily (day, principal_id, organization_id, license_id, model,
                              input_tokens, output_tokens, requests)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::bigint[], $7::bigint[], $8::bigint[])
     ON CONFLICT (day, principal_id, organization_id, license_id, model) DO UPDATE SET
       input_tokens = LEAST(usage_daily.input_tokens::numeric + excluded.input_tokens, 9007199254740991)::bigint,
       output_tokens = LEAST(usage_daily.output_tokens::numeric + excluded.output_tokens, 9007199254740991)::bigint,
       requests = usage_daily.requests + excluded.requests`,
    [0, 1, 2, 3, 4, 5, 6, 7].map((i) => sorted.map((row) => row[i])),
  );
}

/** Records the usage journal's `written` segments and drops the `forget` ones (in the caller's transaction). */
export async function markJournal(
  db: Db,
  written: readonly string[],
  forget: readonly string[],
): Promise<void> {
  if (written.length > 0)
    await db.query("INSERT INTO usage_journal (segment, written_at) SELECT unnest($1::text[]), $2", [
      written,
      new Date().toISOString(),
    ]);
  if (forget.length > 0)
    await db.query("DELETE FROM usage_journal WHERE segment = ANY($1::text[])", [forget]);
}

/** Drops the records whose ids start with `prefix` ("": all), but for those in `keep`; how many. */
export async function dropJournaled(db: Db, prefix: string, keep: readonly string[]): Promise<number> {
  const { rowCount } = await db.query(
    "DELETE FROM usage_journal WHERE left(segment, char_length($1::text)) = $1 AND NOT (segment = ANY($2::text[]))",
    [prefix, keep],
  );
  return rowCount ?? 0;
}

/** Which of `segments` are recorded as written. */
export async function journaled(db: Db, segments: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ segment: string }>(
    "SELECT segment FROM usage_journal WHERE segment = ANY($1::text[])",
    [segments],
  );
  const found = new Set(rows.map((r) => r.segment));
  return segments.filter((s) => found.has(s));
}

// From the roll-up the triggers keep (version 18), not a sum over every row; '' (no license, no
// organization) is kept there but never a sum of its own. Ordered as SQLite's primary key returns them.
const TOTALS = `
  SELECT kind, id, LEAST(tokens, 9007199254740991)::bigint AS tokens FROM usage_totals
  WHERE rows > 0 AND (kind = 'p' OR id <> '') ORDER BY kind, id`;

export async function usageTotals(db: Db): Promise<UsageTotals> {
  const { rows } = await db.query<{ kind: "l" | "p" | "o"; id: string; tokens: number }>(TOTALS);
  // fromEntries defines own properties, so an id like "__proto__" stays an ordinary key.
  const of = (kind: string) =>
    Object.fromEntries(rows.filter((r) => r.kind === kind).map((r) => [r.id, r.tokens]));
  return { byLicense: of("l"), byPrincipal: of("p"), byOrganization: of("o") };
}

// As TOTALS for one organization and a list of licenses (one array parameter), one snapshot too.
const SCOPED_TOTALS = `
  SELECT 'l' AS kind, license_id AS id, ${TOKENS} AS tokens FROM usage_daily
    WHERE license_id = ANY($1::text[]) AND license_id <> '' GROUP BY license_id
  UNION ALL SELECT 'o', organization_id, ${TOKENS} FROM usage_daily
    WHERE organization_id = $2 AND organization_id <> '' GROUP BY organization_id
  ORDER BY kind, id`;

export async function usageScopedTotals(db: Db, scope: UsageScope): Promise<ScopedUsageTotals> {
  const { rows } = await db.query<{ kind: "l" | "o"; id: string; tokens: number }>(SCOPED_TOTALS, [
    scope.licenses,
    scope.organization,
  ]);
  const of = (kind: string) =>
    Object.fromEntries(rows.filter((r) => r.kind === kind).map((r) => [r.id, r.tokens]));
  return { byLicense: of("l"), byOrganization: of("o") };
}

/** Per license: the total, then one sum per window, in one statement (one snapshot). */
export async function usageByLicenseWindows(
  db: Db,
  windows: readonly UsageWindow[],
): Promise<LicenseWindowTokens[]> {
  const params: string[] = [];
  const sums = windows.map((w) => {
    params.push(w.from);
    let days = `day >= $${params.length}`;
    if (w.to !== undefined) {
      params.push(w.to);
      days += ` AND day <= $${params.length}`;
    }
    return `, ${sumTokens(`CASE WHEN ${days} THEN ${ROW_TOKENS} ELSE 0 END`)}`;
  });
  // Rows as arrays: the sums are unnamed columns.
  const { rows } = await db.query<[string, number, ...number[]]>({
    text: `SELECT license_id, ${TOKENS}${sums.join("")} FROM usage_daily
           WHERE license_id <> '' GROUP BY license_id ORDER BY license_id`,
    values: params,
    rowMode: "array",
  });
  return rows.map(([licenseId, total, ...rest]) => ({ licenseId, total, windows: rest }));
}

export async function usageByLicenseDay(db: Db, sinceDay: string) {
  const { rows } = await db.query<{ licenseId: string; day: string; tokens: number }>(
    `SELECT license_id AS "licenseId", day, ${TOKENS} AS tokens FROM usage_daily
     WHERE license_id <> '' AND day >= $1 GROUP BY license_id, day ORDER BY license_id, day`,
    [sinceDay],
  );
  return rows;
}

/**
 * Federated principals in one statement, one row per id (the newest token's wins within the batch),
 * sorted so that two gateways writing at once lock rows in the same order.
 */
export async function recordFederated(db: Db, records: readonly FederatedPrincipalRecord[]): Promise<void> {
  const newest = new Map<string, FederatedPrincipalRecord>();
  for (const r of records) {
    const seen = newest.get(r.id);
    if (seen === undefined || r.issued_at >= seen.issued_at) newest.set(r.id, r);
  }
  const sorted = [...newest.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const columns = sorted.map((r) => {
    const { first_seen, last_seen, issued_at, ...rest } = r;
    return [r.id, r.issuer, r.subject, JSON.stringify(rest), first_seen, last_seen, issued_at] as const;
  });
  await db.query(
    `INSERT INTO federated_principals AS f (id, issuer, subject, document, first_seen, last_seen, issued_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
     ON CONFLICT (id) DO UPDATE SET
       document = CASE WHEN excluded.issued_at >= f.issued_at THEN excluded.document ELSE f.document END,
       last_seen = GREATEST(f.last_seen, excluded.last_seen),
       issued_at = GREATEST(f.issued_at, excluded.issued_at)`,
    [0, 1, 2, 3, 4, 5, 6].map((i) => columns.map((c) => c[i])),
  );
}

export async function listFederated(db: Db): Promise<FederatedPrincipalRecord[]> {
  const sql = `SELECT ${FEDERATED_COLUMNS} FROM federated_principals ORDER BY id`;
  return (await db.query<FederatedRow>(sql)).rows.map(toFederated);
}

export async function getFederated(db: Db, id: string): Promise<FederatedPrincipalRecord | undefined> {
  const sql = `SELECT ${FEDERATED_COLUMNS} FROM federated_principals WHERE id = $1`;
  const row = (await db.query<FederatedRow>(sql, [id])).rows[0];
  return row === undefined ? undefined : toFederated(row);
}
