/**
 * Key sharing holds, per key, only what deciding "more than max_networks (max_countries) within the
 * window" needs: one key used from thousands of networks costs the same per sighting as one used
 * from ten, and the decisions are those of counting every network the slow way.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { Detectors, type Draft } from "./detectors.js";
import { sightingMaker } from "../testing/sightings.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const T0 = Date.parse("2030-01-01T00:00:00Z");
const MIN = 60_000;

const sighting = sightingMaker({
  principal: "p",
  credential: "k1",
  organization: null,
  partner: null,
  model: "m",
  decision: "allow",
  reason: "home-person",
  country: "US",
  network: "10.0.0.0/24",
});

const sharing = (config = DEFAULTS) => {
  const raised: Draft[] = [];
  const d = new Detectors(config, (x) => (x.detector === "key-sharing" ? raised.push(x) : 0));
  return { d, raised };
};

describe("key sharing state", () => {
  it("holds at most max_networks + 1 networks per key, however many it is used from (was: all)", () => {
    const { d, raised } = sharing();
    for (let i = 0; i < 5_000; i++)
      d.feed(sighting({ t: T0 + i * 100, network: `2001:db8:${i.toString(16)}::/48` }));
    // The networks (at most max_networks + 1, each seen once) and the one country's few sightings
    // (at most 4 of one value: see note in detectors.ts).
    expect(d.retained().keyUse).toBeLessThanOrEqual(DEFAULTS.key_sharing.max_networks + 1 + 4);
    // One alert per cooldown: 5,000 sightings 100 ms apart are 8 minutes.
    expect(raised).toHaveLength(1);
    expect(raised[0]?.summary).toBe(`credential k1 of p was used from at least 9 networks within 1 h`);
    expect(raised[0]?.auditIndexes).toHaveLength(9);
  });

  it("property: raises when, and as, counting every network and country of the window would", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 20 * MIN }),
            network: fc.integer({ min: 0, max: 11 }),
            country: fc.constantFrom("US", "CA", "MX", "GB", null),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        (steps, maxNetworks, maxCountries) => {
          const config = {
            ...DEFAULTS,
            impossible_travel: { ...DEFAULTS.impossible_travel, enabled: false },
            cooldown_ms: 10 * MIN,
            key_sharing: {
              ...DEFAULTS.key_sharing,
              window_ms: 60 * MIN,
              max_networks: maxNetworks,
              max_countries: maxCountries,
            },
          };
          const { d, raised } = sharing(config);
          const seen: { t: number; network: string; country: string | null }[] = [];
          const expected: string[] = [];
          let last = -Infinity;
          let t = T0;
          for (const step of steps) {
            t += step.gap;
            const network = `10.0.${step.network}.0/24`;
            d.feed(sighting({ t, network, country: step.country }));
            // The slow way: every sighting of the window, distinct networks and countries.
            seen.push({ t, network, country: step.country });
            const within = seen.filter((s) => s.t >= t - 60 * MIN);
            const countries = new Set(within.flatMap((s) => (s.country === null ? [] : [s.country])));
            const networks = new Set(within.map((s) => s.network));
            if ((countries.size > maxCountries || networks.size > maxNetworks) && t - last >= 10 * MIN) {
              last = t;
              expected.push(
                countries.size > maxCountries
                  ? `${t} countries ${[...countries].sort().join(",")}`
                  : `${t} networks ${Math.min(networks.size, maxNetworks + 1)}`,
              );
            }
          }
          expect(
            raised.map((r) =>
              r.summary.includes("countries")
                ? `${r.at} countries ${[...(r.details["countries"] as string[])].sort().join(",")}`
                : `${r.at} networks ${r.details["networks"] as number}`,
            ),
          ).toEqual(expected);
          // At most 4 sightings of each network (max_networks + 1) and country held.
          expect(d.retained().keyUse).toBeLessThanOrEqual((maxNetworks + 1 + 4) * 4);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("property: with sightings arriving late, every alert is for more countries or networks than allowed within one window of arrived sightings", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 20 * MIN }),
            // Most arrive as they are dated; some late (a long stream's, another node's).
            delay: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 90 * MIN })),
            network: fc.integer({ min: 0, max: 11 }),
            country: fc.constantFrom("US", "CA", "MX", "GB", null),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        (steps, maxNetworks, maxCountries) => {
          const config = {
            ...DEFAULTS,
            impossible_travel: { ...DEFAULTS.impossible_travel, enabled: false },
            cooldown_ms: 10 * MIN,
            key_sharing: {
              ...DEFAULTS.key_sharing,
              window_ms: 60 * MIN,
              max_networks: maxNetworks,
              max_countries: maxCountries,
            },
          };
          const { d, raised } = sharing(config);
          let t = T0;
          const dated = steps.map((step) => {
            t += step.gap;
            return {
              t,
              arrives: t + step.delay,
              network: `10.0.${step.network}.0/24`,
              country: step.country,
            };
          });
          const arrived = [...dated].sort((a, b) => a.arrives - b.arrives);
          arrived.forEach((s, i) => {
            const before = raised.length;
            d.feed(sighting({ t: s.t, network: s.network, country: s.country }));
            // The slow way: an alert raised now is for sightings arrived so far, all within the hour
            // back from its date (the window's newest), more than allowed; in order, dated by the
            // sighting itself (the in-order property above says when exactly).
            const so = arrived.slice(0, i + 1);
            const newest = Math.max(...so.map((a) => a.t));
            for (const r of raised.slice(before)) {
              const within = so.filter((a) => a.t >= r.at - 60 * MIN && a.t <= r.at);
              if (s.t >= newest) expect(r.at).toBe(s.t);
              expect(within.some((a) => a.t === r.at)).toBe(true);
              if (r.summary.includes("countries")) {
                const listed = r.details["countries"] as string[];
                expect(listed.length).toBeGreaterThan(maxCountries);
                for (const c of listed) expect(within.some((a) => a.country === c)).toBe(true);
              } else {
                expect(r.details["networks"] as number).toBeGreaterThan(maxNetworks);
                expect(new Set(within.map((a) => a.network)).size).toBeGreaterThanOrEqual(
                  r.details["networks"] as number,
                );
              }
            }
          });
          // One per cooldown of dates.
          const dates = raised.map((r) => r.at).sort((x, y) => x - y);
          dates.forEach(
            (t, i) => i === 0 || expect(t - (dates[i - 1] ?? 0)).toBeGreaterThanOrEqual(10 * MIN),
          );
          // At most 4 sightings of each network (max_networks + 1) and country held.
          expect(d.retained().keyUse).toBeLessThanOrEqual((maxNetworks + 1 + 4) * 4);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the sweep forgets a key used from very many networks without overflowing the stack", () => {
    const { d } = sharing({ ...DEFAULTS, key_sharing: { ...DEFAULTS.key_sharing, max_networks: 200_000 } });
    // The sweep runs every 10,000 sightings; the old one spread every network into Math.max.
    for (let i = 0; i < 150_000; i++) d.feed(sighting({ t: T0 + i, network: `n${i}` }));
    // Every network (seen once) and a few sightings of the one country.
    expect(d.retained().keyUse).toBeGreaterThan(150_000);
    expect(d.retained().keyUse).toBeLessThanOrEqual(150_004);
  });
});
