/**
 * Country reference points for impossible travel, computed from a maintained data set (Natural
 * Earth's admin-0 countries as published in world-atlas, 1:50m) rather than typed in: each
 * country's spherical centroid (d3-geo) and the radius of a disc of its area. Two sightings in
 * different countries are at least (centroid distance − both radii) apart: a commuter between
 * neighbours is never "fast", a jump across an ocean in an hour is. A code is the place GeoIP
 * means by it: "FR" is metropolitan France, French Guiana is "GF" (see TERRITORIES).
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

/**
 * Territories ISO 3166-1 codes apart from their state, as GeoIP reports them, that the data set
 * draws as part of it: their polygons (centroid inside one of the boxes, [west, south, east, north]
 * in degrees) are theirs, not the state's. Left in, French Guiana made "FR" border Brazil, and a
 * request from Paris then one from São Paulo 5 minutes later was no journey at all.
 */
const TERRITORIES: Readonly<
  Record<string, { of: string; boxes: readonly [number, number, number, number][] }>
> = {
  GF: { of: "FR", boxes: [[-55, 1.5, -51, 6.5]] }, // French Guiana
  GP: { of: "FR", boxes: [[-62, 15.7, -60.8, 16.7]] }, // Guadeloupe
  MQ: { of: "FR", boxes: [[-61.4, 14.2, -60.7, 15]] }, // Martinique
  RE: { of: "FR", boxes: [[55, -21.5, 56, -20.7]] }, // Réunion
  YT: { of: "FR", boxes: [[44.9, -13.2, 45.4, -12.5]] }, // Mayotte
  SJ: {
    of: "NO",
    boxes: [
      [10, 74, 35, 81], // Svalbard
      [-9.5, 70.5, -7.5, 71.5], // Jan Mayen
    ],
  },
  BQ: { of: "NL", boxes: [[-69, 11.5, -62.5, 18]] }, // Bonaire, Sint Eustatius and Saba
};

/** The territory of `state` a polygon with this centroid belongs to, or the state itself. */
function codeOf(state: string, [lon, lat]: [number, number]): string {
  for (const [code, t] of Object.entries(TERRITORIES)) {
    if (t.of !== state) continue;
    if (t.boxes.some(([w, s, e, n]) => lon >= w && lon <= e && lat >= s && lat <= n)) return code;
  }
  return state;
}

/**
 * A country's main parts: each polygon of at least a tenth of its largest (mainland, large islands),
 * territories coded apart (TERRITORIES) split out under their own codes.
 */
let parts: ReadonlyMap<string, readonly CountryPart[]> | undefined;

/** Every country the data set has, by ISO 3166-1 alpha-2 (loaded once: about a second). */
export function countryParts(): ReadonlyMap<string, readonly CountryPart[]> {
  if (parts !== undefined) return parts;
  const require = createRequire(import.meta.url);
  const topology = require("world-atlas/countries-50m.json") as Topology<{ countries: GeometryCollection }>;
  const collection = feature(topology, topology.objects.countries);
  const polygonsOf = new Map<string, { polygon: Polygon; centroid: [number, number]; area: number }[]>();
  for (const f of collection.features) {
    const state = f.id === undefined ? undefined : alpha2OfNumeric(String(f.id));
    if (state === undefined || f.geometry === null) continue;
    const polygons: Polygon[] =
      f.geometry.type === "Polygon"
        ? [f.geometry]
        : f.geometry.type === "MultiPolygon"
          ? f.geometry.coordinates.map((coordinates) => ({ type: "Polygon", coordinates }))
          : [];
    for (const polygon of polygons) {
      const centroid = geoCentroid(polygon);
      const code = codeOf(state, centroid);
      let list = polygonsOf.get(code);
      if (list === undefined) polygonsOf.set(code, (list = []));
      list.push({ polygon, centroid, area: geoArea(polygon) });
    }
  }
  const out = new Map<string, CountryPart[]>();
  for (const [code, polygons] of polygonsOf) {
    let largest = 0;
    for (const p of polygons) largest = Math.max(largest, p.area);
    // Big islands count; specks do not (they would make every distance 0).
    const main = polygons.filter((p) => p.area >= largest / 10);
    out.set(
      code,
      main.map((p) => ({
        centroid: p.centroid,
        radiusKm: Math.sqrt((p.area * EARTH_KM * EARTH_KM) / Math.PI),
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
