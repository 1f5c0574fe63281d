/**
 * A world map as inline SVG, for self-contained HTML reports: country outlines from `world-atlas`
 * (Natural Earth 1:50m, TopoJSON) projected with d3-geo, each path tagged with its ISO 3166-1
 * alpha-2 code so that a report can colour it. Built once per process; no network, no CDN.
 */
import { geoNaturalEarth1, geoPath } from "d3-geo";
import { createRequire } from "node:module";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import { alpha2OfNumeric } from "../countries/index.js";

const require = createRequire(import.meta.url);

export const MAP_WIDTH = 960;
export const MAP_HEIGHT = 500;

export interface CountryShape {
  /** ISO 3166-1 alpha-2, or null for areas without one (e.g. N. Cyprus, Somaliland). */
  readonly code: string | null;
  readonly name: string;
  /** SVG path data. */
  readonly d: string;
}

/** Natural Earth areas without an ISO numeric code that still have an alpha-2 one. */
const NAMED: Readonly<Record<string, string>> = { Kosovo: "XK" };

let shapes: readonly CountryShape[] | undefined;

export function countryShapes(): readonly CountryShape[] {
  if (shapes !== undefined) return shapes;
  const topology = require("world-atlas/countries-50m.json") as Topology<{
    countries: GeometryCollection<{ name: string }>;
  }>;
  const countries = feature(topology, topology.objects.countries);
  const projection = geoNaturalEarth1().fitSize([MAP_WIDTH, MAP_HEIGHT], countries);
  const path = geoPath(projection).digits(1);
  shapes = countries.features
    .map((f) => {
      const name = f.properties?.name ?? "";
      const code = (f.id === undefined ? undefined : alpha2OfNumeric(String(f.id))) ?? NAMED[name] ?? null;
      return { code, name, d: path(f) ?? "" };
    })
    .filter((s) => s.d !== "");
  return shapes;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The map, each country filled by `fill(code)` and titled by `title(code, name)`. Paths carry
 * `data-country` so a page's script can recolour them.
 */
export function worldSvg(
  id: string,
  fill: (code: string | null) => string,
  title: (code: string | null, name: string) => string,
): string {
  const paths = countryShapes()
    .map(
      (s) =>
        `<path d="${s.d}" fill="${fill(s.code)}" data-country="${s.code ?? ""}"><title>${escape(title(s.code, s.name))}</title></path>`,
    )
    .join("");
  return (
    `<svg id="${id}" class="map" viewBox="0 0 ${MAP_WIDTH} ${MAP_HEIGHT}" role="img" ` +
    `xmlns="http://www.w3.org/2000/svg" stroke="#fff" stroke-width="0.3">${paths}</svg>`
  );
}

export { escape as escapeHtml };
