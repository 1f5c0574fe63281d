/**
 * Spike baselines across restarts: a detector that starts (a restart, a deploy, a new node) has not
 * seen what its subjects did before, so steady traffic must not look like a jump from nothing; a
 * subject the detectors watched whole windows without seeing is new, and its burst is told, never
 * answered by suspension.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { BASELINE_WINDOWS, Detectors, suspendable, type Draft, type Sighting } from "./detectors.js";
import { sightingMaker } from "../testing/sightings.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const W = DEFAULTS.volume_spike.window_ms; // the denial spike's window too
const T0 = Date.parse("2030-01-01T00:00:00Z");

const sighting = sightingMaker({
  principal: "svc-batch",
  credential: "k",
  organization: "acme",
  partner: null,
  model: "m",
  decision: "allow",
  reason: "license",
  country: "US",
  network: "10.0.0.0/24",
});

const spikes = (raised: Draft[]) =>
  raised.filter((r) => r.detector === "volume-spike" || r.detector === "denial-spike");

/** `perWindow` sightings evenly spread over each of `windows` windows from `from` (ms). */
function steady(
  d: Detectors,
  from: number,
  windows: number,
  perWindow: number,
  over: Partial<Sighting> = {},
) {
  for (let i = 0; i < windows * perWindow; i++)
    d.feed(sighting({ t: from + Math.floor((i * W) / perWindow), ...over }));
}

describe("spike baselines after a start", () => {
  it("steady traffic raises no spike on a first start, nor after a restart (was: one each)", () => {
    // 600 requests every 5 minutes (min_requests 500): the reviewer's reproduction.
    const first: Draft[] = [];
    steady(new Detectors(DEFAULTS, (x) => first.push(x)), T0, 12, 600);
    const restarted: Draft[] = [];
    steady(new Detectors(DEFAULTS, (x) => restarted.push(x)), T0 + 12 * W + W / 3, 12, 600);
    expect(spikes(first)).toEqual([]);
    expect(spikes(restarted)).toEqual([]);
  });

  it("steady denials of an organization raise no spike after a restart mid-window", () => {
    const raised: Draft[] = [];
    const deny = { decision: "deny" as const, reason: "no-authorization" };
    // 25 denials a window (min_denials 20, factor 5); the detector starts 80% into a window.
    steady(new Detectors(DEFAULTS, (x) => raised.push(x)), T0 + 0.8 * W, 8, 25, deny);
    expect(spikes(raised)).toEqual([]);
  });

  it("property: a detector started anywhere in steady traffic never reports a spike", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 800 }), // per window
        fc.double({ min: 0, max: 1, noNaN: true }), // where in a window the detector starts
        fc.integer({ min: 1, max: 700 }), // min_requests = min_denials
        fc.double({ min: 2, max: 20, noNaN: true }), // factor
        fc.boolean(), // denials or requests
        (rate, offset, min, factor, denials) => {
          const config = {
            ...DEFAULTS,
            volume_spike: { ...DEFAULTS.volume_spike, min_requests: min, factor },
            denial_spike: { ...DEFAULTS.denial_spike, min_denials: min, factor },
          };
          const raised: Draft[] = [];
          const d = new Detectors(config, (x) => raised.push(x));
          const over = denials ? { decision: "deny" as const, reason: "no-authorization" } : {};
          steady(d, T0 + 40 * W + Math.floor(offset * W), BASELINE_WINDOWS + 3, rate, over);
          expect(spikes(raised)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("no spike is judged before the detectors have watched enough whole windows", () => {
    // 10 a window, then 600; one detector started half a window later than the other.
    const run = (start: number) => {
      const raised: Draft[] = [];
      const d = new Detectors(DEFAULTS, (x) => raised.push(x));
      const burst = T0 + BASELINE_WINDOWS * W;
      steady(d, start, (burst - start) / W, 10);
      steady(d, burst, 1, 600);
      return spikes(raised).map((r) => r.details);
    };
    // It started in window 0: whole windows 1 to BASELINE_WINDOWS - 1 are too few.
    expect(run(T0 + W / 2)).toEqual([]);
    // It started as window 0 did: BASELINE_WINDOWS whole windows of 10.
    expect(run(T0)).toEqual([{ count: 500, baseline: 10, window_ms: W, credential: "k" }]);
  });
});

describe("new subjects", () => {
  it("a subject first seen after the detectors watched whole windows bursts: told, not suspended", () => {
    const raised: Draft[] = [];
    const d = new Detectors(DEFAULTS, (x) => raised.push(x));
    steady(d, T0, BASELINE_WINDOWS + 1, 5, { principal: "someone-else", organization: "other" });
    steady(d, T0 + (BASELINE_WINDOWS + 1) * W, 1, 600, { principal: "newcomer", organization: "new-org" });
    const [spike] = spikes(raised);
    expect(spike).toMatchObject({
      detector: "volume-spike",
      subject: { kind: "principal", id: "newcomer" },
      details: { count: 500, baseline: 0, notify_only: "not suspended: its baseline is 0" },
    });
    expect(suspendable((spike as Draft).details)).toBe(false);
  });

  it("a newcomer that starts mid-window is not suspended on its second window either", () => {
    const raised: Draft[] = [];
    const d = new Detectors(DEFAULTS, (x) => raised.push(x));
    steady(d, T0, BASELINE_WINDOWS + 1, 5, { principal: "someone-else" });
    // 600 a window, starting 80% into one: 120 in its first window, then 600.
    steady(d, T0 + (BASELINE_WINDOWS + 1.8) * W, 2, 600, { principal: "newcomer" });
    const [spike] = spikes(raised);
    expect(spike?.details).toMatchObject({ baseline: 36 });
    expect(suspendable((spike as Draft).details)).toBe(false);
  });

  it("property: a spike against a baseline of 0 is never suspendable", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 2 * BASELINE_WINDOWS }),
        (counts, gap) => {
          const config = {
            ...DEFAULTS,
            volume_spike: { ...DEFAULTS.volume_spike, min_requests: 20, factor: 3 },
          };
          const raised: Draft[] = [];
          const d = new Detectors(config, (x) => raised.push(x));
          d.feed(sighting({ t: T0, principal: "first" }));
          counts.forEach((n, i) => steady(d, T0 + (gap + i) * W, 1, n, { principal: "p" }));
          for (const r of spikes(raised)) {
            if (r.details["baseline"] === 0) expect(suspendable(r.details)).toBe(false);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("when the detectors started", () => {
  it("is the time they are given, not a long request's start that happens to come first", () => {
    const raised: Draft[] = [];
    const start = T0 + 20 * W;
    const d = new Detectors(
      DEFAULTS,
      (x) => raised.push(x),
      () => true,
      start,
    );
    // A 30-minute stream that began long before the node did ends first; then steady traffic.
    d.feed(sighting({ t: start - 6 * W, principal: "streamer" }));
    steady(d, start, 6, 600);
    expect(spikes(raised)).toEqual([]);
  });
});
