/**
 * Country codes are the places GeoIP means by them: "FR" is metropolitan France (French Guiana is
 * "GF"), so Paris then Brazil five minutes later is impossible travel, as Paris then New York is,
 * while Paris then Germany is a commute.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { plainSighting } from "../testing/sightings.js";
import { Detectors, type Draft, type Sighting } from "./detectors.js";
import { countryParts, minimumDistanceKm } from "./geo.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const T0 = Date.parse("2030-01-01T10:00:00Z");

function journey(from: string, to: string, minutes: number): Draft[] {
  const raised: Draft[] = [];
  const d = new Detectors(DEFAULTS, (x) => (x.detector === "impossible-travel" ? raised.push(x) : 0));
  const s = (t: number, country: string): Sighting => plainSighting(`${country}${t}`, { t, country });
  d.feed(s(T0, from));
  d.feed(s(T0 + minutes * 60_000, to));
  return raised;
}

describe("impossible travel from France", () => {
  it("France then Brazil in 5 minutes is an alert (was: none, French Guiana borders Brazil)", () => {
    expect(minimumDistanceKm("FR", "BR")).toBeGreaterThan(5_000);
    expect(journey("FR", "BR", 5).map((d) => d.details)).toMatchObject([{ from: "FR", to: "BR" }]);
    expect(journey("FR", "SR", 5)).toHaveLength(1);
  });

  it("France then the US in 5 minutes is an alert; France then Germany is not", () => {
    expect(journey("FR", "US", 5)).toHaveLength(1);
    expect(journey("FR", "DE", 5)).toEqual([]);
    expect(journey("FR", "CH", 5)).toEqual([]);
  });

  it("French Guiana, Réunion, Svalbard... are places of their own codes", () => {
    expect(minimumDistanceKm("GF", "BR")).toBe(0);
    expect(minimumDistanceKm("GF", "SR")).toBe(0);
    expect(journey("FR", "GF", 5)).toHaveLength(1);
    expect(journey("GF", "BR", 5)).toEqual([]);
    expect(minimumDistanceKm("RE", "MU")).toBeLessThan(500);
    expect(minimumDistanceKm("YT", "KM")).toBeLessThan(500);
    expect(minimumDistanceKm("GP", "MQ")).toBeLessThan(500);
    expect(minimumDistanceKm("SJ", "NO")).toBeGreaterThan(0);
    expect(minimumDistanceKm("BQ", "CW")).toBeLessThan(500);
    for (const code of ["GF", "GP", "MQ", "RE", "YT", "SJ", "BQ"])
      expect(countryParts().get(code)).toBeDefined();
    // Metropolitan France, Norway and the Netherlands keep only their parts in Europe.
    for (const code of ["FR", "NO", "NL"]) {
      for (const { centroid } of countryParts().get(code) ?? []) {
        expect(centroid[0]).toBeGreaterThan(-10);
        expect(centroid[0]).toBeLessThan(35);
        expect(centroid[1]).toBeGreaterThan(40);
        expect(centroid[1]).toBeLessThan(72);
      }
    }
  });

  it("property: distances are symmetric, at least 0, and 0 from a country to itself", () => {
    const codes = [...countryParts().keys()];
    fc.assert(
      fc.property(fc.constantFrom(...codes), fc.constantFrom(...codes), (a, b) => {
        const ab = minimumDistanceKm(a, b) as number;
        expect(ab).toBeCloseTo(minimumDistanceKm(b, a) as number, 6);
        expect(ab).toBeGreaterThanOrEqual(0);
        expect(minimumDistanceKm(a, a)).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
