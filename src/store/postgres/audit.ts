/**
 * The audit log's tables in PostgreSQL, for several nodes writing one log (see ../../audit/shared.ts).
 *
 * - Appends are sequenced by the database: one statement takes a range of indices from audit_head
 *   (its row lock is held to COMMIT) and inserts the entries, so indices are gapless and committed in
 *   order — a reader never sees entry n+1 without entry n.
 * - Admin changes move from the outbox into the log in one transaction: exactly once, whichever node
 *   drains.
 * - One integrator at a time: the node whose dedicated session holds an advisory lock (per schema).
 *   It writes checkpoints through that same session, so a node that lost its lock (its connection
 *   died and another node took over) cannot write one any more. A size has at most one checkpoint.
 */
import pg from "pg";
import type { IntegratorSeat, SharedAuditStore } from "../index.js";
import { SetupError } from "../../errors/index.js";
import { quoteIdent } from "./migrations.js";
import { TYPES, listOutbox } from "./queries.js";

/** The integrator lock's first key: "clri" in ASCII; the second is the schema's hash. */
const INTEGRATOR_LOCK = 0x636c7269;
/** Drainers of one schema queue on this (transaction-scoped) lock: "clro". */
const OUTBOX_LOCK = 0x636c726f;

/**
 * One statement: take `n` indices, insert the entries under them, return the first. Each entry is
 * its own parameter, sent in binary (an array parameter would go as hex text, twice the bytes, for
 * both sides to encode and parse).
 */
function appendSql(n: number): string {
  const values = Array.from({ length: n }, (_, i) => `$${i + 1}::bytea`).join(", ");
  return `
    WITH head AS (
      UPDATE audit_head SET size = size + ${n} WHERE id = 1 RETURNING size
    ), added AS (
      INSERT INTO audit_entries (idx, entry)
      SELECT head.size - ${n} + t.ord - 1, t.entry
      FROM head, unnest(ARRAY[${values}]) WITH ORDINALITY AS t(entry, ord)
    )
    SELECT (size - ${n})::text AS first FROM head`;
}

type Db = pg.Pool | pg.PoolClient;

async function append(db: Db, entries: readonly Uint8Array[]): Promise<bigint> {
  // Indices are 64-bit: read as text into a BigInt (the pool's int8 parser stops at 2^53).
  const values = entries.map((e) => (Buffer.isBuffer(e) ? e : Buffer.from(e)));
  const { rows } = await db.query<{ first: string }>(appendSql(values.length), values);
  return BigInt(rows[0]?.first as string);
}

export function sharedAudit(pool: pg.Pool, where: { url: string; schema?: string }): SharedAuditStore {
  return {
    async claim(origin, verifierKey) {
      const { rows } = await pool.query<{ origin: string; verifier_key: string }>(
        `UPDATE audit_head SET origin = coalesce(origin, $1), verifier_key = coalesce(verifier_key, $2)
         WHERE id = 1 RETURNING origin, verifier_key`,
        [origin, verifierKey],
      );
      const head = rows[0];
      if (head === undefined) throw new Error("audit_head is missing its row");
      if (head.origin !== origin || head.verifier_key !== verifierKey) {
        throw new SetupError(
          `this database's audit log is ${head.origin}, signed by ${head.verifier_key}; this node has ${origin}, ${verifierKey}: every node must use the same origin and signing key (audit.origin, audit.key_file or audit.key_env)`,
        );
      }
    },

    append: (entries) => append(pool, entries),

    async drainOutbox(toEntry, limit) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await client.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", [OUTBOX_LOCK]);
        const records = await listOutbox(client, 0, limit);
        if (records.length > 0) {
          await append(client, records.map(toEntry));
          await client.query("DELETE FROM audit_outbox WHERE id <= $1", [records.at(-1)?.id]);
        }
        await client.query("COMMIT");
        client.release();
        return records.length;
      } catch (err) {
        await client.query("ROLLBACK").then(
          () => client.release(),
          (e: Error) => client.release(e),
        );
        throw err;
      }
    },

    async read(from, limit) {
      const { rows } = await pool.query<{ entry: Buffer }>(
        "SELECT entry FROM audit_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
        [from.toString(), limit],
      );
      return rows.map((r) => r.entry);
    },

    async size() {
      const { rows } = await pool.query<{ size: string }>("SELECT size::text FROM audit_head WHERE id = 1");
      return BigInt(rows[0]?.size ?? "0");
    },

    async latestCheckpoint() {
      const { rows } = await pool.query<{ size: string; note: string }>(
        // Qualified: a bare "size" would name the text output column, and "9" sorts after "56".
        "SELECT size::text, note FROM audit_checkpoints ORDER BY audit_checkpoints.size DESC LIMIT 1",
      );
      const row = rows[0];
      return row === undefined ? null : { size: BigInt(row.size), note: row.note };
    },

    seat: () => new Seat(where),
  };
}

/** A node's chance to be the integrator: one dedicated session, which may or may not hold the lock. */
class Seat implements IntegratorSeat {
  #client: pg.Client | null = null;
  #held = false;
  #closed = false;

  constructor(private readonly where: { url: string; schema?: string }) {}

  get held(): boolean {
    return this.#held;
  }

  async acquire(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#held) return true;
    const client = this.#client ?? (await this.#connect());
    const { rows } = await client.query<{ ok: boolean }>(
      "SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS ok",
      [INTEGRATOR_LOCK],
    );
    this.#held = rows[0]?.ok === true && this.#client === client;
    return this.#held;
  }

  async publish(cp: { size: bigint; root: Buffer; note: string; node: string }): Promise<void> {
    const client = this.#client;
    if (!this.#held || client === null) throw new Error("this node is not the audit log's integrator");
    const { rowCount } = await client.query(
      `INSERT INTO audit_checkpoints (size, root, note, node, signed_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (size) DO NOTHING`,
      [cp.size.toString(), cp.root, cp.note, cp.node, new Date().toISOString()],
    );
    if (rowCount === 1) return;
    // Only a former integrator, racing before it noticed losing its lock, could have got here
    // first; it signed the same entries, so the same root. Anything else is a broken log.
    const { rows } = await client.query<{ root: Buffer }>(
      "SELECT root FROM audit_checkpoints WHERE size = $1",
      [cp.size.toString()],
    );
    if (!rows[0]?.root.equals(cp.root)) {
      throw new Error(`a different checkpoint of size ${cp.size} is already recorded: the log has forked`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#held = false;
    await this.#client?.end().catch(() => undefined);
    this.#client = null;
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.where.url,
      types: TYPES,
      fallback_application_name: "clearance-integrator",
    });
    client.on("error", () => undefined);
    // The lock goes with the session: when it ends, another node may already hold it.
    client.once("end", () => {
      if (this.#client === client) {
        this.#client = null;
        this.#held = false;
      }
    });
    await client.connect();
    if (this.where.schema !== undefined)
      await client.query(`SET search_path TO ${quoteIdent(this.where.schema)}`);
    this.#client = client;
    return client;
  }
}
