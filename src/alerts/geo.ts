/**
 * Country reference points for impossible travel, computed from a maintained data set (Natural
 * Earth's admin-0 countries as published in world-atlas, 1:50m) rather than typed in: each
 * country's spherical centroid (d3-geo) and the radius of a disc of its area. Two sightings in
 * different countries are at least (centroid distance − both radii) apart: a commuter between
 * neighbours is never "fast", a jump across an ocean in an hour is.
 */
import { createRequire } from "node:module";
import { geoArea, geoCentroid, geoDistance } from "d3-geo";
import { feature } from "topojson-client";
import type { Polygon } from "geojson";
import type { GeometryCollection, Topology } from "topojson-specification";
import { alpha2OfNumeric } from "../countries/index.js";

const EARTH_KM = 6371.0088;

export interface CountryPart {
  /** [longitude, latitude] in degrees. */
  readonly centroid: [number, number];
  /** Radius of a disc with the part's area, km. */
  readonly radiusKm: number;
}

/** A country's main parts: each polygon of at least a tenth of its largest (mainland, large islands). */
let parts: ReadonlyMap<string, readonly CountryPart[]> | undefined;

/** Every country the data set has, by ISO 3166-1 alpha-2 (loaded once: about a second). */
export function countryParts(): ReadonlyMap<string, readonly CountryPart[]> {
  if (parts !== undefined) return parts;
  const require = createRequire(import.meta.url);
  const topology = require("world-atlas/countries-50m.json") as Topology<{ countries: GeometryCollection }>;
  const collection = feature(topology, topology.objects.countries);
  const out = new Map<string, CountryPart[]>();
  for (const f of collection.features) {
    const code = f.id === undefined ? undefined : alpha2OfNumeric(String(f.id));
    if (code === undefined || f.geometry === null) continue;
    const polygons: Polygon[] =
      f.geometry.type === "Polygon"
        ? [f.geometry]
        : f.geometry.type === "MultiPolygon"
          ? f.geometry.coordinates.map((coordinates) => ({ type: "Polygon", coordinates }))
          : [];
    const areas = polygons.map((p) => geoArea(p));
    const largest = Math.max(...areas);
    // Overseas territories and big islands count; specks do not (they would make every distance 0).
    const main = polygons.filter((_, i) => (areas[i] as number) >= largest / 10);
    out.set(
      code,
      main.map((p) => ({
        centroid: geoCentroid(p),
        radiusKm: Math.sqrt((geoArea(p) * EARTH_KM * EARTH_KM) / Math.PI),
      })),
    );
  }
  parts = out;
  return out;
}

/** The least plausible distance between two sightings in countries a and b (km); null if unknown. */
export function minimumDistanceKm(a: string, b: string): number | null {
  if (a === b) return 0;
  const all = countryParts();
  const pa = all.get(a);
  const pb = all.get(b);
  if (pa === undefined || pb === undefined) return null;
  let least = Infinity;
  for (const x of pa) {
    for (const y of pb) {
      const d = geoDistance(x.centroid, y.centroid) * EARTH_KM - x.radiusKm - y.radiusKm;
      least = Math.min(least, Math.max(0, d));
    }
  }
  return least;
}
