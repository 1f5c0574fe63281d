/**
 * A restart forgets the detectors' memory, not what the store holds: the same condition seen again
 * by a restarted node (or by another node) in the same period has the same dedupe key, so the store
 * keeps the one alert already raised instead of raising it again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { Detectors, type Draft, type Sighting } from "./detectors.js";
import { openAlertService, storedAlerts } from "../testing/alerts.js";
import { fengSightings } from "../testing/sightings.js";

const DEFAULTS = configSchema.parse({ scheme: "s.yaml", providers: {} }).monitoring.alerts;
const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const T0 = Date.parse("2030-01-01T10:00:00Z");
const MIN = 60_000;

let store: Store;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-restart-")) });
});
afterEach(async () => {
  await store.close();
});

const { sighting, embargoed } = fengSightings();

/** Runs one gateway's alert service over the sightings, then stops it: one life of a node. */
async function life(sightings: Sighting[]): Promise<void> {
  const service = await openAlertService({ config: DEFAULTS, store, scheme: () => scheme });
  for (const s of sightings) service.replay(s);
  await service.settled();
  await service.close();
}

const stored = () => storedAlerts(store);

describe("a restart does not raise the same alert again", () => {
  it("embargoed attempts 1 and 2, a restart, attempt 3: one medium alert (was: two)", async () => {
    await life([embargoed(T0), embargoed(T0 + MIN)]);
    await life([embargoed(T0 + 2 * MIN)]);
    expect(await stored()).toEqual(["embargoed-attempt feng medium"]);
  });

  it("key sharing, impossible travel and a denied party seen again after a restart, within the cooldown", async () => {
    const before = [
      sighting({ t: T0, country: "FR" }),
      sighting({ t: T0 + MIN, country: "DE" }),
      sighting({ t: T0 + 2 * MIN, country: "BE" }),
      sighting({ t: T0 + 3 * MIN, country: "AU", principal: "jumper", credential: "k-jumper" }),
      sighting({ t: T0 + 4 * MIN, principal: "listed", decision: "deny", reason: "denied-party" }),
    ];
    // Ten minutes later, within the same hour: each condition again, from scratch.
    const after = before.map((s) => ({ ...s, requestId: `${s.requestId}-again`, t: s.t + 10 * MIN }));
    after.splice(
      3,
      0,
      sighting({ t: T0 + 12 * MIN, country: "US", principal: "jumper", credential: "k-jumper" }),
    );
    await life([
      sighting({ t: T0 - MIN, country: "US", principal: "jumper", credential: "k-jumper" }),
      ...before,
    ]);
    await life(after);
    expect(await stored()).toEqual([
      "denied-party listed critical",
      "impossible-travel jumper high",
      "key-sharing k-feng high",
    ]);
  });

  it("dedupe keys name the cooldown period: a detector's two raises never share one", () => {
    const raised: Draft[] = [];
    const d = new Detectors(DEFAULTS, (x) => raised.push(x));
    // A denied party tries every 20 minutes for a day: one alert per cooldown (an hour).
    for (let t = T0; t < T0 + 24 * 60 * MIN; t += 20 * MIN)
      d.feed(sighting({ t, principal: "listed", decision: "deny", reason: "denied-party" }));
    expect(raised).toHaveLength(24);
    expect(new Set(raised.map((r) => r.dedupeKey)).size).toBe(24);
    expect(raised[0]?.dedupeKey).toBe(
      `denied-party:principal:listed:${Math.floor(T0 / DEFAULTS.cooldown_ms)}`,
    );
  });
});
