/**
 * A name with nothing distinctive left once normalised (only legal forms, titles, initials or generic
 * words: "LLC", "Trading Co", "Dr. A. B."): matching it against the lists finds nothing (and the
 * subject passed as clear without ever being screened) or every listed company with the same generic
 * word. Such a subject is held for review: one match, on no listed entry, saying why, which a
 * reviewer clears once they know who it is (the clearance holds for these facts, as any other). It
 * is still matched to entries listed under the very same name (engine.ts), each its own match.
 */
import { quoted } from "../policy/text.js";
import type { MatchExplanation, SubjectFacts } from "./matcher.js";
import { distinctiveTokens, normaliseName } from "./normalise.js";

/** Where the hold is recorded, in place of a list and an entry: not a listed party. */
export const HOLD_LIST = "screening";
export const HOLD_ENTRY = "indistinct-name";
/** The hold's "entry version" a clearance is given for: it never changes. */
export const HOLD_DIGEST = "indistinct-name";

/**
 * Why the subject is held: a sentence, kept as the match's reason (the admin API, the console, the
 * CLI) and in its audit record. The name is quoted as messages quote a value (a stored name may hold
 * a C1 control or a bidirectional override, which JSON leaves raw), so the sentence can be printed
 * as it is; the name as stored is the explanation's `matched_name`.
 */
export const holdReason = (name: string): string =>
  `the name ${quoted(name)} has nothing distinctive to screen once legal forms, titles, ` +
  "initials and generic words are taken off: a reviewer must establish who it is";

/** The hold for a subject whose name cannot be screened, or null when it can. */
export function indistinctName(facts: SubjectFacts, threshold: number): MatchExplanation | null {
  const type = facts.type ?? "unknown";
  const n = normaliseName(facts.name, type);
  if (distinctiveTokens(n.tokens, type).length > 0) return null;
  return {
    list: HOLD_LIST,
    entry_id: HOLD_ENTRY,
    entry_type: type,
    primary_name: "",
    matched_name: facts.name,
    name_kind: "indistinct",
    strength: "strong",
    // At the threshold: held for review, not a resemblance to anyone listed.
    score: threshold,
    name_score: 0,
    method: "tokens",
    tokens: [],
    unmatched_query: n.tokens,
    unmatched_listed: [],
    legal_forms: { query: n.legalForms, listed: [] },
    factors: [],
  };
}
