/**
 * Whether a store refused a write for what it holds (invalid input), which trying it again cannot
 * change, rather than failed to take it (out of reach, busy, a timeout), which trying again may.
 * Background writers (the federated principals' queue) set the first aside and keep the second.
 */
import { InvalidInputError } from "../errors/index.js";
import { StoreError, type StoreErrorCode } from "./index.js";

/**
 * SQLite's result codes for a value its schema refuses: a constraint (NOT NULL, CHECK, UNIQUE, a
 * trigger's RAISE), a value of the wrong type for its column, a string or blob over its limits.
 */
const SQLITE_REFUSALS = new Set(["SQLITE_MISMATCH", "SQLITE_TOOBIG"]);

/**
 * True for the store's own checks (InvalidInputError, both drivers, before the database is asked),
 * PostgreSQL's data exceptions and integrity constraint violations (SQLSTATE classes 22 and 23: a
 * value a column's type cannot hold, a NUL, out of range, NOT NULL, CHECK, UNIQUE, a foreign key)
 * and SQLite's constraint, type and size refusals. Anything else (a lost connection, a lock wait, a
 * timeout, an error raised by a function or trigger without a SQLSTATE of those classes) is not:
 * it may be the store's state rather than the record's.
 */
export function refusesInput(err: unknown): boolean {
  if (err instanceof InvalidInputError) return true;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== "string") return false;
  // node-postgres's DatabaseError carries the SQLSTATE (five characters) as its code.
  if (/^2[23][0-9A-Z]{3}$/.test(code)) return true;
  // better-sqlite3's SqliteError carries the extended result code (SQLITE_CONSTRAINT_CHECK, …).
  return code === "SQLITE_CONSTRAINT" || code.startsWith("SQLITE_CONSTRAINT_") || SQLITE_REFUSALS.has(code);
}

/**
 * StoreError codes saying the store took nothing because it could not (not for what was written):
 * a lock waited on too long, a statement or connection past its bound, the connection lost, the
 * store closed. Written again at once, each record alone would fail the same way.
 */
const OUT_OF_REACH: ReadonlySet<StoreErrorCode> = new Set<StoreErrorCode>([
  "busy",
  "timeout",
  "disconnected",
  "closed",
]);

/**
 * Socket errors of a store that cannot be reached at all (PostgreSQL down: its connections refused,
 * its host unknown or unreachable); node-postgres passes them on as they are. SQLITE_BUSY: another
 * process holds the database.
 */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "SQLITE_BUSY",
]);

/**
 * Whether a store's error says it is out of reach (busy, timed out, disconnected, closed, not
 * connected to), whatever was written: a background writer keeps what it wrote for its next try,
 * and does not try each record alone (each would fail the same way, and take as long).
 */
export function outOfReach(err: unknown): boolean {
  if (err instanceof StoreError) return OUT_OF_REACH.has(err.code);
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && UNREACHABLE_CODES.has(code);
}
