/** Sightings for the alert detectors' tests: numbered requests, a file's defaults, a case's own fields. */
import type { Sighting } from "../alerts/detectors.js";

export function sightingMaker(
  defaults: Omit<Sighting, "t" | "requestId" | "audit">,
): (over: Partial<Sighting> & Pick<Sighting, "t">) => Sighting {
  let seq = 0;
  return (over) => {
    seq++;
    return { requestId: `r${seq}`, audit: String(seq), ...defaults, ...over };
  };
}
