/**
 * Schema version 18: all-time usage per license, principal and organization, kept as usage is written
 * (a viewer's `GET /admin/v1/usage` read every usage row and summed it at every call: about 2 s of
 * CPU at 900,000 rows, in the gateway's event loop on SQLite). Kept by triggers on usage_daily, not
 * by the flush's code: every writer keeps it right — an older node during a rolling upgrade, a
 * hand-made row, a delete. `tokens` is the exact, unsaturated sum of each row's count as the reads
 * over rows count it (a row no Meter could have written counts as 2^53 - 1); reads saturate it at
 * 2^53 - 1 as the sums over rows do. `rows` counts the usage rows behind it: a key whose rows are all
 * gone is no key at all, as in a GROUP BY over the rows. Frozen text: a released migration never
 * changes (add a new one).
 */

const MAX = "9007199254740991";

// As ROW_TOKENS in sqlite/index.ts, for a row named by prefix ("NEW.", "OLD." or none).
const sqliteRowTokens = (r: string) => `(CASE WHEN typeof(${r}input_tokens) = 'integer'
    AND typeof(${r}output_tokens) = 'integer' AND ${r}input_tokens >= 0 AND ${r}output_tokens >= 0
  THEN ${r}input_tokens + ${r}output_tokens ELSE ${MAX} END)`;

// A row's three keys, each with its tokens and row count ('l' license, 'p' principal, 'o' organization).
const KEYS = [
  ["l", "license_id"],
  ["p", "principal_id"],
  ["o", "organization_id"],
] as const;
const sqliteKeys = (r: string, tokens: string, rows: string) =>
  KEYS.map(([kind, column]) => `('${kind}', ${r}${column}, ${tokens}, ${rows})`).join(", ");

const sqliteAdd = (values: string) => `INSERT INTO usage_totals (kind, id, tokens, rows) VALUES ${values}
    ON CONFLICT (kind, id) DO UPDATE SET tokens = tokens + excluded.tokens, rows = rows + excluded.rows;`;

const SAME_KEYS =
  "NEW.license_id IS OLD.license_id AND NEW.principal_id IS OLD.principal_id AND NEW.organization_id IS OLD.organization_id";

// Filled with total(): exact below 2^53 and never the "integer overflow" SUM() throws (a store that
// would not open); a sum past 2^53 reads as 2^53 - 1 either way. One writer at a time on SQLite (the
// file's lock), so the triggers need no lock order.
export const SQLITE_USAGE_TOTALS = `
  CREATE TABLE usage_totals (
    kind   TEXT NOT NULL,     -- 'l' license, 'p' principal, 'o' organization ('' ids kept, never read)
    id     TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    rows   INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  ) WITHOUT ROWID;
  INSERT INTO usage_totals (kind, id, tokens, rows)
    SELECT 'l', license_id, CAST(total(${sqliteRowTokens("")}) AS INTEGER), count(*) FROM usage_daily GROUP BY license_id
    UNION ALL
    SELECT 'p', principal_id, CAST(total(${sqliteRowTokens("")}) AS INTEGER), count(*) FROM usage_daily GROUP BY principal_id
    UNION ALL
    SELECT 'o', organization_id, CAST(total(${sqliteRowTokens("")}) AS INTEGER), count(*) FROM usage_daily GROUP BY organization_id;
  CREATE TRIGGER usage_totals_insert AFTER INSERT ON usage_daily BEGIN
    ${sqliteAdd(sqliteKeys("NEW.", sqliteRowTokens("NEW."), "1"))}
  END;
  -- The flush's update (the keys stay): one upsert per key with the difference.
  CREATE TRIGGER usage_totals_update AFTER UPDATE ON usage_daily WHEN ${SAME_KEYS} BEGIN
    ${sqliteAdd(sqliteKeys("NEW.", `${sqliteRowTokens("NEW.")} - ${sqliteRowTokens("OLD.")}`, "0"))}
  END;
  CREATE TRIGGER usage_totals_rekey AFTER UPDATE ON usage_daily WHEN NOT (${SAME_KEYS}) BEGIN
    ${sqliteAdd(`${sqliteKeys("OLD.", `-${sqliteRowTokens("OLD.")}`, "-1")}, ${sqliteKeys("NEW.", sqliteRowTokens("NEW."), "1")}`)}
  END;
  CREATE TRIGGER usage_totals_delete AFTER DELETE ON usage_daily BEGIN
    ${sqliteAdd(sqliteKeys("OLD.", `-${sqliteRowTokens("OLD.")}`, "-1"))}
  END;
`;

// As ROW_TOKENS in postgres/queries.ts: NUMERIC, so no sum overflows.
const PG_ROW_TOKENS = `CASE WHEN input_tokens >= 0 AND output_tokens >= 0
  THEN input_tokens::numeric + output_tokens ELSE ${MAX} END`;

// A transition table's rows as (kind, id, tokens, rows), signed.
const pgKeys = (table: string, sign: 1 | -1) =>
  KEYS.map(
    ([kind, column]) =>
      `SELECT '${kind}' AS kind, ${column} AS id, ${sign} * (${PG_ROW_TOKENS}) AS tokens, ${sign} AS rows FROM ${table}`,
  ).join(" UNION ALL ");

const pgAdd = (keys: string) => `INSERT INTO usage_totals (kind, id, tokens, rows)
        SELECT kind, id, sum(tokens), sum(rows) FROM (${keys}) k GROUP BY kind, id ORDER BY kind, id
        ON CONFLICT (kind, id) DO UPDATE SET tokens = usage_totals.tokens + excluded.tokens,
                                             rows = usage_totals.rows + excluded.rows;`;

/**
 * Statement-level triggers over the statement's transition tables: one upsert per key a flush touches.
 * Two gateways flushing at once would otherwise lock the same licenses' and organizations' totals in
 * different orders (the rows are sorted by day and principal) and deadlock: the triggers first take a
 * transaction-level advisory lock for the schema. A session takes it only after its statement has
 * locked all its usage rows (AFTER triggers run at the statement's end), so no cycle can form; the
 * flushes' totals are written one node at a time, for milliseconds, until each commits.
 * `SET search_path FROM CURRENT`: the schema the migration ran in, whatever the writer's search_path.
 */
export const POSTGRES_USAGE_TOTALS = `
  -- Writers wait (an older node mid-flush committed first): a flush committed between the fill's
  -- snapshot and the triggers would be in neither, lost from the totals for good.
  LOCK TABLE usage_daily IN SHARE ROW EXCLUSIVE MODE;
  CREATE TABLE usage_totals (
    kind   TEXT COLLATE "C" NOT NULL,
    id     TEXT COLLATE "C" NOT NULL,
    tokens NUMERIC NOT NULL,
    rows   BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
  );
  INSERT INTO usage_totals (kind, id, tokens, rows)
    SELECT kind, id, sum(tokens), sum(rows) FROM (${pgKeys("usage_daily", 1)}) k GROUP BY kind, id;
  CREATE FUNCTION usage_totals_keep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    -- "clut" in ASCII, and this schema: flushes to other schemas do not wait for these.
    PERFORM pg_advisory_xact_lock(1668052340, hashtext(current_schema()));
    IF TG_OP = 'INSERT' THEN
      ${pgAdd(pgKeys("added", 1))}
    ELSIF TG_OP = 'UPDATE' THEN
      ${pgAdd(`${pgKeys("added", 1)} UNION ALL ${pgKeys("removed", -1)}`)}
    ELSIF TG_OP = 'DELETE' THEN
      ${pgAdd(pgKeys("removed", -1))}
    ELSE -- TRUNCATE
      DELETE FROM usage_totals;
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER usage_totals_insert AFTER INSERT ON usage_daily
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION usage_totals_keep();
  CREATE TRIGGER usage_totals_update AFTER UPDATE ON usage_daily
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION usage_totals_keep();
  CREATE TRIGGER usage_totals_delete AFTER DELETE ON usage_daily
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION usage_totals_keep();
  CREATE TRIGGER usage_totals_truncate AFTER TRUNCATE ON usage_daily
    FOR EACH STATEMENT EXECUTE FUNCTION usage_totals_keep();
`;
