/**
 * The screening tables (list versions and their entries, screening matches, subjects' screening
 * status) with one implementation for both drivers: each driver hands over a small transaction
 * adapter (screening-sql in its folder), and the shared suite holds both to the same behaviour.
 *
 * Every change is one transaction that also bumps the store version and writes its audit record, so
 * a confirmed match reaches every node's snapshot like any other change.
 */
import type { OutboxRecord } from "./index.js";
import { StoreError } from "./index.js";
import { checkActor, checkImport, checkReview, checkScreenings, checkSuccessors } from "./input.js";
import { storedPrincipal, type CurrentFacts } from "./screening-current.js";
import { REMOVED_WHILE_CONFIRMED } from "./screening-schema.js";
import { quoted, RAW_IN_JSON } from "../policy/text.js";

export type SubjectKind = "principal" | "organization";
export const MATCH_STATUSES = ["potential", "confirmed", "cleared", "resolved"] as const;
export type MatchStatus = (typeof MATCH_STATUSES)[number];
export type SubjectStatus = "clear" | "potential" | "confirmed";

export interface ListVersionRow {
  readonly list: string;
  readonly version: number;
  readonly format: string;
  readonly published: string | null;
  readonly digest: string;
  readonly files: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
  readonly diff: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly string[];
  };
  readonly imported_at: string;
  readonly imported_by: string;
  readonly active: boolean;
  /**
   * Whether the rescreen this version's import needs (every subject against its added and changed
   * entries, matches on its removed ones resolved) has finished. Until it has, subjects who match
   * an added entry have no match recorded: `versions(undefined, "unfinished")` lists them.
   */
  readonly rescreened: boolean;
}

/**
 * How long the process that imported a version (or took its rescreen over) holds its rescreen
 * before another may take it over: renewed as it goes, so only a process that stopped (killed,
 * crashed) loses it. Far above the time between two renewals (an index build, one batch).
 */
export const RESCREEN_HOLD_MS = 120_000;

export interface EntryRow {
  readonly id: string;
  /** Hex digest of the entry's content: a changed entry is one whose digest differs. */
  readonly digest: string;
  /** The entry as JSON text. */
  readonly document: string;
}

export interface ImportInput {
  readonly list: string;
  readonly format: string;
  readonly published: string | null;
  readonly digest: string;
  readonly files: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
  readonly entries: readonly EntryRow[];
}

/** A potential match as a screening found it. */
export interface FoundMatch {
  readonly list: string;
  readonly entryId: string;
  readonly entryDigest: string;
  readonly score: number;
  /** Why: the matched names and the fields that agreed or disagreed (kept for the reviewer). */
  readonly explanation: unknown;
  /** Why it is held, when a new match needs saying more than its explanation (a name that cannot be screened). */
  readonly reason?: string;
  /**
   * A hold for review on no listed entry (a name with nothing distinctive to screen): not raised
   * anew for a subject a reviewer has already reviewed under the same facts — they know who it is.
   */
  readonly hold?: boolean;
}

export interface MatchRow {
  /** `<subject kind>:<subject id>|<list>|<entry id>`: one row per subject and listed entry. */
  readonly id: string;
  readonly subject_kind: SubjectKind;
  readonly subject_id: string;
  readonly list: string;
  readonly entry_id: string;
  readonly entry_digest: string;
  /**
   * Digest of the subject's facts as last screened (name, type, birth date, nationalities: what the
   * matcher reads): a clearance holds for these facts, until they change. Null on rows written
   * before it was kept (store schema 8), and when the screening did not say.
   */
  readonly subject_digest: string | null;
  readonly score: number;
  readonly status: MatchStatus;
  readonly explanation: unknown;
  readonly reviewer: string | null;
  readonly reason: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface SubjectScreening {
  readonly subject: { readonly kind: SubjectKind; readonly id: string };
  readonly found: readonly FoundMatch[];
  /** Digest of the facts screened (`factsDigest` in src/screening/subjects.ts). */
  readonly facts?: string;
  /**
   * What this screening looked at: "all" (every active list: a match not found again is resolved),
   * or some entries (an incremental rescreen: only matches on those entries are touched).
   */
  readonly scope: "all" | { readonly list: string; readonly entryIds: ReadonlySet<string> };
}

/** An entry of the new list version that replaces a removed one (its id and content digest). */
export interface Successor {
  readonly id: string;
  readonly digest: string;
  /** Listed exactly as the removed entry was, but for its id: a clearance carries over too. */
  readonly unchanged?: boolean;
}

/**
 * A match as stored: with, on a confirmation its entry's removal resolved, the reviewer's reason
 * (`resolved_confirmation`, migration 10), so that the confirmation is restored, with it, if the
 * entry is listed again. Null on every other row. Not part of what readers of matches see.
 */
interface StoredMatch extends MatchRow {
  readonly resolved_confirmation: string | null;
}

/** How a match whose entry was removed is resolved (and how any reviewed one was, before release 4faae71). */
const REMOVED = "the entry was removed from the list";

/** A JSON string as `quoted` writes it (an entry id, a reviewer's reason, within our notes). */
const QUOTED_TEXT = String.raw`"(?:[^"\\]|\\.)*"`;

/** The notes a carried or restored review's reason gets after the reviewer's (see `withNote`). */
const NOTES = new RegExp(
  String.raw`^(?: \((?:confirmed before the entry was removed from the list; it is listed again|` +
    String.raw`(?:confirmed|cleared) on entry ${QUOTED_TEXT}, which the list replaced with this one` +
    String.raw`(?:: same name and address|, listed the same but for its id))\))+$`,
);

/**
 * A review's reason as a review carried to another entry or restored with its entry says it: the
 * reviewer's text quoted (stored text shown to others: no control or bidirectional character raw),
 * our note after it. A reason withNote wrote before (carried or restored already) is taken as it is,
 * its reviewer's text quoted once: quoted again, it would nest quotes at each re-listing; and a
 * note it already ends with is not said twice.
 */
function withNote(reason: string | null, fallback: "confirmed" | "cleared", note: string): string {
  const base = reason === null ? fallback : noted(reason) ? reason : quoted(reason);
  const tail = ` (${note})`;
  return base.endsWith(tail) ? base : `${base}${tail}`;
}

/** Whether `text` reads as withNote writes it: the reviewer's text quoted (or the fallback), our notes. */
function noted(text: string): boolean {
  if (RAW_IN_JSON.test(text)) return false;
  const head = new RegExp(String.raw`^(?:${QUOTED_TEXT}|confirmed|cleared)`).exec(text)?.[0];
  if (head === undefined) return false;
  if (head.startsWith('"')) {
    try {
      JSON.parse(head);
    } catch {
      return false;
    }
  }
  return NOTES.test(text.slice(head.length));
}

/** A review's reason as a message shows it: withNote's text as it is, the reviewer's own quoted. */
const shownReason = (reason: string): string => (noted(reason) ? reason : quoted(reason));

/**
 * The reviewer's reason of a confirmation this match was resolved with, kept to restore it: the
 * column, or, where it is null, the prefix (a row a node of release 4faae71 resolved after
 * migration 10: its writes leave the column alone).
 */
function resolvedConfirmation(m: StoredMatch): string | null {
  if (m.status !== "resolved") return null;
  if (m.resolved_confirmation !== null) return m.resolved_confirmation;
  return m.reason?.startsWith(REMOVED_WHILE_CONFIRMED)
    ? m.reason.slice(REMOVED_WHILE_CONFIRMED.length)
    : null;
}

export interface SubjectStatusRow {
  readonly kind: SubjectKind;
  readonly id: string;
  readonly status: SubjectStatus;
  /**
   * A federated principal's cleared matches: its name is screened again in memory for each new
   * token (federated.ts), and what a reviewer cleared must hold there too (for the same entry
   * version and facts). Absent when it has none.
   */
  readonly cleared?: readonly ClearedMatch[];
}

/** A clearance as an in-memory screening reads it: the entry version and subject facts it is for. */
export interface ClearedMatch {
  readonly list: string;
  readonly entry_id: string;
  readonly entry_digest: string;
  readonly subject_digest: string | null;
}

export interface ScreeningStore {
  /**
   * One transaction: a new active version of the list with its entries, and the diff from the
   * previous version. An identical file (same digest as the active version) is not imported twice.
   */
  importList(input: ImportInput, actor: string): Promise<{ version: ListVersionRow; unchanged: boolean }>;
  /**
   * Every version, newest first (of one list, or of all); `which`: only the active ones, or only
   * those whose rescreen has not finished (what a background pass looks for: found in the store,
   * not by reading every version's diff, a cost that grew with the lists' history).
   */
  versions(list?: string, which?: "all" | "active" | "unfinished"): Promise<ListVersionRow[]>;
  /**
   * Takes (or renews) the hold on a version's unfinished rescreen, for RESCREEN_HOLD_MS:
   * true when this caller now holds it. Without `force`, only one whose hold has run out is taken
   * (its holder stopped); an operator's command forces it. False when it has finished meanwhile.
   */
  holdRescreen(list: string, version: number, force: boolean): Promise<boolean>;
  /** Records a version's rescreen as finished (an audit entry `screening.rescreened`). */
  rescreened(list: string, version: number, actor: string, summary: Record<string, unknown>): Promise<void>;
  /** The entries of a version, ordered by id. */
  entries(list: string, version: number): Promise<EntryRow[]>;
  /**
   * Records screenings (a batch in one transaction) and updates the subjects' status. `changed`:
   * match rows written; `resolved`: open matches resolved because they no longer match. With
   * `current`, a principal's screening whose facts are not those the store's principal of that id
   * is screened on now (read in this transaction) is not recorded but returned in `stale`: it
   * screened an older snapshot, and the outcome of the newer facts (or none, once deleted) stands.
   */
  record(
    screenings: readonly SubjectScreening[],
    actor: string,
    current?: CurrentFacts,
  ): Promise<{ changed: number; resolved: number; stale: SubjectScreening["subject"][] }>;
  /**
   * Matches whose entry was removed from its list are resolved. A confirmation is never undone by
   * it: when `successors` names, for a removed entry, the entries that replace it (the same party
   * under a new id: same name and address), the confirmation carries over to each of them; without
   * one, it is restored if the entry is listed again. Clearances block nothing and stay (carried
   * over to a successor listed the same but for its id).
   */
  resolveRemoved(
    list: string,
    entryIds: readonly string[],
    actor: string,
    successors?: ReadonlyMap<string, readonly Successor[]>,
  ): Promise<number>;
  matches(filter?: {
    status?: MatchStatus;
    subjectKind?: SubjectKind;
    subjectId?: string;
  }): Promise<MatchRow[]>;
  /** A reviewer confirms (a denied party) or clears (with the reason) a potential match. */
  review(id: string, outcome: "confirmed" | "cleared", reviewer: string, reason: string): Promise<MatchRow>;
  /**
   * Subjects whose status is not clear, and federated principals with cleared matches (with their
   * clearances; status "clear" unless another match is open or confirmed). Ordered by kind and id.
   */
  statuses(): Promise<SubjectStatusRow[]>;
}

/** What a driver provides: reads, and write transactions that can record a change. */
export interface ScreeningSql {
  read<T>(fn: (q: Query) => Promise<T>): Promise<T>;
  write<T>(fn: (q: WriteQuery) => Promise<T>): Promise<T>;
}

export interface Query {
  /** `?` placeholders. */
  all<R>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface WriteQuery extends Query {
  /** Resolves to the number of rows the statement changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Holds `key` until the transaction ends, so writers of one subject (or list) take turns: each
   * reads what the one before it committed. A no-op where writes are already serialised (SQLite).
   */
  lock(key: string): Promise<void>;
  insertMany(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void>;
  /** Bumps the store version and writes the audit record (once per transaction is enough for the bump). */
  changed(
    actor: string,
    action: string,
    object: OutboxRecord["object"],
    details: Record<string, unknown>,
  ): Promise<void>;
}

interface VersionDbRow {
  list: string;
  version: number;
  format: string;
  published: string | null;
  digest: string;
  files: string;
  counts: string;
  diff: string;
  imported_at: string;
  imported_by: string;
  active: number;
  rescreen_due: string | null;
}

interface MatchDbRow extends Omit<StoredMatch, "explanation"> {
  explanation: string;
}

const toVersion = (r: VersionDbRow): ListVersionRow => ({
  list: r.list,
  version: Number(r.version),
  format: r.format,
  published: r.published,
  digest: r.digest,
  files: JSON.parse(r.files) as string[],
  counts: JSON.parse(r.counts) as Record<string, number>,
  diff: JSON.parse(r.diff) as ListVersionRow["diff"],
  imported_at: r.imported_at,
  imported_by: r.imported_by,
  active: Number(r.active) === 1,
  rescreened: r.rescreen_due === null,
});

const toStored = (r: MatchDbRow): StoredMatch => ({
  ...r,
  score: Number(r.score),
  explanation: JSON.parse(r.explanation) as unknown,
});

const toMatch = (r: MatchDbRow): MatchRow => {
  const { resolved_confirmation: _, ...m } = toStored(r);
  return m;
};

const MATCH_COLUMNS =
  "id, subject_kind, subject_id, list, entry_id, entry_digest, subject_digest, score, status, explanation, reviewer, reason, created_at, updated_at, resolved_confirmation";

export const matchId = (kind: SubjectKind, subject: string, list: string, entry: string): string =>
  `${kind}:${subject}|${list}|${entry}`;

/** Confirmed beats potential beats clear. */
export function subjectStatus(statuses: Iterable<MatchStatus>): SubjectStatus {
  let out: SubjectStatus = "clear";
  for (const s of statuses) {
    if (s === "confirmed") return "confirmed";
    if (s === "potential") out = "potential";
  }
  return out;
}

const now = () => new Date().toISOString();

/** The audit action a screening's write of a match in this status is recorded under. */
const ACTIONS: Readonly<Record<MatchStatus, string>> = {
  potential: "screening.match",
  confirmed: "screening.confirm",
  cleared: "screening.clear",
  resolved: "screening.resolve",
};

/** A match on this subject a reviewer confirmed or cleared for these facts (null: facts unknown), if any. */
function reviewedBefore(existing: ReadonlyMap<string, StoredMatch>, facts: string | null): MatchRow | null {
  for (const m of existing.values())
    if (
      (m.status === "cleared" || m.status === "confirmed") &&
      m.reviewer !== null &&
      (m.subject_digest === null || facts === null || m.subject_digest === facts)
    )
      return m;
  return null;
}

export function screeningStore(sql: ScreeningSql): ScreeningStore {
  /** Recomputes a subject's status from its matches; writes and audits it when it moved. */
  async function settle(q: WriteQuery, kind: SubjectKind, id: string, actor: string): Promise<void> {
    const rows = await q.all<{ status: MatchStatus }>(
      "SELECT status FROM screening_matches WHERE subject_kind = ? AND subject_id = ?",
      [kind, id],
    );
    const status = subjectStatus(rows.map((r) => r.status));
    const [old] = await q.all<{ status: SubjectStatus }>(
      "SELECT status FROM screening_subjects WHERE kind = ? AND id = ?",
      [kind, id],
    );
    const before = old?.status ?? "clear";
    if (before === status) return;
    if (status === "clear")
      await q.run("DELETE FROM screening_subjects WHERE kind = ? AND id = ?", [kind, id]);
    else if (old === undefined)
      await q.run("INSERT INTO screening_subjects (kind, id, status, updated_at) VALUES (?, ?, ?, ?)", [
        kind,
        id,
        status,
        now(),
      ]);
    else
      await q.run("UPDATE screening_subjects SET status = ?, updated_at = ? WHERE kind = ? AND id = ?", [
        status,
        now(),
        kind,
        id,
      ]);
    await q.changed(actor, "screening.status", { kind, id }, { from: before, to: status });
  }

  async function setMatch(
    q: WriteQuery,
    row: MatchRow,
    existing: MatchRow | undefined,
    actor: string,
    action: string,
    audit = existing?.status !== row.status,
    /** The reviewer's reason of the confirmation this write resolves with its entry's removal. */
    resolvedConfirmation: string | null = null,
  ): Promise<void> {
    const values = [
      row.id,
      row.subject_kind,
      row.subject_id,
      row.list,
      row.entry_id,
      row.entry_digest,
      row.subject_digest,
      row.score,
      row.status,
      JSON.stringify(row.explanation),
      row.reviewer,
      row.reason,
      row.created_at,
      row.updated_at,
      resolvedConfirmation,
    ];
    if (existing === undefined)
      await q.run(
        `INSERT INTO screening_matches (${MATCH_COLUMNS}) VALUES (${values.map(() => "?").join(", ")})`,
        values,
      );
    else if (
      // Only over the status this transaction read: a write it did not see is refused, never undone.
      (await q.run(
        `UPDATE screening_matches SET entry_digest = ?, subject_digest = ?, score = ?, status = ?, explanation = ?, reviewer = ?, reason = ?, updated_at = ?, resolved_confirmation = ? WHERE id = ? AND status = ?`,
        [
          row.entry_digest,
          row.subject_digest,
          row.score,
          row.status,
          JSON.stringify(row.explanation),
          row.reviewer,
          row.reason,
          row.updated_at,
          resolvedConfirmation,
          row.id,
          existing.status,
        ],
      )) === 0
    )
      throw new StoreError(
        "conflict",
        `screening match ${row.id} was changed by another writer meanwhile; read it again and retry`,
      );
    if (audit)
      await q.changed(
        actor,
        action,
        { kind: "screening-match", id: row.id },
        {
          subject: { kind: row.subject_kind, id: row.subject_id },
          list: row.list,
          entry: row.entry_id,
          from: existing?.status ?? null,
          to: row.status,
          score: row.score,
          ...(row.reviewer === null ? {} : { reviewer: row.reviewer }),
          ...(row.reason === null ? {} : { reason: row.reason }),
        },
      );
  }

  /** Every writer of a subject's matches or status takes this first (in one order: no deadlock). */
  const lockSubjects = async (q: WriteQuery, subjects: Iterable<{ kind: SubjectKind; id: string }>) => {
    for (const key of [...new Set([...subjects].map((s) => `screening-subject:${s.kind}:${s.id}`))].sort())
      await q.lock(key);
  };

  const matchesOf = async (q: Query, kind: SubjectKind, id: string) =>
    (
      await q.all<MatchDbRow>(
        `SELECT ${MATCH_COLUMNS} FROM screening_matches WHERE subject_kind = ? AND subject_id = ?`,
        [kind, id],
      )
    ).map(toStored);

  return {
    async importList(input, actor) {
      checkImport(input, actor);
      return sql.write(async (q) => {
        // Before max(version): two imports of one list would otherwise both take the same number.
        await q.lock(`screening-list:${input.list}`);
        const [active] = await q.all<VersionDbRow>(
          "SELECT * FROM screening_lists WHERE list = ? AND active = 1",
          [input.list],
        );
        if (active !== undefined && active.digest === input.digest)
          return { version: toVersion(active), unchanged: true };
        const [{ v } = { v: 0 }] = await q.all<{ v: number | null }>(
          "SELECT max(version) AS v FROM screening_lists WHERE list = ?",
          [input.list],
        );
        const version = Number(v ?? 0) + 1;
        const before = new Map<string, string>();
        if (active !== undefined) {
          const rows = await q.all<{ entry_id: string; digest: string }>(
            "SELECT entry_id, digest FROM screening_entries WHERE list = ? AND version = ?",
            [input.list, active.version],
          );
          for (const r of rows) before.set(r.entry_id, r.digest);
        }
        const added: string[] = [];
        const changed: string[] = [];
        for (const e of input.entries) {
          const old = before.get(e.id);
          if (old === undefined) added.push(e.id);
          else if (old !== e.digest) changed.push(e.id);
        }
        const ids = new Set(input.entries.map((e) => e.id));
        const removed = [...before.keys()].filter((id) => !ids.has(id));
        const diff = { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
        // Held by this import until its rescreen has run (none needed when nothing changed).
        const same = added.length + removed.length + changed.length === 0;
        const due = same ? null : new Date(Date.now() + RESCREEN_HOLD_MS).toISOString();
        await q.run("UPDATE screening_lists SET active = 0 WHERE list = ? AND active = 1", [input.list]);
        const row: ListVersionRow = {
          list: input.list,
          version,
          format: input.format,
          published: input.published,
          digest: input.digest,
          files: input.files,
          counts: input.counts,
          diff,
          imported_at: now(),
          imported_by: actor,
          active: true,
          rescreened: due === null,
        };
        await q.run(
          `INSERT INTO screening_lists (list, version, format, published, digest, files, counts, diff, imported_at, imported_by, active, rescreen_due)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
          [
            row.list,
            version,
            row.format,
            row.published,
            row.digest,
            JSON.stringify(row.files),
            JSON.stringify(row.counts),
            JSON.stringify(diff),
            row.imported_at,
            actor,
            due,
          ],
        );
        await q.insertMany(
          "screening_entries",
          ["list", "version", "entry_id", "digest", "document"],
          input.entries.map((e) => [input.list, version, e.id, e.digest, e.document]),
        );
        await q.changed(
          actor,
          "screening.import",
          { kind: "screening-list", id: `${input.list}@${version}` },
          {
            list: input.list,
            version,
            format: input.format,
            published: input.published,
            digest: input.digest,
            counts: input.counts,
            added: added.length,
            removed: removed.length,
            changed: changed.length,
          },
        );
        return { version: row, unchanged: false };
      });
    },

    versions: (list, which = "all") =>
      // No list is named with a NUL (PostgreSQL's text cannot even be asked with one): none.
      list !== undefined && list.includes("\u0000")
        ? Promise.resolve([])
        : sql.read(async (q) => {
            const where = [
              ...(list === undefined ? [] : ["list = ?"]),
              ...(which === "active"
                ? ["active = 1"]
                : which === "unfinished"
                  ? ["rescreen_due IS NOT NULL"]
                  : []),
            ];
            return (
              await q.all<VersionDbRow>(
                `SELECT * FROM screening_lists ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY list, version DESC`,
                list === undefined ? [] : [list],
              )
            ).map(toVersion);
          }),

    async holdRescreen(list, version, force) {
      // No list is named with a NUL (see versions): no rescreen of it to hold.
      if (list.includes("\u0000")) return false;
      return sql.write(async (q) => {
        const t = now();
        const due = new Date(Date.parse(t) + RESCREEN_HOLD_MS).toISOString();
        return (
          (await q.run(
            `UPDATE screening_lists SET rescreen_due = ?
              WHERE list = ? AND version = ? AND rescreen_due IS NOT NULL${force ? "" : " AND rescreen_due <= ?"}`,
            force ? [due, list, version] : [due, list, version, t],
          )) > 0
        );
      });
    },

    async rescreened(list, version, actor, summary) {
      checkActor(actor);
      // No list is named with a NUL (see versions): no rescreen of it to finish.
      if (list.includes("\u0000")) return;
      return sql.write(async (q) => {
        if (
          (await q.run(
            "UPDATE screening_lists SET rescreen_due = NULL WHERE list = ? AND version = ? AND rescreen_due IS NOT NULL",
            [list, version],
          )) > 0
        )
          await q.changed(
            actor,
            "screening.rescreened",
            { kind: "screening-list", id: `${list}@${version}` },
            { list, version, ...summary },
          );
      });
    },

    entries: (list, version) =>
      list.includes("\u0000")
        ? Promise.resolve([])
        : sql.read(async (q) =>
            (
              await q.all<{ entry_id: string; digest: string; document: string }>(
                "SELECT entry_id, digest, document FROM screening_entries WHERE list = ? AND version = ? ORDER BY entry_id",
                [list, version],
              )
            ).map((r) => ({ id: r.entry_id, digest: r.digest, document: r.document })),
          ),

    async record(screenings, actor, current) {
      checkScreenings(screenings, actor);
      if (screenings.length === 0) return { changed: 0, resolved: 0, stale: [] };
      return sql.write(async (q) => {
        let changed = 0;
        let resolved = 0;
        const stale: SubjectScreening["subject"][] = [];
        const t = now();
        await lockSubjects(
          q,
          screenings.map((s) => s.subject),
        );
        for (const s of screenings) {
          const { kind, id } = s.subject;
          // Read under the subject's lock: a writer that screens the newer facts records after this.
          const screened = kind === "principal" && current !== undefined ? s.facts : undefined;
          if (screened !== undefined && !current?.(await storedPrincipal(q, id)).includes(screened)) {
            stale.push(s.subject);
            continue;
          }
          const existing = new Map((await matchesOf(q, kind, id)).map((m) => [m.id, m]));
          const seen = new Set<string>();
          // Unknown (a caller that did not say): what the row holds, so nothing reopens for it.
          const facts = (old: MatchRow | undefined) => s.facts ?? old?.subject_digest ?? null;
          for (const f of s.found) {
            const mid = matchId(kind, id, f.list, f.entryId);
            seen.add(mid);
            const old = existing.get(mid);
            let status: MatchStatus = "potential";
            let reviewer: string | null = null;
            let reason: string | null = f.reason ?? null;
            const reviewed =
              f.hold === true && old === undefined ? reviewedBefore(existing, facts(old)) : null;
            const confirmation = old === undefined ? null : resolvedConfirmation(old);
            if (old?.status === "confirmed") ({ status, reviewer, reason } = old);
            // A hold added after a reviewer had already looked at this subject (its matches reviewed
            // before holds existed): their review stands for it, rather than a new block.
            else if (reviewed !== null) {
              status = "cleared";
              reviewer = reviewed.reviewer;
              // Who and why are stored text, written as messages quote it (no C1 control or bidirectional
              // override raw in a reason shown to others).
              const why = reviewed.reason === null ? "" : `: ${quoted(reviewed.reason)}`;
              reason = `not held: ${quoted(reviewed.reviewer)} already reviewed this subject with these facts (${reviewed.status} on ${quoted(reviewed.list)} entry ${quoted(reviewed.entry_id)}${why})`;
            }
            // Still open: why it was reopened, if it was, stays with it.
            else if (old?.status === "potential") reason = old.reason;
            // A confirmed party whose entry left the list and came back is confirmed again (a
            // confirmation holds over changes to the entry, as above).
            else if (old !== undefined && confirmation !== null) {
              status = "confirmed";
              reviewer = old.reviewer;
              reason = withNote(
                confirmation,
                "confirmed",
                "confirmed before the entry was removed from the list; it is listed again",
              );
            } else if (old?.status === "resolved" && old.reviewer !== null && old.reason === REMOVED)
              // Resolved with its entry's removal before release 4faae71 (a confirmation and a
              // clearance were left alike): open again, naming who reviewed it, rather than guessed.
              reason = `listed again: ${quoted(old.reviewer)} reviewed it before the entry was removed from the list (whether confirmed or cleared is in the audit log); review it again`;
            else if (old?.status === "cleared") {
              // A clearance holds for the entry version and the subject's facts it was given for,
              // until either changes. A row from before the facts were kept (null) takes these.
              if (old.entry_digest !== f.entryDigest) reason = "the entry changed since it was cleared";
              else if (old.subject_digest !== null && old.subject_digest !== facts(old))
                reason = "the subject's facts changed since it was cleared";
              else ({ status, reviewer, reason } = old);
            }
            const row: MatchRow = {
              id: mid,
              subject_kind: kind,
              subject_id: id,
              list: f.list,
              entry_id: f.entryId,
              entry_digest: f.entryDigest,
              subject_digest: facts(old),
              score: f.score,
              status,
              explanation: f.explanation,
              reviewer,
              reason,
              created_at: old?.created_at ?? t,
              updated_at: t,
            };
            if (
              old !== undefined &&
              old.status === status &&
              old.entry_digest === f.entryDigest &&
              old.subject_digest === row.subject_digest &&
              old.score === f.score
            )
              continue;
            await setMatch(q, row, old, actor, ACTIONS[status]);
            changed++;
          }
          for (const old of existing.values()) {
            if (seen.has(old.id) || old.status !== "potential") continue;
            const inScope =
              s.scope === "all" || (s.scope.list === old.list && s.scope.entryIds.has(old.entry_id));
            if (!inScope) continue;
            await setMatch(
              q,
              { ...old, status: "resolved", reason: "no longer matches", updated_at: t },
              old,
              actor,
              "screening.resolve",
            );
            changed++;
            resolved++;
          }
          await settle(q, kind, id, actor);
        }
        return { changed, resolved, stale };
      });
    },

    async resolveRemoved(list, entryIds, actor, successors = new Map()) {
      checkSuccessors(successors, actor);
      // No list is named with a NUL (see versions): no match on it to resolve.
      if (entryIds.length === 0 || list.includes("\u0000")) return 0;
      return sql.write(async (q) => {
        let n = 0;
        const wanted = new Set(entryIds);
        const read = async () =>
          (
            await q.all<MatchDbRow>(
              `SELECT ${MATCH_COLUMNS} FROM screening_matches WHERE list = ? AND status <> 'resolved'`,
              [list],
            )
          )
            .map(toMatch)
            .filter((m) => wanted.has(m.entry_id));
        // The subjects are known only from a first read: lock them, then read what is current.
        await lockSubjects(
          q,
          (await read()).map((m) => ({ kind: m.subject_kind, id: m.subject_id })),
        );
        const rows = await read();
        const subjects = new Map<string, { kind: SubjectKind; id: string }>();
        // The review of `m` on the entry that replaces its removed one (the same party under a new id).
        const carry = async (m: MatchRow, heir: Successor, reason: string, action: string) => {
          const mid = matchId(m.subject_kind, m.subject_id, list, heir.id);
          const [raw] = await q.all<MatchDbRow>(
            `SELECT ${MATCH_COLUMNS} FROM screening_matches WHERE id = ?`,
            [mid],
          );
          const old = raw === undefined ? undefined : toMatch(raw);
          if (old?.status === "confirmed" || (old?.status === m.status && m.status === "cleared")) return;
          const t = now();
          const row = { ...m, id: mid, entry_id: heir.id, entry_digest: heir.digest, reason, updated_at: t };
          await setMatch(q, { ...row, created_at: old?.created_at ?? t }, old, actor, action, true);
          subjects.set(`${m.subject_kind}:${m.subject_id}`, { kind: m.subject_kind, id: m.subject_id });
        };
        for (const m of rows) {
          const t = now();
          if (m.status === "cleared") {
            // A clearance says who the subject is not and blocks nothing: it stays, and holds again
            // if the entry is listed again unchanged (record() reopens it if the entry changed). An
            // entry that replaces it under a new id, listed the same otherwise, takes it too.
            for (const heir of successors.get(m.entry_id) ?? [])
              if (heir.unchanged === true)
                await carry(
                  m,
                  heir,
                  withNote(
                    m.reason,
                    "cleared",
                    `cleared on entry ${quoted(m.entry_id)}, which the list replaced with this one, listed the same but for its id`,
                  ),
                  "screening.clear",
                );
            continue;
          }
          const heirs = m.status === "confirmed" ? (successors.get(m.entry_id) ?? []) : [];
          // A confirmed party renewed under a new id stays confirmed: on each entry replacing it.
          for (const heir of heirs)
            await carry(
              m,
              heir,
              withNote(
                m.reason,
                "confirmed",
                `confirmed on entry ${quoted(m.entry_id)}, which the list replaced with this one: same name and address`,
              ),
              "screening.confirm",
            );
          const row = {
            ...m,
            status: "resolved" as const,
            reason:
              heirs.length > 0
                ? `the entry was removed from the list; its confirmation carries over to ${heirs.map((h) => quoted(h.id)).join(", ")} (same name and address)`
                : m.status === "confirmed"
                  ? `${REMOVED_WHILE_CONFIRMED}${m.reason === null ? "" : shownReason(m.reason)}`
                  : REMOVED,
            updated_at: t,
          };
          // A confirmation not carried over is kept aside, to be restored if the entry is listed again.
          const kept = heirs.length === 0 && m.status === "confirmed" ? (m.reason ?? "") : null;
          await setMatch(q, row, m, actor, "screening.resolve", undefined, kept);
          subjects.set(`${m.subject_kind}:${m.subject_id}`, { kind: m.subject_kind, id: m.subject_id });
          n++;
        }
        for (const s of subjects.values()) await settle(q, s.kind, s.id, actor);
        return n;
      });
    },

    matches: (filter = {}) =>
      [filter.subjectId, filter.subjectKind, filter.status].some((v) => v?.includes("\u0000") === true)
        ? Promise.resolve([])
        : sql.read(async (q) => {
            const conditions = (
              [
                ["status", filter.status],
                ["subject_kind", filter.subjectKind],
                ["subject_id", filter.subjectId],
              ] as const
            ).filter(([, v]) => v !== undefined);
            const where = conditions.map(([c]) => `${c} = ?`);
            const params = conditions.map(([, v]) => v);
            const rows = await q.all<MatchDbRow>(
              `SELECT ${MATCH_COLUMNS} FROM screening_matches ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id`,
              params,
            );
            return rows.map(toMatch);
          }),

    async review(id, outcome, reviewer, reason) {
      checkReview(reviewer, reason);
      if (id.includes("\u0000")) throw new StoreError("unknown-match", `no screening match ${quoted(id)}`);
      return sql.write(async (q) => {
        const read = async () =>
          (await q.all<MatchDbRow>(`SELECT ${MATCH_COLUMNS} FROM screening_matches WHERE id = ?`, [id]))[0];
        // The subject is known from a first read; what counts is the read under its lock.
        const first = await read();
        if (first !== undefined) await lockSubjects(q, [{ kind: first.subject_kind, id: first.subject_id }]);
        const raw = first && (await read());
        if (raw === undefined) throw new StoreError("unknown-match", `no screening match ${quoted(id)}`);
        const old = toMatch(raw);
        if (old.status === "resolved")
          throw new StoreError(
            "conflict",
            `screening match ${quoted(id)} is resolved (its entry is gone or no longer matches)`,
          );
        const row: MatchRow = { ...old, status: outcome, reviewer, reason, updated_at: now() };
        // Always audited: a second review of the same outcome is still a reviewer's act, with its reason.
        await setMatch(
          q,
          row,
          old,
          reviewer,
          `screening.${outcome === "confirmed" ? "confirm" : "clear"}`,
          true,
        );
        await settle(q, old.subject_kind, old.subject_id, reviewer);
        return row;
      });
    },

    statuses: () =>
      sql.read(async (q) => {
        const rows = await q.all<SubjectStatusRow>(
          "SELECT kind, id, status FROM screening_subjects ORDER BY kind, id",
        );
        const cleared = new Map<string, ClearedMatch[]>();
        for (const c of await q.all<ClearedMatch & { subject_id: string }>(
          `SELECT subject_id, list, entry_id, entry_digest, subject_digest FROM screening_matches
           WHERE status = 'cleared' AND subject_kind = 'principal'
             AND subject_id IN (SELECT id FROM federated_principals)
           ORDER BY id`,
        )) {
          let mine = cleared.get(c.subject_id);
          if (mine === undefined) cleared.set(c.subject_id, (mine = []));
          mine.push({
            list: c.list,
            entry_id: c.entry_id,
            entry_digest: c.entry_digest,
            subject_digest: c.subject_digest,
          });
        }
        const out: SubjectStatusRow[] = rows.map((r) => {
          const mine = r.kind === "principal" ? cleared.get(r.id) : undefined;
          if (mine !== undefined) cleared.delete(r.id);
          return {
            kind: r.kind,
            id: r.id,
            status: r.status,
            ...(mine === undefined ? {} : { cleared: mine }),
          };
        });
        for (const [id, mine] of cleared) out.push({ kind: "principal", id, status: "clear", cleared: mine });
        return out.sort((a, b) =>
          a.kind === b.kind ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.kind < b.kind ? -1 : 1,
        );
      }),
  };
}
