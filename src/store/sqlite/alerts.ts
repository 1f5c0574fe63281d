/** Alerts in the embedded store (see ../alerts.ts): read-modify-write in IMMEDIATE transactions. */
import type Database from "better-sqlite3";
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
  type AlertRecord,
  type AlertStore,
  withPlaceholders,
} from "../alerts.js";
import { checkActor } from "../input.js";

const named = (sql: string) => withPlaceholders(sql, (name) => `@${name}`);

export function sqliteAlerts(db: Database.Database, live: () => void): AlertStore {
  const p = <R = unknown>(sql: string) => db.prepare<unknown[], R>(sql);
  const s = {
    insert: p(
      `INSERT INTO alerts (id, dedupe_key, state, detector, subject_kind, subject_id, delivery_state, next_delivery_at, response_state, document, delivery_held)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
    ),
    byKey: p<{ document: string }>("SELECT document FROM alerts WHERE dedupe_key = ?"),
    get: p<{ document: string }>("SELECT document FROM alerts WHERE id = ?"),
    pending: p<{ document: string }>(
      "SELECT document FROM alerts WHERE response_state = 'pending' AND id > ? ORDER BY id LIMIT ?",
    ),
    // One alert of a subject at a time (see DELIVERY_ORDER).
    due: p<{ document: string }>(named(DELIVERY_ORDER.due)),
    hasHead: p<{ head: number }>(named(DELIVERY_ORDER.hasHead)),
    next: p(named(DELIVERY_ORDER.next)),
    heldBehind: p<{ id: string; behind: string | null }>(
      DELIVERY_ORDER.heldBehind("SELECT value FROM json_each(?)"),
    ),
    orphans: p<{ subject_kind: string; subject_id: string }>(DELIVERY_ORDER.orphans),
    update: p(
      "UPDATE alerts SET state = ?, delivery_state = ?, next_delivery_at = ?, response_state = ?, document = ? WHERE id = ?",
    ),
    outbox: p(
      "INSERT INTO audit_outbox (time, actor, action, object_kind, object_id, details) VALUES (?, ?, ?, 'alert', ?, ?)",
    ),
  };
  const parse = (row: { document: string } | undefined) =>
    row === undefined ? undefined : (JSON.parse(row.document) as AlertRecord);
  const write = (a: AlertRecord) =>
    s.update.run(a.state, a.delivery.state, a.delivery.next_at, responseState(a), JSON.stringify(a), a.id);
  // A list's statement per combination of filters (at most 64), prepared once.
  const lists = new Map<string, Database.Statement<unknown[], { document: string }>>();
  const counts = new Map<string, Database.Statement<unknown[], { n: number }>>();
  const audit = (actor: string, action: string, id: string, details: Record<string, unknown>) =>
    s.outbox.run(new Date().toISOString(), actor, action, id, JSON.stringify(details));
  const tx = <T>(fn: () => T): T => {
    live();
    return db.transaction(fn).immediate();
  };
  /** Read, change, write one alert. */
  const change = (id: string, fn: (a: AlertRecord) => AlertRecord | null) =>
    tx(() => {
      const a = parse(s.get.get(id));
      if (a === undefined) return undefined;
      const next = fn(a);
      if (next !== null) write(next);
      return next ?? a;
    });

  return {
    raise: async (n, actor) => {
      checkNewAlert(n, actor);
      return tx(() => {
        const a = newAlertRecord(n, actor);
        const subject = { kind: a.subject.kind, id: a.subject.id };
        // Held behind the alert of its subject being delivered, if there is one (see DELIVERY_ORDER);
        // with none but some held (a node of the old release delivered it), the oldest held is made
        // the head first, as restoreHeads would: else this one became the head, ahead of them.
        const held =
          a.delivery.state === "pending" &&
          (s.hasHead.get(subject) !== undefined || s.next.run(subject).changes === 1)
            ? 1
            : null;
        const inserted =
          s.insert.run(
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
          ).changes === 1;
        if (!inserted) return { alert: parse(s.byKey.get(n.dedupeKey)) as AlertRecord, created: false };
        audit(actor, ALERT_ACTION.open, a.id, {
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
      live();
      return parse(s.get.get(id));
    },
    list: async (filter = {}, page = {}) => {
      live();
      const { sql, values } = listQuery(filter, page, () => "?");
      let statement = lists.get(sql);
      if (statement === undefined) lists.set(sql, (statement = p<{ document: string }>(sql)));
      return statement.all(...values).map((r) => parse(r) as AlertRecord);
    },
    count: async (filter = {}) => {
      live();
      const { sql, values } = countQuery(filter, () => "?");
      let statement = counts.get(sql);
      if (statement === undefined) counts.set(sql, (statement = p<{ n: number }>(sql)));
      return statement.get(...values)?.n ?? 0;
    },
    pendingResponses: async (after, limit) => {
      live();
      return s.pending.all(after ?? "", limit).map((r) => parse(r) as AlertRecord);
    },
    transition: async (id, to, actor, note) => {
      checkActor(actor);
      return change(id, (a) => {
        const next = transitioned(a, to, actor, note, new Date().toISOString());
        audit(actor, ALERT_ACTION[to], id, { from: a.state, to, note });
        return next;
      });
    },
    respond: async (id, response, actor) => {
      checkActor(actor);
      let recorded = false;
      change(id, (a) => {
        if (a.response !== null) return null; // answered already (by another node's retry)
        const at = new Date().toISOString();
        audit(actor, "alert.respond", id, { ...response, detector: a.detector, subject: a.subject });
        recorded = true;
        return { ...a, response: { ...response, at } };
      });
      return recorded;
    },
    responseNotInForce: async (id, notInForce, actor) => {
      change(id, (a) => {
        if (a.response === null || a.response.not_yet_in_force !== undefined) return null;
        const details = { not_yet_in_force: notInForce, detector: a.detector, subject: a.subject };
        audit(actor, "alert.not_in_force", id, details);
        return { ...a, response: { ...a.response, not_yet_in_force: notInForce } };
      });
    },
    due: async (now, leaseUntil, limit) =>
      tx(() =>
        s.due.all({ now, limit }).map((r) => {
          const a = claimed(parse(r) as AlertRecord, leaseUntil);
          write(a);
          return a;
        }),
      ),
    delivered: async (id, at) => {
      tx(() => {
        const a = parse(s.get.get(id));
        if (a === undefined) return;
        write(deliveredAt(a, at));
        // Its subject's next alert goes now (in the same transaction: none is left held for ever).
        s.next.run({ kind: a.subject.kind, id: a.subject.id });
      });
    },
    retry: async (id, nextAt, error) => {
      change(id, (a) => (a.delivery.state === "delivered" ? null : retryAt(a, nextAt, error)));
    },
    heldBehind: async (ids) => {
      live();
      return new Map(s.heldBehind.all(JSON.stringify(ids)).map((r) => [r.id, r.behind]));
    },
    restoreHeads: async () =>
      tx(
        () =>
          s.orphans.all().filter((o) => s.next.run({ kind: o.subject_kind, id: o.subject_id }).changes === 1)
            .length,
      ),
  };
}
