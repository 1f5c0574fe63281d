/**
 * The audit log's tables in PostgreSQL, for several nodes writing one log (see ../../audit/shared.ts).
 *
 * - Appends are sequenced by the database: one statement takes a range of indices from audit_head
 *   (its row lock is held to COMMIT) and inserts the entries, so indices are gapless and committed in
 *   order — a reader never sees entry n+1 without entry n.
 * - Admin changes move from the outbox into the log in one transaction: exactly once, whichever node
 *   drains. A drain deletes the records it read, by id: one that commits meanwhile is left for the
 *   next, whatever its id.
 * - One integrator at a time: the node whose dedicated session holds an advisory lock (per schema).
 *   It writes checkpoints through that same session, so a node that lost its lock (its connection
 *   died and another node took over) cannot write one any more. A size has at most one checkpoint.
 */
import pg from "pg";
import type { IntegratorSeat, SharedAuditStore } from "../index.js";
import { SetupError } from "../../errors/index.js";
import { quoteIdent } from "./migrations.js";
import { KEEPALIVE_MS, TYPES, listOutbox } from "./queries.js";

/** The integrator lock's first key: "clri" in ASCII; the second is the schema's hash. */
const INTEGRATOR_LOCK = 0x636c7269;
/** Drainers of one schema queue on this (transaction-scoped) lock: "clro". */
const OUTBOX_LOCK = 0x636c726f;
/** node-postgres's error for a connect past its connectionTimeoutMillis (its socket destroyed). */
const CONNECT_TIMEOUT = "timeout expired";
/** node-postgres's error for a query past its query_timeout. */
const QUERY_TIMEOUT = "Query read timeout";
/** PostgreSQL 13 has no idle_session_timeout. */
const UNDEFINED_PARAMETER = "42704";
/** Ending another role's session without the privilege. */
const INSUFFICIENT_PRIVILEGE = "42501";
/**
 * How long a closing seat waits for its session to end (the server closes the socket once its
 * backend has gone) or to finish opening, before it destroys the socket: a live server answers in
 * milliseconds, and on a link gone silent the close would otherwise wait for TCP to give up.
 */
const CLOSE_GRACE_MS = 2_000;
/**
 * The longest the seat's session may take to open (a shorter lease bounds it as it does the seat's
 * statements): a connect unanswered (a link gone silent, a server that accepts and says nothing)
 * would otherwise hold the acquire, and the round, until TCP gives up. As long as an admin call
 * waits for a connection.
 */
const CONNECT_MS = 30_000;

/**
 * One statement: take as many indices as there are entries, insert the entries under them, return
 * the first. One text for every batch, so each connection parses and plans it once (a named
 * statement): the entries go as one binary parameter, concatenated, with where each starts and how
 * long it is (an array of entries would go as hex text, twice the bytes, for both sides to encode
 * and parse; one parameter per entry would make a new statement for every batch size).
 */
const APPEND = {
  name: "clearance-audit-append",
  text: `
    WITH head AS (
      UPDATE audit_head SET size = size + cardinality($2::int4[]) WHERE id = 1 RETURNING size
    ), added AS (
      INSERT INTO audit_entries (idx, entry)
      SELECT head.size - cardinality($2::int4[]) + t.ord - 1, substring($1::bytea FROM t.start FOR t.len)
      FROM head, unnest($2::int4[], $3::int4[]) WITH ORDINALITY AS t(start, len, ord)
    )
    SELECT (size - cardinality($2::int4[]))::text AS first FROM head`,
};

/**
 * Entries in index ranges, in index order, in one round trip. Each range is an index scan: the LIMIT
 * keeps the planner from flattening the subquery into one join, which it would run as a scan of the
 * whole table.
 */
const READ_RANGES = {
  name: "clearance-audit-read-ranges",
  text: `
    SELECT e.entry FROM unnest($1::int8[], $2::int8[]) AS r(lo, hi)
    CROSS JOIN LATERAL (
      SELECT idx, entry FROM audit_entries WHERE idx >= r.lo AND idx < r.hi ORDER BY idx LIMIT r.hi - r.lo
    ) AS e
    ORDER BY e.idx`,
};

const READ = {
  name: "clearance-audit-read",
  text: "SELECT entry FROM audit_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
};

type Db = pg.Pool | pg.PoolClient;

async function append(db: Db, entries: readonly Uint8Array[]): Promise<bigint> {
  const starts: number[] = [];
  const lengths: number[] = [];
  let at = 1; // substring counts from 1
  for (const e of entries) {
    starts.push(at);
    lengths.push(e.length);
    at += e.length;
  }
  const blob = entries.length === 1 ? toBuffer(entries[0]!) : Buffer.concat(entries);
  // Indices are 64-bit: read as text into a BigInt (the pool's int8 parser stops at 2^53).
  const { rows } = await db.query<{ first: string }>({ ...APPEND, values: [blob, starts, lengths] });
  return BigInt(rows[0]?.first as string);
}

/**
 * The `entry` column of a query's rows. In text format (hex): node-postgres reads every field of a
 * row as a UTF-8 string, so a binary bytea would not survive.
 */
async function entries(db: Db, query: pg.QueryConfig): Promise<Buffer[]> {
  const { rows } = await db.query<{ entry: Buffer }>(query);
  return rows.map((r) => r.entry);
}

/** A statement with a client-side timeout (its typings lack the option pg takes per query). */
const bounded = (text: string, values: unknown[], ms: number): pg.QueryConfig =>
  ({ text, values, query_timeout: ms }) as pg.QueryConfig;

/** The client's queries, each with a client-side timeout (a rejected query: "Query read timeout"). */
function timed(client: pg.PoolClient, ms: number): pg.PoolClient {
  const query = (text: string | pg.QueryConfig, values?: unknown[]) =>
    client.query({
      ...(typeof text === "string" ? { text, values } : text),
      query_timeout: ms,
    } as pg.QueryConfig);
  return Object.assign(Object.create(client) as pg.PoolClient, { query });
}

const toBuffer = (e: Uint8Array): Buffer =>
  Buffer.isBuffer(e) ? e : Buffer.from(e.buffer, e.byteOffset, e.byteLength);

/**
 * `fast`: the request path's pool, whose queries time out (see index.ts): an append on a dead link is
 * refused in seconds, and the log reports the failure, rather than every request waiting behind it.
 */
export function sharedAudit(
  pool: pg.Pool,
  fast: pg.Pool,
  where: { url: string; schema?: string },
  drainTimeoutMs = 30_000,
): SharedAuditStore {
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

    append: (entries) => append(fast, entries),

    async drainOutbox(toEntry, limit) {
      const pooled = await pool.connect();
      // Every statement bounded: on a silent link a drain (which the admin API awaits) fails, and
      // its connection is destroyed (pg ends a client with a query in flight by destroying it).
      const client = timed(pooled, drainTimeoutMs);
      try {
        // On the server too, at the drain's own bound (not the session's, for single admin statements).
        await client.query(`BEGIN; SET LOCAL statement_timeout = ${Math.max(1, Math.round(drainTimeoutMs))}`);
        await client.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", [OUTBOX_LOCK]);
        const records = await listOutbox(client, 0, limit);
        if (records.length > 0) {
          await append(client, records.map(toEntry));
          // Exactly the records logged, not "up to the last": a record with a lower id that
          // committed since the read (a writer that skipped the change lock) stays for the next drain.
          await client.query("DELETE FROM audit_outbox WHERE id = ANY($1::int8[])", [
            records.map((r) => r.id),
          ]);
        }
        await client.query("COMMIT");
        pooled.release();
        return records.length;
      } catch (err) {
        await client.query("ROLLBACK").then(
          () => pooled.release(),
          (e: Error) => pooled.release(e),
        );
        throw err;
      }
    },

    async read(from, limit) {
      return entries(pool, { ...READ, values: [from.toString(), limit] });
    },

    async readRanges(ranges) {
      if (ranges.length === 0) return [];
      const values = [ranges.map((r) => r.from.toString()), ranges.map((r) => r.to.toString())];
      return entries(pool, { ...READ_RANGES, values });
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

    seat: (options = {}) => new Seat(where, options.leaseMs),
  };
}

/** A node's chance to be the integrator: one dedicated session, which may or may not hold the lock. */
class Seat implements IntegratorSeat {
  #client: pg.Client | null = null;
  /** A session being opened (connect and set-up under way), which close must end too. */
  #opening: { client: pg.Client; done: Promise<unknown> } | null = null;
  #held = false;
  #closed = false;
  #heartbeat: NodeJS.Timeout | undefined;
  /** The statements under way on the session, which close waits for. */
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    private readonly where: { url: string; schema?: string },
    private readonly leaseMs?: number,
  ) {}

  get held(): boolean {
    return this.#held;
  }

  async acquire(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#held) return true;
    // Closed while it opened: no seat (a connect that close cut short is not this round's failure).
    const client =
      this.#client ??
      (await this.#connect().catch((err: unknown) => {
        if (this.#closed) return null;
        throw err;
      }));
    if (client === null) return false;
    // None once closing began: close waits only for the statements already under way.
    const take = async () =>
      !this.#closed &&
      (
        await this.#query<{ ok: boolean }>(
          client,
          "SELECT pg_try_advisory_lock($1, hashtext(current_schema())) AS ok",
          [INTEGRATOR_LOCK],
        )
      ).rows[0]?.ok === true;
    let ok = await take();
    if (!ok && this.leaseMs !== undefined && (await this.#endStaleHolder(client, this.leaseMs))) {
      // The backend ends asynchronously; its lock goes with it moments later.
      for (let i = 0; i < 20 && !ok && !this.#closed; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ok = await take();
      }
    }
    this.#held = ok && this.#client === client && !this.#closed;
    if (this.#held) this.#beat(client);
    return this.#held;
  }

  /**
   * Ends the holder's session if it has said nothing for over `leaseMs`: a live integrator's
   * heartbeat keeps it busier than that, so this one is frozen, or its node is cut off and the
   * server has not noticed. True if a session was ended.
   */
  async #endStaleHolder(client: pg.Client, leaseMs: number): Promise<boolean> {
    const { rows } = await this.#query<{ ended: boolean }>(
      client,
      `SELECT pg_terminate_backend(a.pid) AS ended
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid
         AND l.objid = hashtext(current_schema())::oid AND l.objsubid = 2
         AND a.state LIKE 'idle%' AND a.state_change < now() - make_interval(secs => $2::float8 / 1000)`,
      [INTEGRATOR_LOCK, leaseMs],
    ).catch((err: { code?: string }) => {
      // Another role's session may not be ended from here: the server ends it (idle_session_timeout).
      if (err.code === INSUFFICIENT_PRIVILEGE) return { rows: [] };
      throw err;
    });
    return rows.some((r) => r.ended);
  }

  /**
   * While held: a statement every third of the lease, so that no node takes this live seat. One
   * unanswered for half the lease (a link gone silent: no FIN or RST arrives, and keepalives take
   * minutes) loses the seat here, before another node may take it over (idle past the whole lease
   * since the last answered one); and a statement stuck behind it (a checkpoint) fails with it.
   */
  #beat(client: pg.Client): void {
    clearInterval(this.#heartbeat);
    const lease = this.leaseMs;
    if (lease === undefined) return;
    let waiting = false;
    this.#heartbeat = setInterval(
      () => {
        if (!this.#held || this.#client !== client) return clearInterval(this.#heartbeat);
        if (waiting) return;
        waiting = true;
        this.#track(client.query(bounded("SELECT 1", [], Math.max(10, Math.floor(lease / 2))))).then(
          () => void (waiting = false),
          () => this.#lose(client),
        );
      },
      Math.max(10, Math.floor(lease / 3)),
    );
    this.#heartbeat.unref();
  }

  /**
   * A statement on the seat's session, bounded by the lease (where there is one): past it, another
   * node may hold the seat, and a round must not wait on a dead link for ever. A timeout loses it.
   */
  async #query<R extends pg.QueryResultRow>(
    client: pg.Client,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.leaseMs === undefined) return this.#track(client.query<R>(text, values));
    try {
      return await this.#track(client.query<R>(bounded(text, values, this.leaseMs)));
    } catch (err) {
      if ((err as Error).message === QUERY_TIMEOUT) this.#lose(client);
      throw err;
    }
  }

  #track<T>(statement: Promise<T>): Promise<T> {
    this.#pending.add(statement);
    const done = () => void this.#pending.delete(statement);
    statement.then(done, done);
    return statement;
  }

  /**
   * The session cannot be heard from: the seat is counted lost, and the session ended (its socket
   * destroyed, a statement being in flight) so that the next acquire starts a new one.
   */
  #lose(client: pg.Client): void {
    if (this.#client === client) {
      this.#client = null;
      this.#held = false;
      clearInterval(this.#heartbeat);
    }
    client.end().catch(() => undefined);
  }

  async publish(cp: { size: bigint; root: Buffer; note: string; node: string }): Promise<void> {
    const client = this.#client;
    if (!this.#held || client === null) throw new Error("this node is not the audit log's integrator");
    const { rowCount } = await this.#query(
      client,
      `INSERT INTO audit_checkpoints (size, root, note, node, signed_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (size) DO NOTHING`,
      [cp.size.toString(), cp.root, cp.note, cp.node, new Date().toISOString()],
    );
    if (rowCount === 1) return;
    // Only a former integrator, racing before it noticed losing its lock, could have got here
    // first; it signed the same entries, so the same root. Anything else is a broken log.
    const { rows } = await this.#query<{ root: Buffer }>(
      client,
      "SELECT root FROM audit_checkpoints WHERE size = $1",
      [cp.size.toString()],
    );
    if (!rows[0]?.root.equals(cp.root)) {
      throw new Error(`a different checkpoint of size ${cp.size} is already recorded: the log has forked`);
    }
  }

  async release(): Promise<void> {
    const client = this.#client;
    if (!this.#held || client === null) return;
    this.#held = false;
    clearInterval(this.#heartbeat);
    try {
      await this.#query(client, "SELECT pg_advisory_unlock($1, hashtext(current_schema()))", [
        INTEGRATOR_LOCK,
      ]);
    } catch (err) {
      // The lock must not stay with a session this node no longer counts as holding it: end it,
      // bounded as close is (after a failed unlock, the link may be the reason, and silent).
      this.#client = null;
      if (await this.#end(client, Promise.resolve())) throw err;
      // Its socket destroyed: the lock may stay held until the server notices, which the caller hears.
      throw new Error(
        `the audit log integrator's unlock failed (${(err as Error).message}), and its session did not end within ${CLOSE_GRACE_MS} ms (a link gone silent?): its socket was destroyed, and the database frees the integrator lock when it notices, or another node takes the seat over once it has been idle past the lease`,
        { cause: err },
      );
    }
  }

  /**
   * Resolves once the lock is free on the server. A statement under way (the unlock of a release
   * the log started when it judged a round hung, a heartbeat) is waited for, each bounded by the
   * lease: ending the session under it would destroy the socket, and the server would free the lock
   * only when it noticed, after this resolved — another node's acquire then failing, and the
   * release rejecting. With none, the session ends by a Terminate, and the server closes the socket
   * only once its backend has exited, its locks gone. A session still being opened is ended too
   * (once open): it would otherwise stay open on the server, no seat's.
   *
   * Bounded: a session that has not ended (or opened) within CLOSE_GRACE_MS — a link gone silent,
   * where no close comes back — has its socket destroyed, and this rejects saying so. The server
   * frees the lock when it notices (its keepalives, idle_session_timeout), or another node ends the
   * session once it has been idle past the lease.
   */
  async close(): Promise<void> {
    this.#closed = true;
    do {
      this.#held = false;
      clearInterval(this.#heartbeat);
      await Promise.allSettled(this.#pending);
    } while (this.#pending.size > 0);
    const client = this.#client;
    const opening = this.#opening;
    this.#client = null;
    const ended = await Promise.all([
      client === null || this.#end(client, Promise.resolve()),
      opening === null || this.#end(opening.client, opening.done),
    ]);
    if (ended.includes(false)) {
      throw new Error(
        `the audit log integrator's session did not end within ${CLOSE_GRACE_MS} ms of its close (a link gone silent?): its socket was destroyed, and the database frees the integrator lock when it notices, or another node takes the seat over once it has been idle past the lease`,
      );
    }
  }

  /**
   * Ends a session (at close, after a failed unlock or opening) by a Terminate once it is open
   * (`opened`: a failed opening ended it already); past CLOSE_GRACE_MS, by destroying its socket.
   * pg's own end is not used on a session still connecting: its connect would then never settle.
   * False if the grace ran out.
   */
  async #end(client: pg.Client, opened: Promise<unknown>): Promise<boolean> {
    const ended = opened.then(
      () => client.end().catch(() => undefined),
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">(
      (resolve) => (timer = setTimeout(() => resolve("late"), CLOSE_GRACE_MS)),
    );
    try {
      if ((await Promise.race([ended, late])) !== "late") return true;
      // Connecting, the client sees its socket close and fails the connect; open, its end resolves.
      client.connection.stream.destroy();
      await ended;
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A new session, set up; null if the seat was closed meanwhile (close ends it). The connect and
   * the set-up share one budget, connectMs: a link gone silent at either step fails the acquire.
   */
  async #connect(): Promise<pg.Client | null> {
    const connectMs = Math.min(this.leaseMs ?? CONNECT_MS, CONNECT_MS);
    const deadline = performance.now() + connectMs;
    const client = new pg.Client({
      connectionString: this.where.url,
      // Past it, pg destroys the socket and fails the connect ("timeout expired"), said below.
      connectionTimeoutMillis: connectMs,
      types: TYPES,
      fallback_application_name: "clearance-integrator",
      // This node must learn that its session (and so the seat) is gone when the link dies.
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_MS,
    });
    client.on("error", () => undefined);
    // The lock goes with the session: when it ends, another node may already hold it.
    client.once("end", () => {
      if (this.#client === client) {
        this.#client = null;
        this.#held = false;
      }
    });
    const done = (async () => {
      try {
        await client.connect().catch((err: Error) => {
          if (err.message !== CONNECT_TIMEOUT) throw err;
          throw new Error(
            `the audit log integrator's session did not open within ${connectMs} ms (a link gone silent, or a server not answering?): this node does not take the seat this round`,
            { cause: err },
          );
        });
        await this.#setUp(client, deadline, connectMs);
      } catch (err) {
        // A session half set up is no seat's: ended, not left open on the server (bounded as close is).
        await this.#end(client, Promise.resolve());
        throw err;
      }
    })();
    this.#opening = { client, done };
    try {
      await done;
    } finally {
      this.#opening = null;
    }
    if (this.#closed) return null;
    this.#client = client;
    return client;
  }

  /**
   * The session's settings, each statement bounded by what is left of the opening's budget: a link
   * gone silent right after the connect would otherwise hold the acquire until TCP gives up. Past
   * it, the socket is destroyed (a Terminate would wait on the same silence) and this rejects.
   */
  async #setUp(client: pg.Client, deadline: number, connectMs: number): Promise<void> {
    const set = (text: string) =>
      client
        .query(bounded(text, [], Math.max(1, Math.ceil(deadline - performance.now()))))
        .catch((err: Error) => {
          if (err.message !== QUERY_TIMEOUT) throw err;
          client.connection.stream.destroy();
          throw new Error(
            `the audit log integrator's session did not finish its set-up within ${connectMs} ms of starting to connect (\`${text}\` unanswered: a link gone silent after the connect?): its socket was destroyed, and this node does not take the seat this round`,
            { cause: err },
          );
        });
    if (this.where.schema !== undefined) await set(`SET search_path TO ${quoteIdent(this.where.schema)}`);
    // And the server must end the session — freeing the lock for another node — when this node's
    // link dies while the backend lives on: probes after 10 s idle, every 5 s, 3 missed (~25 s).
    await set("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3");
    // And the server itself ends this session once it is silent past the lease: a frozen node or an
    // orphaned backend (a proxy keeps answering probes) frees the seat even where no other node may
    // end the session (ending another role's takes privileges: #endStaleHolder). PostgreSQL 14+.
    if (this.leaseMs !== undefined)
      await set(`SET idle_session_timeout = ${Math.max(1, Math.ceil(this.leaseMs))}`).catch(
        (err: { code?: string }) => {
          if (err.code !== UNDEFINED_PARAMETER) throw err;
        },
      );
  }
}
