/**
 * Alerts in PostgreSQL (see ../alerts.ts): rows locked FOR UPDATE while they change. A change with an
 * audit record then takes the outbox's lock too (store_meta's row, as every change does): always in
 * that order, and other changes take only the second, so no two transactions wait on each other.
 */
import type pg from "pg";
import {
  ALERT_ACTION,
  checkNewAlert,
  claimed,
  deliveredAt,
  DELIVERY_ORDER,
  countQuery,
  listQuery,
  newAlertRecord,
  responseState,
  retryAt,
  transitioned,
  type AlertPage,
  type AlertRecord,
  type AlertStore,
  withPlaceholders,
} from "../alerts.js";
import { checkActor } from "../input.js";
import { audited, storable } from "./queries.js";

type Tx = <T>(fn: (db: pg.PoolClient) => Promise<T>) => Promise<T>;

const parse = (rows: { document: string }[]): AlertRecord[] =>
  rows.map((r) => JSON.parse(r.document) as AlertRecord);

async function write(db: pg.PoolClient, a: AlertRecord): Promise<void> {
  await db.query(
    "UPDATE alerts SET state = $1, delivery_state = $2, next_delivery_at = $3, response_state = $4, document = $5 WHERE id = $6",
    [a.state, a.delivery.state, a.delivery.next_at, responseState(a), JSON.stringify(a), a.id],
  );
}

/**
 * The change's audit record, under the lock every outbox writer takes (see queries.ts `changed`):
 * without it, an alert's record could commit below an id a drainer has already passed.
 */
function audit(
  db: pg.PoolClient,
  actor: string,
  action: string,
  id: string,
  details: Record<string, unknown>,
): Promise<void> {
  return audited(db, new Date().toISOString(), { actor, action, object: { kind: "alert", id }, details });
}

/**
 * A page whose cursor holds a NUL, which PostgreSQL's text cannot: read as the same place in the ids'
 * byte order. No id holds a NUL, so the ids after "x\0…" are those after "x", and the ids before it
 * those up to "x" itself, that is before "x\u0001".
 */
function cursorWithoutNul(page: AlertPage): AlertPage {
  const at = page.after?.indexOf("\u0000") ?? -1;
  if (page.after === undefined || at < 0) return page;
  const kept = page.after.slice(0, at);
  // Most severe first: no alert's id, as in SQLite (an empty page).
  return { ...page, after: page.newest === true || page.mostSevere === true ? `${kept}\u0001` : kept };
}

/** DELIVERY_ORDER's statements in this dialect: $1 the subject's kind (or now), $2 its id (or the limit). */
const numbered = (sql: string) =>
  withPlaceholders(sql, (name) => (name === "kind" || name === "now" ? "$1" : "$2"));
const DUE = `${numbered(DELIVERY_ORDER.due)} FOR UPDATE SKIP LOCKED`;
const HAS_HEAD = numbered(DELIVERY_ORDER.hasHead);
const NEXT = numbered(DELIVERY_ORDER.next);

/**
 * Whether a subject's alert is held is decided by reading its other alerts: a raise and a delivery
 * of one subject take turns (a transaction-scoped lock, released at COMMIT or ROLLBACK), or each
 * would miss the other's uncommitted change — two heads at once, or one held for ever.
 */
async function lockSubject(db: pg.PoolClient, subject: AlertRecord["subject"]): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ' ' || $2 || ' ' || $3))", [
    SUBJECT_LOCK,
    subject.kind,
    subject.id,
  ]);
}
/** The class of lockSubject's locks: "clra" in ASCII (audit.ts holds "clri" and "clro"). */
const SUBJECT_LOCK = 0x636c7261;

export function postgresAlerts(pool: () => pg.Pool, tx: Tx): AlertStore {
  const change = async (
    id: string,
    fn: (db: pg.PoolClient, a: AlertRecord) => Promise<AlertRecord | null>,
  ): Promise<AlertRecord | undefined> => {
    // An id no alert can have (a NUL: see storable) is unknown without asking (a closed store says so).
    if (!storable(id)) return void pool();
    return tx(async (db) => {
      const [a] = parse((await db.query("SELECT document FROM alerts WHERE id = $1 FOR UPDATE", [id])).rows);
      if (a === undefined) return undefined;
      const next = await fn(db, a);
      if (next !== null) await write(db, next);
      return next ?? a;
    });
  };
  return {
    raise: async (n, actor) => {
      checkNewAlert(n, actor);
      return tx(async (db) => {
        const a = newAlertRecord(n, actor);
        let held: 1 | null = null;
        if (a.delivery.state === "pending") {
          // Held behind the alert of its subject being delivered, if there is one (see DELIVERY_ORDER);
          // with none but some held (a node of the old release delivered it), the oldest held is made
          // the head first, as restoreHeads would: else this one became the head, ahead of them.
          await lockSubject(db, a.subject);
          const subject = [a.subject.kind, a.subject.id];
          const headed =
            (await db.query(HAS_HEAD, subject)).rowCount !== 0 ||
            (await db.query(NEXT, subject)).rowCount === 1;
          held = headed ? 1 : null;
        }
        const inserted = await db.query(
          `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, response_state, document, delivery_held)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (dedupe_key) DO NOTHING`,
          [
            a.id,
            n.dedupeKey,
            a.state,
            a.detector,
            a.subject.kind,
            a.subject.id,
            a.delivery.state,
            a.delivery.next_at,
            responseState(a),
            JSON.stringify(a),
            held,
          ],
        );
        if (inserted.rowCount !== 1) {
          const rows = (await db.query("SELECT document FROM alerts WHERE dedupe_key = $1", [n.dedupeKey]))
            .rows;
          return { alert: parse(rows)[0] as AlertRecord, created: false };
        }
        await audit(db, actor, ALERT_ACTION.open, a.id, {
          detector: a.detector,
          severity: a.severity,
          subject: a.subject,
          summary: a.summary,
          evidence: a.evidence,
        });
        return { alert: a, created: true };
      });
    },
    get: async (id) => {
      const db = pool();
      return storable(id)
        ? parse((await db.query("SELECT document FROM alerts WHERE id = $1", [id])).rows)[0]
        : undefined;
    },
    list: async (filter = {}, page = {}) => {
      // PostgreSQL's text holds no NUL (the query failed, an internal error over the admin API):
      // no stored value has one, so a filter holding one matches nothing, as in SQLite.
      if (!Object.values(filter).every((v) => typeof v !== "string" || storable(v))) {
        pool(); // a closed store says so
        return [];
      }
      const { sql, values } = listQuery(filter, cursorWithoutNul(page), (i) => `$${i}`);
      return parse((await pool().query(sql, values)).rows);
    },
    count: async (filter = {}) => {
      // As in list: a filter holding a NUL matches nothing.
      if (!Object.values(filter).every((v) => typeof v !== "string" || storable(v))) {
        pool();
        return 0;
      }
      const { sql, values } = countQuery(filter, (i) => `$${i}`);
      const rows = (await pool().query<{ n: string }>(sql, values)).rows;
      return Number(rows[0]?.n ?? 0);
    },
    pendingResponses: async (after, limit) =>
      parse(
        (
          await pool().query(
            "SELECT document FROM alerts WHERE response_state = 'pending' AND id > $1 ORDER BY id LIMIT $2",
            [after ?? "", limit],
          )
        ).rows,
      ),
    transition: async (id, to, actor, note) => {
      checkActor(actor);
      return change(id, async (db, a) => {
        const next = transitioned(a, to, actor, note, new Date().toISOString());
        await audit(db, actor, ALERT_ACTION[to], id, { from: a.state, to, note });
        return next;
      });
    },
    respond: async (id, response, actor) => {
      checkActor(actor);
      let recorded = false;
      await change(id, async (db, a) => {
        recorded = false; // a transaction tried again starts over
        if (a.response !== null) return null; // answered already (by another node's retry)
        await audit(db, actor, "alert.respond", id, {
          ...response,
          detector: a.detector,
          subject: a.subject,
        });
        recorded = true;
        return { ...a, response: { ...response, at: new Date().toISOString() } };
      });
      return recorded;
    },
    responseNotInForce: async (id, notInForce, actor) => {
      await change(id, async (db, a) => {
        if (a.response === null || a.response.not_yet_in_force !== undefined) return null;
        const details = { not_yet_in_force: notInForce, detector: a.detector, subject: a.subject };
        await audit(db, actor, "alert.not_in_force", id, details);
        return { ...a, response: { ...a.response, not_yet_in_force: notInForce } };
      });
    },
    due: (now, leaseUntil, limit) =>
      tx(async (db) => {
        // SKIP LOCKED: nodes claiming at once take different alerts.
        const rows = (await db.query(DUE, [now, limit])).rows as { document: string }[];
        const out: AlertRecord[] = [];
        for (const a of parse(rows)) {
          const c = claimed(a, leaseUntil);
          await write(db, c);
          out.push(c);
        }
        return out;
      }),
    delivered: async (id, at) => {
      if (!storable(id)) return void pool();
      await tx(async (db) => {
        const [a] = parse(
          (await db.query("SELECT document FROM alerts WHERE id = $1 FOR UPDATE", [id])).rows,
        );
        if (a === undefined) return;
        await write(db, deliveredAt(a, at));
        // Its subject's next alert goes now (in the same transaction: none is left held for ever).
        await lockSubject(db, a.subject);
        await db.query(NEXT, [a.subject.kind, a.subject.id]);
      });
    },
    retry: async (id, nextAt, error) => {
      await change(id, async (_db, a) =>
        a.delivery.state === "delivered" ? null : retryAt(a, nextAt, error),
      );
    },
    heldBehind: async (ids) => {
      const db = pool();
      // An id holding a NUL is no alert's (and PostgreSQL's text cannot hold it).
      const known = ids.filter(storable);
      if (known.length === 0) return new Map();
      const rows = (await db.query(DELIVERY_ORDER.heldBehind("SELECT unnest($1::text[])"), [known])).rows as {
        id: string;
        behind: string | null;
      }[];
      return new Map(rows.map((r) => [r.id, r.behind]));
    },
    restoreHeads: async () => {
      const orphans = (await pool().query(DELIVERY_ORDER.orphans)).rows as {
        subject_kind: AlertRecord["subject"]["kind"];
        subject_id: string;
      }[];
      let restored = 0;
      // Each under its subject's lock, as a delivery's `next` (a raise at the same time then sees
      // the head or makes one, never both), in its own transaction: no lock held across subjects.
      for (const o of orphans) {
        const subject = { kind: o.subject_kind, id: o.subject_id };
        restored += await tx(async (db) => {
          await lockSubject(db, subject);
          return (await db.query(NEXT, [subject.kind, subject.id])).rowCount ?? 0;
        });
      }
      return restored;
    },
  };
}
