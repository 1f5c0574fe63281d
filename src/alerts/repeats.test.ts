/**
 * One alert per condition: embargoed attempts escalate to high once per window period while they go
 * on, however fast or slow; an organization partner's denial is counted once, not as its
 * organization and again as its partner.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { BASELINE_WINDOWS, Detectors, type Draft } from "./detectors.js";
import { sightingMaker } from "../testing/sightings.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const T0 = Date.parse("2030-01-01T00:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;

const sighting = sightingMaker({
  principal: "p",
  credential: "k",
  organization: null,
  partner: null,
  model: "m",
  decision: "deny",
  reason: "embargoed-location",
  country: "IR",
  network: null,
});

function embargoAlerts(times: readonly number[], config = DEFAULTS): Draft[] {
  const raised: Draft[] = [];
  const d = new Detectors(config, (x) => (x.detector === "embargoed-attempt" ? raised.push(x) : 0));
  for (const t of times) d.feed(sighting({ t }));
  return raised;
}

const at = (raised: Draft[]) => raised.map((r) => `${r.severity}@${(r.at - T0) / HOUR}h`);

describe("embargoed attempts", () => {
  it("a slow retry job every 8 h is told high once a day, not every 8 h", () => {
    const times = Array.from({ length: 9 }, (_, i) => T0 + i * 8 * HOUR);
    // Attempts at 0, 8, 16 (high: 3 within 24 h), 24 (a new day, still 3 within 24 h: high), ...
    expect(at(embargoAlerts(times))).toEqual(["medium@0h", "high@16h", "high@24h", "high@48h"]);
  });

  it("a principal refused every minute for three days is told high each day (was: only once)", () => {
    const times = Array.from({ length: 3 * 24 * 60 }, (_, i) => T0 + i * MIN);
    const raised = embargoAlerts(times);
    expect(at(raised)).toEqual(["medium@0h", `high@${2 / 60}h`, "high@24h", "high@48h"]);
    expect(raised[2]?.summary).toBe(
      "p was refused more than 3 times for an embargo (embargoed-location) within 24 h",
    );
    expect(raised.map((r) => r.dedupeKey)).toEqual([
      `embargoed-attempt:principal:p:${T0 / (24 * HOUR)}:medium`,
      `embargoed-attempt:principal:p:${T0 / (24 * HOUR)}:high`,
      `embargoed-attempt:principal:p:${T0 / (24 * HOUR) + 1}:high`,
      `embargoed-attempt:principal:p:${T0 / (24 * HOUR) + 2}:high`,
    ]);
  });

  it("property: medium for an attempt alone in its window, high once per period that reaches `repeated`", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 * HOUR }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 30 }),
        (gaps, repeated, windowHours) => {
          const W = windowHours * HOUR;
          const config = {
            ...DEFAULTS,
            embargoed_attempts: { ...DEFAULTS.embargoed_attempts, window_ms: W, repeated },
          };
          const times: number[] = [];
          gaps.reduce((t, g) => (times.push(t + g), t + g), T0);
          // The specification, counted the slow way.
          const expected: string[] = [];
          const highIn = new Set<number>();
          times.forEach((t, i) => {
            const within = times.slice(0, i + 1).filter((u) => u >= t - W).length;
            const period = Math.floor(t / W);
            if (within >= repeated && !highIn.has(period)) {
              highIn.add(period);
              expected.push(`high ${t}`);
            } else if (within === 1) expected.push(`medium ${t}`);
          });
          const raised = embargoAlerts(times, config);
          expect(raised.map((r) => `${r.severity} ${r.at}`)).toEqual(expected);
          expect(new Set(raised.map((r) => r.dedupeKey)).size).toBe(raised.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: with attempts arriving late, medium only for one alone among those arrived, high only for `repeated` within one window", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 3 * HOUR }),
            // Most arrive as they are dated; some late (a long stream's, another node's).
            delay: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 4 * HOUR })),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        (steps, repeated, windowHours) => {
          const W = windowHours * HOUR;
          const config = {
            ...DEFAULTS,
            embargoed_attempts: { ...DEFAULTS.embargoed_attempts, window_ms: W, repeated },
          };
          let t = T0;
          const dated = steps.map((step) => ((t += step.gap), { t, arrives: t + step.delay }));
          const arrived = [...dated].sort((a, b) => a.arrives - b.arrives);
          const raised: Draft[] = [];
          const d = new Detectors(config, (x) => (x.detector === "embargoed-attempt" ? raised.push(x) : 0));
          arrived.forEach((a, i) => {
            const before = raised.length;
            d.feed(sighting({ t: a.t }));
            const so = arrived.slice(0, i + 1).map((b) => b.t);
            for (const r of raised.slice(before)) {
              const within = so.filter((u) => u >= r.at - W && u <= r.at).length;
              if (r.severity === "medium") {
                // The attempt just arrived, and no other within a window of it on either side.
                expect(r.at).toBe(a.t);
                expect(so.filter((u) => Math.abs(u - a.t) <= W)).toHaveLength(1);
              } else {
                // Dated by an attempt arrived, ending a window that holds the one just arrived.
                expect(so).toContain(r.at);
                expect(a.t).toBeGreaterThanOrEqual(r.at - W);
                expect(a.t).toBeLessThanOrEqual(r.at);
                expect(within).toBeGreaterThanOrEqual(repeated);
                expect(r.details["attempts"]).toBeLessThanOrEqual(within);
              }
            }
          });
          expect(new Set(raised.map((r) => r.dedupeKey)).size).toBe(raised.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("denial spikes of an organization partner", () => {
  it("are one alert, for the organization, not a second one for the partner", () => {
    const config = { ...DEFAULTS, denial_spike: { ...DEFAULTS.denial_spike, min_denials: 5 } };
    const raised: Draft[] = [];
    const d = new Detectors(config, (x) => (x.detector === "denial-spike" ? raised.push(x) : 0));
    const W = config.denial_spike.window_ms;
    const start = T0 + (BASELINE_WINDOWS + 1) * W;
    d.feed(sighting({ t: T0, decision: "allow", reason: "license", principal: "someone-else" }));
    for (let i = 0; i < 5; i++) {
      d.feed(
        sighting({
          t: start + i * 1000,
          principal: "chloe",
          organization: "uk-aisi",
          partner: "uk-aisi", // what the gateway sets for an organization partner
          reason: "location-not-covered",
          country: "FR",
          model: "mythos-5",
        }),
      );
    }
    expect(raised.map((r) => `${r.subject.kind}:${r.subject.id}`).sort()).toEqual([
      "model:mythos-5",
      "organization:uk-aisi",
    ]);
  });

  it("a partner other than the organization (a grant of a country partner) is still its own subject", () => {
    const config = { ...DEFAULTS, denial_spike: { ...DEFAULTS.denial_spike, min_denials: 5 } };
    const raised: Draft[] = [];
    const d = new Detectors(config, (x) => (x.detector === "denial-spike" ? raised.push(x) : 0));
    const start = T0 + (BASELINE_WINDOWS + 1) * config.denial_spike.window_ms;
    d.feed(sighting({ t: T0, decision: "allow", reason: "license", principal: "someone-else" }));
    for (let i = 0; i < 5; i++)
      d.feed(sighting({ t: start + i * 1000, organization: "acme", partner: "gb", reason: "x", model: "m" }));
    expect(raised.map((r) => `${r.subject.kind}:${r.subject.id}`).sort()).toEqual([
      "model:m",
      "organization:acme",
      "partner:gb",
    ]);
  });
});
