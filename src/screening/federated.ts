/**
 * Partners' just-in-time principals (identity federation) are screened too (issue 12, part 3): a
 * federated principal exists only as a token until the gateway writes it down, so its first request
 * cannot wait for the background pass. What screening and review already recorded for it wins;
 * otherwise its name is screened in memory against the loaded lists — no store, no network — and a
 * potential match sends it to review (`screening-review`) at once. The background pass then records
 * the match in the review queue, where a reviewer confirms or clears it like any other.
 */
import type { Principal } from "../policy/types.js";
import type { ScreeningEngine } from "./engine.js";
import { screened, type StatusMaps } from "./status.js";

export function screenFederated(
  principal: Principal,
  displayName: string | null,
  maps: StatusMaps,
  engine: ScreeningEngine | null,
): Principal {
  const recorded = screened(principal, maps);
  // A reviewer's or the background pass's finding for this principal is the record.
  if (maps.person.has(principal.id)) return recorded;
  if (engine === null || displayName === null || displayName.trim() === "") return recorded;
  const found = engine.screen({
    name: displayName,
    type: "person",
    nationalities: (principal.citizenships ?? []).map((c) => c.country),
  });
  if (found.status === "clear") return recorded;
  return { ...recorded, screening: recorded.screening === "confirmed" ? "confirmed" : found.status };
}
