/**
 * The screening tables' SQL, as both drivers' migrations create and change them (migrations 6, 8,
 * 10 and 12); types differ only in dialect.
 */

/**
 * How release 4faae71 marked a confirmation resolved with its entry's removal: in the reason text,
 * the reviewer's reason following. Still written beside the column: a node of that release sharing
 * the database (one not yet upgraded) reads only this, and would otherwise reopen it as potential.
 */
export const REMOVED_WHILE_CONFIRMED = "the entry was removed from the list while confirmed: ";

/**
 * Migration 10 in both drivers: a confirmation resolved with its entry's removal keeps the reviewer's
 * reason in a column of its own, no longer behind a prefix of the free-text reason (rows written so
 * are moved over).
 */
export const SCREENING_RESOLVED_CONFIRMATION = `
  ALTER TABLE screening_matches ADD COLUMN resolved_confirmation TEXT;
  UPDATE screening_matches
     SET resolved_confirmation = substr(reason, ${REMOVED_WHILE_CONFIRMED.length + 1}),
         reason = 'the entry was removed from the list while confirmed (' || substr(reason, ${REMOVED_WHILE_CONFIRMED.length + 1}) || ')'
   WHERE status = 'resolved' AND substr(reason, 1, ${REMOVED_WHILE_CONFIRMED.length}) = '${REMOVED_WHILE_CONFIRMED}';
`;

/**
 * Migration 12 in both drivers: whether a version's rescreen after its import has finished (null),
 * or until when the process doing it holds it (see RESCREEN_HOLD_MS). Versions imported before were
 * rescreened by their import, as far as anything can tell: null.
 */
export const SCREENING_RESCREEN_DUE = `
  ALTER TABLE screening_lists ADD COLUMN rescreen_due TEXT;
`;

/**
 * Migration 8 in both drivers: the digest of the subject's facts a match was last screened with,
 * which a clearance holds for. Rows from before have none (null): the next screening of the subject
 * writes its facts then, and a clearance holds for those from that screening on.
 */
export const SCREENING_SUBJECT_DIGEST = `
  ALTER TABLE screening_matches ADD COLUMN subject_digest TEXT;
`;

/** The tables (migration 6 in both drivers; types differ only in dialect; migration 8 adds a column). */
export const SCREENING_TABLES = (text: string, real: string) => `
  -- Each imported version of a list: source format, publication date, digest, counts, and the
  -- diff from the version before. One version per list is active.
  CREATE TABLE screening_lists (
    list        ${text} NOT NULL,
    version     INTEGER NOT NULL,
    format      TEXT NOT NULL,
    published   TEXT,
    digest      TEXT NOT NULL,
    files       TEXT NOT NULL,
    counts      TEXT NOT NULL,
    diff        TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    active      INTEGER NOT NULL,
    PRIMARY KEY (list, version)
  );
  CREATE TABLE screening_entries (
    list     ${text} NOT NULL,
    version  INTEGER NOT NULL,
    entry_id ${text} NOT NULL,
    digest   TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (list, version, entry_id)
  );
  -- One row per subject and listed entry it was found to match; the review queue is status 'potential'.
  CREATE TABLE screening_matches (
    id           ${text} PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id   ${text} NOT NULL,
    list         ${text} NOT NULL,
    entry_id     ${text} NOT NULL,
    entry_digest TEXT NOT NULL,
    score        ${real} NOT NULL,
    status       TEXT NOT NULL,
    explanation  TEXT NOT NULL,
    reviewer     TEXT,
    reason       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
  );
  CREATE INDEX screening_matches_by_subject ON screening_matches (subject_kind, subject_id);
  CREATE INDEX screening_matches_by_entry ON screening_matches (list, entry_id);
  -- Subjects whose screening status is not clear (what the decision's check 1 reads).
  CREATE TABLE screening_subjects (
    kind       TEXT NOT NULL,
    id         ${text} NOT NULL,
    status     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
  );
`;
