/**
 * Detector state stays bounded and cheap under hostile or disordered traffic: the work and memory
 * per sighting do not grow with what one principal sends, and late sightings do not reset counts.
 */
import { describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { BASELINE_WINDOWS, Detectors, type Draft, type Sighting } from "./detectors.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const T0 = Date.parse("2030-03-04T00:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;

let seq = 0;
function sighting(over: Partial<Sighting> & Pick<Sighting, "t">): Sighting {
  seq++;
  return {
    requestId: `req-${seq}`,
    audit: String(seq),
    principal: "mallory",
    credential: "key-mallory",
    organization: "acme",
    partner: null,
    model: "mythos-4",
    decision: "allow",
    reason: "license",
    country: "DE",
    network: "10.0.0.0/24",
    ...over,
  };
}

const embargoed = (t: number, principal = "mallory") =>
  sighting({ t, principal, decision: "deny", reason: "embargoed-location", country: "IR" });

/** Someone else's request long before: the detectors have watched since (spikes need a baseline). */
const watchedSince = (d: Detectors, t: number) =>
  d.feed(sighting({ t: t - (BASELINE_WINDOWS + 1) * DEFAULTS.volume_spike.window_ms, principal: "early" }));

function detectors(config = DEFAULTS, only?: Draft["detector"]) {
  const raised: Draft[] = [];
  const d = new Detectors(config, (x) => (only === undefined || x.detector === only ? raised.push(x) : 0));
  return { d, raised };
}

describe("embargoed attempts", () => {
  it("hold at most `repeated` + 1 attempts per principal, however many are refused in the window", () => {
    const { d, raised } = detectors(DEFAULTS, "embargoed-attempt");
    for (let i = 0; i < 50_000; i++) d.feed(embargoed(T0 + i * 10));
    // The old detector held all 50,000 (and copied them on every sighting).
    expect(d.retained().embargoed).toBeLessThanOrEqual(DEFAULTS.embargoed_attempts.repeated + 1);
    expect(raised.map((r) => `${r.severity} ${r.details["attempts"]}`)).toEqual(["medium 1", "high 3"]);
    const high = raised[1] as Draft;
    expect(high.auditIndexes).toHaveLength(3);
  });

  it("count the attempts within the window as before: first, repeated, and again after a quiet window", () => {
    const { d, raised } = detectors(DEFAULTS, "embargoed-attempt");
    d.feed(embargoed(T0)); // first: medium
    d.feed(embargoed(T0 + 23 * HOUR)); // 2 in the window
    d.feed(embargoed(T0 + 25 * HOUR)); // the first has left the window: 2 again
    d.feed(embargoed(T0 + 26 * HOUR)); // 3 within 24 h: high
    d.feed(embargoed(T0 + 27 * HOUR)); // 4: nothing more
    d.feed(embargoed(T0 + 60 * HOUR)); // alone in its window again: medium
    expect(raised.map((r) => `${r.severity} ${r.details["attempts"]}`)).toEqual([
      "medium 1",
      "high 3",
      "medium 1",
    ]);
  });
});

describe("spike counts with sightings out of order (several nodes, clocks a little apart)", () => {
  it("a late sighting from the previous window does not reset the current window's count", () => {
    const { d, raised } = detectors(DEFAULTS, "volume-spike");
    const window = DEFAULTS.volume_spike.window_ms;
    const start = Math.ceil(T0 / window) * window + 10 * window;
    const min = DEFAULTS.volume_spike.min_requests;
    watchedSince(d, start);
    for (let i = 0; i < min - 1; i++) d.feed(sighting({ t: start + i * 100 }));
    d.feed(sighting({ t: start - 5 })); // sent just before the window turned, seen just after
    d.feed(sighting({ t: start + min * 100 }));
    expect(raised.map((r) => r.details["count"])).toEqual([min]);
    expect(raised[0]?.details["baseline"]).toBe(0);
  });

  it("a late denial does not reset a denial spike either", () => {
    const { d, raised } = detectors(DEFAULTS, "denial-spike");
    const window = DEFAULTS.denial_spike.window_ms;
    const start = Math.ceil(T0 / window) * window + 10 * window;
    const deny = (t: number) =>
      sighting({ t, decision: "deny", reason: "no-authorization", organization: null });
    watchedSince(d, start);
    for (let i = 0; i < 10; i++) d.feed(deny(start + i * 1000));
    d.feed(deny(start - 1000));
    for (let i = 10; i < DEFAULTS.denial_spike.min_denials; i++) d.feed(deny(start + i * 1000));
    expect(raised.map((r) => `${r.subject.kind}:${r.subject.id} ${r.details["count"]}`)).toEqual([
      `model:mythos-4 ${DEFAULTS.denial_spike.min_denials}`,
    ]);
  });
});

describe("impossible travel with sightings out of order (a long stream's, another node's)", () => {
  const travel = () => detectors(DEFAULTS, "impossible-travel");
  const at = (t: number, country: string) => sighting({ t, country });
  const shown = (raised: Draft[]) =>
    raised.map((r) => `${r.details["from"]}→${r.details["to"]} ${r.details["minutes"]} min`);

  it("a late sighting raises no journey never made: Germany 10 h before the US is no alert (was: 1 s apart)", () => {
    const { d, raised } = travel();
    d.feed(at(T0 + 10 * HOUR, "US"));
    d.feed(at(T0, "DE")); // a stream started 10 h before, ended after
    expect(shown(raised)).toEqual([]);
  });

  it("a late sighting does not move the last place back: the US, then China 30 min later, is seen", () => {
    const { d, raised } = travel();
    d.feed(at(T0 + 10 * HOUR, "US"));
    d.feed(at(T0, "DE"));
    // Against Germany 10.5 h before (the place moved back), China looked reachable.
    d.feed(at(T0 + 10 * HOUR + 30 * MIN, "CN"));
    expect(shown(raised)).toEqual(["US→CN 30 min"]);
  });

  it("a late sighting is judged against the place before it in time: Germany, China 30 min later (arriving late), Germany 20 h on", () => {
    const { d, raised } = travel();
    d.feed(at(T0, "DE"));
    d.feed(at(T0 + 20 * HOUR, "DE"));
    d.feed(at(T0 + 30 * MIN, "CN"));
    expect(shown(raised)).toEqual(["DE→CN 30 min"]);
    expect(raised[0]?.at).toBe(T0 + 30 * MIN);
  });

  it("a late sighting against the place after it: the alert the in-order feed raises, dated and keyed alike", () => {
    const late = travel();
    const first = at(T0, "CN");
    const second = at(T0 + HOUR, "US");
    late.d.feed(second);
    late.d.feed(first);
    const inOrder = travel();
    inOrder.d.feed(first);
    inOrder.d.feed(second);
    expect(shown(late.raised)).toEqual(["CN→US 60 min"]);
    expect(late.raised.map((r) => [r.at, r.dedupeKey, r.auditIndexes])).toEqual(
      inOrder.raised.map((r) => [r.at, r.dedupeKey, r.auditIndexes]),
    );
  });

  it("holds a few places per principal however many sightings come", () => {
    const { d } = travel();
    for (let i = 0; i < 1_000; i++) d.feed(at(T0 + i * MIN, "DE"));
    d.feed(at(T0, "DE")); // older than every place held
    expect(d.retained().lastSeen).toBeLessThanOrEqual(4);
  });
});

describe("made-up model names and idle subjects", () => {
  const known = (id: string) => id === "mythos-4";
  const junk = (t: number, n: number) =>
    sighting({ t, model: `junk-${n}`, decision: "deny", reason: "unknown-model", organization: null });

  it("a model the scheme does not name is the subject `other`, one subject however many names", () => {
    const raised: Draft[] = [];
    const d = new Detectors(DEFAULTS, (x) => raised.push(x), known);
    watchedSince(d, T0);
    for (let n = 0; n < 10; n++) for (let i = 0; i < 20; i++) d.feed(junk(T0 + n * 20_000 + i * 1000, n));
    expect(raised.map((r) => `${r.detector} ${r.subject.kind}:${r.subject.id}`)).toEqual([
      "denial-spike model:other",
    ]);
    expect(d.retained().denials).toBe(1);
  });

  it("spike counters of subjects idle past every window are forgotten", () => {
    const d = new Detectors(DEFAULTS, () => {});
    for (let n = 0; n < 5_000; n++) {
      d.feed(
        sighting({ t: T0 + n, principal: `p-${n}`, organization: `org-${n}`, decision: "deny", reason: "x" }),
      );
    }
    expect(d.retained().volume).toBe(5_000);
    // Three days later, other traffic (the sweep runs every 10,000 sightings).
    for (let i = 0; i < 10_000; i++) d.feed(sighting({ t: T0 + 3 * 24 * HOUR + i, principal: "bob" }));
    expect(d.retained()).toMatchObject({ volume: 1, denials: 0 });
  });
});
