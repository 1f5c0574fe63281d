/**
 * Partners' just-in-time principals (identity federation) are screened too (issue 12, part 3): a
 * federated principal exists only as a token until the gateway writes it down, so its first request
 * cannot wait for the background pass. What screening and review already recorded for it wins;
 * otherwise its name is screened in memory against the loaded lists — no store, no network — and a
 * potential match sends it to review (`screening-review`) at once. The background pass then records
 * the match in the review queue, where a reviewer confirms or clears it like any other; a match the
 * reviewer cleared is not counted again here (for the same entry version and the same facts).
 */
import type { Principal } from "../policy/types.js";
import type { ScreeningEngine } from "./engine.js";
import { HOLD_ENTRY, HOLD_LIST } from "./indistinct.js";
import { screened, type StatusMaps } from "./status.js";
import { factsDigest, principalSubject } from "./subjects.js";

export function screenFederated(
  principal: Principal,
  displayName: string | null,
  maps: StatusMaps,
  engine: ScreeningEngine | null,
): Principal {
  const recorded = screened(principal, maps);
  // A reviewer's or the background pass's finding for this principal (potential, confirmed) is the record.
  if (maps.person.has(principal.id)) return recorded;
  if (engine === null || displayName === null) return recorded;
  // The facts the background pass screens (and a clearance is given for): subjects.ts's.
  const subject = principalSubject({ ...principal, name: displayName });
  if (subject === null) return recorded;
  const found = engine.screen(subject.facts);
  const clearances = maps.cleared.get(principal.id) ?? [];
  const facts = clearances.length === 0 ? "" : factsDigest(subject.facts);
  // The hold on a name with nothing distinctive is not raised anew once a reviewer has reviewed
  // this principal with these facts (as the store records it: screening.ts, `reviewedBefore`).
  const reviewed = clearances.some((c) => c.subject_digest === null || c.subject_digest === facts);
  const open = found.matches.filter(
    (m) =>
      !(reviewed && m.list === HOLD_LIST && m.entry_id === HOLD_ENTRY) &&
      !clearances.some(
        (c) =>
          c.list === m.list &&
          c.entry_id === m.entry_id &&
          c.entry_digest === engine.entryDigest(m.list, m.entry_id) &&
          (c.subject_digest === null || c.subject_digest === facts),
      ),
  );
  if (open.length === 0) return recorded;
  return { ...recorded, screening: recorded.screening === "confirmed" ? "confirmed" : "potential" };
}
