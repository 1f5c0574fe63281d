/**
 * Free text the admin API takes (reasons, justifications, names). Every change's details go into
 * an audit entry, and an entry has at most 64 KiB: text is bounded here, at the field, so that a
 * change the log could not record is refused (400, naming the field) before it is committed.
 */
import { z } from "zod";

/** Longest reason, justification or note. */
export const MAX_TEXT = 2000;
/** Longest display name or organization id. */
export const MAX_NAME = 256;

/** A required reason: trimmed, not empty, bounded. */
export const reasonText = (required = "a reason is required") =>
  z.string().trim().min(1, required).max(MAX_TEXT, `at most ${MAX_TEXT} characters`);

export const noteText = z.string().max(MAX_TEXT, `at most ${MAX_TEXT} characters`);

export const nameText = z.string().min(1).max(MAX_NAME, `at most ${MAX_NAME} characters`);
