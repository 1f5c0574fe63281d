/**
 * Key sharing across a restart, with the fleet's sightings shared through Redis: the audit log
 * records neither credentials nor networks, so a node warms key sharing from the shared stream's
 * backlog instead — a key used from two countries before the restart and a third after it is
 * shared. Skipped, saying so, without Redis.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config/schema.js";
import { loadSchemeFile } from "../scheme/index.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "../testing/admin.js";
import { openAlertService, storedAlerts } from "../testing/alerts.js";
import { dropPrefixes, freshPrefix, REDIS_URL, redisAdmin, redisSkipReason } from "../testing/redis.js";
import { fengSightings } from "../testing/sightings.js";
import type { Sighting } from "./detectors.js";
import type { AlertService } from "./service.js";

if (redisSkipReason !== undefined)
  console.warn(`src/alerts/sharing-restart.test.ts: SKIPPED, ${redisSkipReason}`);

const config = configSchema.parse({
  scheme: "s.yaml",
  providers: {},
  monitoring: { alerts: { shared: "redis" } },
}).monitoring.alerts;
const scheme = loadSchemeFile("examples/g7-trusted-partners.yaml");
const MIN = 60_000;
const { sighting } = fengSightings();

let store: Store;
let service: AlertService | undefined;
beforeEach(async () => {
  store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-sharing-restart-")) });
});
afterEach(async () => {
  await service?.close();
  service = undefined;
  await store.close();
});
afterAll(async () => {
  await dropPrefixes();
});

/** Appends sightings to the fleet's stream, as the nodes publishing them would. */
async function published(prefix: string, sightings: readonly Sighting[]): Promise<void> {
  for (const s of sightings)
    await redisAdmin().xadd(`${prefix}alerts:sightings`, "*", "s", JSON.stringify(s));
}

const start = (prefix: string) =>
  openAlertService({ config, store, scheme: () => scheme, redis: { url: REDIS_URL, prefix } });

describe.skipIf(redisSkipReason !== undefined)(
  redisSkipReason === undefined
    ? "key sharing across a restart"
    : `key sharing across a restart: SKIPPED, ${redisSkipReason}`,
  () => {
    it("a key used from FR and DE before the restart, from BE after it: one alert (was: none)", async () => {
      const prefix = freshPrefix();
      const t = Date.now() - 10 * MIN;
      await published(prefix, [sighting({ t, country: "FR" }), sighting({ t: t + MIN, country: "DE" })]);
      service = await start(prefix);
      await service.warmedUp();
      await service.settled();
      // The backlog alone raises nothing: two countries are within max_countries.
      expect(await storedAlerts(store)).toEqual([]);
      await published(prefix, [sighting({ t: t + 2 * MIN, country: "BE" })]);
      const stored = await eventually(
        () => storedAlerts(store),
        (l) => l.length > 0,
      );
      expect(stored).toEqual(["key-sharing k-feng high"]);
      const [alert] = await store.alerts.list();
      expect(alert?.evidence.details).toMatchObject({ countries: ["FR", "DE", "BE"] });
    });

    it("what was already shared before the restart, and alerted, is not raised again", async () => {
      const prefix = freshPrefix();
      const t = Date.now() - 10 * MIN;
      // The node before the restart sees the key used from three countries, and raises the alert.
      const first = await start(prefix);
      await first.warmedUp();
      await published(prefix, [
        sighting({ t, country: "FR" }),
        sighting({ t: t + MIN, country: "DE" }),
        sighting({ t: t + 2 * MIN, country: "BE" }),
      ]);
      await eventually(
        () => storedAlerts(store),
        (l) => l.length > 0,
      );
      await first.close();
      expect(await storedAlerts(store)).toEqual(["key-sharing k-feng high"]);
      // After the restart: a fourth country, within the cooldown; then a denied party, whose alert
      // tells that the node has read past the fourth country (the stream is read in order).
      service = await start(prefix);
      await service.warmedUp();
      await published(prefix, [
        sighting({ t: t + 3 * MIN, country: "IT" }),
        sighting({ t: t + 4 * MIN, principal: "listed", credential: "k-listed", reason: "denied-party" }),
      ]);
      await eventually(
        () => storedAlerts(store),
        (l) => l.length > 1,
      );
      await service.settled();
      expect(await storedAlerts(store)).toEqual(["denied-party listed critical", "key-sharing k-feng high"]);
    });
  },
);
