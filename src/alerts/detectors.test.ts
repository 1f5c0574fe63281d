/**
 * A replay of synthetic traffic through the detectors with their default thresholds: a day of
 * normal traffic (commuters across a border, travellers at airline speed, offices behind one
 * network, the usual denials) raises nothing; the same day with each anomaly mixed in raises
 * exactly the expected alerts.
 */
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { Detectors, type Draft, type Sighting } from "./detectors.js";
import { minimumDistanceKm } from "./geo.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const DAY = Date.parse("2030-03-04T00:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;

let seq = 0;
function sighting(over: Partial<Sighting> & Pick<Sighting, "t" | "principal">): Sighting {
  seq++;
  return {
    requestId: `req-${seq}`,
    audit: String(seq),
    credential: `key-${over.principal}`,
    organization: `org-${over.principal.split("-")[0]}`,
    partner: null,
    model: "mythos-5",
    decision: "allow",
    reason: "partner-organization",
    country: "DE",
    network: `10.${seq % 7}.0.0/24`,
    ...over,
  };
}

/** A working day of ordinary traffic, in time order. */
function normalDay(): Sighting[] {
  const out: Sighting[] = [];
  // Commuters: home on one side of a border, work on the other, every working hour.
  const borders: [string, string][] = [
    ["FR", "CH"],
    ["DE", "NL"],
    ["BE", "LU"],
    ["CA", "US"],
    ["MY", "SG"],
    ["GB", "FR"],
    ["AT", "DE"],
  ];
  borders.forEach(([home, work], i) => {
    const principal = `commuter-${i}`;
    const network = `192.0.${i}.0/24`;
    out.push(sighting({ t: DAY + 7 * HOUR, principal, country: home, network }));
    for (let h = 8; h < 18; h += 0.5)
      out.push(
        sighting({ t: DAY + h * HOUR + 10 * MIN, principal, country: work, network: `198.51.${i}.0/24` }),
      );
    out.push(sighting({ t: DAY + 18 * HOUR + 40 * MIN, principal, country: home, network }));
  });
  // Travellers at airline speed, working on both ends and at the connection.
  const trips: [string, number][][] = [
    [
      ["US", 6],
      ["GB", 15],
      ["FR", 18],
    ],
    [
      ["DE", 5],
      ["AE", 12],
      ["IN", 17],
    ],
    [
      ["JP", 2],
      ["US", 14],
    ],
    [
      ["AU", 1],
      ["SG", 10],
      ["GB", 23.5],
    ],
  ];
  trips.forEach((legs, i) => {
    for (const [country, hour] of legs) {
      for (let k = 0; k < 3; k++) {
        out.push(
          sighting({
            t: DAY + hour * HOUR + k * 10 * MIN,
            principal: `traveller-${i}`,
            country,
            network: `203.0.${i * 10 + k}.0/24`,
          }),
        );
      }
    }
  });
  // Offices: 40 people behind one network each, a request every two minutes, 9 to 6, with the odd denial.
  for (let p = 0; p < 40; p++) {
    const office = p % 2 === 0 ? "acme" : "bolt";
    for (let m = 9 * 60; m < 18 * 60; m += 2) {
      const denied = (m + p) % 97 === 0;
      out.push(
        sighting({
          t: DAY + m * MIN + p * 1000,
          principal: `${office}-${p}`,
          organization: `org-${office}`,
          partner: office === "acme" ? "acme" : null,
          country: office === "acme" ? "DE" : "FR",
          network: office === "acme" ? "10.20.30.0/24" : "10.40.50.0/24",
          ...(denied ? { decision: "deny" as const, reason: "no-authorization", model: "fable-5" } : {}),
        }),
      );
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

/** Each anomaly once, on principals of its own. */
function anomalies(): Sighting[] {
  const out: Sighting[] = [];
  // Impossible travel: the US, then China 40 minutes later.
  out.push(sighting({ t: DAY + 10 * HOUR, principal: "jumper-1", country: "US" }));
  out.push(sighting({ t: DAY + 10 * HOUR + 40 * MIN, principal: "jumper-1", country: "CN" }));
  // Key sharing: one key from three neighbouring countries within the hour (never too fast to travel).
  for (const [i, country] of ["FR", "DE", "BE"].entries()) {
    out.push(sighting({ t: DAY + 11 * HOUR + i * 15 * MIN, principal: "sharer-1", country }));
  }
  // Key sharing by networks: nine /24s in one country within the hour.
  for (let i = 0; i < 9; i++) {
    out.push(
      sighting({
        t: DAY + 12 * HOUR + i * 5 * MIN,
        principal: "spreader-1",
        country: "DE",
        network: `100.64.${i}.0/24`,
      }),
    );
  }
  // Embargoed: one attempt; and another principal three times (the third is "repeated").
  out.push(
    sighting({
      t: DAY + 13 * HOUR,
      principal: "visitor-1",
      country: "IR",
      decision: "deny",
      reason: "embargoed-location",
    }),
  );
  for (let i = 0; i < 3; i++) {
    out.push(
      sighting({
        t: DAY + 13 * HOUR + i * 20 * MIN,
        principal: "prober-1",
        country: "KP",
        decision: "deny",
        reason: "embargoed-location",
      }),
    );
  }
  // A confirmed denied party.
  out.push(sighting({ t: DAY + 14 * HOUR, principal: "listed-1", decision: "deny", reason: "denied-party" }));
  // A denial spike in one organization, on a model nobody else is refused.
  for (let i = 0; i < 25; i++) {
    out.push(
      sighting({
        t: DAY + 15 * HOUR + i * 5000,
        principal: `spiky-${i % 3}`,
        organization: "org-spiky",
        network: "10.9.9.0/24",
        decision: "deny",
        reason: "no-authorization",
        model: "weights-5",
      }),
    );
  }
  // A volume spike: ten requests per five minutes for two hours, then six hundred.
  for (let m = 0; m < 120; m += 0.5) {
    out.push(sighting({ t: DAY + 8 * HOUR + m * MIN, principal: "burst-1", network: "10.8.8.0/24" }));
  }
  for (let i = 0; i < 600; i++) {
    out.push(
      sighting({ t: DAY + 10 * HOUR + 5 * MIN + i * 400, principal: "burst-1", network: "10.8.8.0/24" }),
    );
  }
  return out;
}

function replay(sightings: readonly Sighting[]): Draft[] {
  const raised: Draft[] = [];
  const detectors = new Detectors(DEFAULTS, (d) => raised.push(d));
  for (const s of [...sightings].sort((a, b) => a.t - b.t)) detectors.feed(s);
  return raised;
}

const summary = (drafts: Draft[]) =>
  drafts.map((d) => `${d.detector} ${d.subject.kind}:${d.subject.id} ${d.severity}`).sort();

describe("anomaly detectors over a replayed day", () => {
  it("a day of normal traffic raises no alert", () => {
    const day = normalDay();
    expect(day.length).toBeGreaterThan(10_000);
    expect(summary(replay(day))).toEqual([]);
  });

  it("the same day with each anomaly raises exactly the expected alerts, with their evidence", () => {
    const raised = replay([...normalDay(), ...anomalies()]);
    expect(summary(raised)).toEqual(
      [
        "impossible-travel principal:jumper-1 high",
        "key-sharing key:key-sharer-1 high",
        "key-sharing key:key-spreader-1 high",
        "embargoed-attempt principal:visitor-1 medium",
        "embargoed-attempt principal:prober-1 medium",
        "embargoed-attempt principal:prober-1 high",
        "denied-party principal:listed-1 critical",
        "denial-spike organization:org-spiky medium",
        "denial-spike model:weights-5 medium",
        "volume-spike principal:burst-1 medium",
      ].sort(),
    );
    const travel = raised.find((d) => d.detector === "impossible-travel") as Draft;
    expect(travel.auditIndexes).toHaveLength(2);
    expect(travel.details).toMatchObject({ from: "US", to: "CN", minutes: 40 });
    const sharing = raised.find((d) => d.subject.id === "key-sharer-1") as Draft;
    expect(sharing.details).toMatchObject({ countries: ["FR", "DE", "BE"] });
    expect(sharing.auditIndexes).toHaveLength(3);
    // The same anomaly seen again within the cooldown is not a new alert; a dedupe key per sighting.
    expect(new Set(raised.map((d) => d.dedupeKey)).size).toBe(raised.length);
  });

  it("places countries from the data set: neighbours are near, oceans are far", () => {
    expect(minimumDistanceKm("FR", "CH")).toBe(0);
    expect(minimumDistanceKm("US", "CA")).toBe(0);
    expect(minimumDistanceKm("US", "CN")).toBeGreaterThan(3_000);
    expect(minimumDistanceKm("DE", "AU")).toBeGreaterThan(10_000);
    expect(minimumDistanceKm("DE", "ZZ")).toBeNull();
  });
});
