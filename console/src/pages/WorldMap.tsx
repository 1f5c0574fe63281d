/**
 * A choropleth of the world (world-atlas 110m, Natural Earth; projected with d3-geo), bundled: no
 * tiles or fonts from elsewhere. Countries are keyed by ISO 3166-1 alpha-2, as the log records them.
 */
import { geoNaturalEarth1, geoPath } from "d3-geo";
import countries from "i18n-iso-countries/index.js";
import en from "i18n-iso-countries/langs/en.json";
import { useMemo } from "react";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import world from "world-atlas/countries-110m.json";

countries.registerLocale(en);

export const countryName = (code: string): string => countries.getName(code, "en") ?? code;

const WIDTH = 960;
const HEIGHT = 500;

interface Shape {
  readonly code: string | null;
  readonly name: string;
  readonly d: string;
}

function shapes(): Shape[] {
  const topo = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const collection = feature(topo, topo.objects.countries);
  const projection = geoNaturalEarth1().fitSize([WIDTH, HEIGHT], collection);
  const path = geoPath(projection);
  return collection.features.map((f) => ({
    code: f.id === undefined ? null : (countries.numericToAlpha2(String(f.id)) ?? null),
    name: f.properties?.name ?? "",
    d: path(f) ?? "",
  }));
}

export interface Scale {
  readonly colors: readonly string[];
  readonly thresholds: readonly number[];
}

/** Up to `palette.length` buckets of equal width from 1 to `max`; fewer when `max` is small. */
export function scaleFor(max: number, palette: readonly string[]): Scale {
  const steps = palette.length;
  const cuts = Array.from({ length: steps - 1 }, (_, i) => Math.ceil((max * (i + 1)) / steps) + 1);
  const thresholds = [...new Set(cuts.filter((t) => t > 1 && t <= max))];
  // The darkest colours for the fewest buckets, so that the top bucket always reads as "most".
  const colors = palette.slice(palette.length - thresholds.length - 1);
  return { colors, thresholds };
}

/** "1", "2–3", "6+": the values bucket `i` holds. */
export function bucketLabel(scale: Scale, i: number): string {
  const lo = i === 0 ? 1 : (scale.thresholds[i - 1] as number);
  const hi = scale.thresholds[i];
  if (hi === undefined) return `${lo}+`;
  return hi - 1 === lo ? `${lo}` : `${lo}–${hi - 1}`;
}

const colorOf = (value: number, scale: Scale): string => {
  if (value <= 0) return "#eef1f4";
  const i = scale.thresholds.findIndex((t) => value < t);
  return scale.colors[i < 0 ? scale.colors.length - 1 : i] as string;
};

export function WorldMap({
  values,
  label,
  scale,
  selected,
  onSelect,
}: {
  values: ReadonlyMap<string, number>;
  label: string;
  scale: Scale;
  selected: string | null;
  onSelect: (code: string) => void;
}) {
  const all = useMemo(shapes, []);
  return (
    <figure className="map">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label}>
        {all.map((s, i) => {
          const v = s.code === null ? 0 : (values.get(s.code) ?? 0);
          return (
            <path
              key={i}
              d={s.d}
              fill={colorOf(v, scale)}
              className={s.code !== null && s.code === selected ? "selected" : undefined}
              data-country={s.code ?? undefined}
              onClick={() => s.code !== null && onSelect(s.code)}
            >
              <title>{`${s.code === null ? s.name : countryName(s.code)}: ${v.toLocaleString("en")}`}</title>
            </path>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span>{label}:</span>
        <span>
          <span className="swatch" style={{ background: "#eef1f4" }} /> none
        </span>
        {scale.colors.map((c, i) => (
          <span key={c}>
            <span className="swatch" style={{ background: c }} /> {bucketLabel(scale, i)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
