/**
 * Schema version 20: the usage journal's segments whose usage is in the store (src/metering/journal.ts),
 * each recorded in the transaction that wrote its usage: a segment found here at a start is not
 * replayed. A segment's file is removed once written; its row is dropped in a later batch's
 * transaction (or at the start that replayed it). Frozen text: a released migration never changes.
 */
export const USAGE_JOURNAL = `
  CREATE TABLE usage_journal (
    segment    TEXT PRIMARY KEY,
    written_at TEXT NOT NULL
  );
`;
