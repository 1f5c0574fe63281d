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

/**
 * The restart tests' node sees feng (key k-feng, no organization) allowed mythos-5 on a license
 * from Canada; `embargoed` is feng's attempt from Iran, denied.
 */
export function fengSightings() {
  const sighting = sightingMaker({
    principal: "feng",
    credential: "k-feng",
    organization: null,
    partner: null,
    model: "mythos-5",
    decision: "allow",
    reason: "license",
    country: "CA",
    network: "10.0.0.0/24",
  });
  const embargoed = (t: number) =>
    sighting({ t, decision: "deny", reason: "embargoed-location", country: "IR" });
  return { sighting, embargoed };
}

/**
 * One plain sighting, not numbered: principal p (key k, no organization) allowed model m on a
 * license from the US, at 2030-01-01T00:00Z; `over` sets a case's own fields.
 */
export const plainSighting = (requestId: string, over: Partial<Sighting> = {}): Sighting => ({
  t: Date.parse("2030-01-01T00:00:00Z"),
  requestId,
  audit: null,
  principal: "p",
  credential: "k",
  organization: null,
  partner: null,
  model: "m",
  decision: "allow",
  reason: "license",
  country: "US",
  network: null,
  ...over,
});
