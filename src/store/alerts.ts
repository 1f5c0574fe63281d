/**
 * Alerts as stored (migration 7, both drivers): one row per alert, its document as JSON beside the
 * columns it is looked up by. A detector's alert is raised once per dedupe key — several nodes
 * seeing the same anomaly store one alert — and every step (raised, acknowledged, resolved, the
 * automatic response) writes its audit record in the same transaction. Webhook delivery is an
 * outbox: pending rows are claimed for a lease, so a receiver that is down loses nothing and two
 * nodes do not deliver at once.
 */
import { randomBytes } from "node:crypto";
import { StoreError } from "./index.js";
import { refuseNul } from "./input.js";

export type AlertState = "open" | "acknowledged" | "resolved";
export type AlertSeverity = "low" | "medium" | "high" | "critical";
export type SubjectKind = "principal" | "key" | "organization" | "partner" | "license" | "model";

export interface AlertStep {
  readonly state: AlertState;
  readonly actor: string;
  readonly at: string;
  readonly note: string | null;
}

/** An automatic response, as recorded with its alert (and in the audit log's `alert.respond`). */
export interface AlertResponse {
  readonly action: string;
  readonly result: string;
  /**
   * The response was stored, but the node that took it could not reload right after (see
   * control/in-force.ts, `notYetInForce`): not in force there until its next successful reload.
   * `node` names that node (absent in responses stored before it was said).
   */
  readonly not_yet_in_force?: { readonly code: string; readonly message: string; readonly node?: string };
}

export interface AlertRecord {
  readonly id: string;
  readonly detector: string;
  readonly severity: AlertSeverity;
  readonly subject: { readonly kind: SubjectKind; readonly id: string };
  readonly summary: string;
  /** The audit log entries (indexes, as decimal strings) that show it, and what the detector measured. */
  readonly evidence: {
    readonly audit_indexes: readonly string[];
    readonly details: Readonly<Record<string, unknown>>;
  };
  readonly raised_at: string;
  readonly state: AlertState;
  readonly history: readonly AlertStep[];
  /** What was done automatically (e.g. the key suspended), or null. */
  readonly response: (AlertResponse & { readonly at: string }) | null;
  /**
   * The detector's configured response when the alert was raised: with "suspend", `response` is due
   * (tried again until recorded). Absent in alerts stored before it was recorded: never acted on.
   */
  readonly intended_response?: "notify" | "suspend";
  readonly delivery: {
    readonly state: "pending" | "delivered" | "none";
    readonly attempts: number;
    readonly next_at: string | null;
    readonly delivered_at: string | null;
    readonly last_error: string | null;
  };
}

/**
 * An alert as the admin API shows it: the stored record, and where its delivery stands in its
 * subject's queue (migration 13's held marker is a column, not in the stored document).
 */
export interface AlertView extends AlertRecord {
  readonly delivery: AlertRecord["delivery"] & {
    /** Pending, and waiting for an earlier alert of its subject to be delivered first. */
    readonly held: boolean;
    /** The alert of its subject it waits for (in flight or waiting for its retry), when held. */
    readonly held_behind: string | null;
  };
}

/** `a` as the admin API shows it; `held`: AlertStore.heldBehind's answer for the alerts shown. */
export function alertView(a: AlertRecord, held: ReadonlyMap<string, string | null>): AlertView {
  const behind = held.get(a.id);
  return { ...a, delivery: { ...a.delivery, held: held.has(a.id), held_behind: behind ?? null } };
}

export interface NewAlert {
  /** Same key, same alert: raised once however many nodes see it. */
  readonly dedupeKey: string;
  readonly detector: string;
  readonly severity: AlertSeverity;
  readonly subject: AlertRecord["subject"];
  readonly summary: string;
  readonly evidence: AlertRecord["evidence"];
  readonly raisedAt: string;
  /** A webhook is configured: the alert waits for delivery. */
  readonly deliver: boolean;
  /** The detector's configured response ("notify" when left out). */
  readonly response?: "notify" | "suspend";
}

export interface AlertFilter {
  readonly state?: AlertState;
  readonly detector?: string;
  readonly subjectKind?: SubjectKind;
  readonly subjectId?: string;
  /** Any of these severities (none listed: every severity), matched on `severity_rank` (migration 17). */
  readonly severities?: readonly AlertSeverity[];
}

/**
 * A severity's `severity_rank` (migration 17's CASE, which stays as released): what a list filters
 * and orders by.
 */
export const SEVERITY_RANK: Readonly<Record<AlertSeverity, number>> = {
  low: 1,
  medium: 2,
  high: 3,
  critical: 4,
};

/**
 * A page of a list: the alerts after `after` (an id; keyset), at most `limit` (all when left out).
 * `newest`: newest first, and `after` is then an id the page's alerts are older than.
 * `mostSevere`: most severe first, the newest first within a severity (so the Overview's open
 * alerts show a critical one however many newer ones are less severe); `after` is then the id of
 * the alert the page continues after, in that order (no alert's id: an empty page).
 */
export interface AlertPage {
  readonly after?: string;
  readonly limit?: number;
  readonly newest?: boolean;
  readonly mostSevere?: boolean;
}

export interface AlertStore {
  /** Stores a new alert, or returns the one already raised under its dedupe key. */
  raise(alert: NewAlert, actor: string): Promise<{ alert: AlertRecord; created: boolean }>;
  get(id: string): Promise<AlertRecord | undefined>;
  /** Ordered by id (the order they were raised in); filtered and paged in the database. */
  list(filter?: AlertFilter, page?: AlertPage): Promise<AlertRecord[]>;
  /** How many alerts `list(filter)` would return, counted in the database. */
  count(filter?: AlertFilter): Promise<number>;
  /** Alerts whose automatic response is due (`responseState` "pending"), by id, after `after`. */
  pendingResponses(after: string | null, limit: number): Promise<AlertRecord[]>;
  /**
   * open → acknowledged → resolved (open → resolved too). StoreError "conflict" for any other step;
   * undefined for an unknown id.
   */
  transition(
    id: string,
    to: "acknowledged" | "resolved",
    actor: string,
    note: string | null,
  ): Promise<AlertRecord | undefined>;
  /**
   * Records the automatic response taken, unless one is recorded already (another node's): true
   * when this call recorded it.
   */
  respond(id: string, response: AlertResponse, actor: string): Promise<boolean>;
  /**
   * Adds to a recorded response that the node which took it has not put it in force yet (its reload
   * after it failed), audited as `alert.not_in_force`; nothing when no response is recorded or it
   * says so already. Separate from `respond`: the response is recorded at once, this only later.
   */
  responseNotInForce(
    id: string,
    notInForce: NonNullable<AlertResponse["not_yet_in_force"]>,
    actor: string,
  ): Promise<void>;
  /**
   * Claims up to `limit` alerts due for delivery at `now`, until `leaseUntil`: of each subject, one
   * alert at a time (DELIVERY_ORDER), so a receiver gets one subject's alerts in the order raised,
   * each after the one before it was delivered, and never two of them at once.
   */
  due(now: string, leaseUntil: string, limit: number): Promise<AlertRecord[]>;
  delivered(id: string, at: string): Promise<void>;
  /** A failed delivery: tried again at `nextAt`. */
  retry(id: string, nextAt: string, error: string): Promise<void>;
  /**
   * Gives each subject whose pending alerts are all held (none in flight or due) its oldest held
   * alert as head; the number of subjects so repaired. A node of a release before migration 13
   * delivers a head without letting the next one go (DELIVERY_ORDER.orphans). `raise` repairs its
   * own subject so too, before holding the new alert behind that head.
   */
  restoreHeads(): Promise<number>;
  /**
   * Of these alerts, those held (DELIVERY_ORDER), each with the alert of its subject it waits for:
   * the one in flight or waiting for its retry (null in the moment none is, see restoreHeads).
   */
  heldBehind(ids: readonly string[]): Promise<Map<string, string | null>>;
}

/**
 * Delivery order, in SQL both drivers run (`$kind`, `$id`, `$now`, `$limit`: the driver's
 * placeholders). A subject's pending alerts go one at a time: one is its head, handed out when due
 * (in flight, or waiting for its retry), the others are held (`delivery_held`, migration 13) until
 * it is delivered, then the oldest held goes next. An alert raised while its subject has a head is
 * held — also one dated earlier (a late sighting): it goes after the head in flight, never beside it.
 * `due` reads the heads only, by when due, and stops at its limit: grouping every pending alert by
 * subject at each poll took 0.2–0.6 s on SQLite and 0.06–1.4 s on PostgreSQL with 100,000 pending,
 * and a walk of the due alerts skipping those with an earlier one pending read them all when one
 * subject had them (2 s on PostgreSQL).
 */
export const DELIVERY_ORDER = {
  /** The heads due by `$now`, at most `$limit`. */
  due: `SELECT document FROM alerts
    WHERE delivery_state = 'pending' AND delivery_held IS NULL AND next_delivery_at <= $now
    ORDER BY next_delivery_at, id LIMIT $limit`,
  /** Whether the subject has a head: a new alert of it is held. */
  hasHead: `SELECT 1 AS head FROM alerts WHERE delivery_state = 'pending' AND subject_kind = $kind
    AND subject_id = $id AND delivery_held IS NULL LIMIT 1`,
  /** After a delivery: the subject's oldest held alert is its head, unless it has one. */
  next: `UPDATE alerts SET delivery_held = NULL WHERE id = (SELECT id FROM alerts
      WHERE delivery_state = 'pending' AND subject_kind = $kind AND subject_id = $id AND delivery_held = 1
      ORDER BY id LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM alerts WHERE delivery_state = 'pending' AND subject_kind = $kind
      AND subject_id = $id AND delivery_held IS NULL)`,
  /**
   * The subjects whose pending alerts are all held: none is in flight or due, so none would ever go.
   * A node of a release before migration 13 (during a rolling upgrade) delivers a head without
   * running `next`; each such subject is then repaired with `next`. One walk of the pending
   * alerts' index (alerts_pending_by_subject), so it runs at start and once a minute, not at every poll.
   */
  /** The held alerts of `$ids` (a driver's list of ids) and the head each waits for. */
  heldBehind: (ids: string) => `SELECT a.id, (SELECT h.id FROM alerts h WHERE h.delivery_state = 'pending'
      AND h.subject_kind = a.subject_kind AND h.subject_id = a.subject_id AND h.delivery_held IS NULL
      ORDER BY h.id LIMIT 1) AS behind
    FROM alerts a WHERE a.id IN (${ids}) AND a.delivery_state = 'pending' AND a.delivery_held = 1`,
  orphans: `SELECT subject_kind, subject_id FROM alerts WHERE delivery_state = 'pending'
    GROUP BY subject_kind, subject_id HAVING count(delivery_held) = count(*)`,
} as const;

/**
 * `sql` with DELIVERY_ORDER's named placeholders written as the driver's: `at("now")` gives SQLite's
 * `@now`, PostgreSQL's `$1`.
 */
export function withPlaceholders(sql: string, at: (name: string) => string): string {
  return sql.replace(/\$(kind|id|now|limit)\b/g, (_, name: string) => at(name));
}

/**
 * Migration 13, the same SQL in both drivers: the held marker and the indexes delivery reads by
 * (they replace migration 7's `alerts_due`, which held every alert ever raised). Alerts pending at
 * the upgrade: each subject's oldest is its head, the others are held behind it.
 */
export const ALERTS_DELIVERY_HEADS = `
  ALTER TABLE alerts ADD COLUMN delivery_held INTEGER;
  UPDATE alerts SET delivery_held = 1 WHERE delivery_state = 'pending' AND id NOT IN (
    SELECT min(id) FROM alerts WHERE delivery_state = 'pending' GROUP BY subject_kind, subject_id);
  CREATE INDEX alerts_due_heads ON alerts (next_delivery_at, id)
    WHERE delivery_state = 'pending' AND delivery_held IS NULL;
  CREATE INDEX alerts_pending_by_subject ON alerts (subject_kind, subject_id, delivery_held, id)
    WHERE delivery_state = 'pending';
  DROP INDEX alerts_due;
`;

/** `alr_` + the time (base 36, sortable for the next century) + randomness. */
export function alertId(at: string): string {
  return `alr_${Date.parse(at).toString(36).padStart(9, "0")}${randomBytes(5).toString("hex")}`;
}

/** A new alert's columns and its actor: refused holding a NUL, by both drivers (see nulProblems). */
export function checkNewAlert(a: NewAlert, actor: string): void {
  refuseNul(
    [["dedupeKey"], a.dedupeKey],
    [["detector"], a.detector],
    [["subject", "kind"], a.subject.kind],
    [["subject", "id"], a.subject.id],
    [["actor"], actor],
  );
}

export function newAlertRecord(a: NewAlert, actor: string): AlertRecord {
  return {
    id: alertId(a.raisedAt),
    detector: a.detector,
    severity: a.severity,
    subject: a.subject,
    summary: a.summary,
    evidence: a.evidence,
    raised_at: a.raisedAt,
    state: "open",
    history: [{ state: "open", actor, at: a.raisedAt, note: null }],
    response: null,
    intended_response: a.response ?? "notify",
    delivery: {
      state: a.deliver ? "pending" : "none",
      attempts: 0,
      next_at: a.deliver ? a.raisedAt : null,
      delivered_at: null,
      last_error: null,
    },
  };
}

const NEXT: Readonly<Record<AlertState, readonly AlertState[]>> = {
  open: ["acknowledged", "resolved"],
  acknowledged: ["resolved"],
  resolved: [],
};

export function transitioned(
  a: AlertRecord,
  to: "acknowledged" | "resolved",
  actor: string,
  note: string | null,
  at: string,
): AlertRecord {
  if (!NEXT[a.state].includes(to)) {
    throw new StoreError("conflict", `alert ${a.id} is ${a.state}; it cannot be ${to} now`);
  }
  return { ...a, state: to, history: [...a.history, { state: to, actor, at, note }] };
}

/** The audit record's action for a step. */
export const ALERT_ACTION = {
  open: "alert.raise",
  acknowledged: "alert.acknowledge",
  resolved: "alert.resolve",
} as const;

/** The delivery columns after a claim, a success or a failure. */
export function claimed(a: AlertRecord, leaseUntil: string): AlertRecord {
  return { ...a, delivery: { ...a.delivery, attempts: a.delivery.attempts + 1, next_at: leaseUntil } };
}
export function deliveredAt(a: AlertRecord, at: string): AlertRecord {
  return {
    ...a,
    delivery: { ...a.delivery, state: "delivered", next_at: null, delivered_at: at, last_error: null },
  };
}
export function retryAt(a: AlertRecord, nextAt: string, error: string): AlertRecord {
  return { ...a, delivery: { ...a.delivery, next_at: nextAt, last_error: error.slice(0, 500) } };
}

/**
 * The response_state column (migration 9), kept from the document on every write: 'pending' while a
 * suspension is due — raised under `response: suspend`, none recorded, not resolved — else null.
 * Alerts stored before the intent was recorded (no `intended_response`) are never pending.
 */
export function responseState(a: AlertRecord): "pending" | null {
  return a.intended_response === "suspend" && a.response === null && a.state !== "resolved"
    ? "pending"
    : null;
}

/**
 * A list's query, the same for both drivers: equality on indexed columns (migration 9) and a keyset
 * on the id, so a page reads only its rows. `at(i)`: the driver's i-th placeholder (1-based).
 */
export function listQuery(
  f: AlertFilter,
  page: AlertPage,
  at: (i: number) => string,
): { sql: string; values: (string | number)[] } {
  const { terms, values, add } = filterTerms(f, at);
  let sql: string;
  if (page.mostSevere === true) {
    // Walks alerts_by_severity (migration 17) backwards for the open ones; the keyset is the cursor
    // alert's place in that order, its rank read from its row (an alert's severity never changes).
    if (page.after !== undefined) {
      values.push(page.after);
      const rank = `(SELECT severity_rank FROM alerts WHERE id = ${at(values.length)})`;
      values.push(page.after);
      terms.push(`(severity_rank, id) < (${rank}, ${at(values.length)})`);
    }
    sql = `SELECT document FROM alerts${where(terms)} ORDER BY severity_rank DESC, id DESC`;
  } else {
    // Newest first walks the same indexes backwards (each is ordered by id after its filter column).
    add("id", page.newest === true ? "<" : ">", page.after);
    sql = `SELECT document FROM alerts${where(terms)} ORDER BY id${page.newest === true ? " DESC" : ""}`;
  }
  if (page.limit !== undefined) {
    values.push(page.limit);
    sql += ` LIMIT ${at(values.length)}`;
  }
  return { sql, values };
}

/** A count's query, the same filters as a list's: counted on the indexes, no document read. */
export function countQuery(
  f: AlertFilter,
  at: (i: number) => string,
): { sql: string; values: (string | number)[] } {
  const { terms, values } = filterTerms(f, at);
  return { sql: `SELECT COUNT(*) AS n FROM alerts${where(terms)}`, values };
}

function filterTerms(f: AlertFilter, at: (i: number) => string) {
  const terms: string[] = [];
  const values: (string | number)[] = [];
  const add = (column: string, op: string, value: string | undefined) => {
    if (value === undefined) return;
    values.push(value);
    terms.push(`${column} ${op} ${at(values.length)}`);
  };
  add("state", "=", f.state);
  add("detector", "=", f.detector);
  add("subject_kind", "=", f.subjectKind);
  add("subject_id", "=", f.subjectId);
  // The ranks, each once and in order, so that one set of severities is one statement.
  const ranks = [...new Set((f.severities ?? []).map((s) => SEVERITY_RANK[s]))].sort((a, b) => a - b);
  if (ranks.length > 0) {
    const places = ranks.map((r) => {
      values.push(r);
      return at(values.length);
    });
    terms.push(
      places.length === 1 ? `severity_rank = ${places[0]}` : `severity_rank IN (${places.join(", ")})`,
    );
  }
  return { terms, values, add };
}

const where = (terms: readonly string[]) => (terms.length === 0 ? "" : ` WHERE ${terms.join(" AND ")}`);

/**
 * Migration 9, the same SQL in both drivers: lists filter and page in the database on these indexes
 * (they read and parsed every alert before), and the suspensions still due are found by a partial
 * index. Existing rows get no response_state: alerts stored before the intent was recorded are
 * never taken for suspensions still due.
 */
export const ALERTS_BY_COLUMNS = `
  ALTER TABLE alerts ADD COLUMN response_state TEXT;
  CREATE INDEX alerts_pending_response ON alerts (id) WHERE response_state = 'pending';
  -- Each filter's index walks in id order; the other filters' columns ride along, so a combination
  -- that matches few alerts is checked in the index rather than row by row in the table.
  CREATE INDEX alerts_by_state ON alerts (state, id, detector, subject_kind);
  CREATE INDEX alerts_by_detector ON alerts (detector, id, state, subject_kind);
  CREATE INDEX alerts_by_kind ON alerts (subject_kind, id, state, detector);
  DROP INDEX alerts_by_subject;
  CREATE INDEX alerts_by_subject ON alerts (subject_id, id);
`;

/**
 * Migration 17's column: an alert's severity as a number (low 1 … critical 4), so a list is ordered
 * most severe first in the database, with its index (the open alerts walked by it). Severity was in
 * the document only: the Overview's panel picked the most severe of the newest 100 open alerts, and
 * a critical one older than those was counted but not shown. Computed by the database from the
 * document (`severity`: the driver's expression for its severity text), so rows stored before, and
 * rows a node of an older release writes during a rolling upgrade, are ranked too. Written out, not
 * derived from ALERT_SEVERITIES: a released migration never changes.
 */
export const ALERTS_BY_SEVERITY = (severity: string, stored: "VIRTUAL" | "STORED") => `
  ALTER TABLE alerts ADD COLUMN severity_rank INTEGER GENERATED ALWAYS AS (CASE ${severity}
    WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 WHEN 'critical' THEN 4 ELSE 0 END) ${stored};
  CREATE INDEX alerts_by_severity ON alerts (state, severity_rank, id);
`;

/**
 * Migration 19, the same SQL in both drivers: each severity's alerts in id order, whatever their
 * state. alerts_by_severity starts with the state, so a list by severity without a state (the
 * console's "any" state, `remote alerts list --severity critical`) walked every alert in id order
 * reading each row for its rank (a rare severity: the whole table), its count scanned the table, and
 * every alert most severe first (`order=severity` without a state) was a scan and a sort of them all.
 * Kept small: the rank and the id (the other filters are checked on the row).
 */
export const ALERTS_BY_RANK = `
  CREATE INDEX alerts_by_rank ON alerts (severity_rank, id);
`;
