/**
 * Checks every driver applies before writing, so that drivers agree on what they accept and a bad
 * write fails the same way everywhere: InvalidInputError with field paths, nothing written.
 */
import { ClearanceError, InvalidInputError, type Path, type Problem } from "../errors/index.js";
import { refuseBidiControls, refuseControlCharacters } from "../http/index.js";
import { parsePrincipal } from "../policy/input.js";
import { BIDI_CONTROL, bidiControlName, CONTROL, controlName, FORBIDDEN_CONTROL } from "../policy/text.js";
import type { Principal } from "../policy/types.js";
import type { FederatedPrincipalRecord, RecordWrite, UsageDelta } from "./index.js";
import type { ImportInput, SubjectScreening, Successor } from "./screening.js";

/**
 * The problems of the fields whose text holds a NUL (U+0000): PostgreSQL's text cannot hold one and
 * SQLite's can, so a write with one was stored by one driver and failed by the other as a raw
 * database error (an internal error to whoever wrote it: the CLI, a seed, another node). Every
 * driver refuses it before asking its database, naming the field. JSON documents are not looked at:
 * they are stored as JSON text, where a NUL is escaped.
 */
export function nulProblems(fields: readonly (readonly [Path, unknown])[]): Problem[] {
  return fields
    .filter(([, value]) => typeof value === "string" && value.includes("\u0000"))
    .map(([path]) => ({
      code: "nul_character",
      path,
      message: "expected text without a NUL character (U+0000), which the store cannot hold",
    }));
}

/** InvalidInputError for the fields holding a NUL (see nulProblems), if any. */
export function refuseNul(...fields: (readonly [Path, unknown])[]): void {
  const problems = nulProblems(fields);
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/**
 * The problems of the fields whose text a person reads (a reviewer, a reason) holding a control
 * character but TAB, LF and CR (`control_character`: an escape sequence garbles the terminal or log
 * it is shown in) or a bidirectional control (`bidi_control`: the text reads otherwise than it is
 * stored), as the admin API and the CLI refuse them before: the store is the last line for every
 * other writer (a seed, a program using it). A NUL is a control character here too, as the admin
 * API and `principals.put` say it: `nul_character` is for the columns no person reads (ids, actors).
 */
export function hiddenTextProblems(fields: readonly (readonly [Path, string])[]): Problem[] {
  return fields.flatMap(([path, value]): Problem[] => {
    const control = FORBIDDEN_CONTROL.exec(value)?.[0];
    if (control !== undefined) {
      const message = `expected text without control characters but tab, line feed and carriage return; it holds ${controlName(control)}`;
      return [{ code: "control_character", path, message }];
    }
    const bidi = BIDI_CONTROL.exec(value)?.[0];
    if (bidi !== undefined) {
      const message = `expected text without bidirectional controls, invisible, which make it read otherwise than it is stored; it holds ${bidiControlName(bidi)}`;
      return [{ code: "bidi_control", path, message }];
    }
    return [];
  });
}

/**
 * A review's reviewer and reason, text people read: refused holding a control character (a NUL
 * too, `control_character` as the admin API and `principals.put` say it) or a bidirectional one.
 */
export function checkReview(reviewer: string, reason: string): void {
  const problems = hiddenTextProblems([
    [["reviewer"], reviewer],
    [["reason"], reason],
  ]);
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/** A change's actor (who is recorded in the audit log): refused with a NUL. */
export const checkActor = (actor: string | undefined): void => refuseNul([["actor"], actor]);

/** `records.putAll`'s writes: each id, actor and action goes into a column. */
export function checkWrites(writes: readonly RecordWrite[]): void {
  refuseNul(
    ...writes.flatMap((w, i) => [
      [[i, "collection"], w.collection] as const,
      [[i, "id"], w.id] as const,
      [[i, "change", "actor"], w.change.actor] as const,
      [[i, "change", "action"], w.change.action] as const,
    ]),
  );
}

/** `federated.record`'s records: id, issuer and subject are columns of their own. */
export function checkFederated(records: readonly FederatedPrincipalRecord[]): void {
  refuseNul(
    ...records.flatMap((r, i) => [
      [[i, "id"], r.id] as const,
      [[i, "issuer"], r.issuer] as const,
      [[i, "subject"], r.subject] as const,
    ]),
  );
}

/** A list's import: its name, source and entries' ids and digests are columns. */
export function checkImport(input: ImportInput, actor: string): void {
  refuseNul(
    [["list"], input.list],
    [["format"], input.format],
    [["published"], input.published],
    [["digest"], input.digest],
    ...input.entries.flatMap((e, i) => [
      [["entries", i, "id"], e.id] as const,
      [["entries", i, "digest"], e.digest] as const,
      [["entries", i, "document"], e.document] as const,
    ]),
    [["actor"], actor],
  );
}

/** Screenings to record: the subject, each match's list, entry and reason are columns. */
export function checkScreenings(screenings: readonly SubjectScreening[], actor: string): void {
  refuseNul(
    ...screenings.flatMap((s, i) => [
      [[i, "subject", "id"], s.subject.id] as const,
      [[i, "facts"], s.facts] as const,
      ...s.found.flatMap((f, j) =>
        (["list", "entryId", "entryDigest", "reason"] as const).map(
          (field) => [[i, "found", j, field], f[field]] as const,
        ),
      ),
    ]),
    [["actor"], actor],
  );
}

/** The entries replacing removed ones: a match carried over to one is written under its id. */
export function checkSuccessors(successors: ReadonlyMap<string, readonly Successor[]>, actor: string): void {
  refuseNul(
    ...[...successors].flatMap(([removed, heirs]) =>
      heirs.flatMap((heir, j) => [
        [["successors", removed, j, "id"], heir.id] as const,
        [["successors", removed, j, "digest"], heir.digest] as const,
      ]),
    ),
    [["actor"], actor],
  );
}

/** The ids of partners' federated principals (`fed:<provider>:<subject>`, src/identity). */
export const FEDERATED_ID_PREFIX = "fed:";

/**
 * The JSON document to store. Validated by the policy's own schema, but stored as given (no defaults).
 * Its text (a name, an organization's name or id) is refused as the admin API and the CLI refuse
 * it before: a control character but TAB, LF and CR (`control_character`: an escape sequence
 * garbles whoever lists it; a NUL is text PostgreSQL's search column cannot hold) or a
 * bidirectional control (`bidi_control`: a name shown reversed), naming the field. The store is the
 * last line for every other writer (a seed, the demo, a program using it). Only writes: a principal
 * stored before is read and listed as it is.
 */
export function principalDocument(p: Principal): { id: string; json: string } {
  parsePrincipal(p);
  // Such an id is taken for a partner's person everywhere (alerts block it instead of revoking keys).
  if (p.id.startsWith(FEDERATED_ID_PREFIX)) {
    const message = `ids starting ${FEDERATED_ID_PREFIX} are reserved for partners' federated principals; choose another id`;
    throw new InvalidInputError([{ code: "reserved_id", path: ["id"], message }]);
  }
  const json = JSON.stringify(p);
  try {
    refuseControlCharacters(p, json);
    refuseBidiControls(p, json);
  } catch (err) {
    if (err instanceof ClearanceError && err.kind === "invalid") throw new InvalidInputError(err.problems);
    throw err;
  }
  return { id: p.id, json };
}

export const MAX_LABEL_LENGTH = 200;

export function checkLabel(label: string | null | undefined): string | null {
  if (label === undefined || label === null) return null;
  const bad = (message: string) =>
    new InvalidInputError([{ code: "invalid_label", path: ["label"], message }]);
  if (typeof label !== "string" || label.length > MAX_LABEL_LENGTH)
    throw bad(`expected a string of at most ${MAX_LABEL_LENGTH} characters`);
  // A NUL is text PostgreSQL cannot hold (the key was refused there as an internal error, and kept
  // by SQLite), and an escape sequence would reach the terminal of whoever lists the keys. A label
  // is one line: tab and line breaks too.
  const control = CONTROL.exec(label)?.[0];
  if (control !== undefined)
    throw bad(`the label holds ${controlName(control)}; a label is one line of text`);
  // Invisible, a bidirectional control makes the label read otherwise than it is stored.
  const problems = hiddenTextProblems([[["label"], label]]);
  if (problems.length > 0) throw new InvalidInputError(problems);
  return label;
}

/** A validated delta, with the UTC day it is counted under. */
export interface CheckedDelta extends UsageDelta {
  readonly day: string;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** Validates the whole batch first: either every delta is good or nothing is written. */
export function checkUsageDeltas(deltas: readonly UsageDelta[]): CheckedDelta[] {
  const problems: Problem[] = [];
  const out: CheckedDelta[] = [];
  deltas.forEach((d, i) => {
    const bad = (field: string, message: string) =>
      problems.push({ code: "invalid_usage", path: [i, field], message });
    if (typeof d !== "object" || d === null) {
      problems.push({ code: "invalid_usage", path: [i], message: "expected a usage delta object" });
      return;
    }
    if (!nonEmpty(d.principalId)) bad("principalId", "expected a non-empty string");
    if (!nonEmpty(d.model)) bad("model", "expected a non-empty string");
    // Null, not "", means "none": drivers may use "" internally as the null bucket.
    if (d.organizationId !== null && !nonEmpty(d.organizationId))
      bad("organizationId", "expected null or a non-empty string");
    if (d.licenseId !== null && !nonEmpty(d.licenseId))
      bad("licenseId", "expected null or a non-empty string");
    problems.push(
      ...nulProblems(
        (["principalId", "organizationId", "licenseId", "model"] as const).map(
          (f) => [[i, f], d[f]] as const,
        ),
      ),
    );
    for (const field of ["inputTokens", "outputTokens", "requests"] as const) {
      if (!Number.isSafeInteger(d[field]) || d[field] < 0) bad(field, "expected a non-negative integer");
    }
    const time = typeof d.at === "string" && ISO_DATE_TIME.test(d.at) ? Date.parse(d.at) : NaN;
    if (Number.isNaN(time)) bad("at", "expected an ISO 8601 date-time");
    else out.push({ ...d, day: new Date(time).toISOString().slice(0, 10) });
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
  return out;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}
